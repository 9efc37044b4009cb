/**
 * The CNN pose encoder of cryoSPIN / cryoAI / cryoFIRE on tfjs (wasm backend): images -> M candidate
 * poses per image (rotation by 6D Gram-Schmidt + in-plane shift in px) and, optionally, a
 * conformation vector z.
 *
 * The physics (slicing, CTF, loss) lives outside tfjs, so training uses a surrogate loss: the
 * reconstruction loop gets the predicted poses, returns the loss, the winning head per image and
 * dL/dR, dL/dshift (and dL/dz) for the winner; the encoder then backpropagates
 *   L_sur = sum_b <R_win(b), dL/dR(b)> + <t_win(b), dL/dt(b)> + <z(b), dL/dz(b)>
 * whose gradient with respect to every encoder weight equals the true loss gradient (chain rule with
 * the outer gradient held constant). Winner-take-all: only the winning head receives gradient.
 *
 * Output layouts: rotations Float64Array(9 B M), the 3x3 row-major R of head m for image b at
 * ((b M + m) 9); shiftsPx Float32Array(2 B M) at ((b M + m) 2), (x, y) — a learned quantity whose
 * meaning (e.g. RELION origin, px) is fixed by the loss the caller computes; z Float32Array(B zdim).
 * Call `await initTfjs()` (tfjsSetup.ts) before creating an encoder.
 */
import { InputError } from '../io/errors.js';
import { FILTER_BANK_VARIANCES_PX2, applyFilterBank, filterBankFeatures } from './filterBank.js';
import { gramSchmidt6D } from './gramSchmidt.js';
import { tf } from './tfjsSetup.js';
import { Adam, type AdamState } from './encoder/adam.js';
import { Network, type BnUpdate, type NetworkConfig, type PoolKind, HEAD_OUT } from './encoder/network.js';
import { ParamStore, exportVariables, importVariables } from './encoder/params.js';

export type { PoolKind, NetworkConfig };

/** Trunk presets: 'lean' (CPU default) and 'paper' (cryoSPIN's 64/128/256/256/256 VGG trunk). */
export const ENCODER_PRESETS: Record<'lean' | 'paper', { widths: number[]; convsPerBlock: number[]; pools: PoolKind[] }> = {
  lean: { widths: [16, 32, 64, 128], convsPerBlock: [1, 1, 2, 2], pools: ['max', 'max', 'max', 'avg'] },
  paper: { widths: [64, 128, 256, 256, 256], convsPerBlock: [2, 2, 3, 2, 2], pools: ['max', 'max', 'max', 'avg', 'avg'] },
};

export interface EncoderOptions {
  /** Image side in px (square images). */
  box: number;
  /** Number of pose heads M (default 7; 1 = amortized, cryoAI). */
  heads?: number;
  /** Trunk preset (default 'lean'); `widths`, `convsPerBlock`, `pools` override it. */
  preset?: 'lean' | 'paper';
  widths?: number[];
  convsPerBlock?: number[];
  pools?: PoolKind[];
  /** Hidden layer sizes of each pose head (default [512, 256]). */
  headHidden?: number[];
  /** Conformation dimension (default 0 = homogeneous) and its head's hidden sizes (default [256]). */
  zdim?: number;
  zHidden?: number[];
  /** Adam settings (defaults: lr 1e-4, betas 0.9 / 0.999, eps 1e-8, no clipping). */
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  clipGradNorm?: number;
  /** Seed of the weight initialisation. */
  seed: number;
}

export interface EncoderPrediction {
  rotations: Float64Array;
  shiftsPx: Float32Array;
  z?: Float32Array;
}

/** What the reconstruction loop returns for one batch (gradients for each image's winning head). */
export interface LossGradient {
  loss: number;
  winnerHead: ArrayLike<number>;
  dLdR: ArrayLike<number>;
  dLdShift: ArrayLike<number>;
  dLdZ?: ArrayLike<number>;
}

