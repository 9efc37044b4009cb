/**
 * The reference side of the B1 race: RELION 3.1's de-novo initial model (SGD) on a particle STAR,
 * timed wall-clock, its map aligned to the ground truth with our `alignMaps` (rotation, shift,
 * hand) and scored with our FSC; its poses scored with our `poseError` when true poses are given.
 *
 * What RELION 3.1.3 (Debian `relion`, /usr/bin/relion_refine) needs from the STAR, checked by
 * running it on `cryospin simulate` output:
 *  - `_rlnImageName` paths are resolved against relion_refine's WORKING DIRECTORY, not the STAR's
 *    folder ("Cannot read file particles.mrcs It does not exist"). We write a converted copy
 *    (`outDir/relion_input.star`) with absolute stack paths; the input is never modified.
 *  - The optics block (ImageSize, ImagePixelSize, Voltage, SphericalAberration, AmplitudeContrast,
 *    ImageDimensionality) and the CTF columns (DefocusU/V/Angle, PhaseShift) are read as written.
 *  - A simulated STAR carries the TRUE angles and origins. RELION's translational search is
 *    centred on each particle's current origin, so the true `_rlnOriginX/YAngst` would leak the
 *    answer: the converted copy drops angles, origins, priors and class numbers.
 *  - `--random_seed 0` means "do not randomise the particle order" (RELION prints a warning), which
 *    in SGD makes every mini-batch start from the first particles; we pass seed + 1.
 *
 * Flags (RELION 3.1 GUI "3D initial model" job, adapted to a 2-core CPU machine):
 *  --denovo_3dref --sgd --K 1 --sym C1 --ctf --zero_mask --flatten_solvent: the GUI's de-novo job.
 *  --particle_diameter: 0.85 x box x pixel size (the box is all we know without the truth; the
 *     soft edge, --maskedge 5 px, then still fits in the box).
 *  --sgd_ini_iter/--sgd_inbetween_iter/--sgd_fin_iter: RELION's 50/200/50 split (1:4:1) scaled to
 *     `maxIterations`. RELION's 300 iterations take many hours on 2 shared cores, so the defaults
 *     here are the measured bench setting: 24 iterations, stopped after `maxWallSeconds` (38 min).
 *  --sgd_ini_resol 35 --sgd_fin_resol 15 (A), --sgd_ini_subset 100 (RELION defaults);
 *     --sgd_fin_subset 300 (RELION: 500) to keep the final iterations affordable.
 *     The final SGD map is band-limited near sgd_fin_resol (15 A = 3.3 px at 4.5 A/px for B1); the
 *     option `finResolAngstrom` lets a bench raise it.
 *  --healpix_order 1 --offset_range 6 --offset_step 2 (px): GUI defaults (30 deg).
 *  --oversampling 0 (GUI: 1, a 2x-finer second pass in angles and shifts). RELION raises the
 *     HEALPix order itself as the SGD resolution improves (B1, box 64: 7.5 deg = 36,864
 *     orientations already at 32 A, iteration 6), so the cost of an iteration
 *     grows ~64x during the schedule; without the second pass an iteration evaluates ~8x (angles)
 *     x 4x (shifts) fewer samples, which is what makes a few dozen iterations fit on 2 cores.
 *  --pad 1 --skip_gridding: the GUI's "skip padding" / "skip gridding" options for initial models
 *     (faster; the SGD map is a low-resolution start, not a final reconstruction).
 *  --j threads --pool 3 --dont_combine_weights_via_disc: threads on one process (no MPI on 2 cores).
 *  --sgd_write_iter 1: a map every iteration, so a run stopped by `maxWallSeconds` still has the
 *     latest map to score (the bench's time cap).
 * The caller sets the niceness (children inherit it: run the bench under `nice -n 10`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fourierCropVolume } from '../src/core/resample.js';
import { eulerToMatrix } from '../src/core/rotation.js';
import { alignMaps } from '../src/eval/align.js';
import { fscReport } from '../src/eval/fsc.js';
import { poseError } from '../src/eval/poseError.js';
import { InputError } from '../src/io/errors.js';
import { readMrc, writeMrc } from '../src/io/mrc.js';
import { readRelionParticles } from '../src/io/relionStar.js';
import { getBlock, readStar, writeStar, type StarBlock, type StarBlockInput } from '../src/io/star.js';

export interface RelionAbinitioOptions {
  star: string;
  outDir: string;
  apixAngstrom: number;
  box: number;
  seed: number;
  threads: number;
  gtMap: string;
  gtPosesStar?: string;
  /** Total SGD iterations (ini:inbetween:fin = 1:4:1); default 24 (RELION's own default is 300). */
  maxIterations?: number;
  onLog?: (line: string) => void;
  /** Stop RELION after this many seconds and score the last map it wrote (default 2280 = 38 min; 0 = no cap). */
  maxWallSeconds?: number;
  iniResolAngstrom?: number;
  finResolAngstrom?: number;
  iniSubset?: number;
  finSubset?: number;
  healpixOrder?: number;
  /** Adaptive oversampling order (default 0 here; the GUI's 1 adds a 2x-finer second pass). */
  oversampling?: number;
  particleDiameterAngstrom?: number;
  /** relion_refine executable (default /usr/bin/relion_refine, else `relion_refine` on PATH). */
  relionRefine?: string;
}

