/**
 * Heterogeneous reconstruction loop (`--mode heterogeneous`): poses and a conformation latent z
 * per particle, and a z-conditioned volume (src/model/hetDecoder.ts).
 *
 * Stage 1, consensus (the pose-only warm-up): the homogeneous loop (SemiAmortizedTrainer with
 * the global pose-search initialisation, then auto-decoding) learns one volume and the poses;
 * every particle is explained by the same volume, which is what cryoFIRE's warm-up with z
 * replaced by noise achieves.
 * Stage 2, heterogeneous: the decoder's mean volume starts from the consensus, its basis volumes
 * at 0, each particle's z at N(0, zInitStd^2). Per batch:
 *   1. the zdim+1 partial slices are rendered once at the current poses;
 *   2. zSteps Adam steps on the particles' z (MAP under a N(0, I) prior: per image the objective
 *      is L_i + zPriorWeight·|z_i|^2 / n_disc, the Gaussian log-posterior of the squared Fourier
 *      error with unit noise variance per coefficient), scored up to zRadiusFraction of Nyquist;
 *   3. poseSteps Adam steps on the particles' poses against their own volume H(z_i) (partial
 *      slices re-rendered after each);
 *   4. one step on every decoder grid (curvature-preconditioned momentum as the homogeneous
 *      volume, volumeOptimizer.ts), poses and z frozen.
 * After each epoch the latents are re-centred (the mean goes into H_0) and rescaled to a total
 * variance of 1 (the basis volumes absorb the factor): no volume changes, but the basis volumes
 * cannot drift large while z shrinks under the prior (which, at first, made the basis steps
 * diverge). The relative spread of the z dimensions is kept, so the prior still ranks them.
 * Frequency marching: the loss disc grows from hetMarchStartPx to Nyquist over hetMarchEpochs.
 *
 * Variants (options, docs/heterogeneous.md):
 *  - zSource 'autodecode' (default): z is one free vector per particle (steps 2 above);
 *    'encoder': z is predicted from each image by an MLP (src/model/zEncoder.ts) trained end to
 *    end through the decoder (dL/dz of the same data term plus the prior), and z.npy holds the
 *    encoder's predictions after the last epoch.
 *  - hetDecoder 'linear' (default): the grids above; 'mlp': a coordinate network
 *    (src/model/hetMlpDecoder.ts: random Fourier features of k, concatenated with z, residual MLP,
 *    one Hartley value), first fitted to the consensus volume with z drawn as noise, then trained
 *    by Adam on the same data term with the same frequency marching; poses stay fixed.
 *  - zWarmupEpochs: the first heterogeneous epochs train the decoder with z replaced by noise
 *    N(0, zInitStd^2) (cryoFIRE's pose-only warm-up; here the poses are the consensus ones).
 *  - hetRefit 'wiener' (default; linear decoder): the last heterogeneous epoch ends with the
 *    closed-form refit of every grid for the final poses, origins and z (src/recon/hetWienerRefit.ts:
 *    per-voxel regularised least squares, per-grid Wiener prior); the SGD-trained grids are
 *    under-trained at high frequency (B3 known poses, N = 1000: decoded FSC0.5 4.57 / 4.72 px ->
 *    2.90 / 3.31 px with the refit; known-pose known-state backprojection 3.17 / 3.38 px).
 * Checkpoints (getState/setState) hold every piece of state, the network's and the encoder's
 * Adam moments included: a resumed run is bit-identical to an uninterrupted one in every variant.
 */
import type { Complex } from '../core/complex.js';
import { Rng, type RngState } from '../core/rng.js';
import { allocParts, centreLatents, rescaleLatents, combineSlices, createHetDecoder, decoderBackward, hetVolumeMap, renderParts, zGradient, type HetDecoder } from '../model/hetDecoder.js';
import { nyquistDisc, type HartleyGrid } from '../model/hartleyVolume.js';
import { HetMlpDecoder, type HetMlpOptions, type HetMlpState } from '../model/hetMlpDecoder.js';
import { symmetricDisc } from '../model/fourierNet.js';
import { ZEncoder, zEncoderFeatures, type ZEncoderOptions, type ZEncoderState } from '../model/zEncoder.js';
import { classStage, type ClassStageOptions, type ClassStageResult } from './classAbinitio.js';
import { fourierLoss } from './fourierLoss.js';
import { hetWienerRefit } from './hetWienerRefit.js';
import { applyLeftExp, leftPerturbationGrad, orthonormalise, type PoseTable } from './poseTable.js';
import { SemiAmortizedTrainer, DivergenceError, type ProgressInfo, type SemiAmortizedOptions, type TrainerState } from './semiAmortized.js';
import { createSlicer, type Slicer } from './slicer.js';
import type { ParticleBatch, ParticleSource } from './types.js';
import { PreconditionedMomentum } from './volumeOptimizer.js';