export type LossGradFn = (rotations: Float64Array, shiftsPx: Float32Array, z?: Float32Array) => LossGradient;

export interface TrainStepResult {
  loss: number;
  gradNorm: number;
  winnerHead: Int32Array;
}

/**
 * Checkpoint: configuration, weights, Adam state and BatchNorm running statistics (plain arrays,
 * structured-clone / JSON-of-arrays friendly). Adam hyper-parameters are not stored: they come from
 * the options of the encoder the state is loaded into.
 */
export interface EncoderState {
  format: 'cryospin-encoder-v1';
  config: NetworkConfig;
  params: Record<string, Float32Array>;
  buffers: Record<string, Float32Array>;
  adam: AdamState;
}

export interface Encoder {
  readonly config: NetworkConfig;
  /** Inference (BatchNorm running statistics); images Float32Array(B D D), row-major per image. */
  predict(images: Float32Array, B: number): EncoderPrediction;
  /** One Adam step on the surrogate loss; returns the loss reported by `lossGradFn`. */
  trainStep(images: Float32Array, B: number, lossGradFn: LossGradFn): TrainStepResult;
  /** Gradients of the surrogate loss (training-mode forward; no update, BN statistics untouched). */
  gradients(images: Float32Array, B: number, lossGradFn: LossGradFn): Record<string, Float32Array>;
  /** Training-mode forward pass on raw tensors, for tests and custom losses: R [B, M, 9], t [B, M, 2]. */
  forwardTensors(images: tf.Tensor4D): { R: tf.Tensor3D; t: tf.Tensor3D; z: tf.Tensor2D | null };
  /** Trainable parameters by name (tfjs variables). */
  readonly variables: Map<string, tf.Variable>;
  getState(): EncoderState;
  setState(s: EncoderState): void;
  dispose(): void;
}

function resolveConfig(o: EncoderOptions): NetworkConfig {
  const preset = ENCODER_PRESETS[o.preset ?? 'lean'];
  const widths = o.widths ?? preset.widths;
  const n = widths.length;
  const fit = <T>(a: T[] | undefined, fallback: T[], fill: T): T[] =>
    a ?? Array.from({ length: n }, (_, i) => fallback[i] ?? fill);
  const cfg: NetworkConfig = {
    box: o.box,
    heads: o.heads ?? 7,
    widths,
    convsPerBlock: fit(o.convsPerBlock, preset.convsPerBlock, 2),
    pools: fit(o.pools, preset.pools, 'avg' as PoolKind),
    headHidden: o.headHidden ?? [512, 256],
    zdim: o.zdim ?? 0,
    zHidden: o.zHidden ?? [256],
  };
  const bad = (m: string): never => { throw new InputError('<encoder options>', m); };
  if (!Number.isInteger(cfg.box) || cfg.box < 8) bad(`box must be an integer >= 8, got ${cfg.box}`);
  if (!Number.isInteger(cfg.heads) || cfg.heads < 1) bad(`heads must be a positive integer, got ${cfg.heads}`);
  if (n < 1 || cfg.convsPerBlock.length !== n || cfg.pools.length !== n) bad('widths, convsPerBlock and pools must have the same length');
  if (!Number.isInteger(cfg.zdim) || cfg.zdim < 0) bad(`zdim must be a non-negative integer, got ${cfg.zdim}`);
  return cfg;
}

/** Filter-bank features [B, D, D, 5] of B images of side D (validated). */
function features(images: Float32Array, B: number, D: number): tf.Tensor4D {
  if (!Number.isInteger(B) || B < 1 || images.length !== B * D * D) {
    throw new InputError('<encoder input>', `expected ${B} images of ${D}x${D} (${B * D * D} values), got ${images.length}`);
  }
  return tf.tensor4d(filterBankFeatures(images, B, D), [B, D, D, FILTER_BANK_VARIANCES_PX2.length]);
}

