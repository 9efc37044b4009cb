/**
 * cryoSPIN semi-amortized reconstruction loop.
 *
 * Stage 1 (amortized, encoder): a multi-head encoder proposes M poses (rotation + shift) per
 * image; each is rendered from the explicit Hartley volume, multiplied by the CTF and the shift
 * phase, and scored against the image in Fourier space; per image only the best head (winner
 * take all) is kept, and only it receives gradient. Encoder (Adam 1e-4) and volume (Adam 5e-3)
 * train together.
 * Switch: at a fixed epoch, or earlier when the encoder's poses stop changing (see
 * `switchCriterion` below). One encoder pass assigns every particle its best head's pose.
 * Alternative stage 1 (--init search): iterative global low-resolution pose search (poseSearch.ts)
 * with a volume refit per iteration, optionally followed by `localIterations` of per-particle
 * coarse-to-fine local search (localRefine.ts) at a growing radius, each followed by a closed-form
 * Wiener volume (localRefineVolume.ts).
 * Stage 2 (auto-decoding): per batch, `poseSteps` Adam steps on the particles' own poses
 * (axis-angle perturbation of the base rotation folded back after each step, plus the origin;
 * volume frozen; per-particle Adam state), then one volume step (fresh Adam, 2e-3; poses frozen).
 */
import type { Complex } from '../core/complex.js';
import { Rng, type RngState } from '../core/rng.js';
import { geodesicDeg, matMul, randomRotations } from '../core/rotation.js';
import { superFibonacciRotations } from '../eval/align.js';
import { candidateSlices, searchPoses } from './poseSearch.js';
import { createHartleyGrid, nyquistDisc, type HartleyGrid } from '../model/hartleyVolume.js';
import { createSlicer, type Slicer } from './slicer.js';
import { localLevels, localSearch } from './localRefine.js';
import { wienerVolume } from './localRefineVolume.js';
import { PreconditionedMomentum } from './volumeOptimizer.js';
import { bestHeadPoses } from './bestHead.js';
import { fourierLoss } from './fourierLoss.js';
import { applyLeftExp, createPoseTable, leftPerturbationGrad, orthonormalise, type PoseTable } from './poseTable.js';
import type { EncoderLossResult, EncoderPrediction, ParticleBatch, ParticleSource, PoseEncoder } from './types.js';

export interface SemiAmortizedOptions {
  epochs: number;
  /** Epoch (0-based count of finished encoder epochs) at which stage 2 starts. */
  switchEpoch: number;
  /** Also switch early when the encoder's poses on a monitor subset change by less than switchThresholdDeg (median) between epochs. */
  autoSwitch: boolean;
  switchThresholdDeg: number;
  batchSize: number;
  seed: number;
  lrEncoder: number;
  lrVolumeEncoderStage: number;
  lrVolumeAutodecode: number;
  lrPose: number;
  poseBetas: [number, number];
  poseSteps: number;
  /** Pose learning-rate decay: lr = lrPose / (1 + poseLrDecay · epochs since the switch). */
  poseLrDecay: number;
  /** Slice kernels: 'wasm' (SIMD backend, default) or 'ts' (reference). */
  backend: 'ts' | 'wasm';
  /** Worker threads of the wasm slice kernels (1 = on the main thread; the same results, bit for bit). */
  threads: number;
  /** Std of the random initial Hartley values. */
  initScale: number;
  /**
   * init 'search': the first search's reference (Hartley values, this box's grid) instead of the blob
   * fitted to random poses, e.g. another class's map (classAbinitio.ts); the first search's loss
   * radius (searchRadiusStartPx) low-passes it. null = the blob.
   */
  initVolume: Float32Array | null;
  /**
   * Frequency marching: the loss uses the disc of radius marchStartPx (Fourier px) at epoch 0,
   * growing linearly to Nyquist (D/2) at epoch marchEpochs. 0 disables marching.
   */
  marchStartPx: number;
  marchEpochs: number;
  /**
   * Encoder stage: every particle origin is held at 0 for the first shiftWarmupEpochs epochs (the
   * shift head gets no gradient until then). A shift head trained from the start drifts and
   * absorbs rotation error while the poses are still random (modes_notes.md, section 4).
   */
  shiftWarmupEpochs: number;
  /**
   * Where the auto-decoding stage's poses come from: 'encoder' (cryoSPIN: multi-head encoder,
   * winner take all, switch) or 'search' (iterative global low-resolution pose search against the
   * current volume, see poseSearch.ts; one search + volume refit per epoch).
   */
  init: 'encoder' | 'search';
  /** Search iterations (epochs) before auto-decoding. */
  searchIterations: number;
  /** Candidate rotations per search (uniform super-Fibonacci set, randomly rotated each time). */
  searchRotations: number;
  /** Loss-disc radius (Fourier px) of the first and last search. */
  searchRadiusStartPx: number;
  searchRadiusEndPx: number;
  /** Shift grid of the search: origins -range..range in steps of step (px). */
  searchShiftRangePx: number;
  searchShiftStepPx: number;
  /** At most this many particles take part in each search iteration (all in the last). */
  searchSubset: number;
  /** Volume-only passes over the searched particles after each search. */
  searchVolumeEpochs: number;
  /**
   * Local refinement iterations (epochs) between the global search and auto-decoding: per
   * particle, coarse-to-fine local search around its pose (localRefine.ts), then the volume
   * refitted (warm start). 0 = go straight to auto-decoding.
   */
  localIterations: number;
  /** Loss-disc radius (Fourier px) of the first and last local iteration. */
  localRadiusStartPx: number;
  localRadiusEndPx: number;
  /** First level's rotation step (deg) and origin step (px); halved per level and per iteration. */
  localRotStepDeg: number;
  localShiftStepPx: number;
  /**
   * Volume update of the auto-decoding stage: 'sgd' (one preconditioned step per batch, the
   * reference's scheme) or 'wiener' (pose steps only during the epoch, then the closed-form Wiener
   * volume of the new poses; after local refinement the per-batch SGD steps degraded the Wiener
   * volume: B1 quarter 4.22 -> 4.72 deg, decoder FSC 3.46 -> 4.59 px in two epochs).
   */
  autodecodeVolume: 'sgd' | 'wiener';
  /**
   * First local iteration only: search every particle globally again (search grid, at the local
   * radius, against the Wiener volume) and keep the result where it scores better than the
   * particle's current pose (re-assigns particles the low-resolution search left in a wrong basin).
   */
  localResearch: boolean;
}