export interface RelionAbinitioResult {
  map: string;
  wall_s: number;
  res05_px_vs_gt: number;
  rot_median_deg_vs_gt?: number;
  command: string;
  iterations: number;
  /** Iterations asked for (ini + inbetween + fin). */
  iterations_planned: number;
  /** True when maxWallSeconds stopped RELION before its last iteration. */
  stopped_by_cap: boolean;
  res05_A_vs_gt: number;
  res0143_px_vs_gt: number;
  align_correlation: number;
  mirrored: boolean;
  /** Map aligned onto the ground truth (outDir/relion_aligned.mrc). */
  aligned_map: string;
  /** Particles RELION aligned at least once (class number >= 1), the ones scored. */
  poses_scored?: number;
  rot_mean_deg_vs_gt?: number;
  shift_median_px_vs_gt?: number | null;
  score_s: number;
}

const DROP_COLUMNS = new Set([
  '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginXAngst', '_rlnOriginYAngst', '_rlnOriginX',
  '_rlnOriginY', '_rlnAngleRotPrior', '_rlnAngleTiltPrior', '_rlnAnglePsiPrior', '_rlnOriginXPriorAngst',
  '_rlnOriginYPriorAngst', '_rlnClassNumber', '_rlnRandomSubset', '_rlnLogLikeliContribution',
  '_rlnMaxValueProbDistribution', '_rlnNrOfSignificantSamples',
]);

export function findRelionRefine(): string | null {
  if (existsSync('/usr/bin/relion_refine')) return '/usr/bin/relion_refine';
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, 'relion_refine'))) return join(d, 'relion_refine');
  return null;
}