export interface HeterogeneousOptions {
  zdim: number;
  /** Epochs of the consensus (homogeneous) stage, search iterations included. */
  consensusEpochs: number;
  /** Epochs of the heterogeneous stage. */
  hetEpochs: number;
  batchSize: number;
  seed: number;
  /** z Adam steps per batch, their learning rate, prior weight and initial spread. */
  zSteps: number;
  lrZ: number;
  zPriorWeight: number;
  zInitStd: number;
  /**
   * The z steps score only frequencies up to this fraction of Nyquist (conformational changes
   * live at low resolution; beyond it the per-image z fits noise: with known poses on B3 at
   * N = 1000 the split fell from 100% to 88% as the disc grew from 18 px to Nyquist).
   */
  zRadiusFraction: number;
  /** Pose Adam steps per batch in the heterogeneous stage (0 = keep the consensus poses) and their learning rate. */
  poseSteps: number;
  lrPose: number;
  /**
   * Decoder step size (scaled with the box like the homogeneous volume). Lower than the
   * homogeneous 0.3: each of the zdim+1 grids takes its own preconditioned step, and the steps
   * add up in the rendered slice (the grids are coupled through z); at 0.3 the loss grew from
   * 0.85 to 3.3 over 6 epochs (B3, N = 1000, box 32, known poses), at 0.1 it fell to 0.70.
   */
  lrVolume: number;
  /** Frequency marching of the heterogeneous stage: start radius (Fourier px; 0 = off) and epochs to reach Nyquist. */
  hetMarchStartPx: number;
  hetMarchEpochs: number;
  backend: 'ts' | 'wasm';
  /** Options of the consensus stage (search iterations, rotations, ...). */
  consensus: Partial<SemiAmortizedOptions>;
  /** Decoder: explicit linear grids or the coordinate network (src/model/hetMlpDecoder.ts). */
  hetDecoder: 'linear' | 'mlp';
  /** Where z comes from: one free vector per particle, or an encoder from each image (src/model/zEncoder.ts). */
  zSource: 'autodecode' | 'encoder';
  /** Heterogeneous epochs with z replaced by noise (decoder only); -1 = 0 for linear + autodecode, else 1. */
  zWarmupEpochs: number;
  /** Coordinate-network options, and the Adam steps fitting it to the consensus volume before the data. */
  mlp: Partial<HetMlpOptions>;
  /**
   * true: the network is added to an explicit base volume (the consensus, refined like the linear
   * decoder's mean) and learns only the z-dependent part; false: it represents the whole volume
   * and is first fitted to the consensus for mlpFitSteps Adam steps.
   */
  mlpBase: boolean;
  mlpFitSteps: number;
  /** Encoder options. */
  encoder: Partial<ZEncoderOptions>;
  /** Linear decoder: refit every grid in closed form after the last epoch (hetWienerRefit.ts), or keep the SGD grids. */
  hetRefit: 'wiener' | 'none';
  /**
   * Discrete classes between the consensus and the heterogeneous stage (classAbinitio.ts): 0 = none;
   * K >= 2 separates K classes, gives every class but the consensus's its own ab initio, aligns it
   * into the consensus frame, and starts z and the linear decoder from the classes.
   */
  classes: number;
  /** Settings of that class stage (its slicer, log and seed come from this trainer). */
  classStage: Partial<Omit<ClassStageOptions, 'slicer' | 'log' | 'seed' | 'onStep'>>;
  /** Progress messages of long steps (the class stage). */
  log: (msg: string) => void;
  /** Called after each step of the class stage with the current classes and poses (e.g. to measure them). */
  onClassStep?: ClassStageOptions['onStep'];
}

/** The class stage's defaults: B1's search schedule for each class's ab initio (see bench/b3.ts). */
export const CLASS_STAGE_DEFAULTS: Omit<ClassStageOptions, 'slicer' | 'log' | 'seed' | 'onStep'> = {
  search: { iterations: 6, subset: 4000, radiusStartPx: 8, radiusEndPx: 12, rotations: 3000, shiftRangePx: 3, balancedIterations: 2, localIterations: 0 },
  abinitio: {
    searchIterations: 14, searchRadiusStartPx: 3, searchRadiusEndPx: 10, searchShiftRangePx: 3, searchSubset: 4000,
    localIterations: 2, localResearch: true, localRadiusStartPx: 12, localRadiusEndPx: 20, localRotStepDeg: 6, localShiftStepPx: 1,
    lrPose: 0.01, autodecodeVolume: 'wiener',
  },
  abinitioAutodecodeEpochs: 0,
  abinitioFromAnchor: true,
  finalLocalIterations: 3,
  finalLocalRotStepDeg: 6,
  finalLocalRadiusPx: 20,
  finalAutodecodeEpochs: 2,
  realign: true,
  alignRotations: 6000,
  alignCoreRounds: 2,
  alignCoreThreshold: 2,
};