export const SEMI_AMORTIZED_DEFAULTS: SemiAmortizedOptions = {
  epochs: 18,
  switchEpoch: 7,
  autoSwitch: false,
  switchThresholdDeg: 2,
  batchSize: 32,
  seed: 0,
  lrEncoder: 1e-4,
  lrVolumeEncoderStage: 0.3,
  lrVolumeAutodecode: 0.3,
  lrPose: 0.05,
  poseBetas: [0.9, 0.9],
  poseSteps: 5,
  initScale: 0.01,
  initVolume: null,
  backend: 'wasm',
  threads: 1,
  poseLrDecay: 1,
  marchStartPx: 0,
  marchEpochs: 0,
  shiftWarmupEpochs: 0,
  init: 'encoder',
  searchIterations: 8,
  searchRotations: 3000,
  searchRadiusStartPx: 3,
  searchRadiusEndPx: 10,
  searchShiftRangePx: 2,
  searchShiftStepPx: 1,
  searchSubset: 4000,
  searchVolumeEpochs: 2,
  localIterations: 0,
  localRadiusStartPx: 12,
  localRadiusEndPx: 20,
  localRotStepDeg: 6,
  localShiftStepPx: 1,
  autodecodeVolume: 'sgd',
  localResearch: false,
};

export type Stage = 'encoder' | 'search' | 'local' | 'autodecode';

/** Search-stage volume refits: restarts with half the step allowed, and the climb that counts as divergence. */
const SEARCH_REFIT_RETRIES = 4;
const SEARCH_REFIT_CLIMB = 1.05;

/** The loss became NaN/Inf: the run stops with a clear message instead of writing a NaN map. */
export class DivergenceError extends Error {
  constructor(epoch: number, batch: number, stage: Stage) {
    super(`the ${stage} stage diverged at epoch ${epoch}, batch ${batch + 1} (non-finite loss); ` +
      'nothing was written for this epoch; resume from the last checkpoint with a smaller learning rate');
    this.name = 'DivergenceError';
  }
}

export interface TrainerState {
  epoch: number;
  stage: Stage;
  volume: Float32Array;
  volOpt: { m: Float32Array; w: Float32Array; t: number; lr: number };
  poses: { rot: Float32Array; origin: Float32Array; adamM: Float32Array; adamV: Float32Array; adamT: Uint32Array };
  rng: RngState;
  monitorPrev: number[] | null;
  switchedAtEpoch: number;
}

export interface EpochStats {
  epoch: number;
  stage: Stage;
  loss: number;
  seconds: number;
  /** Fraction of images won by each head (stage 1), empty in stage 2. */
  headUsage: number[];
  /** Median change of the monitor subset's poses since the previous epoch (deg), stage 1. */
  poseChangeDeg: number | null;
  switched: boolean;
}

export interface ProgressInfo { epoch: number; batch: number; batches: number; loss: number; stage: Stage }

export class SemiAmortizedTrainer {
  readonly source: ParticleSource;
  readonly opts: SemiAmortizedOptions;
  encoder: PoseEncoder | null;
  grid: HartleyGrid;
  readonly slicer: Slicer;
  volOpt: PreconditionedMomentum;
  poses: PoseTable;
  rng: Rng;
  epoch = 0;
  stage: Stage = 'encoder';
  /** Epoch at which auto-decoding started. */
  switchedAtEpoch = 0;
  /** Called at the switch, before the encoder is dropped (e.g. to keep its state for predict-poses). */
  onSwitch: ((encoder: PoseEncoder) => void) | null = null;
  private monitorIdx: Uint32Array;
  private monitorPrev: Float64Array | null = null;

