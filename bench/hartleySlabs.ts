/**
 * A/B of the wasm Hartley gather and rotation gradient (the trainer's slice kernels): the older
 * slice-split kernels (gather_h, rotgrad_h; SlabTuning.hartleySplit 'slices') against the z-slab ones
 * (hgather_slabs + hgather_combine, hrotgrad_slabs), on 1 and 2 threads. All four backends are
 * called in turn, round after round, so every figure sees the same machine state; medians of
 * wall time and of process CPU time. Needs a kernels.wasm that has the z-slab kernels.
 *
 * Usage: node --import tsx bench/hartleySlabs.ts [--D 64,128] [--B 64] [--reps 15] [--radius-frac 0.5]
 * Writes bench/results/hartley_slabs.json and .md. Timings need an idle machine.
 */
import { cpus, getPriority, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmBackend } from '../src/core/backend/wasm/wasmBackend.js';
import { Rng } from '../src/core/rng.js';
import { randomRotations } from '../src/core/rotation.js';
import { writeFileAtomic } from '../src/io/atomic.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}
const Ds = arg('D', '64,128').split(',').map(Number);
const B = Number(arg('B', '64'));
const reps = Number(arg('reps', '15'));
const radiusFrac = Number(arg('radius-frac', '0.5'));
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

interface Row { kernel: 'hartley_gather' | 'hartley_rotgrad'; D: number; B: number; threads: number; split: 'slices' | 'slabs'; median_ms: number; cpu_median_ms: number }
const rows: Row[] = [];
for (const D of Ds) {
  const rots = randomRotations(B, new Rng(3 + D));
  const opts = { radiusMax: radiusFrac * D };
  const sides = ([[1, 'slices'], [1, 'slabs'], [2, 'slices'], [2, 'slabs']] as const).map(([threads, split]) => {
    const be = new WasmBackend({ threads }, { hartleySplit: split });
    if (split === 'slabs' && !be.hartleySlabKernels) throw new Error('kernels.wasm lacks the z-slab Hartley kernels: run npm run build:wasm');
    const r = new Rng(9);
    const H = be.allocFloat32(D ** 3);
    for (let i = 0; i < H.length; i++) H[i] = r.normal();
    const F = { re: be.allocFloat32(B * D * D), im: be.allocFloat32(B * D * D) };
    const g = { re: be.allocFloat32(B * D * D), im: be.allocFloat32(B * D * D) };
    for (let i = 0; i < g.re.length; i++) { g.re[i] = r.normal(); g.im[i] = r.normal(); }
    return { threads, split, be, H, F, g, dR: new Float64Array(9 * B), t: { hartley_gather: [[], []] as number[][], hartley_rotgrad: [[], []] as number[][] } };
  });
  for (let r = 0; r <= reps; r++) {
    for (const s of sides) {
      const calls = {
        hartley_gather: () => s.be.gatherHartley(s.H, D, rots, D, s.F, opts),
        hartley_rotgrad: () => { s.be.hartleyRotationGradient(s.H, D, rots, D, s.g, s.dR, opts); },
      };
      for (const [k, fn] of Object.entries(calls) as Array<[keyof typeof calls, () => void]>) {
        const c0 = process.cpuUsage(), w0 = performance.now();
        fn();
        const w = performance.now() - w0, c = process.cpuUsage(c0);
        if (r > 0) { s.t[k][0]!.push(w); s.t[k][1]!.push((c.user + c.system) / 1000); } // round 0: warm-up
      }
    }
  }
  for (const s of sides) {
    for (const k of ['hartley_gather', 'hartley_rotgrad'] as const) {
      rows.push({ kernel: k, D, B, threads: s.threads, split: s.split, median_ms: med(s.t[k][0]!), cpu_median_ms: med(s.t[k][1]!) });
    }
    s.be.dispose();
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const cmd = `node --import tsx bench/hartleySlabs.ts --D ${Ds.join(',')} --B ${B} --reps ${reps} --radius-frac ${radiusFrac}`;
writeFileAtomic(join(here, 'results', 'hartley_slabs.json'), JSON.stringify({ command: cmd, date: new Date().toISOString(), rows }, null, 1) + '\n');
const get = (k: Row['kernel'], D: number, t: number, s: Row['split']): Row => rows.find((r) => r.kernel === k && r.D === D && r.threads === t && r.split === s)!;
const lines = [
  '# Hartley slice kernels: slice-split vs z-slab split (wasm)',
  '',
  `Command: \`${cmd}\`, ${new Date().toISOString()}; ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, niceness ${getPriority()}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
  `B = ${B} slices of D x D, radius ${radiusFrac} D; medians over ${reps} rounds in which the four backends are called in turn; ms wall (CPU).`,
  '',
  '| kernel | D | slices 1T | slabs 1T | slices 2T | slabs 2T | slabs 2T/1T speed-up | slabs vs slices, 2T |',
  '|---|---|---|---|---|---|---|---|',
];
for (const D of Ds) for (const k of ['hartley_gather', 'hartley_rotgrad'] as const) {
  const a1 = get(k, D, 1, 'slices'), b1 = get(k, D, 1, 'slabs'), a2 = get(k, D, 2, 'slices'), b2 = get(k, D, 2, 'slabs');
  const f = (r: Row): string => `${r.median_ms.toFixed(2)} (${r.cpu_median_ms.toFixed(2)})`;
  lines.push(`| ${k} | ${D} | ${f(a1)} | ${f(b1)} | ${f(a2)} | ${f(b2)} | ${(b1.median_ms / b2.median_ms).toFixed(2)} | ${(a2.median_ms / b2.median_ms).toFixed(2)}x |`);
}
writeFileAtomic(join(here, 'results', 'hartley_slabs.md'), lines.join('\n') + '\n');
process.stdout.write(lines.join('\n') + '\n');