/** Write the STAR RELION gets: absolute image paths, no angles/origins/priors. Returns its path. */
export function writeRelionInputStar(star: string, outPath: string, box: number, apixAngstrom: number): string {
  const file = readStar(star);
  const optics = getBlock(file, 'optics');
  const parts = getBlock(file, 'particles');
  if (!optics || !parts || optics.loops.length === 0 || parts.loops.length === 0) {
    throw new InputError(star, 'expected a RELION 3.1 STAR with data_optics and data_particles loops');
  }
  const oLoop = optics.loops[0]!;
  const col = (b: { columns: string[] }, name: string): number => b.columns.indexOf(name);
  for (const [name, want] of [['_rlnImageSize', box], ['_rlnImagePixelSize', apixAngstrom]] as const) {
    const j = col(oLoop, name);
    if (j < 0) throw new InputError(star, 'optics group lacks a column', { field: name });
    oLoop.rows.forEach((r, i) => {
      const v = Number(r[j]);
      if (Math.abs(v - want) > 1e-3 * want) {
        throw new InputError(star, `optics group has ${v}, the race was asked for ${want} (RELION cannot resample: downsample first)`, { record: i, field: name });
      }
    });
  }
  const pLoop = parts.loops[0]!;
  const jName = col(pLoop, '_rlnImageName');
  if (jName < 0) throw new InputError(star, 'no _rlnImageName column', { field: '_rlnImageName' });
  const keep = pLoop.columns.map((c, j) => (DROP_COLUMNS.has(c) ? -1 : j)).filter((j) => j >= 0);
  const base = dirname(resolve(star));
  const rows = pLoop.rows.map((r, i) => {
    const name = r[jName]!;
    const at = name.indexOf('@');
    if (at < 1) throw new InputError(star, `image name "${name}" is not idx@path`, { record: i, field: '_rlnImageName' });
    const p = name.slice(at + 1);
    const abs = isAbsolute(p) ? p : resolve(base, p);
    return keep.map((j) => (j === jName ? `${name.slice(0, at)}@${abs}` : r[j]!));
  });
  const blocks: StarBlockInput[] = [
    { name: 'optics', loops: [{ columns: oLoop.columns, rows: oLoop.rows }] },
    { name: 'particles', loops: [{ columns: keep.map((j) => pLoop.columns[j]!), rows }] },
  ];
  writeStar(outPath, blocks);
  return outPath;
}

/** RELION's 50/200/50 schedule scaled to `total` iterations (each stage >= 1). */
export function sgdSchedule(total: number): { ini: number; inbetween: number; fin: number } {
  if (!Number.isInteger(total) || total < 3) throw new RangeError(`maxIterations must be an integer >= 3, got ${total}`);
  const ini = Math.max(1, Math.round(total / 6));
  const fin = Math.max(1, Math.round(total / 6));
  return { ini, inbetween: total - ini - fin, fin };
}

function latestIteration(outDir: string): number {
  let best = -1;
  for (const f of readdirSync(outDir)) {
    const m = /^run_it(\d+)_class001\.mrc$/.exec(f);
    if (m) best = Math.max(best, Number(m[1]));
  }
  return best;
}

const itName = (outDir: string, it: number, what: string): string => join(outDir, `run_it${String(it).padStart(3, '0')}_${what}`);