class TfEncoder implements Encoder {
  readonly config: NetworkConfig;
  private readonly store: ParamStore;
  private readonly net: Network;
  private readonly adam: Adam;

  constructor(o: EncoderOptions) {
    this.config = resolveConfig(o);
    this.store = new ParamStore(o.seed);
    this.net = new Network(this.config, this.store);
    this.adam = new Adam(this.store.params, {
      learningRate: o.learningRate ?? 1e-4, beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999,
      eps: o.eps ?? 1e-8, clipGradNorm: o.clipGradNorm ?? 0,
    });
  }

  get variables(): Map<string, tf.Variable> {
    return this.store.params;
  }

  private poses(features: tf.Tensor4D, updates: BnUpdate[] | null): { R: tf.Tensor3D; t: tf.Tensor3D; z: tf.Tensor2D | null } {
    const { pose, z } = this.net.forward(features, updates);
    const [B, M] = [pose.shape[0], pose.shape[1]];
    const flat = tf.reshape(pose, [B * M, HEAD_OUT]) as tf.Tensor2D;
    const R = tf.reshape(gramSchmidt6D(tf.slice(flat, [0, 0], [B * M, 6])), [B, M, 9]) as tf.Tensor3D;
    const t = tf.reshape(tf.slice(flat, [0, 6], [B * M, 2]), [B, M, 2]) as tf.Tensor3D;
    return { R, t, z };
  }

  forwardTensors(images: tf.Tensor4D): { R: tf.Tensor3D; t: tf.Tensor3D; z: tf.Tensor2D | null } {
    const updates: BnUpdate[] = [];
    return this.poses(applyFilterBank(images), updates);
  }

  predict(images: Float32Array, B: number): EncoderPrediction {
    const D = this.config.box;
    const M = this.config.heads;
    if (!Number.isInteger(B) || B < 1 || images.length !== B * D * D) {
      throw new InputError('<encoder input>', `expected ${B} images of ${D}x${D} (${B * D * D} values), got ${images.length}`);
    }
    const out: EncoderPrediction = { rotations: new Float64Array(9 * B * M), shiftsPx: new Float32Array(2 * B * M) };
    if (this.config.zdim > 0) out.z = new Float32Array(B * this.config.zdim);
    const chunk = 64;
    for (let b0 = 0; b0 < B; b0 += chunk) {
      const nb = Math.min(chunk, B - b0);
      tf.tidy(() => {
        const { R, t, z } = this.poses(features(images.subarray(b0 * D * D, (b0 + nb) * D * D), nb, D), null);
        out.rotations.set(R.dataSync(), 9 * M * b0);
        out.shiftsPx.set(t.dataSync() as Float32Array, 2 * M * b0);
        if (z !== null) out.z!.set(z.dataSync() as Float32Array, this.config.zdim * b0);
      });
    }
    return out;
  }