  constructor(source: ParticleSource, encoder: PoseEncoder | null, opts: Partial<SemiAmortizedOptions> = {}) {
    this.source = source;
    this.opts = { ...SEMI_AMORTIZED_DEFAULTS, ...opts };
    this.encoder = encoder;
    this.rng = new Rng(this.opts.seed);
    this.slicer = createSlicer(this.opts.backend, this.opts.threads);
    // the volume lives where the slice kernels read it (wasm heap: no copy per kernel call)
    const Dv = createHartleyGrid(source.D).Dv;
    this.grid = createHartleyGrid(source.D, this.slicer.alloc(Dv * Dv * Dv));
    for (let i = 0; i < this.grid.values.length; i++) this.grid.values[i] = this.opts.initScale * this.rng.normal();
    this.volOpt = new PreconditionedMomentum(this.grid.values.length, { lr: this.volumeLr(encoder ? this.opts.lrVolumeEncoderStage : this.opts.lrVolumeAutodecode) });
    this.poses = createPoseTable(source.n);
    const perm = this.rng.permutation(source.n);
    this.monitorIdx = perm.slice(0, Math.min(256, source.n)).sort();
    if (this.opts.init === 'search') {
      this.stage = 'search';
      // start from random poses: the first volume fit gives a blob consistent with the data's power
      this.poses.rot.set(Float32Array.from(randomRotations(source.n, this.rng)));
    } else if (!encoder) this.stage = 'autodecode';
  }

  /** Radius (Fourier px) of the loss disc at the current epoch (frequency marching). */
  lossRadius(): number {
    const D = this.source.D;
    const { marchStartPx, marchEpochs } = this.opts;
    if (!(marchStartPx > 0) || !(marchEpochs > 0)) return D / 2;
    const f = Math.min(1, this.epoch / marchEpochs);
    return Math.min(D / 2, marchStartPx + f * (D / 2 - marchStartPx));
  }

  private disc() {
    return nyquistDisc(this.source.D, Math.round(this.lossRadius() * 2) / 2);
  }

  /**
   * Volume step size for this box: the given lr at box <= 32, scaled by (32/D)^2 above, where a
   * voxel is touched by fewer batches and the preconditioned momentum step grows (see
   * volumeOptimizer.ts; lr 0.3 diverged at box 64, SNR 0.1).
   */
  volumeLr(lr: number): number {
    const D = this.source.D;
    return D <= 32 ? lr : lr * (32 / D) ** 2;
  }

  get done(): boolean { return this.epoch >= this.opts.epochs; }

  /** Release the slice kernels' worker threads (wasm backend with threads > 1) and the encoder. */
  dispose(): void { this.slicer.dispose(); this.encoder?.dispose(); this.encoder = null; }

  /** Run one epoch; returns its statistics. */
  trainEpoch(onProgress?: (p: ProgressInfo) => void): EpochStats {
    if (this.stage === 'search') return this.searchEpoch(onProgress);
    if (this.stage === 'local') return this.localEpoch(onProgress);
    const t0 = performance.now();
    const { batchSize } = this.opts;
    const order = this.rng.permutation(this.source.n);
    this.source.planEpoch?.(order, batchSize); // read-ahead of the coming batches (DiskSource)
    const batches = Math.ceil(this.source.n / batchSize);
    let lossSum = 0;
    let lossCount = 0;
    const M = this.encoder?.heads ?? 1;
    const usage = new Float64Array(M);
    for (let bi = 0; bi < batches; bi++) {
      const idx = order.slice(bi * batchSize, Math.min(this.source.n, (bi + 1) * batchSize)).sort();
      const batch = this.source.batch(idx);
      let loss: number;
      if (this.stage === 'encoder') loss = this.encoderStep(batch, usage);
      else loss = this.autodecodeStep(batch, this.opts.poseSteps, this.opts.autodecodeVolume === 'sgd');
      if (!Number.isFinite(loss)) throw new DivergenceError(this.epoch, bi, this.stage);
      lossSum += loss * batch.B;
      lossCount += batch.B;
      onProgress?.({ epoch: this.epoch, batch: bi + 1, batches, loss: lossSum / lossCount, stage: this.stage });
    }
    if (this.stage === 'autodecode' && this.opts.autodecodeVolume === 'wiener') {
      this.lastHalfFsc = wienerVolume(this.grid, this.slicer, this.source, this.poses.rot, this.poses.origin, { batchSize: 64 }).halfFsc;
    }
    const stats: EpochStats = {
      epoch: this.epoch,
      stage: this.stage,
      loss: lossSum / lossCount,
      seconds: (performance.now() - t0) / 1000,
      headUsage: this.stage === 'encoder' ? Array.from(usage, (u) => u / lossCount) : [],
      poseChangeDeg: null,
      switched: false,
    };
    this.epoch += 1;
    if (this.stage === 'encoder') {
      stats.poseChangeDeg = this.monitorPoseChange();
      const bySchedule = this.epoch >= this.opts.switchEpoch;
      const byCriterion = this.opts.autoSwitch && stats.poseChangeDeg !== null && stats.poseChangeDeg < this.opts.switchThresholdDeg;
      if ((bySchedule || byCriterion) && !this.done) {
        this.switchToAutodecode();
        stats.switched = true;
      }
    }
    return stats;
  }

