/**
 * Multi-class global pose re-search started from a homogeneous consensus (RELION-style 3D
 * classification with a global search and hard assignment).
 *
 * When the data hold two (or more) distinct states, the single-class consensus locks onto one of
 * them and the other state's particles keep random poses (B3: closed AdK ~80 deg median error).
 * Here K class volumes start from the consensus poses: the particles are split into K groups,
 * each group's volume is the closed-form Wiener reconstruction (localRefineVolume.ts) of its
 * particles at their consensus poses. Then, per iteration, a seeded subset of the particles (all
 * of them in the last iteration) is searched globally (poseSearch.ts: one shared set of candidate
 * rotations, the shift grid, the loss disc growing from radiusStartPx to radiusEndPx) against
 * every class volume; each particle takes the best (class, rotation, shift), and each class
 * volume is refitted (Wiener) from the subset's particles of that class. A class whose particles
 * start near their poses in the consensus frame stays in it. A class built from particles whose
 * consensus poses are random is not anchored: on B3 the closed-state class separated (99%) but
 * its poses ended 35 deg off the consensus frame (bench/results/b3_abinitio_notes.md), so such a
 * class needs its own refinement and an alignment to the others downstream.
 *
 * Initial split ('fit', default): the particles whose consensus pose fits the consensus volume
 * worst go to the last class. The fit is the regression gain g = Re<Z S P> / sum CTF^2 |P|^2 of
 * the image on its CTF-modulated slice (Z = conj(Y)·CTF, S the shift phase, as in poseSearch.ts):
 * its expectation is 1 for a particle that the volume explains at that pose whatever its CTF,
 * and lower for a particle of another state or at a wrong pose. 'random' splits at random.
 *
 * A class that falls below minClassFraction of a subset is re-seeded from the largest class: the
 * members of the largest class whose search score for the small class came closest to their
 * winning score move to it (with their best pose for it), so no class dies.
 *
 * Every random choice (subsets, candidate-set rotation, random split) comes from one seeded Rng.
 */
import type { Complex } from '../core/complex.js';
import { Rng } from '../core/rng.js';
import { matMul, randomRotations } from '../core/rotation.js';
import { superFibonacciRotations } from '../eval/align.js';
import { createHartleyGrid, nyquistDisc, type DiscIndex, type HartleyGrid } from '../model/hartleyVolume.js';
import { localLevels, localSearch } from './localRefine.js';
import { wienerVolume } from './localRefineVolume.js';
import { candidateSlices, searchPoses } from './poseSearch.js';
import { tsSlicer, type Slicer } from './slicer.js';
import type { ParticleBatch, ParticleSource } from './types.js';

export interface ClassSearchOptions {
  /** Number of classes K (>= 2). */
  classes: number;
  /** Search iterations; the last one searches every particle. */
  iterations: number;
  /** Particles per (non-last) iteration, a seeded random subset. */
  subset: number;
  /** Loss-disc radius (Fourier px) of the first and the last iteration (linear in between). */
  radiusStartPx: number;
  radiusEndPx: number;
  /** Candidate rotations per iteration (super-Fibonacci set, randomly rotated each iteration). */
  rotations: number;
  /** Shift grid: origins -range..range in steps of step (px). */
  shiftRangePx: number;
  shiftStepPx: number;
  /** Initial split: 'fit' (worst consensus fit -> last class) or 'random'. */
  split: 'fit' | 'random';
  /**
   * How a particle's classes are compared (each at its own best pose): 'scaled' (default) the
   * loss of the slice scaled optimally for that particle, -c^2/e (independent of a class
   * volume's overall amplitude, which the Wiener filter shrinks more for a class with less
   * signal), or 'loss' the search loss itself.
   */
  classScore: 'scaled' | 'loss';
  /**
   * Local refinement iterations after the global ones: every particle's pose refined
   * coarse-to-fine around its current one against its own class volume (localRefine.ts; steps
   * localRotStepDeg / localShiftStepPx, halved per level and per iteration, loss disc
   * localRadiusPx), then every class volume refitted (Wiener) from all its particles. Classes are
   * kept. The global grid alone leaves ~half its spacing as error (3000 rotations: ~8 deg).
   */
  localIterations: number;
  localRotStepDeg: number;
  localShiftStepPx: number;
  localRadiusPx: number;
  /**
   * The first balancedIterations global iterations assign balanced classes (each at most
   * 1/K of the subset; see chooseClasses), the later ones the best class freely.
   */
  balancedIterations: number;
  /** A class below this fraction of a subset is re-seeded from the largest class. */
  minClassFraction: number;
  seed: number;
  /** Particles per search batch. */
  batchSize: number;
  /** Slice kernels (e.g. createSlicer('wasm', threads)); the TS reference by default. */
  slicer: Slicer;
}