export const HETEROGENEOUS_DEFAULTS: HeterogeneousOptions = {
  zdim: 8,
  consensusEpochs: 12,
  hetEpochs: 10,
  batchSize: 32,
  seed: 0,
  zSteps: 5,
  lrZ: 0.05,
  zPriorWeight: 1,
  zInitStd: 0.1,
  zRadiusFraction: 0.5,
  poseSteps: 0,
  lrPose: 0.01,
  lrVolume: 0.1,
  hetMarchStartPx: 8,
  hetMarchEpochs: 5,
  backend: 'wasm',
  consensus: {},
  hetDecoder: 'linear',
  zSource: 'autodecode',
  zWarmupEpochs: -1,
  mlp: {},
  mlpBase: true,
  mlpFitSteps: 300,
  encoder: {},
  hetRefit: 'wiener',
  classes: 0,
  classStage: {},
  log: () => undefined,
};

export type HetStage = 'search' | 'local' | 'autodecode' | 'classes' | 'heterogeneous';

export interface HetEpochStats {
  epoch: number;
  stage: HetStage;
  loss: number;
  seconds: number;
  /** Standard deviation of each z dimension after the epoch (heterogeneous stage). */
  zStd: number[];
}

export interface HetTrainerState {
  epoch: number;
  consensus: TrainerState;
  decoder: Float32Array[] | null;
  z: Float32Array;
  zAdamM: Float32Array;
  zAdamV: Float32Array;
  zAdamT: Uint32Array;
  volOpt: { m: Float32Array; w: Float32Array; t: number; lr: number }[];
  rng: RngState;
  /** Coordinate-network decoder and encoder: weights and Adam moments (a resume continues bit for bit; older checkpoints without moments restart them). */
  mlp?: HetMlpState | null;
  /** Class of each particle from the class stage (null: none ran yet). */
  classOf?: Int32Array | number[] | null;
  classSummary?: ClassStageSummary | null;
  encoder?: ZEncoderState | null;
}

/** What the class stage found (kept in the checkpoint and the run's result): its result without the per-particle arrays and volumes, plus the class sizes. */
export type ClassStageSummary = Omit<ClassStageResult, 'classOf' | 'rot' | 'origin' | 'grids'> & { classSizes: number[] };

export class HeterogeneousTrainer {
  readonly source: ParticleSource;
  readonly opts: HeterogeneousOptions;
  readonly consensus: SemiAmortizedTrainer;
  decoder: HetDecoder | null = null;
  /** The coordinate-network decoder (hetDecoder 'mlp'), created at the start of the heterogeneous stage. */
  mlp: HetMlpDecoder | null = null;
  /** The z encoder (zSource 'encoder'). */
  encoder: ZEncoder | null = null;
  /** Latents, n x zdim (input order). */
  readonly z: Float32Array;
  private zAdamM: Float32Array;
  private zAdamV: Float32Array;
  private zAdamT: Uint32Array;
  private volOpt: PreconditionedMomentum[] = [];
  private readonly slicer: Slicer;
  rng: Rng;
  epoch = 0;
  /** Relative squared error of the coordinate network's fit to the consensus volume (mlp). */
  mlpFitError: number | null = null;
  /** Half-set FSC per shell of each grid of the last closed-form refit (hetRefit 'wiener'), null before it. */
  refitHalfFsc: Float64Array[] | null = null;
  /** Class of each particle (class stage), null without one. */
  classOf: Int32Array | null = null;
  classSummary: ClassStageSummary | null = null;

  constructor(source: ParticleSource, opts: Partial<HeterogeneousOptions> = {}) {
    this.source = source;
    this.opts = { ...HETEROGENEOUS_DEFAULTS, ...opts };
    const o = this.opts;
    if (o.hetDecoder !== 'linear' && o.hetDecoder !== 'mlp') throw new Error(`hetDecoder must be linear or mlp, got ${String(o.hetDecoder)}`);
    if (o.zSource !== 'autodecode' && o.zSource !== 'encoder') throw new Error(`zSource must be autodecode or encoder, got ${String(o.zSource)}`);
    if (o.hetRefit !== 'wiener' && o.hetRefit !== 'none') throw new Error(`hetRefit must be wiener or none, got ${String(o.hetRefit)}`);
    if (o.hetDecoder === 'mlp' && o.poseSteps > 0) throw new Error('hetDecoder mlp keeps the consensus poses: poseSteps must be 0');
    this.consensus = new SemiAmortizedTrainer(source, null, {
      batchSize: o.batchSize, seed: o.seed, backend: o.backend, ...o.consensus, init: 'search', epochs: o.consensusEpochs,
      searchIterations: Math.min(o.consensus.searchIterations ?? 8, Math.max(1, o.consensusEpochs)),
    });
    this.slicer = createSlicer(o.backend);
    this.rng = new Rng(o.seed + 7919);
    const n = source.n;
    this.z = new Float32Array(n * o.zdim);
    this.zAdamM = new Float32Array(n * o.zdim);
    this.zAdamV = new Float32Array(n * o.zdim);
    this.zAdamT = new Uint32Array(n);
  }

