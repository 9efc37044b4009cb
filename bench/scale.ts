/**
 * Scale benchmark: peak memory and throughput of one auto-decoding epoch (semi-amortized trainer,
 * per-particle pose table, streamed DiskSource with read-ahead) against the number of particles N.
 *
 *   node --import tsx bench/scale.ts [--n 10000,100000,1000000] [--box 64] [--work DIR]
 *        [--base DIR] [--time-limit-s 900 | 600,300,420 (per N)] [--threads 2] [--keep]
 *
 * Data: a base stack of 10^4 particles made by the simulator (`--base`, simulated into WORK/base
 * if absent; box 64, SNR 0.1, CTF). Larger stacks REPEAT the base images: WORK/n<N>/particles.mrcs
 * is written in chunks (never held in memory) as the base data section tiled to N images, and its
 * STAR file repeats the base rows with new image names. The simulator itself runs at ~100 images/s
 * on this shared 2-core machine (10^6 would take hours); repeated images cost the data path and the
 * trainer exactly what distinct images cost. Stacks of N >= 10^6 are deleted afterwards unless --keep.
 *
 * Each N runs in a fresh child process (so peak RSS is per N): load the STAR, open the stream,
 * build the trainer (no encoder: it starts in auto-decoding; poses from the pose table), plan the
 * epoch for read-ahead, run ONE epoch -- stopped after --time-limit-s if not finished (the report
 * then says which fraction ran, and the full-epoch time is only a projection at the measured rate, in parentheses) -- then write a checkpoint (pose table
 * float32). Peak RSS = process.resourceUsage().maxRSS and VmHWM from /proc/self/status.
 * --threads T (default 2): the wasm slice kernels (gather, scatter, rotation gradient) run on T
 * threads (src/core/parallel pool); the rest of the step (loss, FFTs, CTF, Adam) stays on the main
 * thread (SemiAmortizedOptions.threads, `reconstruct --threads`).
 * Besides wall-clock particles/s the child reports the epoch's CPU seconds (all threads) and
 * particles per CPU-second, which is less sensitive to other jobs on a shared machine.
 * Outputs bench/results/scale.json and scale.md.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

interface ChildResult {
  n: number; box: number; batchSize: number; backend: string;
  /** Threads of the wasm slice kernels (1 when absent: runs before --threads existed). */
  threads?: number;
  /** CPU seconds (user + system, all threads) of the epoch part that ran, and particles per CPU-second. */
  epochCpuS?: number; particlesPerCpuS?: number;
  loadS: number; epochWallS: number; particlesDone: number; epochFraction: number; completed: boolean;
  throughputParticlesPerS: number; maxRssMiB: number; vmHwmMiB: number | null; rssAfterLoadMiB: number;
  /** Peak RSS before the checkpoint is written (load + the epoch part that ran). */
  maxRssBeforeCheckpointMiB?: number;
  poseTableMiB: number; checkpointMiB: number; checkpointS: number;
  /** After loading (GC'd when --expose-gc): JS heap, typed-array bytes, and the compact particle table's columns (0: object records). */
  heapAfterLoadMiB?: number; arrayBuffersAfterLoadMiB?: number; particleTableMiB?: number;
  /** Full-epoch wall time at the measured rate (a projection when the epoch was stopped). */
  projectedEpochS?: number;
  timeLimitS?: number;
  readAhead: { requested: number; dropped: number; planHits: number; planMisses: number };
}

function vmHwmMiB(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch { return null; }
}