export const CLASS_SEARCH_DEFAULTS: ClassSearchOptions = {
  classes: 2,
  iterations: 5,
  subset: 4000,
  radiusStartPx: 8,
  radiusEndPx: 12,
  rotations: 3000,
  shiftRangePx: 2,
  shiftStepPx: 1,
  split: 'fit',
  classScore: 'scaled',
  balancedIterations: 0,
  localIterations: 0,
  localRotStepDeg: 6,
  localShiftStepPx: 1,
  localRadiusPx: 16,
  minClassFraction: 0.1,
  seed: 0,
  batchSize: 128,
  slicer: tsSlicer,
};

/** The consensus the search starts from: its volume, and every particle's rotation (9n) and origin (2n, working px). */
export interface ClassSearchInit {
  grid: HartleyGrid;
  rot: Float32Array;
  origin: Float32Array;
}

export interface ClassIterationStats {
  /** 0-based iteration (global ones first, then the local ones). */
  iteration: number;
  stage: 'global' | 'local';
  radiusPx: number;
  /** Particles searched in this iteration. */
  particles: number;
  /** Particles per class among them (after re-seeding). */
  classSizes: number[];
  /** Searched particles whose class differs from the one they had before (-1 = had none: not counted). */
  changedClass: number;
  /** Particles moved by re-seeding. */
  reseeded: number;
  /** Mean score of the chosen class (per disc pixel; see classScore). */
  meanScore: number;
  seconds: number;
}

export interface ClassSearchResult {
  /** 0-based class per particle (-1: never searched nor split, impossible after a full last iteration). */
  classOf: Int32Array;
  /** Rotation (9n) and origin (2n, working px) per particle. */
  rot: Float32Array;
  origin: Float32Array;
  /** The class volumes (Hartley grids, consensus frame). */
  grids: HartleyGrid[];
  /** Class sizes of the initial split (over its subset). */
  initialSizes: number[];
  stats: ClassIterationStats[];
}

/** What onIteration sees after each iteration (live arrays: copy what you keep). */
export interface ClassSearchView {
  classOf: Int32Array;
  rot: Float32Array;
  origin: Float32Array;
  grids: HartleyGrid[];
}

/** The particles idx of source as a source of their own (particle j of the view is idx[j]). */
export function subsetSource(source: ParticleSource, idx: Uint32Array): ParticleSource {
  return {
    n: idx.length, D: source.D, apixAngstrom: source.apixAngstrom,
    // the batch's indices are the view's (a trainer indexes its own per-particle state with them)
    batch: (ii: Uint32Array) => ({ ...source.batch(Uint32Array.from(ii, (j) => idx[j]!)), indices: Uint32Array.from(ii) }),
  };
}

/**
 * Cross term c = Re sum Z S P and energy e = sum CTF^2 |P|^2 (over the disc) of each image of the
 * batch with its CTF-modulated, shifted slice at the given poses (rots 9B, origins 2B px).
 * c / e is the regression gain of the image on the slice; c^2 / e (c > 0) the loss reduction
 * of the best-scaled slice.
 */
export function sliceFit(grid: HartleyGrid, slicer: Slicer, batch: ParticleBatch, rots: Float64Array, originsPx: Float32Array, disc: DiscIndex): { cross: Float64Array; energy: Float64Array } {
  const D = grid.D;
  const P = D * D;
  const B = batch.B;
  const s: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  slicer.render(grid, rots, B, s, disc);
  const tw = (2 * Math.PI) / D;
  const crossOut = new Float64Array(B);
  const energyOut = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const ox = originsPx[2 * b]!, oy = originsPx[2 * b + 1]!;
    let cross = 0, energy = 0;
    for (let k = 0; k < disc.pix.length; k++) {
      const p = b * P + disc.pix[k]!;
      const c = batch.ctf[p]!;
      const zr = c * batch.obs.re[p]!, zi = -c * batch.obs.im[p]!;
      const ph = tw * (disc.kx[k]! * ox + disc.ky[k]! * oy);
      const sr = Math.cos(ph), si = Math.sin(ph);
      const pr = s.re[p]!, pi = s.im[p]!;
      cross += (zr * sr - zi * si) * pr - (zr * si + zi * sr) * pi;
      energy += c * c * (pr * pr + pi * pi);
    }
    crossOut[b] = cross;
    energyOut[b] = energy;
  }
  return { cross: crossOut, energy: energyOut };
}