  /** Epochs of the class stage: 1 with classes >= 2, else 0. */
  get classEpochs(): number { return this.opts.classes >= 2 ? 1 : 0; }
  /** First epoch of the heterogeneous stage. */
  get hetStart(): number { return this.opts.consensusEpochs + this.classEpochs; }
  get totalEpochs(): number { return this.hetStart + this.opts.hetEpochs; }
  get done(): boolean { return this.epoch >= this.totalEpochs; }
  get poses(): PoseTable { return this.consensus.poses; }
  get stage(): HetStage {
    if (this.epoch < this.opts.consensusEpochs) return this.consensus.stage === 'search' || this.consensus.stage === 'local' ? this.consensus.stage : 'autodecode';
    return this.epoch < this.hetStart ? 'classes' : 'heterogeneous';
  }

  /** Loss-disc radius (Fourier px) of the heterogeneous stage at the current epoch. */
  lossRadius(): number {
    const D = this.source.D;
    const { hetMarchStartPx, hetMarchEpochs } = this.opts;
    if (!(hetMarchStartPx > 0) || !(hetMarchEpochs > 0)) return D / 2;
    const e = this.epoch - this.hetStart;
    return Math.min(D / 2, hetMarchStartPx + (Math.max(0, e) / hetMarchEpochs) * (D / 2 - hetMarchStartPx));
  }

  /** Heterogeneous epochs with z replaced by noise. */
  get warmupEpochs(): number {
    const o = this.opts;
    return o.zWarmupEpochs >= 0 ? o.zWarmupEpochs : (o.hetDecoder === 'linear' && o.zSource === 'autodecode' ? 0 : 1);
  }

  /** Start the heterogeneous stage from the consensus volume and poses. */
  private initDecoder(classGrids?: HartleyGrid[], anchor = 0): void {
    const o = this.opts;
    this.decoder = createHetDecoder(this.source.D, o.zdim, this.consensus.grid.values);
    for (let i = 0; i < this.z.length; i++) this.z[i] = o.zInitStd * this.rng.normal();
    if (classGrids && this.classOf) {
      // after a class stage: z dimension d marks class k (one-hot, the anchor class at 0) and the
      // linear decoder's basis d is that class's volume minus the anchor's (the mean = the anchor's)
      let d = 0;
      for (let k = 0; k < classGrids.length && d < o.zdim; k++) {
        if (k === anchor) continue;
        const basis = this.decoder.grids[d + 1]!.values, a = classGrids[anchor]!.values, b = classGrids[k]!.values;
        for (let q = 0; q < basis.length; q++) basis[q] = b[q]! - a[q]!;
        for (let i = 0; i < this.source.n; i++) if (this.classOf[i] === k) this.z[i * o.zdim + d]! += 1;
        d++;
      }
    }
    if (o.zSource === 'encoder') this.encoder = new ZEncoder(o.zdim, { seed: o.seed, ...o.encoder });
    if (o.hetDecoder === 'mlp') {
      this.mlp = new HetMlpDecoder(this.source.D, o.zdim, { seed: o.seed, ...o.mlp });
      this.mlp.setEnvelopeFromGrid(this.consensus.grid);
      if (o.mlpBase) this.mlp.base = this.decoder.grids[0]!;
      else this.mlpFitError = this.mlp.fitGrid(this.consensus.grid, o.mlpFitSteps, 8192, 1, this.rng);
    }
    const lr = this.consensus.volumeLr(o.lrVolume);
    this.volOpt = this.decoder.grids.map((g) => new PreconditionedMomentum(g.values.length, { lr }));
    const pt = this.poses;
    pt.adamM.fill(0); pt.adamV.fill(0); pt.adamT.fill(0);
  }

  /** The class stage (classAbinitio.ts) as one epoch: poses into one frame, z and the decoder started from the classes. */
  private runClassStage(): HetEpochStats {
    const t0 = performance.now();
    const o = this.opts;
    const cs = { ...CLASS_STAGE_DEFAULTS, ...o.classStage };
    const res = classStage(this.source, { grid: this.consensus.grid, rot: this.poses.rot, origin: this.poses.origin }, {
      ...cs,
      search: { ...CLASS_STAGE_DEFAULTS.search, ...cs.search, classes: o.classes },
      abinitio: { batchSize: o.batchSize, backend: o.backend, threads: this.consensus.opts.threads, ...CLASS_STAGE_DEFAULTS.abinitio, ...cs.abinitio },
      seed: o.seed, slicer: this.consensus.slicer, log: o.log, onStep: o.onClassStep,
    });
    this.poses.rot.set(res.rot);
    this.poses.origin.set(res.origin);
    this.consensus.grid.values.set(res.grids[res.anchor]!.values);
    this.classOf = res.classOf;
    const classSizes = res.grids.map((_, k) => res.classOf.reduce((c, v) => c + (v === k ? 1 : 0), 0));
    const { classOf: _c, rot: _r, origin: _o, grids: _g, ...summary } = res;
    this.classSummary = { ...summary, classSizes };
    this.initDecoder(res.grids, res.anchor);
    const last = res.finalStats.at(-1) ?? res.searchStats.at(-1);
    const stats: HetEpochStats = { epoch: this.epoch, stage: 'classes', loss: last?.meanScore ?? 0, seconds: (performance.now() - t0) / 1000, zStd: [] };
    this.epoch += 1;
    return stats;
  }

