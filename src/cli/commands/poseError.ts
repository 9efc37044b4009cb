/**
 * `cryospin pose-error PRED TRUTH`: rotation error (cryoSPIN's definition, global rotation and
 * hand removed; src/eval/poseError.ts) and shift error between two pose sets. Each input is a
 * particle file loadParticles reads (RELION STAR, cryoSPARC .cs) or a cryoDRGN pose .pkl, whose
 * translations are fractions of the box (`--box`, or the box of the other input).
 * With the global alignment of the predicted map onto the true one (`--alignment FILE`, the JSON
 * of `cryospin align TRUE.mrc PRED.mrc --json`, or `--map PRED.mrc --gt-map TRUE.mrc` to align
 * here), the shift error is also reported in the aligned map's frame (shift_median_aligned_px):
 * an ab-initio map's origin is as free as its orientation.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { eulerToMatrix } from '../../core/rotation.js';
import { alignMaps } from '../../eval/align.js';
import { poseError, type MapAlignment, type PoseErrorResult } from '../../eval/poseError.js';
import { readMapPair } from './fsc.js';
import { readPosePkl } from '../../io/cryodrgnPkl.js';
import { InputError } from '../../io/errors.js';
import { loadParticles } from '../../io/particles.js';
import { log, printResult } from '../output.js';
import { boxOption, jsonOption, parseNumber as num, seedOption } from '../options.js';

export interface PoseSet {
  n: number;
  /** 9n, RELION A matrices. */
  rotations: Float64Array;
  /** 2n origins in px, or null when unknown. */
  originsPx: Float64Array | null;
  boxPx: number | null;
}

/** Read poses from a STAR / .cs (via loadParticles) or a cryoDRGN pose .pkl. */
export function readPoseSet(path: string, boxPx?: number): PoseSet {
  if (extname(path).toLowerCase() === '.pkl') {
    const p = readPosePkl(path);
    let originsPx: Float64Array | null = null;
    if (p.translationsFrac && boxPx !== undefined) originsPx = p.translationsFrac.map((v) => v * boxPx);
    return { n: p.n, rotations: p.rotations, originsPx, boxPx: boxPx ?? null };
  }
  // Only poses are used: stacks are not opened, and the amplitude contrast (a CTF value RELION 3.0
  // files may lack) gets a placeholder that nothing here reads.
  const set = loadParticles(path, { checkStacks: false, allowOutside: true, amplitudeContrast: 0.1, ...(boxPx !== undefined ? { boxPx } : {}) });
  const n = set.particles.length;
  const rotations = new Float64Array(9 * n);
  let originsPx: Float64Array | null = new Float64Array(2 * n);
  set.particles.forEach((p, i) => {
    if (!p.eulerDeg) throw new InputError(path, 'particle has no Euler angles', { record: i, field: '_rlnAngleRot' });
    eulerToMatrix(p.eulerDeg[0], p.eulerDeg[1], p.eulerDeg[2], rotations.subarray(9 * i, 9 * i + 9));
    if (!p.originPx) originsPx = null;
    else if (originsPx) { originsPx[2 * i] = p.originPx[0]; originsPx[2 * i + 1] = p.originPx[1]; }
  });
  return { n, rotations, originsPx, boxPx: set.boxPx };
}

export interface PoseErrorCommandOptions {
  pred: string;
  truth: string;
  boxPx?: number;
  seed?: number;
  nCandidates?: number;
  /** JSON file with {rotation: 9 numbers, shift_px (or shiftPx): 3 numbers, mirrored} (cryospin align --json). */
  alignmentFile?: string;
  /** Predicted and true maps: aligned here (alignMaps) when no alignment file is given. */
  predMap?: string;
  gtMap?: string;
}

/** Read a global map alignment from the JSON `cryospin align --json` prints. */
export function readAlignment(path: string): MapAlignment {
  let j: unknown;
  try { j = JSON.parse(readFileSync(path, 'utf8')); } catch (e) {
    throw new InputError(path, `not a JSON alignment: ${e instanceof Error ? e.message : String(e)}`);
  }
  const o = (j ?? {}) as Record<string, unknown>;
  const rot = o.rotation, sh = o.shift_px ?? o.shiftPx;
  const nums = (v: unknown, k: number): v is number[] => Array.isArray(v) && v.length === k && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!nums(rot, 9)) throw new InputError(path, 'alignment needs "rotation": 9 numbers (row-major)', { field: 'rotation' });
  if (!nums(sh, 3)) throw new InputError(path, 'alignment needs "shift_px": 3 numbers', { field: 'shift_px' });
  if (typeof o.mirrored !== 'boolean') throw new InputError(path, 'alignment needs "mirrored": true/false', { field: 'mirrored' });
  return { rotation: Float64Array.from(rot), shiftPx: Float64Array.from(sh), mirrored: o.mirrored };
}

