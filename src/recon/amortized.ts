/**
 * cryoAI amortized reconstruction loop: a single-head encoder predicts each image's pose (rotation
 * by 6D Gram-Schmidt + in-plane origin in px) and is trained jointly with the volume decoder (the
 * explicit Hartley grid or FourierNet, src/recon/amortizedDecoder.ts) for the whole run; there is
 * no per-particle pose state and no switch.
 *
 * Per batch: encoder forward -> render one slice per image -> Fourier loss (CTF, shift phase; see
 * fourierLoss.ts) -> dL/dslice gives the decoder gradient and dL/dA, dL/dorigin give the encoder's
 * surrogate-loss gradient (encoder.ts). Both the rotation and the shift head train.
 * `symmetricLoss`: each image is also scored rotated in-plane by pi and the smaller error is kept
 * (src/model/symmetricLoss.ts); when the rotated branch wins, the particle's pose is the predicted
 * one composed with Rz(pi) and its origin negated.
 * The loss disc is symmetric under k -> -k (radius <= D/2 - 0.5), optionally growing from
 * marchStartPx (frequency marching). `shiftWarmupEpochs` holds every origin at 0 (shift head
 * untrained) for the first epochs.
 */
import type { Complex } from '../core/complex.js';
import { Rng, type RngState } from '../core/rng.js';
import { symmetricDisc } from '../model/fourierNet.js';
import type { DiscIndex } from '../model/hartleyVolume.js';
import { composeInPlanePi, mirrorComplex, mirrorPlanes } from '../model/symmetricLoss.js';
import type { SliceDecoder } from './amortizedDecoder.js';
import { fourierLoss } from './fourierLoss.js';
import { createPoseTable, type PoseTable } from './poseTable.js';
import { DivergenceError, type ProgressInfo } from './semiAmortized.js';
import type { EncoderLossResult, EncoderPrediction, ParticleBatch, ParticleSource, PoseEncoder } from './types.js';

export interface AmortizedOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  symmetricLoss: boolean;
  /** Frequency marching: loss radius (Fourier px) at epoch 0 growing to Nyquist at marchEpochs (0 = off). */
  marchStartPx: number;
  marchEpochs: number;
  /**
   * Shift warm-up: for the first K epochs every origin is held at 0 and the shift head gets no
   * gradient (0 = shifts train from the start). While the rotations are still wrong, a trained
   * shift absorbs part of their error: with no shifts in the data, the shift head still drifted to
   * ~0.5 px median and the rotation error fell more slowly (bench/results/modes_notes.md).
   */
  shiftWarmupEpochs: number;
  /**
   * Divergence guard (0 = off): when the running mean of the batch losses (exponential, weight
   * 0.1) climbs above this factor times its lowest value so far, the decoder returns to its
   * parameters at that lowest point, its step is halved and its momentum cleared
   * (SliceDecoder.markGood / dampStep; the grid decoder, FourierNet's Adam steps are bounded). Without it, the grid decoder at box 16 and
   * step 0.3 blew up silently (loss 1.03 -> 164 -> 5.8e7 over 3 epochs, bench/results/modes_notes.md);
   * a run that never climbs is unchanged, bit for bit.
   */
  divergenceGuard: number;
}

export const AMORTIZED_DEFAULTS: AmortizedOptions = {
  epochs: 20, batchSize: 32, seed: 0, symmetricLoss: false, marchStartPx: 0, marchEpochs: 0, shiftWarmupEpochs: 0, divergenceGuard: 3,
};

export interface AmortizedEpochStats {
  epoch: number;
  stage: 'amortized';
  loss: number;
  seconds: number;
  /** Fraction of images whose in-plane-pi branch won (symmetric loss), else 0. */
  flippedFraction: number;
  /** Times the divergence guard halved the decoder's step during this epoch. */
  decoderStepHalvings: number;
}

/** The divergence guard's running loss (exponential mean of batch losses), its lowest value, and the halvings so far. */
export interface DivergenceGuardState { ema: number | null; best: number; halvings: number }

export interface AmortizedState { epoch: number; rng: RngState; rot: Float32Array; origin: Float32Array; guard?: DivergenceGuardState }

/** Per-image best branch of the (optionally symmetric) loss for one slice per image. */
export interface BranchScores { loss: Float64Array; flipped: Uint8Array }

/** Observed transforms and CTFs of the in-plane-pi-rotated images of a batch. */
export function mirroredBatch(batch: ParticleBatch, D: number): { obs: Complex; ctf: Float32Array } {
  return { obs: mirrorComplex(batch.obs, batch.B, D), ctf: mirrorPlanes(batch.ctf, batch.B, D) };
}

/** Loss per image of slices against the image and (symmetric) against its pi rotation; keeps the smaller. */
export function scoreBranches(batch: ParticleBatch, D: number, slices: Complex, origins: Float32Array, disc: DiscIndex,
  symmetric: boolean, mirrored: { obs: Complex; ctf: Float32Array } | null): BranchScores {
  const B = batch.B;
  const l0 = fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, slices, disc, { M: 1, originsPx: origins });
  const flipped = new Uint8Array(B);
  if (!symmetric || !mirrored) return { loss: l0, flipped };
  const l1 = fourierLoss({ D, obs: mirrored.obs, ctf: mirrored.ctf, B }, slices, disc, { M: 1, originsPx: origins });
  for (let b = 0; b < B; b++) if (l1[b]! < l0[b]!) { l0[b] = l1[b]!; flipped[b] = 1; }
  return { loss: l0, flipped };
}

