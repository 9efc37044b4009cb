/**
 * Encoder benchmark: one training step of the pose encoder (batch 32; filter bank, forward, the
 * reconstruction loop's loss callback, backward, Adam) on tfjs-wasm (single-threaded under Node)
 * against the same architecture in PyTorch (bench/torch_encoder.py: torch and OpenBLAS on 1 thread),
 * measured in the same run. Writes bench/results/encoder.json and bench/results/encoder.md.
 *
 * Usage: node --import tsx bench/encoder.ts [--D 64,128] [--B 32] [--min-time 3] [--rounds 2] [--preset lean|paper] [--no-torch]
 * Python: $PYTHON, else /usr/bin/python3 (Debian's python3-torch), else python3.
 * Rows: {kernel: 'encoder_step', D, B, threads: 1, median_ms, ref: 'torch', ref_median_ms,
 * ratio = ours / torch, cpu_median_ms, ref_cpu_median_ms, preset}. Wall-clock medians; CPU-time
 * medians are kept because a busy machine inflates wall times. Rounds alternate ours and torch and
 * every figure keeps its best median over the rounds (as bench/kernels.ts), so that both sides are
 * compared at their least disturbed on a shared machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, getPriority, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/core/rng.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { ENCODER_PRESETS, createEncoder, type LossGradFn } from '../src/model/encoder.js';
import { squaredErrorWtaLoss } from '../src/model/encoder/toyLoss.js';
import { initTfjs } from '../src/model/tfjsSetup.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Row {
  kernel: 'encoder_step';
  D: number;
  B: number;
  threads: 1;
  preset: string;
  median_ms: number;
  cpu_median_ms: number;
  ref: 'torch';
  ref_median_ms: number | null;
  ref_cpu_median_ms: number | null;
  ratio: number | null;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const Ds = arg('--D', '64,128').split(',').map(Number);
const B = Number(arg('--B', '32'));
const minTimeS = Number(arg('--min-time', '3'));
const presetName = arg('--preset', 'lean') as 'lean' | 'paper';
const noTorch = process.argv.includes('--no-torch');
const rounds = Number(arg('--rounds', '2'));
const preset = ENCODER_PRESETS[presetName];
const M = 7;
const headHidden = [512, 256];

/** Winner-take-all squared error to random targets: the stand-in for the physics loss. */
function lossFn(rng: Rng): LossGradFn {
  const Rt = Float64Array.from({ length: 9 * B }, () => rng.normal());
  const tt = Float64Array.from({ length: 2 * B }, () => rng.normal());
  return squaredErrorWtaLoss(B, M, Rt, tt);
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

async function ours(D: number): Promise<{ wall: number; cpu: number; reps: number }> {
  await initTfjs('wasm');
  const rng = new Rng(1);
  const enc = createEncoder({ box: D, heads: M, preset: presetName, headHidden, seed: 1 });
  const x = Float32Array.from({ length: B * D * D }, () => rng.normal());
  const fn = lossFn(rng);
  enc.trainStep(x, B, fn); // warm-up
  const walls: number[] = [];
  const cpuMs: number[] = [];
  const t0 = performance.now();
  while (walls.length < 3 || (performance.now() - t0 < minTimeS * 1e3 && walls.length < 30)) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    enc.trainStep(x, B, fn);
    walls.push(performance.now() - w0);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1e3);
  }
  enc.dispose();
  return { wall: median(walls), cpu: median(cpuMs), reps: walls.length };
}

interface TorchRow { D: number; median_ms: number; cpu_median_ms: number }

function torchPeer(): { version: string; rows: TorchRow[] } | null {
  if (noTorch) return null;
  const py = process.env['PYTHON'] ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const config = JSON.stringify({ heads: M, widths: preset.widths, convsPerBlock: preset.convsPerBlock, pools: preset.pools, headHidden });
  const r = spawnSync(py, [join(here, 'torch_encoder.py'), '--D', Ds.join(','), '--B', String(B), '--threads', '1',
    '--min-time', String(minTimeS), '--config', config], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    process.stderr.write(`torch peer failed: ${r.stderr}\n`);
    return null;
  }
  const j = JSON.parse(r.stdout) as { torch_version: string; rows: TorchRow[] };
  return { version: j.torch_version, rows: j.rows };
}