  trainEpoch(onProgress?: (p: ProgressInfo) => void): HetEpochStats {
    if (this.epoch < this.opts.consensusEpochs) {
      const stage = this.stage;
      const st = this.consensus.trainEpoch(onProgress);
      this.epoch += 1;
      return { epoch: st.epoch, stage, loss: st.loss, seconds: st.seconds, zStd: [] };
    }
    if (this.epoch < this.hetStart) return this.runClassStage();
    if (!this.decoder) this.initDecoder();
    const t0 = performance.now();
    const { batchSize } = this.opts;
    const n = this.source.n;
    const order = this.rng.permutation(n);
    const batches = Math.ceil(n / batchSize);
    const warm = this.epoch - this.hetStart < this.warmupEpochs;
    let lossSum = 0;
    for (let bi = 0; bi < batches; bi++) {
      const idx = order.slice(bi * batchSize, Math.min(n, (bi + 1) * batchSize)).sort();
      const batch = this.source.batch(idx);
      const loss = this.mlp ? this.hetStepMlp(batch, warm) : this.hetStep(batch, warm);
      if (!Number.isFinite(loss)) throw new DivergenceError(this.epoch, bi, 'autodecode');
      lossSum += loss * idx.length;
      onProgress?.({ epoch: this.epoch, batch: bi + 1, batches, loss: lossSum / Math.min(n, (bi + 1) * batchSize), stage: 'autodecode' });
    }
    const zdim = this.opts.zdim;
    if (!warm) {
      // z <- (z - mu) / s, absorbed by the decoder (and the encoder): no volume changes
      let mu: ArrayLike<number>, s: number;
      if (this.mlp) ({ mu, s } = normaliseLatents(this.z, n, zdim)), this.mlp.absorbLatentAffine(mu, s);
      else { mu = centreLatents(this.decoder!, this.z, n); s = rescaleLatents(this.decoder!, this.z, n); }
      this.encoder?.absorbAffine(mu, s);
    }
    // the last epoch: z.npy holds the encoder's predictions for every particle
    if (this.encoder && this.epoch + 1 >= this.totalEpochs) this.refreshZ();
    // the last epoch of the linear decoder: closed-form refit of the grids (deterministic: a resumed run refits the same)
    if (!this.mlp && !warm && this.opts.hetRefit === 'wiener' && this.epoch + 1 >= this.totalEpochs) this.refitDecoder();
    const zStd: number[] = [];
    for (let d = 0; d < zdim; d++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += this.z[i * zdim + d]! ** 2;
      zStd.push(Math.sqrt(s / n));
    }
    const stats: HetEpochStats = { epoch: this.epoch, stage: 'heterogeneous', loss: lossSum / n, seconds: (performance.now() - t0) / 1000, zStd };
    this.epoch += 1;
    return stats;
  }

  /** Replace the linear decoder's grids by their closed-form Wiener refit at the current poses and z (hetWienerRefit.ts). */
  refitDecoder(): void {
    const dec = this.decoder;
    if (!dec) return;
    const r = hetWienerRefit(this.source, this.poses.rot, this.poses.origin, this.z, this.opts.zdim, { batchSize: Math.max(64, this.opts.batchSize) });
    r.grids.forEach((g, d) => dec.grids[d]!.values.set(g.values));
    this.refitHalfFsc = r.halfFsc;
  }

  /** Every particle's z predicted by the encoder (one pass over the data). */
  refreshZ(): void {
    const enc = this.encoder;
    if (!enc) return;
    const { n, D } = this.source;
    const zdim = this.opts.zdim;
    const bs = this.opts.batchSize;
    for (let s = 0; s < n; s += bs) {
      const idx = Uint32Array.from({ length: Math.min(bs, n - s) }, (_, k) => s + k);
      const batch = this.source.batch(idx);
      const { rots, orig } = this.batchPoses(batch);
      const zp = enc.predict(zEncoderFeatures(batch, D, rots, orig, enc.opts), batch.B);
      this.z.set(zp.subarray(0, batch.B * zdim), s * zdim);
    }
  }

  /** Rotations (9B) and origins (2B) of a batch's particles. */
  private batchPoses(batch: ParticleBatch): { rots: Float64Array; orig: Float32Array } {
    const pt = this.poses;
    const B = batch.B;
    const rots = new Float64Array(9 * B);
    const orig = new Float32Array(2 * B);
    for (let b = 0; b < B; b++) {
      const i = batch.indices[b]!;
      for (let k = 0; k < 9; k++) rots[9 * b + k] = pt.rot[9 * i + k]!;
      orig[2 * b] = pt.origin[2 * i]!;
      orig[2 * b + 1] = pt.origin[2 * i + 1]!;
    }
    return { rots, orig };
  }