export class AmortizedTrainer {
  readonly source: ParticleSource;
  readonly opts: AmortizedOptions;
  readonly encoder: PoseEncoder;
  readonly decoder: SliceDecoder;
  /** Latest pose of every particle (as predicted the last time it was seen), RELION A + origin px. */
  readonly poses: PoseTable;
  rng: Rng;
  epoch = 0;
  guard: DivergenceGuardState = { ema: null, best: Infinity, halvings: 0 };

  constructor(source: ParticleSource, encoder: PoseEncoder, decoder: SliceDecoder, opts: Partial<AmortizedOptions> = {}) {
    if (encoder.heads !== 1) throw new RangeError(`the amortized loop needs a single-head encoder, got ${encoder.heads} heads`);
    this.source = source;
    this.encoder = encoder;
    this.decoder = decoder;
    this.opts = { ...AMORTIZED_DEFAULTS, ...opts };
    this.rng = new Rng(this.opts.seed);
    this.poses = createPoseTable(source.n);
  }

  get done(): boolean { return this.epoch >= this.opts.epochs; }

  /** Radius (Fourier px) of the loss disc at the current epoch. */
  lossRadius(): number {
    const D = this.source.D;
    const { marchStartPx, marchEpochs } = this.opts;
    if (!(marchStartPx > 0) || !(marchEpochs > 0)) return D / 2;
    const f = Math.min(1, this.epoch / marchEpochs);
    return Math.min(D / 2, marchStartPx + f * (D / 2 - marchStartPx));
  }

  disc(): DiscIndex { return symmetricDisc(this.source.D, Math.round(this.lossRadius() * 2) / 2); }

  /** Whether the shift head is trained (and its origins used) at the current epoch. */
  shiftsActive(): boolean { return this.epoch >= this.opts.shiftWarmupEpochs; }

  trainEpoch(onProgress?: (p: ProgressInfo) => void): AmortizedEpochStats {
    const t0 = performance.now();
    const { batchSize } = this.opts;
    const n = this.source.n;
    const order = this.rng.permutation(n);
    const batches = Math.ceil(n / batchSize);
    let lossSum = 0;
    let count = 0;
    let flips = 0;
    let halvings = 0;
    for (let bi = 0; bi < batches; bi++) {
      const idx = order.slice(bi * batchSize, Math.min(n, (bi + 1) * batchSize)).sort();
      const r = this.step(this.source.batch(idx));
      if (!Number.isFinite(r.loss)) throw new DivergenceError(this.epoch, bi, 'encoder');
      if (r.damped) halvings += 1;
      lossSum += r.loss * idx.length;
      count += idx.length;
      flips += r.flips;
      onProgress?.({ epoch: this.epoch, batch: bi + 1, batches, loss: lossSum / count, stage: 'encoder' });
    }
    const st: AmortizedEpochStats = { epoch: this.epoch, stage: 'amortized', loss: lossSum / count, seconds: (performance.now() - t0) / 1000, flippedFraction: flips / count, decoderStepHalvings: halvings };
    this.epoch += 1;
    return st;
  }

  /**
   * The divergence guard (AmortizedOptions.divergenceGuard), called with a batch's loss before the
   * decoder's step: true when it sent the decoder back to its best parameters with half the step
   * (the batch's decoder gradient is then dropped).
   */
  private watchLoss(loss: number): boolean {
    const f = this.opts.divergenceGuard;
    if (!(f > 0)) return false;
    const g = this.guard;
    g.ema = g.ema === null ? loss : 0.9 * g.ema + 0.1 * loss;
    if (g.ema < g.best) { g.best = g.ema; this.decoder.markGood?.(); }
    if (!(g.ema > f * g.best) || !this.decoder.dampStep) return false;
    this.decoder.dampStep(0.5);
    g.halvings += 1;
    g.ema = g.best; // judge the damped decoder afresh
    return true;
  }