/**
 * Class of each of m particles from the K x m scores (lower is better). Free: the best class.
 * Balanced: every class takes at most ceil(m / K) particles; particles are placed in order of
 * their confidence (second-best minus best score), each in its best class with room left. A
 * class-wide offset of the scores (a class volume with less signal fits everything worse) does
 * not change which particles prefer that class most, so the split follows the particles' relative
 * preferences while a class is still forming.
 */
export function chooseClasses(score: Float64Array, K: number, m: number, balanced: boolean): Int32Array {
  const win = new Int32Array(m);
  const rank = (j: number): number[] => Array.from({ length: K }, (_, k) => k).sort((a, b) => score[a * m + j]! - score[b * m + j]! || a - b);
  if (!balanced) {
    for (let j = 0; j < m; j++) win[j] = rank(j)[0]!;
    return win;
  }
  const ranks = Array.from({ length: m }, (_, j) => rank(j));
  const conf = (j: number): number => score[ranks[j]![1]! * m + j]! - score[ranks[j]![0]! * m + j]!;
  const order = Array.from({ length: m }, (_, j) => j).sort((a, b) => conf(b) - conf(a) || a - b);
  const cap = Math.ceil(m / K);
  const size = new Array<number>(K).fill(0);
  for (const j of order) {
    const k = ranks[j]!.find((c) => size[c]! < cap)!;
    win[j] = k;
    size[k]! += 1;
  }
  return win;
}

/** Rotate the super-Fibonacci set by one random rotation (a fresh grid offset per iteration). */
function candidateRotations(count: number, rng: Rng): Float64Array {
  const base = superFibonacciRotations(count);
  const Q = randomRotations(1, rng);
  const rots = new Float64Array(base.length);
  for (let j = 0; j < count; j++) matMul(rots.subarray(9 * j, 9 * j + 9), base.subarray(9 * j, 9 * j + 9), Q);
  return rots;
}

function allIndices(n: number): Uint32Array {
  return Uint32Array.from({ length: n }, (_, i) => i);
}

/** Wiener refit of every class volume from the listed particles of that class at their current poses. */
export function refitClasses(source: ParticleSource, grids: HartleyGrid[], slicer: Slicer, idx: Uint32Array, classOf: Int32Array, rot: Float32Array, origin: Float32Array): void {
  for (let k = 0; k < grids.length; k++) {
    const mine = idx.filter((i) => classOf[i] === k);
    if (mine.length < 2) continue; // re-seeding keeps every class at >= 2 particles; never reached in practice
    const r = new Float32Array(9 * mine.length);
    const o = new Float32Array(2 * mine.length);
    mine.forEach((i, j) => { r.set(rot.subarray(9 * i, 9 * i + 9), 9 * j); o.set(origin.subarray(2 * i, 2 * i + 2), 2 * j); });
    wienerVolume(grids[k]!, slicer, subsetSource(source, mine), r, o, { batchSize: 64 });
  }
}