  /** z of a batch: noise (warm-up), the encoder's prediction, or the stored auto-decoded latents. */
  private batchLatents(batch: ParticleBatch, warm: boolean, rots: Float64Array, orig: Float32Array): { zb: Float64Array; feat: Float32Array | null } {
    const zdim = this.opts.zdim;
    const B = batch.B;
    const zb = new Float64Array(B * zdim);
    if (warm) {
      for (let k = 0; k < zb.length; k++) zb[k] = this.opts.zInitStd * this.rng.normal();
      return { zb, feat: null };
    }
    if (this.encoder) {
      const feat = zEncoderFeatures(batch, this.source.D, rots, orig, this.encoder.opts);
      zb.set(this.encoder.predict(feat, B));
      return { zb, feat };
    }
    for (let b = 0; b < B; b++) {
      const i = batch.indices[b]!;
      for (let d = 0; d < zdim; d++) zb[b * zdim + d] = this.z[i * zdim + d]!;
    }
    return { zb, feat: null };
  }

  /** One Adam step on each batch particle's stored z, given dL/dz (prior added here). */
  private zAdamStep(batch: ParticleBatch, zb: Float64Array, gz: ArrayLike<number>, prior: number): void {
    const o = this.opts;
    const zdim = o.zdim;
    for (let b = 0; b < batch.B; b++) {
      const i = batch.indices[b]!;
      this.zAdamT[i] += 1;
      const t = this.zAdamT[i]!;
      const c1 = 1 / (1 - 0.9 ** t), c2 = 1 / (1 - 0.999 ** t);
      for (let d = 0; d < zdim; d++) {
        const k = i * zdim + d;
        const g = gz[b * zdim + d]! + prior * zb[b * zdim + d]!;
        const m = 0.9 * this.zAdamM[k]! + 0.1 * g;
        const v = 0.999 * this.zAdamV[k]! + 0.001 * g * g;
        this.zAdamM[k] = m;
        this.zAdamV[k] = v;
        zb[b * zdim + d] -= (o.lrZ * m * c1) / (Math.sqrt(v * c2) + 1e-12);
      }
    }
  }

  /** Encoder step: dL/dz (batch mean, prior added) at its prediction zb. */
  private encoderStep(feat: Float32Array, B: number, zb: Float64Array, gz: ArrayLike<number>, prior: number): void {
    const g = new Float32Array(zb.length);
    for (let k = 0; k < g.length; k++) g[k] = (gz[k]! + prior * zb[k]!) / B;
    this.encoder!.trainStep(feat, B, g);
  }

  /** One batch with the coordinate-network decoder (poses fixed); returns the batch's mean data loss. */
  private hetStepMlp(batch: ParticleBatch, warm: boolean): number {
    const mlp = this.mlp!;
    const o = this.opts;
    const { D } = this.source;
    const P = D * D;
    const B = batch.B;
    const zdim = o.zdim;
    const radius = Math.round(this.lossRadius() * 2) / 2;
    const disc = symmetricDisc(D, radius);
    const zDisc = symmetricDisc(D, Math.min(radius, Math.round(o.zRadiusFraction * D) / 2));
    const lb = { D, obs: batch.obs, ctf: batch.ctf, B };
    const { rots, orig } = this.batchPoses(batch);
    const { zb, feat } = this.batchLatents(batch, warm, rots, orig);
    const slices: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    const dS: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    const prior = (2 * o.zPriorWeight) / zDisc.pix.length;
    // slices of the base volume (fixed within the batch until the decoder step)
    const baseS: Complex | null = mlp.base ? { re: new Float32Array(B * P), im: new Float32Array(B * P) } : null;
    if (baseS) this.slicer.render(mlp.base!, rots, B, baseS, disc);
    const render = (d: typeof disc): void => {
      mlp.render(rots, zb, B, d, slices);
      if (!baseS) return;
      for (let b = 0; b < B; b++) for (const q of d.pix) { const k = b * P + q; slices.re[k] += baseS.re[k]!; slices.im[k] += baseS.im[k]!; }
    };
    if (!warm) {
      const steps = this.encoder ? 1 : o.zSteps;
      for (let step = 0; step < steps; step++) {
        render(zDisc);
        fourierLoss(lb, slices, zDisc, { M: 1, originsPx: orig, dSlices: dS });
        const { dz } = mlp.backward(rots, zb, B, zDisc, dS, false);
        if (this.encoder) this.encoderStep(feat!, B, zb, dz, prior);
        else this.zAdamStep(batch, zb, dz, prior);
      }
      for (let b = 0; b < B; b++) {
        const i = batch.indices[b]!;
        for (let d = 0; d < zdim; d++) this.z[i * zdim + d] = zb[b * zdim + d]!;
      }
    }
    render(disc);
    const losses = fourierLoss(lb, slices, disc, { M: 1, originsPx: orig, dSlices: dS });
    const invB = 1 / B;
    for (let q = 0; q < B * P; q++) { dS.re[q] *= invB; dS.im[q] *= invB; }
    mlp.applyGradients(mlp.backward(rots, zb, B, disc, dS, true).grads!);
    if (mlp.base) {
      // the base volume's step: as the linear decoder's mean (curvature-preconditioned momentum)
      const dGrid = new Float32Array(mlp.base.values.length);
      this.slicer.backward(mlp.base, rots, B, dS, dGrid, null, disc);
      this.volOpt[0]!.step(mlp.base.values, dGrid, this.curvature(batch, rots, disc));
    }
    let total = 0;
    for (let b = 0; b < B; b++) total += losses[b]!;
    return total / B;
  }

