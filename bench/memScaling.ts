/**
 * What a second core adds on memory-bound work on this machine, measured with the mechanism the
 * slice kernels use: WebAssembly SIMD loops (bench/memScaling.c) on one shared WebAssembly.Memory,
 * run by the kernels' worker-thread pool (src/core/parallel/pool.ts). Each probe runs on one thread
 * over the whole buffer, or on two threads each over its own half; the same call repeats its range
 * `passes` times, so one call takes ~10 ms and the pool's dispatch (~10 us) does not count.
 * Buffers are the size the slice kernels keep a complex D^3 volume in: 8 D^3 bytes (interleaved
 * float32 pairs; the split re/im planes take the same again): D = 64 -> 2 MiB, D = 128 -> 16 MiB.
 *
 * Probes: read (sum of one buffer), rmw (a += s in place, scatter-like), triad (a = b + s c, three
 * buffers: 3 x 8 D^3 bytes, about the slice kernels' whole working set), random (independent 16-byte
 * loads at random positions of one buffer: a trilinear gather's access pattern without its
 * arithmetic), and compute (register-only multiply-adds: the second core's limit with no memory).
 *
 * Usage: node --import tsx bench/memScaling.ts [--D 64,128] [--repeats 21] [--target-ms 10] [--tag x]
 * Writes bench/results/mem_scaling{.tag}.json and .md. Needs Debian clang + lld (as npm run build:wasm).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, getPriority, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WasmHeap } from '../src/core/backend/wasm/heap.js';
import { KernelPool } from '../src/core/parallel/pool.js';
import type { KernelCall } from '../src/core/parallel/pool.js';
import { writeFileAtomic } from '../src/io/atomic.js';

const here = dirname(fileURLToPath(import.meta.url));
const NAMES = ['mem_read', 'mem_rmw', 'mem_triad', 'mem_random', 'compute_fma'] as const;
const FN = Object.fromEntries(NAMES.map((n, i) => [n, i])) as Record<(typeof NAMES)[number], number>;
export const PROBES = ['read', 'rmw', 'triad', 'random', 'compute'] as const;
export type Probe = (typeof PROBES)[number];

export interface MemRow {
  probe: Probe;
  D: number;
  /** Bytes the probe touches (all threads together). */
  bytes: number;
  threads: number;
  median_ms: number;
  /** Bytes moved per second (loads + stores; random: bytes loaded), GB/s; compute: GFLOP/s. */
  rate: number;
  repeats: number;
  /** Wall time of 1 thread / wall time of this many threads, both medians of the same run. */
  speedup: number | null;
  /**
   * 'alternate': 1- and 2-thread calls alternate (both see the same machine state; the second
   * core never idles for long); 'block': all 1-thread calls in a row, then all 2-thread calls (as
   * a 1-thread job runs: the other core idles meanwhile, which may let this one clock higher).
   */
  mode: 'alternate' | 'block';
}

/** Export names of memScaling.c, in pool order. */
export const MEM_FN_NAMES: readonly string[] = NAMES;