  /**
   * Stage 1 step: winner-take-all over heads. Returns the batch's mean loss.
   */
  private encoderStep(batch: ParticleBatch, usage: Float64Array): number {
    const enc = this.encoder!;
    const shifts = this.encoderShiftsActive();
    const { D } = this.source;
    const P = D * D;
    const M = enc.heads;
    const B = batch.B;
    const disc = this.disc();
    const dH = new Float32Array(this.grid.values.length);
    let lastRots: Float64Array | null = null;
    const lossFn = (encoderPred: EncoderPrediction): EncoderLossResult => {
      const pred = shifts ? encoderPred : { rotations: encoderPred.rotations, shiftsPx: new Float32Array(2 * B * M) };
      const slices: Complex = { re: new Float32Array(B * M * P), im: new Float32Array(B * M * P) };
      this.slicer.render(this.grid, pred.rotations, B * M, slices, disc);
      const losses = fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, slices, disc, { M, originsPx: pred.shiftsPx });
      const winner = new Int32Array(B);
      const wRots = new Float64Array(9 * B);
      const wOrig = new Float32Array(2 * B);
      const wSlices: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      let total = 0;
      for (let b = 0; b < B; b++) {
        let best = 0;
        for (let m = 1; m < M; m++) if (losses[b * M + m]! < losses[b * M + best]!) best = m;
        winner[b] = best;
        usage[best] += 1;
        total += losses[b * M + best]!;
        const s = b * M + best;
        wRots.set(pred.rotations.subarray(9 * s, 9 * s + 9), 9 * b);
        wOrig[2 * b] = pred.shiftsPx[2 * s]!;
        wOrig[2 * b + 1] = pred.shiftsPx[2 * s + 1]!;
        wSlices.re.set(slices.re.subarray(s * P, s * P + P), b * P);
        wSlices.im.set(slices.im.subarray(s * P, s * P + P), b * P);
        // remember the winning pose (used for monitoring and as a fallback pose table)
        const i = batch.indices[b]!;
        for (let k = 0; k < 9; k++) this.poses.rot[9 * i + k] = wRots[9 * b + k]!;
        this.poses.origin[2 * i] = wOrig[2 * b]!;
        this.poses.origin[2 * i + 1] = wOrig[2 * b + 1]!;
      }
      const dS: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      const dO = new Float64Array(2 * B);
      fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, wSlices, disc, { M: 1, originsPx: wOrig, dSlices: dS, dOrigins: dO });
      // batch mean
      const invB = 1 / B;
      for (let i = 0; i < B * P; i++) { dS.re[i] *= invB; dS.im[i] *= invB; }
      const dR = new Float64Array(9 * B);
      this.slicer.backward(this.grid, wRots, B, dS, dH, dR, disc);
      lastRots = wRots;
      const dLdShift = new Float32Array(2 * B);
      if (shifts) for (let i = 0; i < 2 * B; i++) dLdShift[i] = dO[i]! * invB;
      return { loss: total / B, winnerHead: winner, dLdR: dR, dLdShift };
    };
    const loss = enc.trainStep(batch.images, B, lossFn);
    this.volOpt.step(this.grid.values, dH, this.curvature(batch, lastRots!));
    return loss;
  }

  /**
   * One iteration of the search stage: global pose search (at a radius growing from
   * searchRadiusStartPx to searchRadiusEndPx over the iterations) for a seeded subset of the
   * particles (all of them in the last iteration), then the volume refitted from scratch with
   * those poses. After the last iteration the run continues with auto-decoding.
   */
  private searchEpoch(onProgress?: (p: ProgressInfo) => void): EpochStats {
    const t0 = performance.now();
    const o = this.opts;
    const K = Math.max(1, o.searchIterations);
    const it = this.epoch;
    if (it === 0) {
      if (o.initVolume) {
        if (o.initVolume.length !== this.grid.values.length) throw new RangeError(`initVolume has ${o.initVolume.length} values, the grid ${this.grid.values.length}`);
        this.grid.values.set(o.initVolume);
      } else this.fitVolume(this.allIndices(), 1, onProgress); // blob from random poses
    }
    const last = it >= K - 1;
    const radius = K > 1 ? o.searchRadiusStartPx + (it * (o.searchRadiusEndPx - o.searchRadiusStartPx)) / (K - 1) : o.searchRadiusEndPx;
    const base = superFibonacciRotations(o.searchRotations);
    const Q = randomRotations(1, this.rng);
    const rots = new Float64Array(base.length);
    for (let j = 0; j < o.searchRotations; j++) matMul(rots.subarray(9 * j, 9 * j + 9), base.subarray(9 * j, 9 * j + 9), Q);
    const cand = candidateSlices(this.grid, rots, radius, this.slicer);
    const subset = last || this.source.n <= o.searchSubset ? this.allIndices()
      : this.rng.permutation(this.source.n).slice(0, o.searchSubset).sort();
    const chunk = 128;
    let lossSum = 0;
    const batches = Math.ceil(subset.length / chunk);
    for (let bi = 0; bi < batches; bi++) {
      const idx = subset.slice(bi * chunk, Math.min(subset.length, (bi + 1) * chunk));
      const batch = this.source.batch(idx);
      const r = searchPoses(batch, this.source.D, cand, { radiusPx: radius, shiftRangePx: o.searchShiftRangePx, shiftStepPx: o.searchShiftStepPx });
      for (let b = 0; b < batch.B; b++) {
        const i = idx[b]!;
        const j = r.best[b]!;
        for (let k = 0; k < 9; k++) this.poses.rot[9 * i + k] = rots[9 * j + k]!;
        this.poses.origin[2 * i] = r.originsPx[2 * b]!;
        this.poses.origin[2 * i + 1] = r.originsPx[2 * b + 1]!;
        lossSum += r.score[b]!;
      }
      onProgress?.({ epoch: this.epoch, batch: bi + 1, batches, loss: lossSum / Math.min(subset.length, (bi + 1) * chunk), stage: 'search' });
    }
    // refit the volume from scratch with the new poses: a short refit (2 passes, fresh optimiser)
    // with the unscaled step, which is stable for a few thousand particles. With all 20,000 B1
    // particles in the last iteration (1,250 steps) it diverged (loss 1.17 -> 53, FSC 0.5 9.3 ->
    // 20 px), so the fit watches its own loss and starts again with half the step if the loss
    // climbs above its running minimum (a run that never climbs is unchanged, bit for bit).
    const volLoss = this.refitVolume(subset, o.searchVolumeEpochs, o.lrVolumeAutodecode);
    const stats: EpochStats = {
      epoch: this.epoch, stage: 'search', loss: volLoss, seconds: (performance.now() - t0) / 1000,
      headUsage: [], poseChangeDeg: null, switched: false,
    };
    this.epoch += 1;
    if (last && !this.done) {
      if (o.localIterations > 0) {
        this.stage = 'local';
      } else {
        this.switchToAutodecode();
        stats.switched = true;
      }
    }
    return stats;
  }

  /**
   * One local refinement iteration: coarse-to-fine local search around every particle's pose
   * (radius growing from localRadiusStartPx to localRadiusEndPx, steps halving per iteration),
   * then the volume re-estimated in closed form (Wiener, localRefineVolume.ts). The epoch's loss
   * is the mean local-search score (data term up to each image's constant).
   */
  private localEpoch(onProgress?: (p: ProgressInfo) => void): EpochStats {
    const t0 = performance.now();
    const o = this.opts;
    const K = Math.max(1, o.localIterations);
    const it = Math.max(0, this.epoch - Math.max(1, o.searchIterations)); // local starts when the search ends
    const last = it >= K - 1;
    const radius = K > 1 ? o.localRadiusStartPx + (it * (o.localRadiusEndPx - o.localRadiusStartPx)) / (K - 1) : o.localRadiusEndPx;
    const levels = localLevels(o.localRotStepDeg, o.localShiftStepPx, it);
    // first iteration: the search's short SGD refit is replaced by the Wiener volume of its poses
    if (it === 0) this.lastHalfFsc = wienerVolume(this.grid, this.slicer, this.source, this.poses.rot, this.poses.origin, { batchSize: 64 }).halfFsc;
    const shiftLimitPx = o.searchShiftRangePx + 1;
    const all = this.allIndices();
    if (it === 0 && o.localResearch) this.researchAll(radius, onProgress);
    const chunk = 64;
    const batches = Math.ceil(all.length / chunk);
    let lossSum = 0;
    const rots = new Float64Array(9 * chunk);
    const orig = new Float32Array(2 * chunk);
    for (let bi = 0; bi < batches; bi++) {
      const idx = all.slice(bi * chunk, Math.min(all.length, (bi + 1) * chunk));
      const batch = this.source.batch(idx);
      for (let b = 0; b < batch.B; b++) {
        const i = idx[b]!;
        for (let k = 0; k < 9; k++) rots[9 * b + k] = this.poses.rot[9 * i + k]!;
        orig[2 * b] = this.poses.origin[2 * i]!;
        orig[2 * b + 1] = this.poses.origin[2 * i + 1]!;
      }
      const r = localSearch(this.grid, this.slicer, batch, rots, orig, { radiusPx: radius, levels, shiftLimitPx });
      for (let b = 0; b < batch.B; b++) {
        const i = idx[b]!;
        for (let k = 0; k < 9; k++) this.poses.rot[9 * i + k] = r.rots[9 * b + k]!;
        this.poses.origin[2 * i] = r.originsPx[2 * b]!;
        this.poses.origin[2 * i + 1] = r.originsPx[2 * b + 1]!;
        lossSum += r.score[b]!;
      }
      onProgress?.({ epoch: this.epoch, batch: bi + 1, batches, loss: lossSum / Math.min(all.length, (bi + 1) * chunk), stage: 'local' });
    }
    // closed-form Wiener volume from the refined poses (half-set FSC regularised); 4.28 px vs
    // 4.90 px for two SGD passes on the B1 quarter at 9.4 deg, at a third of the CPU time
    const w = wienerVolume(this.grid, this.slicer, this.source, this.poses.rot, this.poses.origin, { batchSize: chunk });
    this.lastHalfFsc = w.halfFsc;
    const volLoss = lossSum / all.length;
    const stats: EpochStats = {
      epoch: this.epoch, stage: 'local', loss: volLoss, seconds: (performance.now() - t0) / 1000,
      headUsage: [], poseChangeDeg: null, switched: false,
    };
    this.epoch += 1;
    if (last && !this.done) {
      this.switchToAutodecode();
      stats.switched = true;
    }
    return stats;
  }

  /** Global re-search of every particle at `radius`; a particle takes the result only if it scores better. */
  private researchAll(radius: number, onProgress?: (p: ProgressInfo) => void): number {
    const o = this.opts;
    const base = superFibonacciRotations(o.searchRotations);
    const Q = randomRotations(1, this.rng);
    const rots = new Float64Array(base.length);
    for (let j = 0; j < o.searchRotations; j++) matMul(rots.subarray(9 * j, 9 * j + 9), base.subarray(9 * j, 9 * j + 9), Q);
    const cand = candidateSlices(this.grid, rots, radius, this.slicer);
    const all = this.allIndices();
    const chunk = 128;
    const batches = Math.ceil(all.length / chunk);
    let moved = 0;
    const keep = [{ rotStepDeg: 0, rotHalf: 0, shiftStepPx: 0, shiftHalf: 0 }];
    for (let bi = 0; bi < batches; bi++) {
      const idx = all.slice(bi * chunk, Math.min(all.length, (bi + 1) * chunk));
      const batch = this.source.batch(idx);
      const r = searchPoses(batch, this.source.D, cand, { radiusPx: radius, shiftRangePx: o.searchShiftRangePx, shiftStepPx: o.searchShiftStepPx });
      const cr = new Float64Array(9 * batch.B);
      const co = new Float32Array(2 * batch.B);
      for (let b = 0; b < batch.B; b++) {
        const i = idx[b]!;
        for (let k = 0; k < 9; k++) cr[9 * b + k] = this.poses.rot[9 * i + k]!;
        co[2 * b] = this.poses.origin[2 * i]!;
        co[2 * b + 1] = this.poses.origin[2 * i + 1]!;
      }
      const cur = localSearch(this.grid, this.slicer, batch, cr, co, { radiusPx: radius, levels: keep, shiftLimitPx: o.searchShiftRangePx + 1 });
      const n = cand.n;
      for (let b = 0; b < batch.B; b++) {
        if (!(r.score[b]! / n < cur.score[b]!)) continue;
        const i = idx[b]!;
        const j = r.best[b]!;
        for (let k = 0; k < 9; k++) this.poses.rot[9 * i + k] = rots[9 * j + k]!;
        this.poses.origin[2 * i] = r.originsPx[2 * b]!;
        this.poses.origin[2 * i + 1] = r.originsPx[2 * b + 1]!;
        moved++;
      }
      onProgress?.({ epoch: this.epoch, batch: bi + 1, batches, loss: moved / Math.min(all.length, (bi + 1) * chunk), stage: 'local' });
    }
    return moved;
  }

  /** Half-set FSC (per Fourier shell) of the last local iteration's volume, null before. */
  lastHalfFsc: Float64Array | null = null;

  private allIndices(): Uint32Array {
    const a = new Uint32Array(this.source.n);
    for (let i = 0; i < a.length; i++) a[i] = i;
    return a;
  }

  /**
   * The volume refitted from zero with a fresh optimiser of step `lr` (passes over `indices`),
   * started again with half the step while the fit diverges (at most SEARCH_REFIT_RETRIES times;
   * the last attempt runs unguarded). Returns the last pass's mean loss.
   */
  refitVolume(indices: Uint32Array, passes: number, lr: number): number {
    for (let attempt = 0; ; attempt++) {
      this.grid.values.fill(0);
      this.volOpt = new PreconditionedMomentum(this.grid.values.length, { lr });
      const loss = this.fitVolume(indices, passes, undefined, attempt < SEARCH_REFIT_RETRIES);
      if (!Number.isNaN(loss)) return loss;
      lr /= 2;
    }
  }

  /**
   * Volume-only passes (poses frozen) over the given particles; returns the last pass's mean loss.
   * With `guard`, returns NaN as soon as the loss diverges (non-finite, or its running mean over
   * batches climbs SEARCH_REFIT_CLIMB above its minimum after the first 20 batches), so the
   * caller can start again with a smaller step.
   */
  fitVolume(indices: Uint32Array, passes: number, onProgress?: (p: ProgressInfo) => void, guard = false): number {
    const bs = this.opts.batchSize;
    let mean = 0;
    let ema = NaN;
    let emaMin = Infinity;
    let steps = 0;
    for (let pass = 0; pass < passes; pass++) {
      const order = this.rng.shuffle(indices.slice());
      let sum = 0;
      const batches = Math.ceil(order.length / bs);
      for (let bi = 0; bi < batches; bi++) {
        const idx = order.slice(bi * bs, Math.min(order.length, (bi + 1) * bs)).sort();
        const l = this.autodecodeStep(this.source.batch(idx), 0);
        if (guard) {
          if (!Number.isFinite(l)) return NaN;
          ema = Number.isNaN(ema) ? l : 0.95 * ema + 0.05 * l;
          steps += 1;
          if (steps >= 20) {
            if (ema > SEARCH_REFIT_CLIMB * emaMin) return NaN;
            emaMin = Math.min(emaMin, ema);
          }
        }
        if (!Number.isFinite(l)) throw new DivergenceError(this.epoch, bi, this.stage);
        sum += l * idx.length;
        onProgress?.({ epoch: this.epoch, batch: bi + 1, batches, loss: sum / Math.min(order.length, (bi + 1) * bs), stage: this.stage });
      }
      mean = sum / order.length;
    }
    return mean;
  }

  /** Stage 2 step: poseSteps pose updates (volume frozen), then one volume update. */
  private autodecodeStep(batch: ParticleBatch, poseSteps = this.opts.poseSteps, volumeStep = true): number {
    const { D } = this.source;
    const P = D * D;
    const B = batch.B;
    const disc = this.disc();
    const rots = new Float64Array(9 * B);
    const orig = new Float32Array(2 * B);
    for (let b = 0; b < B; b++) {
      const i = batch.indices[b]!;
      for (let k = 0; k < 9; k++) rots[9 * b + k] = this.poses.rot[9 * i + k]!;
      orig[2 * b] = this.poses.origin[2 * i]!;
      orig[2 * b + 1] = this.poses.origin[2 * i + 1]!;
    }
    const { slices, dS } = this.work(B * P);
    const dO = new Float64Array(2 * B);
    const dR = new Float64Array(9 * B);
    const gw = new Float64Array(3);
    const g = new Float64Array(5);
    const upd = new Float64Array(5);
    const [b1, b2] = this.opts.poseBetas;
    // pose step size decays as 1/(1 + epochs since the switch): large steps to pull the
    // initial poses in, then smaller ones so they settle instead of chasing the noise
    const lr = this.opts.lrPose / (1 + this.opts.poseLrDecay * Math.max(0, this.epoch - this.switchedAtEpoch));
    const eps = 1e-8;
    const pt = this.poses;
    for (let step = 0; step < poseSteps; step++) {
      this.slicer.render(this.grid, rots, B, slices, disc);
      fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, slices, disc, { M: 1, originsPx: orig, dSlices: dS, dOrigins: dO });
      this.slicer.backward(this.grid, rots, B, dS, null, dR, disc);
      for (let b = 0; b < B; b++) {
        const i = batch.indices[b]!;
        leftPerturbationGrad(dR, 9 * b, rots, 9 * b, gw, 0);
        g[0] = gw[0]!; g[1] = gw[1]!; g[2] = gw[2]!; g[3] = dO[2 * b]!; g[4] = dO[2 * b + 1]!;
        pt.adamT[i] += 1;
        const t = pt.adamT[i]!;
        const c1 = 1 / (1 - Math.pow(b1, t));
        const c2 = 1 / (1 - Math.pow(b2, t));
        for (let k = 0; k < 5; k++) {
          const mi = b1 * pt.adamM[5 * i + k]! + (1 - b1) * g[k]!;
          const vi = b2 * pt.adamV[5 * i + k]! + (1 - b2) * g[k]! * g[k]!;
          pt.adamM[5 * i + k] = mi;
          pt.adamV[5 * i + k] = vi;
          upd[k] = (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
        }
        // R <- Exp(-upd_w) R (the perturbation is folded back at once), origin -= upd
        applyLeftExp(rots, 9 * b, -upd[0]!, -upd[1]!, -upd[2]!);
        orthonormalise(rots, 9 * b);
        orig[2 * b] -= upd[3]!;
        orig[2 * b + 1] -= upd[4]!;
      }
    }
    // write poses back
    for (let b = 0; b < B; b++) {
      const i = batch.indices[b]!;
      for (let k = 0; k < 9; k++) pt.rot[9 * i + k] = rots[9 * b + k]!;
      pt.origin[2 * i] = orig[2 * b]!;
      pt.origin[2 * i + 1] = orig[2 * b + 1]!;
    }
    // volume step with poses frozen
    this.slicer.render(this.grid, rots, B, slices, disc);
    const losses = fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, slices, disc, { M: 1, originsPx: orig, dSlices: volumeStep ? dS : undefined });
    if (!volumeStep) {
      let t = 0;
      for (let b = 0; b < B; b++) t += losses[b]!;
      return t / B;
    }
    const invB = 1 / B;
    for (let i = 0; i < B * P; i++) { dS.re[i] *= invB; dS.im[i] *= invB; }
    const dH = this.work(B * P).dH;
    dH.fill(0);
    this.slicer.backward(this.grid, rots, B, dS, dH, null, disc);
    this.volOpt.step(this.grid.values, dH, this.curvature(batch, rots));
    let total = 0;
    for (let b = 0; b < B; b++) total += losses[b]!;
    return total / B;
  }

  /**
   * Diagonal curvature of the batch-mean loss w.r.t. the volume: the slice adjoint applied to
   * CTF^2 / (n B) (see volumeOptimizer.ts).
   */
  private curvature(batch: ParticleBatch, rots: Float64Array): Float32Array {
    const { D } = this.source;
    const P = D * D;
    const B = batch.B;
    const disc = this.disc();
    const s = 1 / (disc.pix.length * B);
    const { curvW: w, curv: out } = this.work(B * P);
    w.im.fill(0, 0, B * P);
    for (let i = 0; i < B * P; i++) { const c = batch.ctf[i]!; w.re[i] = c * c * s; }
    out.fill(0);
    this.slicer.backward(this.grid, rots, B, w, out, null, disc);
    return out;
  }

  private workBufs: { n: number; slices: Complex; dS: Complex; dH: Float32Array; curvW: Complex; curv: Float32Array } | null = null;

  /**
   * Reused buffers of the auto-decoding step (allocated by the slicer, i.e. in the wasm heap, so
   * the kernels use them in place), sized for at least n = B·D² slice values. Callers clear what
   * they accumulate into; the kernels and the loss overwrite the rest.
   */
  private work(n: number) {
    if (!this.workBufs || this.workBufs.n < n) {
      const m = Math.max(n, this.opts.batchSize * this.source.D * this.source.D);
      const a = (k: number): Float32Array => this.slicer.alloc(k);
      const nv = this.grid.values.length;
      this.workBufs = { n: m, slices: { re: a(m), im: a(m) }, dS: { re: a(m), im: a(m) }, dH: a(nv), curvW: { re: a(m), im: a(m) }, curv: a(nv) };
    }
    return this.workBufs;
  }

  /** Median change (deg) of the encoder's best-head rotation on the monitor subset since the last call. */
  private monitorPoseChange(): number | null {
    if (!this.encoder) return null;
    const cur = this.predictBest(this.monitorIdx).rots;
    const prev = this.monitorPrev;
    this.monitorPrev = cur;
    if (!prev) return null;
    const d: number[] = [];
    for (let i = 0; i < this.monitorIdx.length; i++) d.push(geodesicDeg(prev.subarray(9 * i, 9 * i + 9), cur.subarray(9 * i, 9 * i + 9)));
    d.sort((a, b) => a - b);
    return d[Math.floor(d.length / 2)]!;
  }

  /** Whether the encoder's shift head is in use (after shiftWarmupEpochs encoder epochs). */
  encoderShiftsActive(): boolean { return this.epoch >= this.opts.shiftWarmupEpochs; }

  /** Encoder pass (no gradient): for each particle, the pose of its lowest-loss head. */
  predictBest(indices: Uint32Array): { rots: Float64Array; origins: Float32Array } {
    return bestHeadPoses(this.encoder!, this.slicer, this.grid, this.source, indices, this.opts.batchSize, this.disc(), this.encoderShiftsActive());
  }

  /** Serialisable state (everything but the encoder, which checkpoints itself). */
  getState(): TrainerState {
    return {
      epoch: this.epoch,
      stage: this.stage,
      volume: this.grid.values,
      volOpt: { m: this.volOpt.state.m, w: this.volOpt.state.w, t: this.volOpt.state.t, lr: this.volOpt.lr },
      poses: { rot: this.poses.rot, origin: this.poses.origin, adamM: this.poses.adamM, adamV: this.poses.adamV, adamT: this.poses.adamT },
      rng: this.rng.getState(),
      monitorPrev: this.monitorPrev ? Array.from(this.monitorPrev) : null,
      switchedAtEpoch: this.switchedAtEpoch,
    };
  }

  setState(s: TrainerState): void {
    this.epoch = s.epoch;
    this.stage = s.stage;
    this.grid.values.set(s.volume);
    this.volOpt = new PreconditionedMomentum(this.grid.values.length, { lr: s.volOpt.lr });
    this.volOpt.state = { m: s.volOpt.m, w: s.volOpt.w, t: s.volOpt.t };
    this.poses.rot.set(s.poses.rot);
    this.poses.origin.set(s.poses.origin);
    this.poses.adamM.set(s.poses.adamM);
    this.poses.adamV.set(s.poses.adamV);
    this.poses.adamT.set(s.poses.adamT);
    this.rng.setState(s.rng);
    this.monitorPrev = s.monitorPrev ? Float64Array.from(s.monitorPrev) : null;
    this.switchedAtEpoch = s.switchedAtEpoch;
    if (this.stage === 'autodecode' && this.encoder) { this.encoder.dispose(); this.encoder = null; }
  }

  /** The switch: one encoder pass assigns every particle its best head's pose; the encoder is dropped. */
  switchToAutodecode(): void {
    if (this.encoder) {
      const all = new Uint32Array(this.source.n);
      for (let i = 0; i < all.length; i++) all[i] = i;
      const { rots, origins } = this.predictBest(all);
      this.poses.rot.set(rots);
      this.poses.origin.set(origins);
      this.onSwitch?.(this.encoder);
      this.encoder.dispose();
      this.encoder = null;
    }
    this.poses.adamM.fill(0);
    this.poses.adamV.fill(0);
    this.poses.adamT.fill(0);
    this.volOpt = new PreconditionedMomentum(this.grid.values.length, { lr: this.volumeLr(this.opts.lrVolumeAutodecode) });
    this.stage = 'autodecode';
    this.switchedAtEpoch = this.epoch;
  }
}
