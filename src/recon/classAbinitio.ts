/**
 * Class stage of the heterogeneous mode: from a one-state consensus to K classes whose poses share
 * one frame. A single consensus volume cannot explain two distinct states: on B3 it locks onto one
 * of them and the other state's particles keep random poses (bench/results/b3_abinitio_notes.md).
 *
 * 1. classSearch.ts separates the states (multi-class global re-search from the consensus).
 * 2. The anchor class is the one whose particles' poses moved least from their consensus poses
 *    during the class search (median rotation change): their consensus poses were right, so the
 *    class is in the consensus frame; a class whose consensus poses were random moves ~90 deg.
 *    (Each class map's correlation with the consensus map is reported too; on B3 the two were
 *    0.862 / 0.871, too close to choose by.)
 * 3. Every other class gets its own homogeneous ab initio on its particles alone, from random
 *    poses (SemiAmortizedTrainer with init 'search': global search, local refinement, optionally
 *    auto-decoding): classSearch cannot anchor such a class (its poses start random, so its
 *    volume is built in a frame of its own).
 * 4. That class's map is aligned onto the anchor class's map (alignMaps, both hands; the states
 *    share most of their mass, e.g. AdK's core) and its poses are composed into the anchor frame
 *    (alignedPoses, poseError.ts: verified by test/eval/alignedPoses.test.ts).
 * 5. Every class volume is refitted (Wiener) and all particles get local iterations against their
 *    own class volume in the common frame (localRefineClasses), then per class a few auto-decoding
 *    epochs (pose gradient steps, Wiener volume).
 *
 * The result starts the heterogeneous stage: poses in one frame, a class per particle (to start z)
 * and the class volumes (to start the decoder).
 */
import { alignMaps, maskedCorrelation } from '../eval/align.js';
import { alignedPoses } from '../eval/poseError.js';
import { geodesicDeg, identity } from '../core/rotation.js';
import { hartleyMap, type HartleyGrid } from '../model/hartleyVolume.js';
import { classSearch, localRefineClasses, refitClasses, subsetSource, type ClassIterationStats, type ClassSearchInit, type ClassSearchOptions, type ClassSearchResult } from './classSearch.js';
import { SemiAmortizedTrainer, type SemiAmortizedOptions } from './semiAmortized.js';
import type { Slicer } from './slicer.js';
import type { ParticleSource } from './types.js';

export interface ClassStageOptions {
  /** classSearch settings (classes, iterations, subset, radii, ...); its slicer is set from `slicer`. */
  search: Partial<Omit<ClassSearchOptions, 'slicer'>>;
  /**
   * The per-class ab initio (SemiAmortizedTrainer; init 'search' is forced): search iterations,
   * local iterations and their settings, threads. Its epochs are searchIterations +
   * localIterations + abinitioAutodecodeEpochs.
   */
  abinitio: Partial<SemiAmortizedOptions>;
  /**
   * Start each per-class ab initio's first search from the anchor class's volume (low-passed by the
   * first search radius) instead of a blob from random poses, as RELION starts 3D classes from one
   * low-pass filtered reference: on B3 the closed state's own ab initio from random poses ended at
   * 40 deg (own alignment); at low resolution the two states look alike, so the anchor's map gives
   * the search a start in (nearly) the anchor's frame.
   */
  abinitioFromAnchor: boolean;
  /** Auto-decoding epochs at the end of each per-class ab initio (Wiener volume). */
  abinitioAutodecodeEpochs: number;
  /** Local iterations of every particle against its class volume after the alignment. */
  finalLocalIterations: number;
  /** First level's rotation step (deg) of the final local iterations; halved per level and iteration. */
  finalLocalRotStepDeg: number;
  finalLocalRadiusPx: number;
  /**
   * Then per class: auto-decoding epochs (pose gradient steps, the class's Wiener volume re-estimated
   * after each epoch; SemiAmortizedTrainer with the `abinitio` settings) from the class's poses and
   * volume. On B1 auto-decoding took the local refinement's 2.95 deg to 1.49.
   */
  finalAutodecodeEpochs: number;
  /**
   * At the end, align every other class's refined map onto the anchor's again and compose its poses
   * (the refined maps align more precisely than the first ab-initio map). On B3, measured after the
   * fact on the class stage's output: 2.36 deg correction, median rotation error 3.05 -> 2.71 deg.
   */
  realign: boolean;
  /** Global rotations of the map alignment's amplitude search. */
  alignRotations: number;
  /**
   * Core refinement of that alignment (alignMaps' coreRounds / coreThreshold): on B3's two true
   * maps (superposed on their common core by C-alpha atoms) the whole-map alignment is 2.6 deg
   * off the superposition, 1.7 deg with 2 rounds at 2 standard deviations.
   */
  alignCoreRounds: number;
  alignCoreThreshold: number;
  seed: number;
  slicer: Slicer;
  log: (msg: string) => void;
  /** Called after each step with the current class of every particle and its pose (live arrays). */
  onStep?: (step: string, view: { classOf: Int32Array; rot: Float32Array; origin: Float32Array }) => void;
}