/** Compiles memScaling.c with scripts/build-wasm.sh's flags (clang, wasm-ld) into a temp dir. */
export function memProbeModule(): WebAssembly.Module {
  const dir = mkdtempSync(join(tmpdir(), 'memscaling-'));
  try {
    const obj = join(dir, 'm.o'), out = join(dir, 'm.wasm');
    execFileSync(process.env['CLANG'] ?? 'clang', ['--target=wasm32', '-O3', '-msimd128', '-mbulk-memory', '-matomics', '-nostdlib',
      '-ffreestanding', '-fno-builtin', '-Wall', '-Werror', '-c', '-o', obj, join(here, 'memScaling.c')]);
    execFileSync(process.env['WASM_LD'] ?? 'wasm-ld', ['--no-entry', '--import-memory', '--shared-memory', '--max-memory=2147483648',
      '--export-dynamic', '--strip-all', '-o', out, obj]);
    return new WebAssembly.Module(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

/** Steal ticks of all CPUs so far (/proc/stat; 0 elsewhere): time the hypervisor gave to others. */
export function stealTicks(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    return Number(f[8] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Runs every probe for each D on 1 and 2 threads, `repeats` calls each, twice: alternating 1- and
 * 2-thread calls (so drift hits both alike), and in blocks (1-thread calls in a row, then 2-thread
 * calls in a row); returns the medians of both.
 */
export function measureMemScaling(Ds: number[], repeats = 21, targetMs = 10): MemRow[] {
  const module = memProbeModule();
  const heap = new WasmHeap();
  const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory } });
  const pool = new KernelPool(module, heap.memory, [...NAMES], instance, 2);
  const rows: MemRow[] = [];
  try {
    const sink = heap.alloc(64);
    for (const D of Ds) {
      const n = 2 * D ** 3; // floats of one interleaved complex volume
      const bufs = [heap.alloc(4 * n), heap.alloc(4 * n), heap.alloc(4 * n)];
      for (const b of bufs) heap.f32(b, n).fill(1);
      const [a, b, c] = bufs as [number, number, number];
      const half = n / 2;
      // calls for one thread's range [i0, i1) with `work` (passes, loads or iterations)
      const make: Record<Probe, (i0: number, i1: number, work: number) => KernelCall> = {
        read: (i0, i1, w) => ({ fn: FN.mem_read, args: [a, i0, i1, w, sink] }),
        rmw: (i0, i1, w) => ({ fn: FN.mem_rmw, args: [a, i0, i1, w, 1e-7] }),
        triad: (i0, i1, w) => ({ fn: FN.mem_triad, args: [a, b, c, i0, i1, w, 0.5] }),
        random: (i0, i1, w) => ({ fn: FN.mem_random, args: [a, i0, i1, w, 12345 + i0, sink] }),
        compute: (_i0, _i1, w) => ({ fn: FN.compute_fma, args: [w, sink] }),
      };
      const bytesPerUnit: Record<Probe, number> = { read: 4 * n, rmw: 8 * n, triad: 12 * n, random: 16, compute: 0 };
      const touched: Record<Probe, number> = { read: 4 * n, rmw: 4 * n, triad: 12 * n, random: 4 * n, compute: 0 };
      for (const probe of PROBES) {
        const one = (w: number): KernelCall[][] => [[make[probe](0, n, w)]];
        // two threads: each its own half, half the work (passes stay, loads / iterations halve)
        const halves = probe === 'random' || probe === 'compute';
        const two = (w: number): KernelCall[][] => [[make[probe](0, half, halves ? w / 2 : w)], [make[probe](half, n, halves ? w / 2 : w)]];
        const time = (calls: KernelCall[][]): number => { const t0 = performance.now(); pool.run(calls); return performance.now() - t0; };
        // calibrate the work per call so that one thread takes ~targetMs
        let work = probe === 'random' ? 1 << 16 : probe === 'compute' ? 1 << 16 : 1;
        time(one(work));
        for (let i = 0; i < 12; i++) {
          const t = Math.min(time(one(work)), time(one(work)), time(one(work)));
          if (t >= targetMs / 2) { work = Math.max(1, Math.round((work * targetMs) / t)); break; }
          work *= 4;
        }
        if (probe === 'random' || probe === 'compute') work = 2 * Math.ceil(work / 2);
        time(one(work)); time(two(work));
        const t1: number[] = [], t2: number[] = [], b1: number[] = [], b2: number[] = [];
        for (let r = 0; r < repeats; r++) { t1.push(time(one(work))); t2.push(time(two(work))); }
        time(one(work));
        for (let r = 0; r < repeats; r++) b1.push(time(one(work)));
        time(two(work));
        for (let r = 0; r < repeats; r++) b2.push(time(two(work)));
        if (probe === 'read') {
          // sanity: the buffer holds ones, so one thread's sum is n * passes
          pool.run(one(work));
          const got = heap.f32(sink, 1)[0]!;
          if (Math.abs(got / (n * work) - 1) > 1e-3) throw new Error(`mem_read: sum ${got}, expected ${n * work}`);
        }
        const m1 = median(t1), m2 = median(t2);
        const amount = probe === 'compute' ? 8 * 4 * 2 * work : bytesPerUnit[probe] * work; // flops or bytes
        const rate = (ms: number): number => amount / (ms * 1e6);
        rows.push({ probe, D, bytes: touched[probe], threads: 1, median_ms: m1, rate: rate(m1), repeats, speedup: null, mode: 'alternate' });
        rows.push({ probe, D, bytes: touched[probe], threads: 2, median_ms: m2, rate: rate(m2), repeats, speedup: m1 / m2, mode: 'alternate' });
        const n1 = median(b1), n2 = median(b2);
        rows.push({ probe, D, bytes: touched[probe], threads: 1, median_ms: n1, rate: rate(n1), repeats, speedup: null, mode: 'block' });
        rows.push({ probe, D, bytes: touched[probe], threads: 2, median_ms: n2, rate: rate(n2), repeats, speedup: n1 / n2, mode: 'block' });
      }
      for (const buf of bufs) heap.free(buf, 4 * n);
    }
  } finally {
    pool.dispose();
  }
  return rows;
}

/** The table rows (markdown) for measureMemScaling's result, 1 and 2 threads side by side. */
export function memTable(rows: MemRow[]): string[] {
  const lines = ['| probe | D | bytes touched (MiB) | alternating: 1T / 2T ms | speed-up | blocks: 1T / 2T ms | speed-up | 1T / 2T rate (alternating) |', '|---|---|---|---|---|---|---|---|'];
  const get = (p: Probe, D: number, t: number, mode: MemRow['mode']): MemRow | undefined => rows.find((r) => r.probe === p && r.D === D && r.threads === t && r.mode === mode);
  for (const a2 of rows.filter((r) => r.threads === 2 && r.mode === 'alternate')) {
    const a1 = get(a2.probe, a2.D, 1, 'alternate')!, k1 = get(a2.probe, a2.D, 1, 'block'), k2 = get(a2.probe, a2.D, 2, 'block');
    const unit = a2.probe === 'compute' ? 'GFLOP/s' : 'GB/s';
    const blk = k1 && k2 ? `${k1.median_ms.toFixed(2)} / ${k2.median_ms.toFixed(2)} | **${k2.speedup!.toFixed(2)}**` : '- | -';
    lines.push(`| ${a2.probe} | ${a2.D} | ${a2.probe === 'compute' ? '-' : (a2.bytes / 2 ** 20).toFixed(0)} | ${a1.median_ms.toFixed(2)} / ${a2.median_ms.toFixed(2)} | **${a2.speedup!.toFixed(2)}** | ${blk} | ${a1.rate.toFixed(1)} / ${a2.rate.toFixed(1)} ${unit} |`);
  }
  return lines;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const Ds = arg('D', '64,128').split(',').map(Number);
  const repeats = Number(arg('repeats', '21'));
  const targetMs = Number(arg('target-ms', '10'));
  const tag = arg('tag', '');
  const load0 = loadavg(), steal0 = stealTicks(), w0 = Date.now();
  const rows = measureMemScaling(Ds, repeats, targetMs);
  const load1 = loadavg(), steal1 = stealTicks(), wallS = (Date.now() - w0) / 1000;
  const cmd = `node --import tsx bench/memScaling.ts --D ${Ds.join(',')} --repeats ${repeats} --target-ms ${targetMs}${tag ? ` --tag ${tag}` : ''}`;
  const base = join(here, 'results', `mem_scaling${tag ? `.${tag}` : ''}`);
  const meta = { command: cmd, date: new Date().toISOString(), cpu: cpus()[0]?.model ?? '?', node: process.version, niceness: getPriority(),
    load_start: load0, load_end: load1, wall_s: wallS, steal_ticks: steal1 - steal0 };
  writeFileAtomic(`${base}.json`, JSON.stringify({ ...meta, rows }, null, 1) + '\n');
  const lines = [
    '# Memory scaling: what a second core adds on memory-bound work (wasm + worker_threads + SharedArrayBuffer)',
    '',
    `Command: \`${cmd}\`, ${meta.date}.`,
    `Machine: ${cpus().length} x ${meta.cpu}; Node ${process.version}; niceness ${meta.niceness}; load average (1/5/15 min) start ${load0.map((x) => x.toFixed(2)).join(' ')}, end ${load1.map((x) => x.toFixed(2)).join(' ')}; steal ticks during the run ${meta.steal_ticks} (${wallS.toFixed(0)} s).`,
    '',
    `Medians of ${repeats} calls per cell, measured twice: 1- and 2-thread calls alternating, and in blocks (${repeats} 1-thread calls in a row, then ${repeats} 2-thread calls; the second core idles during the 1-thread block, as in a 1-thread job); one call ~${targetMs} ms on one thread. Two threads: the main thread and one pool worker, each on its own half of every buffer (same total work). Volume = 8 D^3 bytes (the interleaved complex volume of the slice kernels). rate: GB/s moved (loads + stores; random: bytes loaded) or GFLOP/s (compute).`,
    '',
    ...memTable(rows),
    '',
    'Probes: read = sum over one volume; rmw = a += s in place over one volume; triad = a = b + s c over three volumes; random = independent 16-byte loads at random aligned positions of one volume (each thread within its half); compute = 8 register-only f32x4 multiply-add chains (no memory).',
  ];
  writeFileAtomic(`${base}.md`, lines.join('\n') + '\n');
  process.stdout.write(lines.join('\n') + '\n');
}