/** The JSON printed: the pose-error summary without the per-particle arrays. */
export type PoseErrorCommandResult = Omit<PoseErrorResult, 'globalQ' | 'perParticleDeg'>;

export function runPoseError(o: PoseErrorCommandOptions): PoseErrorCommandResult {
  const isPkl = (p: string) => extname(p).toLowerCase() === '.pkl';
  // a pickle's translations need a box: --box, else the other file's box
  let box = o.boxPx;
  let pred: PoseSet | null = null, truth: PoseSet | null = null;
  if (box === undefined && isPkl(o.pred) && !isPkl(o.truth)) { truth = readPoseSet(o.truth); box = truth.boxPx ?? undefined; }
  if (box === undefined && isPkl(o.truth) && !isPkl(o.pred)) { pred = readPoseSet(o.pred); box = pred.boxPx ?? undefined; }
  pred ??= readPoseSet(o.pred, box);
  truth ??= readPoseSet(o.truth, box);
  if (pred.n !== truth.n) throw new InputError(o.pred, `${pred.n} poses, but ${o.truth} has ${truth.n}`);
  if (!pred.originsPx || !truth.originsPx) log('pose-error: shifts unavailable in one input (a .pkl needs --box); shift error not reported');
  let alignment: MapAlignment | undefined;
  if (o.alignmentFile !== undefined) alignment = readAlignment(o.alignmentFile);
  else if (o.predMap !== undefined || o.gtMap !== undefined) {
    if (o.predMap === undefined || o.gtMap === undefined) throw new InputError(o.predMap ?? o.gtMap!, '--map and --gt-map go together');
    const { a, b } = readMapPair(o.gtMap, o.predMap);
    const al = alignMaps(a.data, b.data, a.D, { log });
    alignment = { rotation: al.rotation, shiftPx: al.shiftPx, mirrored: al.mirrored };
  }
  const r = poseError(pred.rotations, truth.rotations, pred.originsPx, truth.originsPx, { seed: o.seed ?? 0, nCandidates: o.nCandidates ?? 100, ...(alignment ? { alignment } : {}) });
  return {
    n: r.n, rot_median_deg: r.rot_median_deg, rot_mean_deg: r.rot_mean_deg, mirrored: r.mirrored,
    shift_median_px: r.shift_median_px, shift_median_recentred_px: r.shift_median_recentred_px,
    shift_median_aligned_px: r.shift_median_aligned_px, shift_mean_aligned_px: r.shift_mean_aligned_px, frob_sq_median: r.frob_sq_median,
  };
}

export function register(program: Command): void {
  program
    .command('pose-error')
    .description('rotation and shift error of predicted poses against true poses (global rotation and hand removed)')
    .argument('<pred>', 'predicted poses: STAR, .cs or cryoDRGN pose .pkl')
    .argument('<truth>', 'true poses: STAR, .cs or cryoDRGN pose .pkl')
    .addOption(boxOption('box in px, to turn .pkl translations (fractions of the box) into pixels'))
    .addOption(seedOption('random seed of the candidate subset'))
    .option('--candidates <n>', 'number of candidate global rotations', num('--candidates', { int: true, min: 1 }), 100)
    .option('--alignment <file>', 'global alignment of the predicted map onto the true one (JSON of `cryospin align TRUE PRED --json`): shift error also in the aligned frame')
    .option('--map <mrc>', 'predicted map (with --gt-map: aligned here, shift error also in the aligned frame)')
    .option('--gt-map <mrc>', 'true map (with --map)')
    .addOption(jsonOption())
    .action((pred: string, truth: string, opts: { box?: number; seed: number; candidates: number; alignment?: string; map?: string; gtMap?: string; json?: boolean }) => {
      const r = runPoseError({ pred, truth, boxPx: opts.box, seed: opts.seed, nCandidates: opts.candidates, alignmentFile: opts.alignment, predMap: opts.map, gtMap: opts.gtMap });
      const f = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(3)} px`);
      printResult(opts.json ?? false, r, () =>
        `n: ${r.n}\nrotation error: median ${r.rot_median_deg.toFixed(3)} deg, mean ${r.rot_mean_deg.toFixed(3)} deg\n` +
        `mirrored: ${r.mirrored}\n` +
        (r.shift_median_aligned_px !== null ? `shift error in the aligned map's frame: median ${f(r.shift_median_aligned_px)}, mean ${f(r.shift_mean_aligned_px)}\n` : '') +
        `shift error: median ${f(r.shift_median_px)} raw (recentred ${f(r.shift_median_recentred_px)})`);
    });
}