/** Run the multi-class search; see the module comment. */
export function classSearch(source: ParticleSource, init: ClassSearchInit, options: Partial<ClassSearchOptions> = {},
  onIteration?: (stats: ClassIterationStats, view: ClassSearchView) => void): ClassSearchResult {
  const o: ClassSearchOptions = { ...CLASS_SEARCH_DEFAULTS, ...options };
  const K = o.classes;
  const n = source.n;
  const D = source.D;
  if (!(Number.isInteger(K) && K >= 2)) throw new RangeError(`classSearch: classes must be a whole number >= 2, got ${K}`);
  if (!(Number.isInteger(o.iterations) && o.iterations >= 1)) throw new RangeError(`classSearch: iterations must be >= 1, got ${o.iterations}`);
  if (init.rot.length !== 9 * n || init.origin.length !== 2 * n) throw new RangeError(`classSearch: need 9n rotations and 2n origins for n = ${n}`);
  if (init.grid.D !== D) throw new RangeError(`classSearch: consensus grid box ${init.grid.D} != source box ${D}`);
  const slicer = o.slicer;
  const rng = new Rng(o.seed);
  const rot = Float32Array.from(init.rot);
  const origin = Float32Array.from(init.origin);
  const classOf = new Int32Array(n).fill(-1);
  const Dv = init.grid.Dv;
  const grids = Array.from({ length: K }, () => createHartleyGrid(D, slicer.alloc(Dv * Dv * Dv)));
  const pickSubset = (all: boolean): Uint32Array => (all || n <= o.subset ? allIndices(n) : rng.permutation(n).slice(0, o.subset).sort());
  const bs = o.batchSize;

  // initial split of a subset at the consensus poses
  const s0 = pickSubset(false);
  const m0 = s0.length;
  if (m0 < 2 * K) throw new RangeError(`classSearch: ${m0} particles cannot seed ${K} classes`);
  let order: number[];
  if (o.split === 'fit') {
    const disc = nyquistDisc(D, o.radiusStartPx);
    const gain = new Float64Array(m0);
    for (let s = 0; s < m0; s += bs) {
      const idx = s0.slice(s, Math.min(m0, s + bs));
      const batch = source.batch(idx);
      const r = Float64Array.from({ length: 9 * batch.B }, (_, q) => rot[9 * idx[Math.floor(q / 9)]! + (q % 9)]!);
      const og = Float32Array.from({ length: 2 * batch.B }, (_, q) => origin[2 * idx[q >> 1]! + (q & 1)]!);
      const f = sliceFit(init.grid, slicer, batch, r, og, disc);
      for (let b = 0; b < batch.B; b++) gain[s + b] = f.energy[b]! > 0 ? f.cross[b]! / f.energy[b]! : 0;
    }
    order = Array.from({ length: m0 }, (_, j) => j).sort((a, b) => gain[b]! - gain[a]! || a - b); // best fit first
  } else {
    order = Array.from(rng.permutation(m0));
  }
  order.forEach((j, rank) => { classOf[s0[j]!] = Math.min(K - 1, Math.floor((rank * K) / m0)); });
  const initialSizes = new Array<number>(K).fill(0);
  for (const i of s0) initialSizes[classOf[i]!]! += 1;
  refitClasses(source, grids, slicer, s0, classOf, rot, origin);

  const stats: ClassIterationStats[] = [];
  for (let it = 0; it < o.iterations; it++) {
    const t0 = performance.now();
    const last = it === o.iterations - 1;
    const radius = o.iterations > 1 ? o.radiusStartPx + (it * (o.radiusEndPx - o.radiusStartPx)) / (o.iterations - 1) : o.radiusEndPx;
    const rots = candidateRotations(o.rotations, rng);
    const cands = grids.map((g) => candidateSlices(g, rots, radius, slicer));
    const sub = pickSubset(last);
    const m = sub.length;
    // per class: best score and pose of every searched particle (for the choice and re-seeding)
    const score = new Float64Array(K * m);
    const bestJ = new Int32Array(K * m);
    const bestO = new Float32Array(2 * K * m);
    for (let s = 0; s < m; s += bs) {
      const idx = sub.slice(s, Math.min(m, s + bs));
      const batch = source.batch(idx);
      for (let k = 0; k < K; k++) {
        const r = searchPoses(batch, D, cands[k]!, { radiusPx: radius, shiftRangePx: o.shiftRangePx, shiftStepPx: o.shiftStepPx });
        for (let b = 0; b < batch.B; b++) {
          const q = k * m + s + b;
          score[q] = r.score[b]! / cands[k]!.n;
          bestJ[q] = r.best[b]!;
          bestO[2 * q] = r.originsPx[2 * b]!;
          bestO[2 * q + 1] = r.originsPx[2 * b + 1]!;
        }
        if (o.classScore === 'scaled') {
          // between classes: the loss of the best-scaled slice at each class's best pose, -c^2/e
          const rb = new Float64Array(9 * batch.B);
          const ob = new Float32Array(2 * batch.B);
          for (let b = 0; b < batch.B; b++) {
            const q = k * m + s + b;
            rb.set(rots.subarray(9 * bestJ[q]!, 9 * bestJ[q]! + 9), 9 * b);
            ob[2 * b] = bestO[2 * q]!;
            ob[2 * b + 1] = bestO[2 * q + 1]!;
          }
          const f = sliceFit(grids[k]!, slicer, batch, rb, ob, cands[k]!.disc);
          for (let b = 0; b < batch.B; b++) {
            const c = f.cross[b]!, e = f.energy[b]!;
            score[k * m + s + b] = -(c > 0 && e > 0 ? (c * c) / e : 0) / cands[k]!.n;
          }
        }
      }
    }
    const assign = (j: number, k: number): void => {
      const i = sub[j]!;
      const q = k * m + j;
      classOf[i] = k;
      rot.set(rots.subarray(9 * bestJ[q]!, 9 * bestJ[q]! + 9), 9 * i);
      origin[2 * i] = bestO[2 * q]!;
      origin[2 * i + 1] = bestO[2 * q + 1]!;
    };
    let changed = 0;
    let scoreSum = 0;
    const win = chooseClasses(score, K, m, it < o.balancedIterations);
    for (let j = 0; j < m; j++) {
      const kb = win[j]!;
      const before = classOf[sub[j]!]!;
      if (before >= 0 && before !== kb) changed++;
      scoreSum += score[kb * m + j]!;
      assign(j, kb);
    }
    // re-seed classes that fell below minClassFraction of the subset from the largest class
    const sizes = new Array<number>(K).fill(0);
    for (let j = 0; j < m; j++) sizes[win[j]!]! += 1;
    const need = Math.max(2, Math.ceil(o.minClassFraction * m));
    let reseeded = 0;
    for (let k = 0; k < K; k++) {
      if (sizes[k]! >= need) continue;
      const L = sizes.indexOf(Math.max(...sizes));
      const members = Array.from({ length: m }, (_, j) => j).filter((j) => win[j] === L);
      members.sort((a, b) => (score[k * m + a]! - score[L * m + a]!) - (score[k * m + b]! - score[L * m + b]!) || a - b);
      const moveCount = Math.min(need - sizes[k]!, members.length - need);
      for (let q = 0; q < moveCount; q++) { const j = members[q]!; win[j] = k; assign(j, k); }
      sizes[L]! -= moveCount;
      sizes[k]! += moveCount;
      reseeded += moveCount;
    }
    refitClasses(source, grids, slicer, sub, classOf, rot, origin);
    const st: ClassIterationStats = {
      iteration: it, stage: 'global', radiusPx: radius, particles: m, classSizes: sizes, changedClass: changed, reseeded,
      meanScore: scoreSum / m, seconds: (performance.now() - t0) / 1000,
    };
    stats.push(st);
    onIteration?.(st, { classOf, rot, origin, grids });
  }
  for (let li = 0; li < o.localIterations; li++) {
    const st = localRefineClasses(source, { classOf, rot, origin, grids }, o, li, o.iterations + li);
    stats.push(st);
    onIteration?.(st, { classOf, rot, origin, grids });
  }
  return { classOf, rot, origin, grids, initialSizes, stats };
}