  /** The decoder to save and evaluate: the coordinate network (mlp) or the grids (the consensus before the heterogeneous stage). */
  outputDecoder(): HetDecoder | HetMlpDecoder {
    return this.mlp ?? this.decoder ?? createHetDecoder(this.source.D, this.opts.zdim, this.consensus.grid.values);
  }

  /** The volume (real-space map, D^3) at latent z, whichever decoder the run uses. */
  volumeMap(z: ArrayLike<number>): Float32Array {
    return hetVolumeMap(this.outputDecoder(), z);
  }

  /** One batch of the heterogeneous stage (linear decoder); returns the batch's mean data loss. */
  private hetStep(batch: ParticleBatch, warm: boolean): number {
    const dec = this.decoder!;
    const o = this.opts;
    const { D } = this.source;
    const P = D * D;
    const B = batch.B;
    const zdim = o.zdim;
    const radius = Math.round(this.lossRadius() * 2) / 2;
    const disc = nyquistDisc(D, radius);
    const zDisc = nyquistDisc(D, Math.min(radius, Math.round(o.zRadiusFraction * D) / 2));
    const lb = { D, obs: batch.obs, ctf: batch.ctf, B };
    const pt = this.poses;
    const { rots, orig } = this.batchPoses(batch);
    const { zb, feat } = this.batchLatents(batch, warm, rots, orig);
    const parts = allocParts(dec, B);
    const slices: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    const dS: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    renderParts(dec, this.slicer, rots, B, parts, disc);
    // z steps (slices fixed: the poses do not change here)
    const gz = new Float64Array(B * zdim);
    const prior = (2 * o.zPriorWeight) / zDisc.pix.length;
    const zSteps = warm ? 0 : this.encoder ? 1 : o.zSteps;
    for (let step = 0; step < zSteps; step++) {
      combineSlices(parts, zb, zdim, B, D, zDisc, slices);
      fourierLoss(lb, slices, zDisc, { M: 1, originsPx: orig, dSlices: dS });
      zGradient(parts, dS, zdim, B, D, zDisc, gz);
      if (this.encoder) this.encoderStep(feat!, B, zb, gz, prior);
      else this.zAdamStep(batch, zb, gz, prior);
    }
    // pose steps against each particle's own volume
    if (o.poseSteps > 0) {
      const dO = new Float64Array(2 * B);
      const dR = new Float64Array(9 * B);
      const gw = new Float64Array(3);
      const b1 = 0.9, b2 = 0.9;
      for (let step = 0; step < o.poseSteps; step++) {
        combineSlices(parts, zb, zdim, B, D, disc, slices);
        fourierLoss(lb, slices, disc, { M: 1, originsPx: orig, dSlices: dS, dOrigins: dO });
        decoderBackward(dec, this.slicer, rots, zb, B, dS, null, dR, disc);
        for (let b = 0; b < B; b++) {
          const i = batch.indices[b]!;
          leftPerturbationGrad(dR, 9 * b, rots, 9 * b, gw, 0);
          const g = [gw[0]!, gw[1]!, gw[2]!, dO[2 * b]!, dO[2 * b + 1]!];
          pt.adamT[i] += 1;
          const t = pt.adamT[i]!;
          const c1 = 1 / (1 - b1 ** t), c2 = 1 / (1 - b2 ** t);
          const upd = new Float64Array(5);
          for (let k = 0; k < 5; k++) {
            const m = b1 * pt.adamM[5 * i + k]! + (1 - b1) * g[k]!;
            const v = b2 * pt.adamV[5 * i + k]! + (1 - b2) * g[k]! * g[k]!;
            pt.adamM[5 * i + k] = m;
            pt.adamV[5 * i + k] = v;
            upd[k] = (o.lrPose * m * c1) / (Math.sqrt(v * c2) + 1e-8);
          }
          applyLeftExp(rots, 9 * b, -upd[0]!, -upd[1]!, -upd[2]!);
          orthonormalise(rots, 9 * b);
          orig[2 * b] -= upd[3]!;
          orig[2 * b + 1] -= upd[4]!;
        }
        renderParts(dec, this.slicer, rots, B, parts, disc);
      }
    }
    // write poses and z back
    for (let b = 0; b < B; b++) {
      const i = batch.indices[b]!;
      for (let k = 0; k < 9; k++) pt.rot[9 * i + k] = rots[9 * b + k]!;
      pt.origin[2 * i] = orig[2 * b]!;
      pt.origin[2 * i + 1] = orig[2 * b + 1]!;
      if (!warm) for (let d = 0; d < zdim; d++) this.z[i * zdim + d] = zb[b * zdim + d]!;
    }
    // decoder step (poses and z frozen)
    combineSlices(parts, zb, zdim, B, D, disc, slices);
    const losses = fourierLoss(lb, slices, disc, { M: 1, originsPx: orig, dSlices: dS });
    const invB = 1 / B;
    for (let q = 0; q < B * P; q++) { dS.re[q] *= invB; dS.im[q] *= invB; }
    const dGrids = dec.grids.map((g) => new Float32Array(g.values.length));
    decoderBackward(dec, this.slicer, rots, zb, B, dS, dGrids, null, disc);
    const curv = this.curvature(batch, rots, disc);
    for (let d = 0; d <= zdim; d++) {
      let w = 1;
      // true curvature of grid d is curv·mean(z_d^2); never assume less than curv (stable when z is small)
      if (d > 0) { w = 0; for (let b = 0; b < B; b++) w += zb[b * zdim + d - 1]! ** 2; w = Math.max(1, w / B); }
      const c = d === 0 ? curv : Float32Array.from(curv, (x) => x * w + 1e-12);
      this.volOpt[d]!.step(dec.grids[d]!.values, dGrids[d]!, c);
    }
    let total = 0;
    for (let b = 0; b < B; b++) total += losses[b]!;
    return total / B;
  }

