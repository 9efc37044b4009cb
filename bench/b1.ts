/**
 * Benchmarks B1 (70S ribosome) and B2 (adenylate kinase) of issue 4, end to end from one command:
 *   1. simulate the particles exactly as ../shared/docs/README.md specifies (seed 0, SNR 0.1,
 *      CTF 300 kV / 2.7 mm / 0.1, defocus uniform 1.0-2.5 um, origins uniform within +-3 px);
 *   2. `cryospin reconstruct` (ab initio, no poses) on them, timed;
 *   3. the known-pose reconstruction of the same particles (Wiener backprojection with the true
 *      poses, src/recon/backproject.ts), timed;
 *   4. both maps scored against the ground truth with our own align + FSC, and our poses with
 *      poseError (rotation after the best global rotation/hand, origins in px);
 *   5. optionally (--relion) RELION 3.1's ab initio on the same particles via bench/relionAbinitio.ts
 *      (written by another helper; loaded dynamically, reported as absent if it is not there).
 * Writes bench/results/<dataset>.json and .md (a subset run, --n below the benchmark's 20,000,
 * writes <dataset>_n<N>.* and says so).
 *
 *   node --import tsx bench/b1.ts [--dataset b1|b2] [--n 20000] [--work /tmp/cryospin-bench]
 *        [--reuse] [--relion] [--relion-cap-s S] [--threads 2] [--set key=value ...] [--score-only]
 *        [--results-dir bench/results]
 * --set overrides one reconstruct option (ReconstructJobOptions key, number/boolean/string).
 * --score-only rescores an existing work folder without recomputing anything: sim/, cryospin/
 * (map.mrc, poses.star, result.json), known_pose.mrc and relion/ (relion_result.json, or the
 * previous results file's RELION entry, or else its latest map scored here); wall times come
 * from the previous bench/results/<tag>.json when there is one.
 * Shift error: the headline figure is measured in the frame of the map after its global
 * alignment onto the truth (rotation, translation, hand; src/eval/poseError.ts), the raw one
 * beside it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { eulerToMatrix } from '../src/core/rotation.js';
import { alignMaps } from '../src/eval/align.js';
import { fscReport } from '../src/eval/fsc.js';
import { poseError, poseErrorModSymmetry, type MapSymmetryOp } from '../src/eval/poseError.js';
import { nearestRotation } from '../src/core/rotation.js';
import { readAtomicModel } from '../src/sim/atomicModel.js';
import { centreOfMass } from '../src/sim/atomsToMap.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { readMrc, writeMrc } from '../src/io/mrc.js';
import { loadParticles, type ParticleSet } from '../src/io/particles.js';
import { backproject, particleSetSource } from '../src/recon/backproject.js';
import { runReconstructJob, type ReconstructJobOptions } from '../src/recon/reconstructJob.js';
import { runSimulate, type SimulateCliOptions } from '../src/cli/commands/simulate.js';
import { B1_RECON } from './b1Settings.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const shared = resolve(repo, '..', 'shared', 'data');

interface Dataset {
  name: 'b1' | 'b2';
  title: string;
  sim: Omit<SimulateCliOptions, 'out' | 'n'>;
  /** Reconstruct settings (beyond input/outdir/ground truth). */
  recon: Partial<ReconstructJobOptions>;
  /** Two chains of the model related by a non-crystallographic 2-fold: scored modulo it too (diagnostic). */
  pseudoSymmetry?: { chains: [string, string] };
}

const common = {
  snr: 0.1, shiftPx: 3, defocus: [1.0, 2.5], astigmatism: 0, voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: 500,
};

const RECON = B1_RECON;

