/**
 * Benchmark: amortized (cryoAI: single-head encoder + decoder, grid or FourierNet) vs
 * semi-amortized (cryoSPIN, our default search initialisation + auto-decoding) on a subset of
 * benchmark B1 (70S, simulated at SNR 0.1 with CTF and shifts; ground-truth map and poses known).
 *
 * Per run it records, after every epoch, the training wall time, the FSC 0.5 resolution of the
 * learned volume against the ground truth (after alignment) and the median rotation error; then
 * for the amortized runs it runs predict-poses on held-back particles (never seen in training)
 * and compares their rotation error with that of the training particles.
 *
 * Config names: semi, semi-b1 (bench/b1.ts's settings: 14 search iterations, 18 epochs), semi-encoder, amortized-grid, amortized-fouriernet; suffixes -march (frequency
 * marching from 4 px), -lr1e-3 (encoder lr), -sym (symmetric loss), -boxN (working box N instead of
 * --box); semi-encoder (cryoSPIN's multi-head encoder initialisation, shifts held at 0 until the
 * switch, encoder lr 1e-3): -hM (M heads, default 8), -swE (switch after E epochs, default half of
 * --epochs-semi), -lr1e-4, -march (loss disc from 4 px to Nyquist over --epochs-semi).
 *
 * Outputs: bench/results/modes.json (all curves; runs merge into the existing file so configs can
 * be run separately), modes.md (table + command + load), modes_resolution.png (resolution vs wall
 * time), modes_rotation.png (rotation error vs epoch).
 *
 *   node --import tsx bench/amortizedVsSemi.ts [--data /tmp/b1s] [--n 1000] [--held 500] [--box 32]
 *     [--configs semi,amortized-grid,amortized-fouriernet] [--epochs-semi 12] [--epochs-amortized 10]
 *     [--work /tmp/cryospin-modes] [--report-only]
 */
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { runPredictPoses } from '../src/cli/commands/predictPoses.js';
import { readPoseSet } from '../src/cli/commands/poseError.js';
import { poseError } from '../src/eval/poseError.js';
import { linePlotSvg, svgToPng } from '../src/report/plot.js';
import { runAmortizedJob } from '../src/recon/amortizedJob.js';
import { runReconstructJob } from '../src/recon/reconstructJob.js';
import { B1_RECON } from './b1Settings.js';

interface Args { collect: string[]; data: string; n: number; held: number; box: number; configs: string[]; epochsSemi: number; epochsAmortized: number; work: string; reportOnly: boolean; out: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { collect: [], data: '/tmp/b1s', n: 1000, held: 500, box: 32, configs: ['semi', 'amortized-grid', 'amortized-fouriernet'], epochsSemi: 12, epochsAmortized: 10, work: '/tmp/cryospin-modes', reportOnly: false, out: resolve('bench/results') };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1] ?? '';
    switch (k) {
      case '--data': a.data = v; i++; break;
      case '--n': a.n = Number(v); i++; break;
      case '--held': a.held = Number(v); i++; break;
      case '--box': a.box = Number(v); i++; break;
      case '--configs': a.configs = v.split(','); i++; break;
      case '--epochs-semi': a.epochsSemi = Number(v); i++; break;
      case '--epochs-amortized': a.epochsAmortized = Number(v); i++; break;
      case '--work': a.work = v; i++; break;
      case '--out': a.out = resolve(v); i++; break;
      case '--report-only': a.reportOnly = true; break;
      case '--collect': a.collect.push(v); i++; break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  return a;
}

/** A STAR holding rows [start, start+n) of the data set's particle table (stack symlinked beside it). */
export function subsetStar(dataDir: string, dir: string, start: number, n: number): string {
  mkdirSync(dir, { recursive: true });
  const lines = readFileSync(join(dataDir, 'particles.star'), 'utf8').split('\n');
  let c = 0;
  const out = lines.filter((l) => {
    if (!l.includes('@')) return true;
    c++;
    return c > start && c <= start + n;
  });
  if (c < start + n) throw new Error(`${dataDir}/particles.star has ${c} particles, need ${start + n}`);
  const stack = join(dir, 'particles.mrcs');
  try { symlinkSync(join(resolve(dataDir), 'particles.mrcs'), stack); } catch { /* already there */ }
  const p = join(dir, 'particles.star');
  writeFileSync(p, out.join('\n'));
  return p;
}