export interface ClassAlignment {
  class: number;
  /** Which alignment: the class's own ab-initio map onto the anchor's, or the re-alignment of the refined class maps. */
  step?: 'abinitio' | 'realign';
  /** Rotation angle of the alignment (deg), its hand and the aligned maps' correlation (a re-alignment adds a second entry). */
  rotationDeg: number;
  mirrored: boolean;
  shiftPx: [number, number, number];
  correlation: number;
}

export interface ClassStageResult {
  classOf: Int32Array;
  rot: Float32Array;
  origin: Float32Array;
  /** Class volumes in the common (anchor = consensus) frame. */
  grids: HartleyGrid[];
  anchor: number;
  /** Correlation of each class map with the consensus map (reported). */
  consensusCorrelation: number[];
  /** Median rotation change (deg) of each class's particles from their consensus poses (the anchor moved least). */
  consensusPoseChangeDeg: number[];
  alignments: ClassAlignment[];
  searchStats: ClassIterationStats[];
  finalStats: ClassIterationStats[];
  seconds: number;
}

/** Run the class stage from the consensus volume and poses; see the module comment. */
export function classStage(source: ParticleSource, init: ClassSearchInit, o: ClassStageOptions): ClassStageResult {
  const t0 = performance.now();
  const log = o.log;
  const cs = classSearch(source, init, { ...o.search, seed: o.seed, slicer: o.slicer }, (st, v) => {
    log(`classes: ${st.stage} iteration ${st.iteration + 1}, radius ${st.radiusPx.toFixed(1)} px, ${st.particles} particles, sizes ${st.classSizes.join('/')}, ${st.changedClass} changed class, ${st.seconds.toFixed(0)} s`);
    o.onStep?.(`search ${st.iteration}`, v);
  });
  return { ...joinClassFrames(source, init, cs, o), searchStats: cs.stats, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Steps 2-5 of the module comment on a finished class search (its arrays and grids are updated in
 * place): the anchor, each other class's own ab initio, alignment and pose composition, the final
 * local iterations.
 */
export function joinClassFrames(source: ParticleSource, init: ClassSearchInit, cs: Pick<ClassSearchResult, 'classOf' | 'rot' | 'origin' | 'grids'>, o: ClassStageOptions): Omit<ClassStageResult, 'searchStats' | 'seconds'> {
  const D = source.D;
  const log = o.log;
  const { classOf, rot, origin, grids } = cs;
  const K = grids.length;
  const consensusMap = hartleyMap(init.grid);
  const classMaps = grids.map((g) => hartleyMap(g));
  const consensusCorrelation = classMaps.map((m) => maskedCorrelation(consensusMap, m));
  const moved = grids.map((_, k) => {
    const d: number[] = [];
    for (let i = 0; i < source.n; i++) if (classOf[i] === k) d.push(geodesicDeg(rot.subarray(9 * i, 9 * i + 9), init.rot.subarray(9 * i, 9 * i + 9)));
    d.sort((a, b) => a - b);
    return d.length ? d[Math.floor(d.length / 2)]! : Infinity;
  });
  const anchor = moved.indexOf(Math.min(...moved));
  log(`classes: median pose change from the consensus per class ${moved.map((m) => m.toFixed(1)).join(', ')} deg, class map correlations with the consensus ${consensusCorrelation.map((c) => c.toFixed(3)).join(', ')}: class ${anchor + 1} keeps the consensus frame`);

  const alignments: ClassAlignment[] = [];
  for (let k = 0; k < K; k++) {
    if (k === anchor) continue;
    const idx = Uint32Array.from({ length: source.n }, (_, i) => i).filter((i) => classOf[i] === k);
    const sub = subsetSource(source, idx);
    const a = o.abinitio;
    const epochs = (a.searchIterations ?? 8) + (a.localIterations ?? 0) + o.abinitioAutodecodeEpochs;
    const trainer = new SemiAmortizedTrainer(sub, null, {
      ...a, init: 'search', epochs, seed: o.seed + 1 + k, initVolume: o.abinitioFromAnchor ? grids[anchor]!.values : null,
    });
    try {
      while (!trainer.done) {
        const st = trainer.trainEpoch();
        log(`classes: class ${k + 1} ab initio (${idx.length} particles) epoch ${st.epoch + 1}/${epochs} ${st.stage}, loss ${st.loss.toFixed(4)}, ${st.seconds.toFixed(0)} s`);
      }
      const map = hartleyMap(trainer.grid);
      const al = alignMaps(classMaps[anchor]!, map, D, { nRotations: o.alignRotations, coreRounds: o.alignCoreRounds, coreThreshold: o.alignCoreThreshold });
      const ang = geodesicDeg(al.rotation, identity());
      alignments.push({ class: k, step: 'abinitio', rotationDeg: ang, mirrored: al.mirrored, shiftPx: al.shiftPx, correlation: al.correlation });
      log(`classes: class ${k + 1} map aligned onto class ${anchor + 1}: ${ang.toFixed(1)} deg${al.mirrored ? ', mirrored' : ''}, shift ${al.shiftPx.map((v) => v.toFixed(2)).join(', ')} px, correlation ${al.correlation.toFixed(3)}`);
      const composed = alignedPoses(trainer.poses.rot, trainer.poses.origin, al);
      idx.forEach((i, j) => {
        rot.set(composed.rot.subarray(9 * j, 9 * j + 9), 9 * i);
        origin[2 * i] = composed.origin[2 * j]!;
        origin[2 * i + 1] = composed.origin[2 * j + 1]!;
      });
    } finally {
      trainer.dispose();
    }
    o.onStep?.(`abinitio ${k}`, { classOf, rot, origin });
  }
  const all = Uint32Array.from({ length: source.n }, (_, i) => i);
  refitClasses(source, grids, o.slicer, all, classOf, rot, origin);
  const finalStats: ClassIterationStats[] = [];
  const localOpts = {
    localRotStepDeg: o.finalLocalRotStepDeg, localShiftStepPx: o.search.localShiftStepPx ?? 1, localRadiusPx: o.finalLocalRadiusPx,
    shiftRangePx: o.search.shiftRangePx ?? 2, slicer: o.slicer,
  };
  for (let li = 0; li < o.finalLocalIterations; li++) {
    const st = localRefineClasses(source, { classOf, rot, origin, grids }, localOpts, li);
    finalStats.push(st);
    log(`classes: local iteration ${li + 1}/${o.finalLocalIterations} in the common frame, ${st.seconds.toFixed(0)} s`);
    o.onStep?.(`local ${li}`, { classOf, rot, origin });
  }
  if (o.finalAutodecodeEpochs > 0) {
    for (let k = 0; k < K; k++) {
      const t1 = performance.now();
      const idx = Uint32Array.from({ length: source.n }, (_, i) => i).filter((i) => classOf[i] === k);
      if (idx.length < 2) continue;
      const trainer = new SemiAmortizedTrainer(subsetSource(source, idx), null, { ...o.abinitio, init: 'search', epochs: o.finalAutodecodeEpochs, seed: o.seed + 101 + k });
      try {
        trainer.stage = 'autodecode';
        trainer.grid.values.set(grids[k]!.values);
        idx.forEach((i, j) => {
          trainer.poses.rot.set(rot.subarray(9 * i, 9 * i + 9), 9 * j);
          trainer.poses.origin[2 * j] = origin[2 * i]!;
          trainer.poses.origin[2 * j + 1] = origin[2 * i + 1]!;
        });
        while (!trainer.done) trainer.trainEpoch();
        idx.forEach((i, j) => {
          rot.set(trainer.poses.rot.subarray(9 * j, 9 * j + 9), 9 * i);
          origin[2 * i] = trainer.poses.origin[2 * j]!;
          origin[2 * i + 1] = trainer.poses.origin[2 * j + 1]!;
        });
      } finally {
        trainer.dispose();
      }
      log(`classes: class ${k + 1}: ${o.finalAutodecodeEpochs} auto-decoding epochs, ${((performance.now() - t1) / 1000).toFixed(0)} s`);
    }
    refitClasses(source, grids, o.slicer, all, classOf, rot, origin);
    o.onStep?.('autodecode', { classOf, rot, origin });
  }
  // the refined class maps align more precisely than the first ab-initio map: align again, compose
  if (o.realign) {
    const anchorMap = hartleyMap(grids[anchor]!);
    for (let k = 0; k < K; k++) {
      if (k === anchor) continue;
      const al = alignMaps(anchorMap, hartleyMap(grids[k]!), D, { nRotations: o.alignRotations, coreRounds: o.alignCoreRounds, coreThreshold: o.alignCoreThreshold });
      const ang = geodesicDeg(al.rotation, identity());
      alignments.push({ class: k, step: 'realign', rotationDeg: ang, mirrored: al.mirrored, shiftPx: al.shiftPx, correlation: al.correlation });
      log(`classes: class ${k + 1} re-aligned onto class ${anchor + 1}: ${ang.toFixed(2)} deg${al.mirrored ? ', mirrored' : ''}, correlation ${al.correlation.toFixed(3)}`);
      const idx = Uint32Array.from({ length: source.n }, (_, i) => i).filter((i) => classOf[i] === k);
      const R = new Float32Array(9 * idx.length), O = new Float32Array(2 * idx.length);
      idx.forEach((i, j) => { R.set(rot.subarray(9 * i, 9 * i + 9), 9 * j); O[2 * j] = origin[2 * i]!; O[2 * j + 1] = origin[2 * i + 1]!; });
      const c = alignedPoses(R, O, al);
      idx.forEach((i, j) => { rot.set(c.rot.subarray(9 * j, 9 * j + 9), 9 * i); origin[2 * i] = c.origin[2 * j]!; origin[2 * i + 1] = c.origin[2 * j + 1]!; });
    }
    refitClasses(source, grids, o.slicer, all, classOf, rot, origin);
    o.onStep?.('realign', { classOf, rot, origin });
  }
  return { classOf, rot, origin, grids, anchor, consensusCorrelation, consensusPoseChangeDeg: moved, alignments, finalStats };
}