/**
 * One local iteration over every particle (see ClassSearchOptions.localIterations): each pose
 * refined coarse-to-fine around its current one against its own class volume (levels of local
 * iteration li, localRefine.ts), then every class volume refitted (Wiener) from all its particles.
 * Updates view.rot, view.origin and view.grids in place; classes are kept.
 */
export function localRefineClasses(source: ParticleSource, view: ClassSearchView,
  o: Pick<ClassSearchOptions, 'localRotStepDeg' | 'localShiftStepPx' | 'localRadiusPx' | 'shiftRangePx' | 'slicer'>, li: number, iteration = li): ClassIterationStats {
  const { classOf, rot, origin, grids } = view;
  const K = grids.length;
  const n = source.n;
  const slicer = o.slicer;
  const t0 = performance.now();
  const levels = localLevels(o.localRotStepDeg, o.localShiftStepPx, li);
  const all = allIndices(n);
  const sizes = new Array<number>(K).fill(0);
  let scoreSum = 0;
  const chunk = 64;
  for (let k = 0; k < K; k++) {
    const mine = all.filter((i) => classOf[i] === k);
    sizes[k] = mine.length;
    for (let s = 0; s < mine.length; s += chunk) {
      const idx = mine.slice(s, Math.min(mine.length, s + chunk));
      const batch = source.batch(idx);
      const R = new Float64Array(9 * batch.B);
      const O = new Float32Array(2 * batch.B);
      idx.forEach((i, b) => { for (let q = 0; q < 9; q++) R[9 * b + q] = rot[9 * i + q]!; O[2 * b] = origin[2 * i]!; O[2 * b + 1] = origin[2 * i + 1]!; });
      const r = localSearch(grids[k]!, slicer, batch, R, O, { radiusPx: o.localRadiusPx, levels, shiftLimitPx: o.shiftRangePx + 1 });
      idx.forEach((i, b) => {
        rot.set(r.rots.subarray(9 * b, 9 * b + 9), 9 * i);
        origin[2 * i] = r.originsPx[2 * b]!;
        origin[2 * i + 1] = r.originsPx[2 * b + 1]!;
        scoreSum += r.score[b]!;
      });
    }
  }
  refitClasses(source, grids, slicer, all, classOf, rot, origin);
  return {
    iteration, stage: 'local', radiusPx: o.localRadiusPx, particles: n, classSizes: sizes, changedClass: 0, reseeded: 0,
    meanScore: scoreSum / n, seconds: (performance.now() - t0) / 1000,
  };
}