interface EpochRow { epoch: number; wall_s: number; res05_px?: number; rot_median_deg?: number; loss: number; stage: string }
interface RunResult {
  config: string; n: number; box: number; epochs: number; wall_s: number;
  final_res05_px?: number; final_rot_median_deg?: number; half_res0143_px?: number;
  curve: EpochRow[];
  heldout?: { n: number; rot_median_deg: number; train_rot_median_deg: number; ratio: number; predict_s: number };
  date: string; loadavg: number[];
}

function readMetrics(path: string): EpochRow[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as EpochRow);
}

async function runConfig(cfg: string, a: Args, train: string, held: string): Promise<RunResult> {
  const outdir = join(a.work, cfg);
  rmSync(outdir, { recursive: true, force: true });
  const gtMap = join(a.data, 'gt.mrc');
  const box = /box(\d+)/.exec(cfg) ? Number(/box(\d+)/.exec(cfg)![1]) : a.box; // e.g. amortized-grid-box16
  const common = { input: train, outdir, box, seed: 0, gtMap, gtPoses: train, onEpoch: (m: { epoch: number; wall_s: number; rot_median_deg?: number; res05_px?: number }) => process.stderr.write(`[${cfg}] epoch ${m.epoch} ${m.wall_s.toFixed(0)} s rot ${m.rot_median_deg?.toFixed(1)} deg res ${m.res05_px?.toFixed(2)} px\n`) };
  const t0 = Date.now();
  let r;
  const num = (re: RegExp, dflt: number) => (re.exec(cfg) ? Number(re.exec(cfg)![1]) : dflt);
  if (cfg === 'semi') r = await runReconstructJob({ ...common, epochs: a.epochsSemi });
  else if (cfg.startsWith('semi-b1')) r = await runReconstructJob({ ...B1_RECON, ...common }); // B1's own settings (18 epochs)
  else if (cfg.startsWith('semi-encoder')) {
    // cryoSPIN's own initialisation: M-head encoder (winner take all) with shifts held at 0 for the
    // whole encoder stage, then auto-decoding from the switch epoch on
    const heads = num(/-h(\d+)/, 8);
    const switchEpoch = num(/-sw(\d+)/, Math.round(a.epochsSemi / 2));
    r = await runReconstructJob({ ...common, init: 'encoder', heads, epochs: a.epochsSemi, switchEpoch, shiftWarmupEpochs: switchEpoch, lrEncoder: cfg.includes('lr1e-4') ? 1e-4 : 1e-3,
      marchStartPx: cfg.includes('march') ? 4 : 0, marchEpochs: cfg.includes('march') ? a.epochsSemi : 0 });
  } else if (cfg.startsWith('amortized')) {
    const decoder = cfg.includes('fouriernet') ? 'fouriernet' as const : 'grid' as const;
    r = await runAmortizedJob({ ...common, epochs: a.epochsAmortized, decoder, symmetricLoss: cfg.includes('sym'), marchStartPx: cfg.includes('march') ? 4 : 0, marchEpochs: cfg.includes('march') ? a.epochsAmortized : 0, lrEncoder: cfg.includes('lr1e-3') ? 1e-3 : 1e-4 });
  } else throw new Error(`unknown config ${cfg}`);
  process.stderr.write(`[${cfg}] done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  const res: RunResult = {
    config: cfg, n: a.n, box, epochs: r.epochs, wall_s: r.wall_s, final_res05_px: r.res05_px_vs_gt, final_rot_median_deg: r.rot_median_deg_vs_gt,
    half_res0143_px: r.half_res0143_px, curve: readMetrics(join(outdir, 'metrics.jsonl')), date: new Date().toISOString(), loadavg: loadavg(),
  };
  if ((cfg.startsWith('amortized') || cfg.startsWith('semi-encoder')) && a.held > 0) {
    const out = join(outdir, 'heldout_poses.star');
    const pr = await runPredictPoses({ checkpoint: join(outdir, 'checkpoint.json'), particles: held, output: out, quiet: true });
    const ph = readPoseSet(out);
    const gh = readPoseSet(held);
    // the training particles' poses from the same inference pass (amortized: what the run wrote;
    // semi-amortized: the encoder's, not the auto-decoded ones, so both sides are encoder poses)
    let trainPoses = join(outdir, 'poses.star');
    if (cfg.startsWith('semi-encoder')) {
      trainPoses = join(outdir, 'train_encoder_poses.star');
      await runPredictPoses({ checkpoint: join(outdir, 'checkpoint.json'), particles: train, output: trainPoses, quiet: true });
    }
    const pt = readPoseSet(trainPoses);
    const gtr = readPoseSet(train);
    const eh = poseError(ph.rotations, gh.rotations).rot_median_deg;
    const et = poseError(pt.rotations, gtr.rotations).rot_median_deg;
    res.heldout = { n: ph.n, rot_median_deg: eh, train_rot_median_deg: et, ratio: eh / et, predict_s: pr.seconds };
  }
  return res;
}

/** Working pixel size (A) of a run at box `box` on the data set (from its simulation.json, else B1's 4.5 A at 64). */
function apixAt(a: Args, box: number): number {
  const sim = join(a.data, 'simulation.json');
  const s = existsSync(sim) ? JSON.parse(readFileSync(sim, 'utf8')) as { apixAngstrom: number; boxPx: number } : { apixAngstrom: 4.5, boxPx: 64 };
  return (s.apixAngstrom * s.boxPx) / box;
}

const THRESHOLD_A = 45;

function report(runs: Record<string, RunResult>, a: Args, cmd: string): void {
  const list = Object.values(runs);
  const toA = (r: RunResult, px: number | undefined) => (px === undefined ? undefined : px * apixAt(a, r.box));
  const series = (f: (r: EpochRow, run: RunResult) => number | undefined, x: (r: EpochRow) => number) =>
    list.map((r) => ({ name: r.config, x: r.curve.map(x), y: r.curve.map((e) => f(e, r) ?? NaN) }));
  writeFileSync(join(a.out, 'modes_resolution.png'), svgToPng(linePlotSvg({
    title: `B1 subset: FSC 0.5 vs ground truth (learned volume) over training wall time`, xLabel: 'wall time (s)', yLabel: 'resolution (A, lower is better)',
    width: 900, series: series((e, r) => toA(r, e.res05_px), (e) => e.wall_s), hLines: [{ y: 2 * apixAt(a, a.box), label: `Nyquist at box ${a.box}` }],
  })));
  writeFileSync(join(a.out, 'modes_rotation.png'), svgToPng(linePlotSvg({
    title: 'B1 subset: median rotation error per epoch', xLabel: 'epoch', yLabel: 'median rotation error (deg)',
    width: 900, series: series((e) => e.rot_median_deg, (e) => e.epoch + 1), hLines: [{ y: 126.5, label: 'random poses (~126 deg)' }],
  })));
  const fmt = (v: number | undefined, d = 2) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));
  const timeTo = (r: RunResult, thrA: number) => r.curve.find((e) => (toA(r, e.res05_px) ?? Infinity) <= thrA)?.wall_s;
  const lines = [
    '# Amortized (cryoAI) vs semi-amortized (cryoSPIN) on a B1 subset',
    '',
    `Command: \`${cmd}\``,
    '',
    'Data: B1 (70S, SNR 0.1, CTF, shifts within +-3 px at box 64), the first N particles of the 5,000-particle subset, Fourier-cropped to the working box. ' +
    'Resolution = FSC 0.5 of the learned volume (after alignment incl. hand) vs the ground truth, per epoch; final = backprojection with the final poses. ' +
    'Rotation error = median after the global rotation/hand (conventions.md). Wall time = training only (evaluation excluded). ' +
    `The machine is 2 cores shared with other jobs (load averages below): times are noisy.`,
    '',
    `| config | N | box | epochs | train wall (s) | time to <= ${THRESHOLD_A} A (s) | final res, learned volume (px / A) | final res, backprojection (px / A) | half-map 0.143 (px) | final median rot err (deg) | held-out rot err (deg) | train rot err (deg) | held/train | load |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...list.map((r) => `| ${r.config} | ${r.n} | ${r.box} | ${r.epochs} | ${fmt(r.wall_s, 0)} | ${fmt(timeTo(r, THRESHOLD_A), 0)} | ${fmt(r.curve.at(-1)?.res05_px)} / ${fmt(toA(r, r.curve.at(-1)?.res05_px), 1)} | ${fmt(r.final_res05_px)} / ${fmt(toA(r, r.final_res05_px), 1)} | ${fmt(r.half_res0143_px)} | ${fmt(r.final_rot_median_deg, 1)} | ${fmt(r.heldout?.rot_median_deg, 1)} | ${fmt(r.heldout?.train_rot_median_deg, 1)} | ${fmt(r.heldout?.ratio)} | ${r.loadavg.map((l) => l.toFixed(1)).join(' ')} |`),
    '',
    '![resolution vs wall time](modes_resolution.png)',
    '![rotation error vs epoch](modes_rotation.png)',
    '',
    '## Per-epoch curves',
    '',
    ...list.flatMap((r) => [`### ${r.config}`, '', '| epoch | stage | wall (s) | loss | res (px) | median rot err (deg) |', '|---|---|---|---|---|---|',
      ...r.curve.map((e) => `| ${e.epoch} | ${e.stage} | ${fmt(e.wall_s, 0)} | ${fmt(e.loss, 4)} | ${fmt(e.res05_px)} | ${fmt(e.rot_median_deg, 1)} |`), '']),
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}).`,
    '',
    // hand-written interpretation of the committed results (kept across report rewrites)
    ...(existsSync(join(a.out, 'modes_notes.md')) ? [readFileSync(join(a.out, 'modes_notes.md'), 'utf8')] : []),
    '',
  ];
  writeFileSync(join(a.out, 'modes.md'), lines.join('\n'));
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  mkdirSync(a.out, { recursive: true });
  mkdirSync(a.work, { recursive: true });
  const jsonPath = join(a.out, 'modes.json');
  const runs: Record<string, RunResult> = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) as Record<string, RunResult> : {};
  const cmd = `node --import tsx bench/amortizedVsSemi.ts ${process.argv.slice(2).join(' ')}`.trim();
  // --collect config=outdir: a run stopped before its end (e.g. at a deadline) enters the report
  // from its metrics.jsonl, marked incomplete (no final backprojection, no held-out test)
  for (const c of a.collect) {
    const [cfg, dir] = c.split('=');
    const curve = readMetrics(join(dir!, 'metrics.jsonl'));
    const last = curve.at(-1);
    runs[`${cfg} (stopped)`] = { config: `${cfg} (stopped after ${curve.length} epochs)`, n: a.n, box: a.box, epochs: curve.length, wall_s: last?.wall_s ?? NaN,
      final_rot_median_deg: last?.rot_median_deg, curve, date: new Date().toISOString(), loadavg: loadavg() };
  }
  if (a.collect.length > 0) writeFileSync(jsonPath, JSON.stringify(runs, null, 1) + '\n');
  if (!a.reportOnly) {
    const train = subsetStar(a.data, join(a.work, 'train'), 0, a.n);
    const held = subsetStar(a.data, join(a.work, 'held'), a.n, a.held);
    for (const cfg of a.configs) {
      const r = await runConfig(cfg, a, train, held);
      // re-read before merging: configs may run in separate processes
      Object.assign(runs, existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) as Record<string, RunResult> : {});
      runs[cfg] = r;
      writeFileSync(jsonPath, JSON.stringify(runs, null, 1) + '\n');
    }
  }
  report(runs, a, cmd);
}

await main();