const DATASETS: Record<string, Dataset> = {
  b1: {
    name: 'b1',
    title: 'B1: 70S ribosome (ASPIRE synthetic map, 4.5 A/px, 65^3 cropped to 64^3)',
    sim: { ...common, map: join(shared, 'aspire_70S_synthetic', 'clean70SRibosome_vol_65p.mrc'), apix: 4.5, crop: 64 },
    recon: RECON,
  },
  b2: {
    name: 'b2',
    title: 'B2: adenylate kinase (4AKE, protein atoms, box 64, 2.233 A/px)',
    sim: { ...common, model: join(shared, 'atomic_models_adk_and_misc', '4ake_mdanalysis.pdb'), box: 64, apix: 2.233, proteinOnly: true },
    recon: RECON,
    // 4AKE holds two copies of AdK (chains A, B) related by a 178.8-deg NCS 2-fold (C-alpha RMSD 0.6 A)
    pseudoSymmetry: { chains: ['A', 'B'] },
  },
};

interface Args { dataset: string; n: number; work: string; reuse: boolean; relion: boolean; scoreOnly: boolean; resultsDir: string; threads: number; relionCapS: number | null; set: Record<string, number | string | boolean> }

function parseArgs(argv: string[]): Args {
  const a: Args = { dataset: 'b1', n: 20000, work: '/tmp/cryospin-bench', reuse: false, relion: false, scoreOnly: false, resultsDir: join(repo, 'bench', 'results'), threads: 2, relionCapS: null, set: {} };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => { const x = argv[++i]; if (x === undefined) throw new Error(`${k} needs a value`); return x; };
    if (k === '--dataset') a.dataset = v();
    else if (k === '--n') a.n = Number(v());
    else if (k === '--work') a.work = v();
    else if (k === '--reuse') a.reuse = true;
    else if (k === '--relion') a.relion = true;
    else if (k === '--score-only') a.scoreOnly = true;
    else if (k === '--results-dir') a.resultsDir = resolve(v());
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '--relion-cap-s') a.relionCapS = Number(v());
    else if (k === '--set') {
      const [key, val] = v().split('=');
      if (!key || val === undefined) throw new Error('--set expects key=value');
      a.set[key] = val === 'true' ? true : val === 'false' ? false : Number.isFinite(Number(val)) ? Number(val) : val;
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!DATASETS[a.dataset]) throw new Error(`--dataset must be b1 or b2, got ${a.dataset}`);
  if (!(Number.isInteger(a.n) && a.n > 0)) throw new Error('--n must be a positive integer');
  return a;
}