  /** Diagonal curvature of the batch-mean loss w.r.t. the mean volume (as in semiAmortized.ts). */
  private curvature(batch: ParticleBatch, rots: Float64Array, disc: ReturnType<typeof nyquistDisc>): Float32Array {
    const { D } = this.source;
    const P = D * D;
    const B = batch.B;
    const s = 1 / (disc.pix.length * B);
    const w: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    for (let q = 0; q < B * P; q++) { const c = batch.ctf[q]!; w.re[q] = c * c * s; }
    const out = new Float32Array(this.decoder!.grids[0]!.values.length);
    this.slicer.backward(this.decoder!.grids[0]!, rots, B, w, out, null, disc);
    return out;
  }

  getState(): HetTrainerState {
    return {
      epoch: this.epoch,
      consensus: this.consensus.getState(),
      decoder: this.decoder ? this.decoder.grids.map((g) => g.values) : null,
      z: this.z, zAdamM: this.zAdamM, zAdamV: this.zAdamV, zAdamT: this.zAdamT,
      volOpt: this.volOpt.map((v) => ({ m: v.state.m, w: v.state.w, t: v.state.t, lr: v.lr })),
      rng: this.rng.getState(),
      mlp: this.mlp ? this.mlp.getState() : null,
      encoder: this.encoder ? this.encoder.getState() : null,
      classOf: this.classOf, classSummary: this.classSummary,
    };
  }

  setState(s: HetTrainerState): void {
    this.epoch = s.epoch;
    this.consensus.setState(s.consensus);
    if (s.decoder) {
      this.decoder = createHetDecoder(this.source.D, this.opts.zdim);
      s.decoder.forEach((v, d) => this.decoder!.grids[d]!.values.set(v));
      this.volOpt = s.volOpt.map((v) => {
        const opt = new PreconditionedMomentum(v.m.length, { lr: v.lr });
        opt.state = { m: v.m, w: v.w, t: v.t };
        return opt;
      });
    }
    if (s.mlp) {
      this.mlp?.dispose();
      this.mlp = new HetMlpDecoder(this.source.D, this.opts.zdim, s.mlp.options);
      this.mlp.setState(s.mlp);
      if (this.mlp.base && this.decoder) this.mlp.base = this.decoder.grids[0]!;
    }
    if (s.encoder) {
      this.encoder?.dispose();
      this.encoder = new ZEncoder(this.opts.zdim, s.encoder.options);
      this.encoder.setState(s.encoder);
    }
    this.classOf = s.classOf ? Int32Array.from(s.classOf) : null;
    this.classSummary = s.classSummary ?? null;
    this.z.set(s.z); this.zAdamM.set(s.zAdamM); this.zAdamV.set(s.zAdamV); this.zAdamT.set(s.zAdamT);
    this.rng.setState(s.rng);
  }

  dispose(): void { this.slicer.dispose(); this.consensus.dispose(); this.mlp?.dispose(); this.encoder?.dispose(); }
}

/** Centre the latents (n x zdim) and scale them to a total variance of 1; returns the mean and the scale divided out. */
export function normaliseLatents(z: Float32Array, n: number, zdim: number): { mu: Float64Array; s: number } {
  const mu = new Float64Array(zdim);
  for (let i = 0; i < n; i++) for (let d = 0; d < zdim; d++) mu[d] += z[i * zdim + d]! / n;
  let ss = 0;
  for (let i = 0; i < n; i++) for (let d = 0; d < zdim; d++) { z[i * zdim + d] -= mu[d]!; ss += z[i * zdim + d]! ** 2; }
  let s = Math.sqrt(ss / n);
  if (!(s > 0) || !Number.isFinite(s)) s = 1;
  for (let k = 0; k < n * zdim; k++) z[k] /= s;
  return { mu, s };
}