const load0 = loadavg();
const loads: number[] = [load0[0]!];
const rows: Row[] = [];
const mine = new Map<number, { wall: number; cpu: number; reps: number }>();
let peer: { version: string; rows: TorchRow[] } | null = null;
for (let r = 0; r < rounds; r++) {
  for (const D of Ds) {
    process.stderr.write(`round ${r + 1}/${rounds}: encoder step D=${D} (tfjs-wasm) ...\n`);
    const o = await ours(D);
    const have = mine.get(D);
    mine.set(D, have === undefined ? o : { wall: Math.min(have.wall, o.wall), cpu: Math.min(have.cpu, o.cpu), reps: have.reps + o.reps });
  }
  loads.push(loadavg()[0]!);
  process.stderr.write(`round ${r + 1}/${rounds}: torch peer ...\n`);
  const p = torchPeer();
  if (p !== null) {
    if (peer === null) peer = p;
    else {
      for (const row of p.rows) {
        const have = peer.rows.find((x) => x.D === row.D);
        if (have === undefined) peer.rows.push(row);
        else {
          have.median_ms = Math.min(have.median_ms, row.median_ms);
          have.cpu_median_ms = Math.min(have.cpu_median_ms, row.cpu_median_ms);
        }
      }
    }
  }
  loads.push(loadavg()[0]!);
}
const load1 = loadavg();
for (const D of Ds) {
  const o = mine.get(D)!;
  const t = peer?.rows.find((r) => r.D === D) ?? null;
  rows.push({
    kernel: 'encoder_step', D, B, threads: 1, preset: presetName,
    median_ms: round(o.wall), cpu_median_ms: round(o.cpu), ref: 'torch',
    ref_median_ms: t ? round(t.median_ms) : null, ref_cpu_median_ms: t ? round(t.cpu_median_ms) : null,
    ratio: t ? round(o.wall / t.median_ms, 3) : null,
  });
}

function round(v: number, d = 2): number {
  const f = 10 ** d;
  return Math.round(v * f) / f;
}

const outDir = join(here, 'results');
mkdirSync(outDir, { recursive: true });
const suffix = presetName === 'lean' ? '' : `_${presetName}`;
writeFileAtomic(join(outDir, `encoder${suffix}.json`), JSON.stringify(rows, null, 1) + '\n');
const cmd = `node --import tsx bench/encoder.ts --D ${Ds.join(',')} --B ${B} --min-time ${minTimeS} --rounds ${rounds}` + (presetName === 'lean' ? '' : ` --preset ${presetName}`);
const lines = [
  '# Encoder training step: tfjs-wasm vs PyTorch',
  '',
  `Command: \`${cmd}\`, ${new Date().toISOString().slice(0, 10)}.`,
  `Machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; Node ${process.version}; torch ${peer?.version ?? 'not run'}.`,
  `Load average (1 min) during the run ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} (start ${load0.map((v) => v.toFixed(1)).join(' ')}, ` +
    `end ${load1.map((v) => v.toFixed(1)).join(' ')}; 2 cores: above ~1 other jobs shared them and inflated wall times, so CPU-time medians ` +
    `and their ratio are given too); process niceness ${getPriority()}. ${rounds} rounds alternate ours and torch; each figure is the best median over the rounds.`,
  '',
  `One step = filter bank + forward + loss callback + backward + Adam, batch ${B}, M = ${M} pose heads ` +
    `(hidden ${headHidden.join('-')}), trunk '${presetName}': widths ${preset.widths.join('/')}, convs per block ` +
    `${preset.convsPerBlock.join('/')}, pools ${preset.pools.join('/')}. Both single-threaded ` +
    '(tfjs-wasm is single-threaded under Node; torch.set_num_threads(1) plus OpenBLAS limited to 1 thread, which torch.set_num_threads ' +
    'does not do: before 2026-11-22 04:50 UTC the torch reference ran its matmuls on 2 OpenBLAS threads). ratio = ours / torch (wall medians; < 1 means we are faster).',
  '',
  '| kernel | D | B | threads | ours ms (cpu) | torch ms (cpu) | ratio wall (cpu) |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.kernel} | ${r.D} | ${r.B} | ${r.threads} | ${r.median_ms} (${r.cpu_median_ms}) | ` +
    `${r.ref_median_ms ?? '-'} (${r.ref_cpu_median_ms ?? '-'}) | ${r.ratio ?? '-'} ` +
    `(${r.ref_cpu_median_ms ? round(r.cpu_median_ms / r.ref_cpu_median_ms, 3) : '-'}) |`),
  '',
];
writeFileAtomic(join(outDir, `encoder${suffix}.md`), lines.join('\n'));
process.stdout.write(JSON.stringify(rows) + '\n');