const log = (m: string): void => { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`); };

function truePoses(set: ParticleSet): { rots: Float64Array; origins: Float64Array } {
  const n = set.particles.length;
  const rots = new Float64Array(9 * n);
  const origins = new Float64Array(2 * n);
  set.particles.forEach((p, i) => {
    rots.set(eulerToMatrix(p.eulerDeg![0], p.eulerDeg![1], p.eulerDeg![2]), 9 * i);
    origins[2 * i] = p.originPx?.[0] ?? 0;
    origins[2 * i + 1] = p.originPx?.[1] ?? 0;
  });
  return { rots, origins };
}

interface RelionResult { map: string; wall_s: number; res05_px_vs_gt: number; rot_median_deg_vs_gt?: number; iterations?: number; iterations_planned?: number; stopped_by_cap?: boolean }
type RelionFn = (o: { star: string; outDir: string; apixAngstrom: number; box: number; seed: number; threads: number; gtMap: string; maxWallSeconds?: number }) => Promise<RelionResult>;

async function loadRelion(): Promise<RelionFn | null> {
  const p = join(here, 'relionAbinitio.ts');
  if (!existsSync(p)) return null;
  const mod = (await import(pathToFileURL(p).href)) as { runRelionAbinitio?: RelionFn };
  return mod.runRelionAbinitio ?? null;
}

/**
 * The NCS operation of a two-chain model as a symmetry of its simulated map (voxel units about the
 * box centre, model centre of mass at the centre as in atomsToMap): chain A's C-alpha atoms
 * superposed onto chain B's (Kabsch via nearestRotation), x_B = R x_A + t, so V(x) ≈ V(R x + u)
 * with u = (R c + t - c) / apix.
 */
function modelPseudoSymmetry(model: string, chains: [string, string], apix: number): { op: MapSymmetryOp; angleDeg: number; caRmsdA: number } {
  const m = readAtomicModel(model, { proteinOnly: true });
  const cen = centreOfMass(m.atoms, model);
  const ca = (ch: string): Map<number, number[]> => new Map(m.atoms.filter((a) => a.atomName === 'CA' && a.chain === ch).map((a) => [a.resSeq, [a.xAngstrom, a.yAngstrom, a.zAngstrom]]));
  const A = ca(chains[0]), B = ca(chains[1]);
  const keys = [...A.keys()].filter((k) => B.has(k));
  const mean = (M: Map<number, number[]>): number[] => [0, 1, 2].map((j) => keys.reduce((s, k) => s + M.get(k)![j]!, 0) / keys.length);
  const cA = mean(A), cB = mean(B);
  const H = new Float64Array(9);
  for (const k of keys) {
    const a = A.get(k)!, b = B.get(k)!;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) H[3 * r + c]! += (b[r]! - cB[r]!) * (a[c]! - cA[c]!);
  }
  const R = nearestRotation(H);
  const Rv = (v: number[]): number[] => [0, 1, 2].map((r) => R[3 * r]! * v[0]! + R[3 * r + 1]! * v[1]! + R[3 * r + 2]! * v[2]!);
  const RcA = Rv(cA);
  const t = [0, 1, 2].map((r) => cB[r]! - RcA[r]!);
  let ss = 0;
  for (const k of keys) { const ra = Rv(A.get(k)!), b = B.get(k)!; for (let r = 0; r < 3; r++) ss += (ra[r]! + t[r]! - b[r]!) ** 2; }
  const Rc = Rv(cen);
  const u = [0, 1, 2].map((r) => (Rc[r]! + t[r]! - cen[r]!) / apix);
  const angleDeg = (Math.acos(Math.max(-1, Math.min(1, (R[0]! + R[4]! + R[8]! - 1) / 2))) * 180) / Math.PI;
  return { op: { rotation: R, shiftPx: u }, angleDeg, caRmsdA: Math.sqrt(ss / keys.length) };
}

/** Score cryospin's written map and poses against the truth: map alignment, FSC, pose error in the aligned frame. */
function scoreCryospin(set: ParticleSet, gt: Float32Array, D: number, apix: number, mapPath: string, posesPath: string) {
  const ours = readMrc(mapPath).data;
  const al = alignMaps(gt, ours, D, {});
  const fsc = fscReport(gt, al.aligned, D, apix);
  const truth = truePoses(set);
  const outPoses = loadParticles(posesPath, { checkStacks: false, allowOutside: true });
  const pred = truePoses(outPoses);
  // the map's global rotation, hand AND translation are free: shifts are scored in the aligned map's frame
  const alignment = { rotation: al.rotation, shiftPx: al.shiftPx, mirrored: al.mirrored };
  const pe = poseError(pred.rots, truth.rots, pred.origins, truth.origins, { alignment });
  return { al, fsc, pe, pred, truth, alignment };
}

/** The latest RELION SGD map in dir (run_itNNN_class001.mrc), or null. */
function latestRelionMap(dir: string): { path: string; iteration: number } | null {
  if (!existsSync(dir)) return null;
  let best: { path: string; iteration: number } | null = null;
  for (const f of readdirSync(dir)) {
    const m = /^run_it(\d+)_class001\.mrc$/.exec(f);
    if (m && (!best || Number(m[1]) > best.iteration)) best = { path: join(dir, f), iteration: Number(m[1]) };
  }
  return best;
}

type Prev = Record<string, unknown> & { cryospin?: Record<string, unknown>; known_pose?: Record<string, unknown>; relion?: unknown; simulate_s?: number; machine?: Record<string, unknown>; date?: string };

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ds = DATASETS[args.dataset]!;
  const full = args.n === 20000;
  const tag = full ? ds.name : `${ds.name}_n${args.n}`;
  const work = resolve(args.work, tag);
  const outDir = args.resultsDir;
  const resultJson = join(outDir, `${tag}.json`);
  mkdirSync(work, { recursive: true });
  const load0 = loadavg();
  const tStart = performance.now();
  const simDir = join(work, 'sim');
  const star = join(simDir, 'particles.star');
  const gtPath = join(simDir, 'gt.mrc');
  const reconDir = join(work, 'cryospin');
  const relionDir = join(work, 'relion');
  const relionSaved = join(relionDir, 'relion_result.json');
  // --score-only: earlier figures (wall times, machine) come from the previous results file of this tag
  const prev: Prev | null = args.scoreOnly && existsSync(resultJson) ? (JSON.parse(readFileSync(resultJson, 'utf8')) as Prev) : null;
  const reconSettingsOf = (): Record<string, unknown> => {
    const { onEpoch: _o, ...rest } = { ...ds.recon, ...(args.set as Partial<ReconstructJobOptions>), input: star, outdir: reconDir, gtMap: gtPath, gtPoses: star, onEpoch: undefined };
    return rest;
  };

  // 1. simulate
  let simulate_s = 0;
  const simJson = join(simDir, 'simulation.json');
  const reusable = (args.reuse || args.scoreOnly) && existsSync(simJson) && (JSON.parse(readFileSync(simJson, 'utf8')) as { n: number }).n === args.n;
  if (args.scoreOnly && !reusable) throw new Error(`--score-only: no ${args.n}-particle simulation in ${simDir}`);
  if (reusable) { log(`reusing the simulation in ${simDir}`); simulate_s = prev?.simulate_s ?? 0; }
  else {
    log(`simulating ${args.n} particles -> ${simDir}`);
    const t = performance.now();
    runSimulate({ ...ds.sim, out: simDir, n: args.n, quiet: true } as SimulateCliOptions);
    simulate_s = (performance.now() - t) / 1000;
  }
  const gt = readMrc(gtPath);
  const D = gt.nx;
  const set = loadParticles(star, {});
  const apix = set.apixAngstrom;

  // 2. cryospin reconstruct (no poses; ground truth only for per-epoch metrics)
  let recon_s: number, mapPath: string, posesPath: string, half0143: number | null, epochs: number;
  let reconSettings: Record<string, unknown>;
  if (args.scoreOnly) {
    const rj = join(reconDir, 'result.json');
    if (!existsSync(rj)) throw new Error(`--score-only: ${rj} is missing (the reconstruction did not finish)`);
    const r = JSON.parse(readFileSync(rj, 'utf8')) as { map: string; poses: string; epochs: number; wall_s: number; half_res0143_px?: number };
    mapPath = join(reconDir, 'map.mrc'); posesPath = join(reconDir, 'poses.star');
    recon_s = typeof prev?.cryospin?.wall_s === 'number' ? prev.cryospin.wall_s : r.wall_s;
    half0143 = r.half_res0143_px ?? null; epochs = r.epochs;
    reconSettings = (prev?.cryospin?.settings as Record<string, unknown> | undefined) ?? reconSettingsOf();
    log(`--score-only: scoring ${mapPath} and ${posesPath}`);
  } else {
    const reconOpts: ReconstructJobOptions = {
      ...ds.recon, ...(args.set as Partial<ReconstructJobOptions>),
      input: star, outdir: reconDir, gtMap: gtPath, gtPoses: star,
      onEpoch: (m) => log(`epoch ${m.epoch} [${m.stage}] ${m.epoch_s.toFixed(1)} s rot ${m.rot_median_deg?.toFixed(2)} deg shift ${m.shift_median_px?.toFixed(2)} px FSC0.5 ${m.res05_px?.toFixed(2)} px`),
    };
    const { onEpoch: _onEpoch, ...settings } = reconOpts;
    reconSettings = settings;
    log(`cryospin reconstruct ${JSON.stringify(reconSettings)}`);
    const tR = performance.now();
    const rec = await runReconstructJob(reconOpts);
    // with --set resume=true the job continues from its checkpoint; its wall_s includes the earlier part
    recon_s = reconOpts.resume ? rec.wall_s : (performance.now() - tR) / 1000;
    mapPath = rec.map; posesPath = rec.poses; half0143 = rec.half_res0143_px ?? null; epochs = rec.epochs;
  }

  // score ours from the written files
  const { al, fsc: oursFsc, pe, pred, truth, alignment } = scoreCryospin(set, gt.data, D, apix, mapPath, posesPath);
  // diagnostic for a pseudo-symmetric particle: the same poses scored modulo its NCS 2-fold
  let pseudo: { angle_deg: number; ca_rmsd_A: number; rot_median_deg: number; rot_mean_deg: number; mate_fraction: number; shift_median_px: number | null } | null = null;
  if (ds.pseudoSymmetry && typeof ds.sim.model === 'string') {
    const ps = modelPseudoSymmetry(ds.sim.model, ds.pseudoSymmetry.chains, apix);
    const e = poseErrorModSymmetry(pred.rots, truth.rots, pred.origins, truth.origins, [ps.op], { alignment });
    pseudo = { angle_deg: ps.angleDeg, ca_rmsd_A: ps.caRmsdA, rot_median_deg: e.rot_median_deg, rot_mean_deg: e.rot_mean_deg, mate_fraction: e.mate_fraction, shift_median_px: e.shift_median_aligned_px };
  }

  // 3. known-pose reconstruction of the same particles
  const knownPath = join(work, 'known_pose.mrc');
  let known_s: number | null;
  let kpMap: Float32Array;
  if (args.scoreOnly && existsSync(knownPath)) {
    kpMap = readMrc(knownPath).data;
    known_s = typeof prev?.known_pose?.wall_s === 'number' ? prev.known_pose.wall_s : null;
  } else {
    log('known-pose reconstruction (true poses)');
    const tK = performance.now();
    const src = particleSetSource(set);
    kpMap = backproject(src, { boxPx: D, seed: 0 }).map;
    src.close();
    known_s = (performance.now() - tK) / 1000;
    writeMrc(knownPath, kpMap, { nx: D, ny: D, nz: D, apixAngstrom: apix });
  }
  const knownFsc = fscReport(gt.data, kpMap, D, apix);

  // 5. RELION (optional; with --score-only: the saved result, else its latest map scored here)
  let relion: (RelionResult & { note?: string }) | { note: string } | null = null;
  if (args.scoreOnly) {
    if (existsSync(relionSaved)) relion = JSON.parse(readFileSync(relionSaved, 'utf8')) as RelionResult;
    else if (prev?.relion && typeof prev.relion === 'object' && 'wall_s' in prev.relion) relion = prev.relion as RelionResult;
    else {
      const last = latestRelionMap(relionDir);
      if (last) {
        const ra = alignMaps(gt.data, readMrc(last.path).data, D, {});
        const rf = fscReport(gt.data, ra.aligned, D, apix);
        relion = { map: last.path, wall_s: NaN, res05_px_vs_gt: rf.res05_px, note: `scored from ${last.path} (iteration ${last.iteration}); wall time unknown` };
      } else if (prev?.relion) relion = prev.relion as { note: string };
    }
  } else if (args.relion) {
    const fn = await loadRelion();
    if (!fn) relion = { note: 'bench/relionAbinitio.ts is absent: RELION was not run' };
    else {
      // RELION gets more wall time than cryospin used (1.25x, at least the 38-min default cap), so a
      // better cryospin map is "better resolution in less time", not a race cut short
      const capS = args.relionCapS ?? Math.max(2280, Math.ceil(1.25 * recon_s));
      log(`RELION ab initio (time cap ${capS} s)`);
      relion = await fn({ star, outDir: relionDir, apixAngstrom: apix, box: D, seed: 0, threads: args.threads, gtMap: gtPath, maxWallSeconds: capS });
      writeFileAtomic(relionSaved, JSON.stringify(relion, null, 2) + '\n');
    }
  }

  const wall_total_s = args.scoreOnly && typeof prev?.wall_total_s === 'number' ? prev.wall_total_s : (performance.now() - tStart) / 1000;
  const shiftHeadline = pe.shift_median_aligned_px;
  const res = {
    dataset: ds.name, title: ds.title, n: args.n, subset: !full,
    note: full ? 'full benchmark size (20,000 particles)' : `SUBSET: ${args.n} particles, not the benchmark's 20,000`,
    box: D, apix_angstrom: apix,
    targets: { rot_median_deg: 2, fsc05_gap_px: 0.3, shift_median_px: 0.5 },
    cryospin: {
      wall_s: recon_s, rot_median_deg: pe.rot_median_deg, rot_mean_deg: pe.rot_mean_deg, mirrored: pe.mirrored,
      // headline: shifts in the frame of the aligned map (its origin is as free as its orientation)
      shift_median_px: shiftHeadline, shift_mean_px: pe.shift_mean_aligned_px,
      shift_median_raw_px: pe.shift_median_px, shift_median_recentred_px: pe.shift_median_recentred_px,
      pseudo_symmetry: pseudo,
      map_alignment: { rotation: Array.from(al.rotation), shift_px: al.shiftPx, mirrored: al.mirrored, correlation: al.correlation },
      res05_px_vs_gt: oursFsc.res05_px, res0143_px_vs_gt: oursFsc.res0143_px, res05_A_vs_gt: oursFsc.res05_A,
      half_res0143_px: half0143, epochs, settings: reconSettings,
    },
    known_pose: { wall_s: known_s, res05_px_vs_gt: knownFsc.res05_px, res0143_px_vs_gt: knownFsc.res0143_px, res05_A_vs_gt: knownFsc.res05_A },
    fsc05_gap_px: oursFsc.res05_px - knownFsc.res05_px,
    pass: {
      rot: pe.rot_median_deg <= 2,
      fsc: oursFsc.res05_px - knownFsc.res05_px <= 0.3,
      shift: shiftHeadline !== null && shiftHeadline < 0.5,
    },
    relion,
    simulate_s, wall_total_s,
    machine: args.scoreOnly && prev?.machine ? prev.machine
      : { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version, loadavg_start: load0, loadavg_end: loadavg() },
    date: args.scoreOnly && prev?.date ? prev.date : new Date().toISOString(),
    ...(args.scoreOnly ? { rescored: new Date().toISOString() } : {}),
    command: args.scoreOnly && typeof prev?.command === 'string' ? prev.command
      : `npm run bench:b1 -- --dataset ${ds.name}${full ? '' : ` --n ${args.n}`}${args.relion ? ' --relion' : ''}` +
        Object.entries(args.set).map(([k, v]) => ` --set ${k}=${v}`).join(''),
  };
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(resultJson, JSON.stringify(res, null, 2) + '\n');
  const f = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
  const ok = (b: boolean): string => (b ? 'yes' : '**no**');
  const rl = relion && 'wall_s' in relion ? relion : null;
  const machine = res.machine as { cpus: number; cpu: string; node: string; loadavg_start: number[]; loadavg_end: number[] };
  const md = [
    `# ${ds.title}`,
    '',
    `${res.note}. Box ${D}, ${f(apix, 3)} A/px, SNR 0.1, CTF, origins within +-3 px, seed 0. ${res.date}.` +
      (args.scoreOnly ? ` Rescored ${res.rescored} from the saved outputs (\`--score-only\`).` : ''),
    `Command: \`${res.command}\` (work files in ${work}).`,
    `Machine: ${machine.cpus} x ${machine.cpu}, ${machine.node}; load average ${machine.loadavg_start.map((x) => x.toFixed(1)).join(' ')} at start, ${machine.loadavg_end.map((x) => x.toFixed(1)).join(' ')} at end (shared with other jobs: wall times are noisy).`,
    '',
    '| | target | cryospin (ab initio) | known poses |',
    '|---|---|---|---|',
    `| median rotation error (deg), after the map's global rotation + hand | <= 2 | ${f(pe.rot_median_deg)} (${ok(res.pass.rot)}) | 0 |`,
    `| median shift error (px), in the aligned map's frame | < 0.5 | ${f(shiftHeadline, 3)} (${ok(res.pass.shift)}) | 0 |`,
    `| median shift error (px), raw (map origin not aligned) | | ${f(pe.shift_median_px, 3)} | 0 |`,
    `| FSC 0.5 vs ground truth (px) | gap <= 0.3 | ${f(oursFsc.res05_px)} (gap ${f(res.fsc05_gap_px)}, ${ok(res.pass.fsc)}) | ${f(knownFsc.res05_px)} |`,
    `| FSC 0.143 vs ground truth (px) | | ${f(oursFsc.res0143_px)} | ${f(knownFsc.res0143_px)} |`,
    `| wall time (s) | | ${f(recon_s, 0)} | ${f(known_s, 0)} |`,
    '',
    `Shifts: an ab-initio map's origin is as free as its orientation; the aligned-frame figure carries each particle's origin into the frame of the map after its global alignment onto the truth (alignMaps: translation (${al.shiftPx.map((v) => v.toFixed(2)).join(', ')}) px): o + rows 0,1 of P·M·R^T·t (src/eval/poseError.ts). The least-squares recentred figure (translation fitted to the true origins) is ${f(pe.shift_median_recentred_px, 3)} px.`,
    '',
    ...(pseudo ? [`Pseudo-symmetry (diagnostic, not the target): the model's chains ${ds.pseudoSymmetry!.chains.join('/')} are related by a ${f(pseudo.angle_deg, 1)}-deg NCS rotation (C-alpha RMSD ${f(pseudo.ca_rmsd_A)} A). Scored modulo it, the median rotation error is ${f(pseudo.rot_median_deg)} deg (mean ${f(pseudo.rot_mean_deg)}), with ${f(100 * pseudo.mate_fraction, 1)}% of the particles assigned the symmetry mate of their true pose; aligned-frame shift error modulo it ${f(pseudo.shift_median_px, 3)} px.`, ''] : []),
    relion === null ? 'RELION: not run (pass --relion).'
      : rl && Number.isFinite(rl.wall_s) ? `RELION 3.1 ab initio (same particles, same run): FSC 0.5 vs ground truth ${f(rl.res05_px_vs_gt)} px in ${f(rl.wall_s, 0)} s` +
        `${rl.rot_median_deg_vs_gt !== undefined ? `, median rotation error ${f(rl.rot_median_deg_vs_gt)} deg` : ''}; ` +
        `time ratio cryospin/RELION ${f(recon_s / rl.wall_s)}, resolution ${oursFsc.res05_px < rl.res05_px_vs_gt ? 'better' : 'not better'} (${f(oursFsc.res05_px)} vs ${f(rl.res05_px_vs_gt)} px)` +
        (rl.iterations !== undefined ? `; RELION ${rl.stopped_by_cap ? 'stopped by the time cap' : 'finished'} at iteration ${rl.iterations} of ${rl.iterations_planned ?? '?'}.` : '.')
      : rl ? `RELION: FSC 0.5 vs ground truth ${f(rl.res05_px_vs_gt)} px; ${rl.note ?? ''}`
      : `RELION: ${relion.note}`,
    '',
    `Simulation ${f(simulate_s, 0)} s${reusable ? ' (reused)' : ''}; whole benchmark ${f(wall_total_s, 0)} s. Mirrored hand: ${pe.mirrored}. Settings: \`${JSON.stringify(reconSettings)}\`.`,
    '',
  ].join('\n');
  writeFileAtomic(join(outDir, `${tag}.md`), md);
  process.stdout.write(JSON.stringify(res) + '\n');
}

main().catch((e: unknown) => { process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`); process.exit(1); });