/** The measured run (child process). */
async function child(): Promise<void> {
  const star = arg('star', '');
  const box = Number(arg('box', '64'));
  const limitS = Number(arg('time-limit-s', '900'));
  const batchSize = Number(arg('batch-size', '32'));
  const backend = arg('backend', 'wasm') as 'wasm' | 'ts';
  const threads = Number(arg('threads', '2'));
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${arg('threads', '2')}`);
  const { loadParticles } = await import('../src/io/particles.js');
  const { DiskSource } = await import('../src/recon/diskSource.js');
  const { SemiAmortizedTrainer } = await import('../src/recon/semiAmortized.js');
  const { Rng } = await import('../src/core/rng.js');
  const { writeCheckpoint } = await import('../src/recon/checkpoint.js');
  const t0 = performance.now();
  const set = loadParticles(star);
  const source = new DiskSource(set, { box, seed: 0 });
  const trainer = new SemiAmortizedTrainer(source, null, { seed: 0, batchSize, backend, init: 'encoder', epochs: 1, threads: backend === 'wasm' ? threads : 1 });
  const loadS = (performance.now() - t0) / 1000;
  (globalThis as { gc?: () => void }).gc?.();
  const mu = process.memoryUsage();
  const rssAfterLoadMiB = mu.rss / 2 ** 20;
  const { columnsBytes } = await import('../src/io/particleTable.js');
  const particleTableMiB = set.columns ? columnsBytes(set.columns) / 2 ** 20 : 0;
  // The trainer draws its epoch order from its Rng: replay that draw on a copy to plan read-ahead.
  const peek = new Rng(0);
  peek.setState(trainer.rng.getState());
  source.planEpoch(peek.permutation(source.n), batchSize);
  const n = source.n;
  const batches = Math.ceil(n / batchSize);
  let done = 0;
  let completed = true;
  class TimeUp extends Error {}
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  try {
    trainer.trainEpoch((p) => {
      done = Math.min(n, p.batch * batchSize);
      if (p.batch < batches && (performance.now() - t1) / 1000 > limitS) throw new TimeUp('time limit');
    });
    done = n;
  } catch (e) {
    if (!(e instanceof TimeUp)) throw e;
    completed = false;
  }
  const epochWallS = (performance.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu1);
  const epochCpuS = (cpu.user + cpu.system) / 1e6;
  const maxRssBeforeCheckpointMiB = process.resourceUsage().maxRSS / 1024;
  const pt = trainer.poses;
  const poseTableMiB = (pt.rot.byteLength + pt.origin.byteLength + pt.adamM.byteLength + pt.adamV.byteLength + pt.adamT.byteLength) / 2 ** 20;
  const ckpt = join(dirname(star), 'checkpoint.json');
  const t2 = performance.now();
  writeCheckpoint(ckpt, { trainer: trainer.getState() });
  const checkpointS = (performance.now() - t2) / 1000;
  const checkpointMiB = statSync(ckpt).size / 2 ** 20;
  rmSync(ckpt, { force: true });
  source.close();
  trainer.slicer.dispose();
  const r: ChildResult = {
    n, box, batchSize, backend, threads: backend === 'wasm' ? threads : 1, epochCpuS, particlesPerCpuS: done / epochCpuS, loadS, epochWallS, particlesDone: done, epochFraction: done / n, completed,
    throughputParticlesPerS: done / epochWallS, maxRssMiB: process.resourceUsage().maxRSS / 1024, maxRssBeforeCheckpointMiB, vmHwmMiB: vmHwmMiB(),
    rssAfterLoadMiB, poseTableMiB, checkpointMiB, checkpointS, readAhead: { ...source.readAheadStats },
    heapAfterLoadMiB: mu.heapUsed / 2 ** 20, arrayBuffersAfterLoadMiB: mu.arrayBuffers / 2 ** 20, particleTableMiB,
    projectedEpochS: n / (done / epochWallS), timeLimitS: limitS,
  };
  process.stdout.write(JSON.stringify(r) + '\n');
}

/** Simulate the base stack (10^4 particles, box 64) if it is not there yet. */
async function ensureBase(dir: string, box: number): Promise<string> {
  const star = join(dir, 'particles.star');
  if (existsSync(star)) return star;
  const { loadSimulationVolumes, simulateParticles } = await import('../src/sim/simulate.js');
  const map = resolve(root, '../shared/data/aspire_70S_synthetic/clean70SRibosome_vol_65p.mrc');
  const v = loadSimulationVolumes({ map, apixAngstrom: 5, cropPx: 64, boxPx: box === 64 ? undefined : box });
  simulateParticles(v.vols, v.boxPx, v.apixAngstrom, { outDir: dir, n: 10000, snr: 0.1, shiftPx: 3,
    defocus: { kind: 'uniform', minUm: 1, maxUm: 2.5 }, seed: 7, chunk: 1000 });
  return star;
}

/** WORK/n<N>/particles.{mrcs,star}: the base repeated to N images, written in chunks. */
async function makeTiled(baseStar: string, N: number, outDir: string): Promise<string> {
  const { readMrcHeader } = await import('../src/io/mrc.js');
  const baseMrcs = join(dirname(baseStar), 'particles.mrcs');
  const info = readMrcHeader(baseMrcs);
  const n0 = info.header.nz;
  const bytesPer = info.header.nx * info.header.ny * info.bytesPerVoxel;
  const mrcs = join(outDir, 'particles.mrcs');
  const star = join(outDir, 'particles.star');
  const want = info.dataOffsetBytes + N * bytesPer;
  if (existsSync(star) && existsSync(mrcs) && statSync(mrcs).size === want) return star;
  mkdirSync(outDir, { recursive: true });
  // header: the base's, with NZ (and MZ) = N
  const src = openSync(baseMrcs, 'r');
  const head = Buffer.alloc(info.dataOffsetBytes);
  readSync(src, head, 0, head.length, 0);
  const le = info.littleEndian;
  const setI32 = (off: number, v: number): void => { if (le) head.writeInt32LE(v, off); else head.writeInt32BE(v, off); };
  setI32(8, N);
  if (info.header.mz === n0) setI32(36, N);
  const out = openSync(mrcs + '.tmp', 'w');
  writeSync(out, head, 0, head.length, 0);
  const chunkImages = Math.max(1, Math.floor((32 << 20) / bytesPer));
  const buf = Buffer.alloc(chunkImages * bytesPer);
  let pos = info.dataOffsetBytes;
  for (let i = 0; i < N;) {
    const j0 = i % n0;
    const m = Math.min(chunkImages, N - i, n0 - j0);
    readSync(src, buf, 0, m * bytesPer, info.dataOffsetBytes + j0 * bytesPer);
    writeSync(out, buf, 0, m * bytesPer, pos);
    pos += m * bytesPer;
    i += m;
  }
  closeSync(out);
  closeSync(src);
  // STAR: the base's blocks, particle rows repeated with new image names
  const text = readFileSync(baseStar, 'utf8');
  const lines = text.split('\n');
  const first = lines.findIndex((l) => /^\s*\d+@/.test(l));
  const rows = lines.filter((l) => /^\s*\d+@/.test(l));
  if (rows.length !== n0) throw new Error(`base STAR has ${rows.length} rows, its stack ${n0} images`);
  const fd = openSync(star + '.tmp', 'w');
  writeSync(fd, lines.slice(0, first).join('\n') + '\n');
  const width = String(N).length;
  let block: string[] = [];
  for (let i = 0; i < N; i++) {
    block.push(rows[i % n0]!.replace(/^\s*\d+@\S+/, `${String(i + 1).padStart(width, '0')}@particles.mrcs`));
    if (block.length === 20000) { writeSync(fd, block.join('\n') + '\n'); block = []; }
  }
  if (block.length) writeSync(fd, block.join('\n') + '\n');
  closeSync(fd);
  const { renameSync } = await import('node:fs');
  renameSync(mrcs + '.tmp', mrcs);
  renameSync(star + '.tmp', star);
  return star;
}

function table(rows: ChildResult[]): string {
  const f = (x: number, d = 1): string => x.toFixed(d);
  const head = '| N | threads | epoch run | wall s | particles/s | CPU s (particles/CPU-s) | full epoch h (projected) | peak RSS MiB (maxRSS) | VmHWM MiB | peak before checkpoint MiB | RSS after load MiB | JS heap after load MiB | particle table MiB | pose table MiB | checkpoint MiB (s) | load s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  const opt = (x: number | undefined, d = 1): string => (x === undefined ? '-' : f(x, d));
  return head + rows.map((r) => `| ${r.n.toLocaleString('en-US')} | ${r.threads ?? 1} | ${r.completed ? 'full' : `${(100 * r.epochFraction).toFixed(1)}% (time limit)`} | ${f(r.epochWallS)} | ${f(r.throughputParticlesPerS)} | ${r.epochCpuS === undefined ? '-' : `${f(r.epochCpuS)} (${f(r.particlesPerCpuS ?? 0)})`} | ${r.completed ? f(r.epochWallS / 3600, 2) : `(${f(r.n / r.throughputParticlesPerS / 3600, 2)})`} | ${f(r.maxRssMiB, 0)} | ${r.vmHwmMiB === null ? '-' : f(r.vmHwmMiB, 0)} | ${r.maxRssBeforeCheckpointMiB === undefined ? '-' : f(r.maxRssBeforeCheckpointMiB, 0)} | ${f(r.rssAfterLoadMiB, 0)} | ${opt(r.heapAfterLoadMiB, 0)} | ${r.particleTableMiB === undefined ? '-' : r.particleTableMiB === 0 ? 'objects' : f(r.particleTableMiB)} | ${f(r.poseTableMiB)} | ${f(r.checkpointMiB)} (${f(r.checkpointS)}) | ${f(r.loadS)} |`).join('\n') + '\n';
}

async function main(): Promise<void> {
  if (flag('child')) return child();
  const ns = arg('n', '10000,100000,1000000').split(',').map(Number);
  const box = Number(arg('box', '64'));
  const work = resolve(arg('work', '/tmp/cryospin-scale'));
  // one limit for every N, or one per N (comma list, the last repeated)
  const limits = arg('time-limit-s', '900').split(',').map(Number);
  const limitFor = (k: number): number => limits[Math.min(k, limits.length - 1)]!;
  const limitS = Math.max(...limits);
  const baseDir = resolve(arg('base', join(work, 'base')));
  const outJson = resolve(root, arg('out', 'bench/results/scale.json'));
  mkdirSync(work, { recursive: true });
  const baseStar = await ensureBase(baseDir, box);
  const rows: ChildResult[] = [];
  const prev = existsSync(outJson) ? (JSON.parse(readFileSync(outJson, 'utf8')) as { rows: ChildResult[] }).rows : [];
  for (const [k, N] of ns.entries()) {
    const t0 = performance.now();
    const star = N === 10000 && !flag('tile-base') ? baseStar : await makeTiled(baseStar, N, join(work, `n${N}`));
    console.error(`scale: N=${N} data ready (${((performance.now() - t0) / 1000).toFixed(0)} s): ${star}`);
    const r = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), '--child', '--star', star, '--box', String(box),
      '--time-limit-s', String(limitFor(k)), '--batch-size', arg('batch-size', '32'), '--backend', arg('backend', 'wasm'), '--threads', arg('threads', '2')],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`child for N=${N} failed (status ${r.status})`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
    console.error(`scale: N=${N}: ${JSON.stringify(res)}`);
    rows.push(res);
    if (N >= 1_000_000 && !flag('keep') && star !== baseStar) rmSync(dirname(star), { recursive: true, force: true });
  }
  const merged = [...prev.filter((p) => !rows.some((r) => r.n === p.n)), ...rows].sort((a, b) => a.n - b.n);
  const meta = { date: new Date().toISOString(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', loadavg: loadavg(), node: process.version,
    command: `node --import tsx bench/scale.ts ${process.argv.slice(2).join(' ')}`, timeLimitS: limits };
  mkdirSync(dirname(outJson), { recursive: true });
  writeFileSync(outJson, JSON.stringify({ meta, rows: merged }, null, 2) + '\n');
  const md = `# Scale: one auto-decoding epoch vs number of particles\n\n` +
    `Box ${box}, batch ${merged[0]?.batchSize ?? 32}, slice kernels ${merged[0]?.backend ?? 'wasm'} ("threads": threads of the slice kernels; the rest of the step runs on the main thread), DiskSource with read-ahead. ` +
    `CPU s: user + system seconds of all threads over the epoch part that ran. ` +
    `Stacks above 10^4 repeat a simulated 10^4-particle base stack (see bench/scale.ts). ` +
    `"epoch run" < 100%: the epoch was stopped at the time limit; throughput is over the part that ran and the full-epoch time in parentheses is a projection at that rate. ` +
    `Particle files of 8 MiB and more load into the compact particle table (typed-array columns, src/io/particleTable.ts); "objects": one JS object per particle. ` +
    `JS heap after load: after a full GC.\n\n` +
    table(merged) + `\nMachine: ${meta.cpus} x ${meta.cpuModel}, load average at the end ${meta.loadavg.map((x) => x.toFixed(1)).join(' ')} ` +
    `(shared with other jobs: throughput is a lower bound), ${meta.node}, ${meta.date}.\nCommand: \`${meta.command}\`\n`;
  writeFileSync(outJson.replace(/\.json$/, '.md'), md);
  console.error(md);
}

await main();