  /** Surrogate-loss gradients; `updates` (if given) receives the batch statistics. */
  private surrogateGrads(images: Float32Array, B: number, fn: LossGradFn, updates: BnUpdate[]):
    { grads: Map<string, tf.Tensor>; loss: number; winner: Int32Array } {
    const M = this.config.heads;
    const zdim = this.config.zdim;
    const feats = features(images, B, this.config.box);
    let loss = NaN;
    const winner = new Int32Array(B);
    const vars = this.store.trainable();
    const res = tf.variableGrads(() => {
      const { R, t, z } = this.poses(feats, updates);
      const rv = Float64Array.from(R.dataSync());
      const tv = t.dataSync() as Float32Array;
      const zv = z === null ? undefined : (z.dataSync() as Float32Array);
      const g = fn(rv, tv, zv);
      checkLength(g.winnerHead, B, 'winnerHead');
      checkLength(g.dLdR, 9 * B, 'dLdR');
      checkLength(g.dLdShift, 2 * B, 'dLdShift');
      loss = g.loss;
      const mask = new Float32Array(B * M);
      for (let b = 0; b < B; b++) {
        const w = g.winnerHead[b]!;
        if (!Number.isInteger(w) || w < 0 || w >= M) throw new InputError('<lossGradFn>', `winnerHead[${b}] = ${w} is not a head index`);
        winner[b] = w;
        mask[b * M + w] = 1;
      }
      const mk = tf.tensor3d(mask, [B, M, 1]);
      const Rw = tf.sum(tf.mul(R, mk), 1);
      const tw = tf.sum(tf.mul(t, mk), 1);
      let sur = tf.add(tf.sum(tf.mul(Rw, tf.tensor2d(Float32Array.from(g.dLdR), [B, 9]))),
        tf.sum(tf.mul(tw, tf.tensor2d(Float32Array.from(g.dLdShift), [B, 2]))));
      if (z !== null) {
        if (g.dLdZ !== undefined) {
          checkLength(g.dLdZ, B * zdim, 'dLdZ');
          sur = tf.add(sur, tf.sum(tf.mul(z, tf.tensor2d(Float32Array.from(g.dLdZ), [B, zdim]))));
        }
      }
      return sur as tf.Scalar;
    }, vars);
    feats.dispose();
    res.value.dispose();
    const grads = new Map<string, tf.Tensor>();
    for (const [name, v] of this.store.params) {
      const gt = res.grads[v.name];
      if (gt !== undefined) grads.set(name, gt);
    }
    return { grads, loss, winner };
  }

  gradients(images: Float32Array, B: number, fn: LossGradFn): Record<string, Float32Array> {
    const updates: BnUpdate[] = [];
    const { grads } = this.surrogateGrads(images, B, fn, updates);
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of this.store.params) {
      const g = grads.get(name);
      out[name] = g === undefined ? new Float32Array(v.size) : Float32Array.from(g.dataSync() as Float32Array);
      g?.dispose();
    }
    return out;
  }

  trainStep(images: Float32Array, B: number, fn: LossGradFn): TrainStepResult {
    const updates: BnUpdate[] = [];
    const { grads, loss, winner } = this.surrogateGrads(images, B, fn, updates);
    const gradNorm = this.adam.apply(grads);
    for (const g of grads.values()) g.dispose();
    this.net.applyBnUpdates(updates);
    return { loss, gradNorm, winnerHead: winner };
  }

  getState(): EncoderState {
    return {
      format: 'cryospin-encoder-v1',
      config: structuredClone(this.config),
      params: exportVariables(this.store.params),
      buffers: exportVariables(this.store.buffers),
      adam: this.adam.getState(),
    };
  }

  setState(s: EncoderState): void {
    if (s.format !== 'cryospin-encoder-v1') throw new InputError('<encoder state>', `unknown format ${String(s.format)}`);
    if (JSON.stringify(s.config) !== JSON.stringify(this.config)) {
      throw new InputError('<encoder state>', `configuration differs: checkpoint ${JSON.stringify(s.config)}, encoder ${JSON.stringify(this.config)}`);
    }
    importVariables(this.store.params, s.params, 'parameter');
    importVariables(this.store.buffers, s.buffers, 'buffer');
    this.adam.setState(s.adam);
  }

  dispose(): void {
    this.store.dispose();
    this.adam.dispose();
  }
}

function checkLength(a: ArrayLike<number>, n: number, what: string): void {
  if (a.length !== n) throw new InputError('<lossGradFn>', `${what} has ${a.length} values, expected ${n}`);
}

/** Build an encoder. Call `await initTfjs()` (src/model/tfjsSetup.ts) first. */
export function createEncoder(opts: EncoderOptions): Encoder {
  return new TfEncoder(opts);
}

/** An encoder restored from a checkpoint (weights, Adam state, BatchNorm statistics). */
export function encoderFromState(s: EncoderState, opts: Omit<EncoderOptions, 'box' | 'seed'> = {}): Encoder {
  const e = new TfEncoder({ ...opts, ...s.config, seed: 0 });
  e.setState(s);
  return e;
}