  /** One joint encoder + decoder step on a batch. */
  step(batch: ParticleBatch): { loss: number; flips: number; damped: boolean } {
    const D = this.source.D;
    const P = D * D;
    const B = batch.B;
    const disc = this.disc();
    const sym = this.opts.symmetricLoss;
    const mirrored = sym ? mirroredBatch(batch, D) : null;
    let rotsUsed: Float64Array | null = null;
    let flips = 0;
    const shifts = this.shiftsActive();
    const lossFn = (encoderPred: EncoderPrediction): EncoderLossResult => {
      const pred: EncoderPrediction = shifts ? encoderPred : { rotations: encoderPred.rotations, shiftsPx: new Float32Array(2 * B) };
      const slices: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      this.decoder.render(pred.rotations, B, slices, disc);
      const sc = scoreBranches(batch, D, slices, pred.shiftsPx, disc, sym, mirrored);
      // the winning branch's observation per image
      const obs: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      const ctf = new Float32Array(B * P);
      let total = 0;
      for (let b = 0; b < B; b++) {
        const src = sc.flipped[b] ? mirrored! : { obs: batch.obs, ctf: batch.ctf };
        obs.re.set(src.obs.re.subarray(b * P, (b + 1) * P), b * P);
        obs.im.set(src.obs.im.subarray(b * P, (b + 1) * P), b * P);
        ctf.set(src.ctf.subarray(b * P, (b + 1) * P), b * P);
        total += sc.loss[b]!;
        flips += sc.flipped[b]!;
        const i = batch.indices[b]!;
        const R = Float64Array.from(pred.rotations.subarray(9 * b, 9 * b + 9));
        const o = Float32Array.from(pred.shiftsPx.subarray(2 * b, 2 * b + 2));
        if (sc.flipped[b]) composeInPlanePi(R, 0, o, 0);
        this.poses.rot.set(R, 9 * i);
        this.poses.origin.set(o, 2 * i);
      }
      const dS: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      const dO = new Float64Array(2 * B);
      fourierLoss({ D, obs, ctf, B }, slices, disc, { M: 1, originsPx: pred.shiftsPx, dSlices: dS, dOrigins: dO });
      const invB = 1 / B;
      for (let i = 0; i < B * P; i++) { dS.re[i] *= invB; dS.im[i] *= invB; }
      const dR = new Float64Array(9 * B);
      this.decoder.backward(pred.rotations, B, dS, disc, dR);
      rotsUsed = pred.rotations;
      const dLdShift = new Float32Array(2 * B);
      if (shifts) for (let i = 0; i < 2 * B; i++) dLdShift[i] = dO[i]! * invB;
      return { loss: total * invB, winnerHead: new Int32Array(B), dLdR: dR, dLdShift };
    };
    const loss = this.encoder.trainStep(batch.images, B, lossFn);
    // the guard judges the parameters that produced this loss, before the decoder steps
    const damped = Number.isFinite(loss) && this.watchLoss(loss);
    if (!damped) this.decoder.step(rotsUsed!, B, batch.ctf, disc);
    return { loss, flips, damped };
  }

  /**
   * Encoder inference (no training) for the given particles: one pose each; with the symmetric loss
   * the branch is chosen by the current decoder, and the pose composed accordingly.
   */
  predict(indices: Uint32Array, source: ParticleSource = this.source): { rots: Float64Array; origins: Float32Array; loss: Float64Array } {
    return predictPoses(this.encoder, this.decoder, source, indices, this.opts.symmetricLoss, this.opts.batchSize, this.disc(), this.shiftsActive());
  }

  /** Fill the pose table with one inference pass over all particles. */
  finalPass(): void {
    const all = new Uint32Array(this.source.n);
    for (let i = 0; i < all.length; i++) all[i] = i;
    const p = this.predict(all);
    this.poses.rot.set(p.rots);
    this.poses.origin.set(p.origins);
  }

  getState(): AmortizedState {
    return { epoch: this.epoch, rng: this.rng.getState(), rot: this.poses.rot, origin: this.poses.origin, guard: { ...this.guard } };
  }

  setState(s: AmortizedState): void {
    this.epoch = s.epoch;
    this.rng.setState(s.rng);
    this.poses.rot.set(s.rot);
    this.poses.origin.set(s.origin);
    // checkpoints from before the guard: it starts afresh
    this.guard = s.guard ? { ...s.guard, best: s.guard.best ?? Infinity } : { ema: null, best: Infinity, halvings: 0 };
  }
}

/** Poses of particles by a trained encoder (and, for the symmetric-loss branch choice, its decoder). */
export function predictPoses(encoder: PoseEncoder, decoder: SliceDecoder, source: ParticleSource, indices: Uint32Array,
  symmetric: boolean, batchSize: number, disc: DiscIndex = symmetricDisc(source.D), useShifts = true): { rots: Float64Array; origins: Float32Array; loss: Float64Array } {
  const D = source.D;
  const P = D * D;
  const N = indices.length;
  const rots = new Float64Array(9 * N);
  const origins = new Float32Array(2 * N);
  const loss = new Float64Array(N);
  for (let s = 0; s < N; s += batchSize) {
    const batch = source.batch(indices.slice(s, Math.min(N, s + batchSize)));
    const B = batch.B;
    const pred = encoder.predict(batch.images, B);
    if (!useShifts) pred.shiftsPx.fill(0);
    const slices: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    decoder.render(pred.rotations, B, slices, disc);
    const sc = scoreBranches(batch, D, slices, pred.shiftsPx, disc, symmetric, symmetric ? mirroredBatch(batch, D) : null);
    for (let b = 0; b < B; b++) {
      if (sc.flipped[b]) composeInPlanePi(pred.rotations, 9 * b, pred.shiftsPx, 2 * b);
      loss[s + b] = sc.loss[b]!;
    }
    rots.set(pred.rotations, 9 * s);
    origins.set(pred.shiftsPx, 2 * s);
  }
  return { rots, origins, loss };
}