function runProcess(exe: string, args: string[], cwd: string, capS: number | undefined, onLog: (l: string) => void): Promise<{ code: number | null; capped: boolean }> {
  return new Promise((res, rej) => {
    const child = spawn(exe, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let capped = false;
    const timer = capS !== undefined ? setTimeout(() => { capped = true; child.kill('SIGTERM'); }, capS * 1000) : null;
    let pending = '';
    const feed = (buf: Buffer): void => {
      pending += buf.toString();
      const parts = pending.split(/[\r\n]/);
      pending = parts.pop() ?? '';
      for (const p of parts) {
        const l = p.trim();
        // RELION's progress bar ("1.2/3.4 min ....~~(,_,\">") is dropped; the rest is passed on
        if (l && !l.includes('~~(,_,')) onLog(l);
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('error', (e) => { if (timer) clearTimeout(timer); rej(e); });
    child.on('close', (code) => { if (timer) clearTimeout(timer); res({ code, capped }); });
  });
}

interface PoseTable { rot: Float64Array; shiftPx: Float64Array; keys: string[]; assigned: boolean[] }

function posesFromBlock(b: StarBlock, file: string, apix: number, keyOf: (name: string) => string): PoseTable {
  const loop = b.loops[0];
  if (!loop) throw new InputError(file, 'particle block has no loop');
  const j = (n: string): number => loop.columns.indexOf(n);
  const [jn, jr, jt, jp, jx, jy, jc] = ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginXAngst',
    '_rlnOriginYAngst', '_rlnClassNumber'].map(j);
  if ([jn, jr, jt, jp].some((v) => v! < 0)) throw new InputError(file, 'no image names or angles');
  const n = loop.rows.length;
  const rot = new Float64Array(9 * n), shiftPx = new Float64Array(2 * n), keys: string[] = [], assigned: boolean[] = [];
  loop.rows.forEach((r, i) => {
    keys.push(keyOf(r[jn!]!));
    // RELION's de-novo start gives every particle random angles and origins with class 0; a
    // particle gets class 1 once an SGD mini-batch has aligned it.
    assigned.push(jc! < 0 || Number(r[jc!]) >= 1);
    rot.set(eulerToMatrix(Number(r[jr!]), Number(r[jt!]), Number(r[jp!])), 9 * i);
    shiftPx[2 * i] = jx! >= 0 ? Number(r[jx!]) / apix : 0;
    shiftPx[2 * i + 1] = jy! >= 0 ? Number(r[jy!]) / apix : 0;
  });
  return { rot, shiftPx, keys, assigned };
}

/** Score RELION's data.star poses against the true ones (matched by image); skips never-set poses. */
function scorePoses(dataStar: string, gtStar: string, apix: number, seed: number): { n: number; med: number; mean: number; shift: number | null } | null {
  const key = (idx: number, path: string): string => `${idx}@${resolve(path)}`;
  const gt = readRelionParticles(gtStar, { allowOutside: true });
  const truth = new Map<string, number>();
  gt.particles.forEach((p, i) => { if (p.eulerDeg) truth.set(key(p.stackIndex + 1, p.stackPath), i); });
  const file = readStar(dataStar);
  const b = getBlock(file, 'particles');
  if (!b) return null;
  const pred = posesFromBlock(b, dataStar, apix, (name) => { const at = name.indexOf('@'); return key(Number(name.slice(0, at)), name.slice(at + 1)); });
  const sel: number[] = [], gi: number[] = [];
  pred.keys.forEach((k, i) => {
    const g = truth.get(k);
    if (g !== undefined && pred.assigned[i]) { sel.push(i); gi.push(g); }
  });
  if (sel.length < 3) return null;
  const P = new Float64Array(9 * sel.length), G = new Float64Array(9 * sel.length);
  const Ps = new Float64Array(2 * sel.length), Gs = new Float64Array(2 * sel.length);
  sel.forEach((i, m) => {
    P.set(pred.rot.subarray(9 * i, 9 * i + 9), 9 * m);
    Ps.set(pred.shiftPx.subarray(2 * i, 2 * i + 2), 2 * m);
    const p = gt.particles[gi[m]!]!;
    const [a, t, s] = p.eulerDeg!;
    G.set(eulerToMatrix(a, t, s), 9 * m);
    Gs[2 * m] = p.originPx?.[0] ?? 0; Gs[2 * m + 1] = p.originPx?.[1] ?? 0;
  });
  const e = poseError(P, G, Ps, Gs, { seed });
  return { n: sel.length, med: e.rot_median_deg, mean: e.rot_mean_deg, shift: e.shift_median_px };
}

export async function runRelionAbinitio(opts: RelionAbinitioOptions): Promise<RelionAbinitioResult> {
  const log = opts.onLog ?? (() => {});
  const exe = opts.relionRefine ?? findRelionRefine();
  if (!exe) throw new Error('relion_refine not found (Debian: apt-get install -y relion)');
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const D = opts.box, apix = opts.apixAngstrom;
  const total = opts.maxIterations ?? 24;
  const capS = opts.maxWallSeconds ?? 2280;
  const sch = sgdSchedule(total);
  const t0 = performance.now();
  const input = writeRelionInputStar(opts.star, join(outDir, 'relion_input.star'), D, apix);
  const diameter = opts.particleDiameterAngstrom ?? Math.round(0.85 * D * apix);
  const args = [
    '--i', input, '--o', join(outDir, 'run'), '--denovo_3dref', '--sgd',
    '--sgd_ini_iter', String(sch.ini), '--sgd_inbetween_iter', String(sch.inbetween), '--sgd_fin_iter', String(sch.fin),
    '--sgd_ini_resol', String(opts.iniResolAngstrom ?? 35), '--sgd_fin_resol', String(opts.finResolAngstrom ?? 15),
    '--sgd_ini_subset', String(opts.iniSubset ?? 100), '--sgd_fin_subset', String(opts.finSubset ?? 300),
    '--sgd_write_iter', '1',
    '--ctf', '--K', '1', '--sym', 'C1', '--zero_mask', '--flatten_solvent', '--particle_diameter', String(diameter),
    '--oversampling', String(opts.oversampling ?? 0), '--healpix_order', String(opts.healpixOrder ?? 1), '--offset_range', '6', '--offset_step', '2',
    '--pad', '1', '--skip_gridding', '--pool', '3', '--j', String(opts.threads), '--dont_combine_weights_via_disc',
    '--random_seed', String(opts.seed + 1),
  ];
  const command = [exe, ...args].join(' ');
  log(`relion: ${command}`);
  const { code, capped } = await runProcess(exe, args, outDir, capS > 0 ? capS : undefined, log);
  const wall_s = (performance.now() - t0) / 1000;
  const it = latestIteration(outDir);
  if (!capped && code !== 0) throw new Error(`relion_refine exited with code ${code} (see the log above; output in ${outDir})`);
  if (it < 1) throw new Error(`relion_refine wrote no iteration map in ${outDir}${capped ? ` before the ${capS} s cap` : ''}`);
  log(`relion: ${capped ? 'stopped by the time cap' : 'finished'} after ${wall_s.toFixed(1)} s, last map iteration ${it} of ${total}`);

  const t1 = performance.now();
  const mapPath = itName(outDir, it, 'class001.mrc');
  const m = readMrc(mapPath);
  if (m.nx !== D || m.ny !== D || m.nz !== D) throw new InputError(mapPath, `RELION map is ${m.nx}x${m.ny}x${m.nz}, expected ${D}^3`);
  const g = readMrc(opts.gtMap);
  if (g.nx !== g.ny || g.ny !== g.nz) throw new InputError(opts.gtMap, `map is not cubic (${g.nx}x${g.ny}x${g.nz})`);
  const gt = g.nx === D ? g.data : fourierCropVolume(g.data, g.nx, D);
  const al = alignMaps(gt, m.data, D, { log });
  const rep = fscReport(gt, al.aligned, D, apix);
  const alignedPath = join(outDir, 'relion_aligned.mrc');
  writeMrc(alignedPath, al.aligned, { nx: D, ny: D, nz: D, apixAngstrom: apix });
  const res: RelionAbinitioResult = {
    map: mapPath, wall_s, res05_px_vs_gt: rep.res05_px, command, iterations: it, iterations_planned: total,
    stopped_by_cap: capped, res05_A_vs_gt: rep.res05_px * apix, res0143_px_vs_gt: rep.res0143_px,
    align_correlation: al.correlation, mirrored: al.mirrored, aligned_map: alignedPath, score_s: 0,
  };
  if (opts.gtPosesStar) {
    const dataStar = itName(outDir, it, 'data.star');
    const pe = existsSync(dataStar) ? scorePoses(dataStar, opts.gtPosesStar, apix, opts.seed) : null;
    if (pe) {
      res.rot_median_deg_vs_gt = pe.med;
      res.rot_mean_deg_vs_gt = pe.mean;
      res.shift_median_px_vs_gt = pe.shift;
      res.poses_scored = pe.n;
    }
  }
  res.score_s = (performance.now() - t1) / 1000;
  log(`relion: res05 vs gt ${rep.res05_px.toFixed(2)} px (${res.res05_A_vs_gt.toFixed(1)} A), align corr ${al.correlation.toFixed(3)}` +
    (res.rot_median_deg_vs_gt !== undefined ? `, rot median ${res.rot_median_deg_vs_gt.toFixed(1)} deg over ${res.poses_scored} poses` : ''));
  return res;
}
