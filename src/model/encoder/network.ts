/**
 * The encoder network in tfjs: filter-bank features -> VGG-like trunk (conv3x3 + BatchNorm + ReLU
 * blocks with max/avg pooling, then a final max pool to 2x2) -> latent -> M pose heads (MLP with
 * BatchNorm + ReLU on hidden layers, output 6D rotation + 2D shift in px) and an optional
 * conformation head (-> zdim). The M heads are evaluated together: their first layer is one wide
 * matmul, later layers one batched matmul over heads (BatchNorm is per feature, so this equals M
 * separate MLPs). BatchNorm follows PyTorch: eps 1e-5, running statistics with momentum 0.1 and
 * the unbiased batch variance.
 */
import { InputError } from '../../io/errors.js';
import { tf } from '../tfjsSetup.js';
import { bnReluInfer, bnReluTrain } from './bnRelu.js';
import { maxPool2x2 } from './maxPool2.js';
import { ParamStore } from './params.js';

export type PoolKind = 'max' | 'avg';

/** Everything that fixes the network's shapes (stored in checkpoints). */
export interface NetworkConfig {
  box: number;
  heads: number;
  widths: number[];
  convsPerBlock: number[];
  pools: PoolKind[];
  headHidden: number[];
  zdim: number;
  zHidden: number[];
}

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;
/** Pose head output: 6D rotation + 2D shift (px). */
export const HEAD_OUT = 8;

/** Side of the feature map after each block and whether that block pools (pool while side > 4). */
export function trunkPlan(cfg: NetworkConfig): { pools: boolean[]; finalSide: number } {
  let side = cfg.box;
  const pools: boolean[] = [];
  for (let i = 0; i < cfg.widths.length; i++) {
    const p = side > 4 && side % 2 === 0;
    pools.push(p);
    if (p) side /= 2;
  }
  return { pools, finalSide: side };
}

export function latentSize(cfg: NetworkConfig): number {
  return cfg.widths[cfg.widths.length - 1]! * 4;
}

/** A pending BatchNorm running-statistics update, collected during a training forward pass. */
export interface BnUpdate {
  name: string;
  mean: Float32Array;
  /** Biased batch variance. */
  variance: Float32Array;
  count: number;
}

/**
 * Start every head's shift output at 0 px (weights of outputs 6, 7 of the last layer zeroed; the
 * output axis is the last one in both layer layouts). A Glorot-initialised shift output is ~1-2 px
 * per image at random (median 2.35 px measured at box 16), as large as real particle offsets at a
 * 16-32 px box. Zero is the neutral guess for centred particles, and with the amortized loop's
 * shift warm-up (src/recon/amortized.ts: the shift head gets no gradient at first) the shift then
 * starts from 0 when it begins to train instead of jumping to a random offset.
 */
function zeroShiftOutputs(w: tf.Variable): void {
  const v = Float32Array.from(w.dataSync() as Float32Array);
  for (let i = 0; i < v.length; i++) if (i % HEAD_OUT >= 6) v[i] = 0;
  tf.tidy(() => w.assign(tf.tensor(v, w.shape)));
}

export class Network {
  constructor(readonly cfg: NetworkConfig, readonly store: ParamStore) {
    const { finalSide } = trunkPlan(cfg);
    if (finalSide % 2 !== 0 || finalSide < 2) {
      throw new InputError('<encoder options>', `box ${cfg.box} reduces to a ${finalSide}px map; need an even side >= 2`);
    }
    let cin = 5;
    cfg.widths.forEach((w, i) => {
      for (let j = 0; j < cfg.convsPerBlock[i]!; j++) {
        store.param(`trunk${i}_${j}/w`, [3, 3, cin, w], 'he', 9 * cin);
        this.bnParams(`trunk${i}_${j}/bn`, [w]);
        cin = w;
      }
    });
    this.headParams('pose', cfg.heads, cfg.headHidden, HEAD_OUT);
    if (cfg.zdim > 0) this.headParams('z', 1, cfg.zHidden, cfg.zdim);
  }

  private bnParams(name: string, shape: number[]): void {
    this.store.param(`${name}_gamma`, shape, 'ones');
    this.store.param(`${name}_beta`, shape, 'zeros');
    this.store.buffer(`${name}_mean`, shape, 0);
    this.store.buffer(`${name}_var`, shape, 1);
  }

  private headParams(name: string, m: number, hidden: number[], out: number): void {
    const dims = [latentSize(this.cfg), ...hidden, out];
    for (let l = 0; l + 1 < dims.length; l++) {
      const [a, b] = [dims[l]!, dims[l + 1]!];
      const last = l + 2 === dims.length;
      const shape = l === 0 ? [a, m * b] : [m, a, b];
      const w = this.store.param(`${name}${l}/w`, shape, last ? 'glorot' : 'he', a, b);
      this.store.param(`${name}${l}/b`, l === 0 ? [m * b] : [m, 1, b], 'zeros');
      if (!last) this.bnParams(`${name}${l}/bn`, [m * b]);
      if (last && name === 'pose') zeroShiftOutputs(w);
    }
  }

  private p(name: string): tf.Variable {
    const v = this.store.params.get(name);
    if (v === undefined) throw new Error(`missing parameter ${name}`);
    return v;
  }

  private b(name: string): tf.Variable {
    return this.store.buffers.get(name)!;
  }

  /**
   * BatchNorm + ReLU over all axes but the last; in training mode uses batch statistics and records
   * them in `updates`.
   */
  private bnRelu(x: tf.Tensor, name: string, updates: BnUpdate[] | null): tf.Tensor {
    const gamma = this.p(`${name}_gamma`);
    const beta = this.p(`${name}_beta`);
    if (updates === null) {
      return bnReluInfer(x, gamma, beta, this.b(`${name}_mean`), this.b(`${name}_var`), BN_EPS, true);
    }
    return bnReluTrain(x, gamma, beta, BN_EPS, true, (st) => updates.push({ name, ...st }));
  }

  /** Trunk: features [B, D, D, 5] -> latent [B, L]. */
  private trunk(x: tf.Tensor4D, updates: BnUpdate[] | null): tf.Tensor2D {
    const { pools } = trunkPlan(this.cfg);
    let h: tf.Tensor4D = x;
    this.cfg.widths.forEach((_, i) => {
      for (let j = 0; j < this.cfg.convsPerBlock[i]!; j++) {
        const c = tf.conv2d(h, this.p(`trunk${i}_${j}/w`) as tf.Tensor4D, 1, 'same');
        h = this.bnRelu(c, `trunk${i}_${j}/bn`, updates) as tf.Tensor4D;
      }
      if (pools[i]) {
        h = this.cfg.pools[i] === 'avg' ? tf.avgPool(h, 2, 2, 'valid') : maxPool2x2(h);
      }
    });
    const side = h.shape[1];
    if (side > 2) h = tf.maxPool(h, side / 2, side / 2, 'valid');
    return tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
  }

  /** m heads on latent [B, L] -> [B, m, out]. */
  private head(lat: tf.Tensor2D, name: string, m: number, hidden: number[], out: number,
    updates: BnUpdate[] | null): tf.Tensor3D {
    const B = lat.shape[0];
    const nLayers = hidden.length + 1;
    const first = tf.add(tf.matMul(lat, this.p(`${name}0/w`) as tf.Tensor2D), this.p(`${name}0/b`));
    const w0 = nLayers === 1 ? out : hidden[0]!;
    let h: tf.Tensor = first;
    if (nLayers > 1) h = this.bnRelu(h, `${name}0/bn`, updates);
    h = tf.transpose(tf.reshape(h, [B, m, w0]), [1, 0, 2]); // [m, B, w0]
    for (let l = 1; l < nLayers; l++) {
      h = tf.add(tf.matMul(h as tf.Tensor3D, this.p(`${name}${l}/w`) as tf.Tensor3D), this.p(`${name}${l}/b`));
      if (l + 1 < nLayers) {
        // Per-(head, feature) statistics over the batch: BatchNorm on [B, m * width].
        const wl = h.shape[2]!;
        const flat = tf.reshape(tf.transpose(h, [1, 0, 2]), [B, m * wl]);
        h = tf.transpose(tf.reshape(this.bnRelu(flat, `${name}${l}/bn`, updates), [B, m, wl]), [1, 0, 2]);
      }
    }
    return tf.transpose(h, [1, 0, 2]) as tf.Tensor3D; // [B, m, out]
  }

  /**
   * Forward pass on filter-bank features [B, D, D, 5]. Training mode when `updates` is an array
   * (batch statistics; their running-average updates are appended, kept tensors the caller disposes).
   */
  forward(features: tf.Tensor4D, updates: BnUpdate[] | null): { pose: tf.Tensor3D; z: tf.Tensor2D | null } {
    const lat = this.trunk(features, updates);
    const pose = this.head(lat, 'pose', this.cfg.heads, this.cfg.headHidden, HEAD_OUT, updates);
    let z: tf.Tensor2D | null = null;
    if (this.cfg.zdim > 0) {
      const zz = this.head(lat, 'z', 1, this.cfg.zHidden, this.cfg.zdim, updates);
      z = tf.reshape(zz, [lat.shape[0], this.cfg.zdim]) as tf.Tensor2D;
    }
    return { pose, z };
  }

  /** Fold the batch statistics into the running BatchNorm buffers (PyTorch's rule). */
  applyBnUpdates(updates: BnUpdate[]): void {
    for (const u of updates) {
      const rm = this.b(`${u.name}_mean`);
      const rv = this.b(`${u.name}_var`);
      const unbias = u.count > 1 ? u.count / (u.count - 1) : 1;
      const m0 = rm.dataSync() as Float32Array;
      const v0 = rv.dataSync() as Float32Array;
      const m1 = new Float32Array(m0.length);
      const v1 = new Float32Array(v0.length);
      for (let c = 0; c < m0.length; c++) {
        m1[c] = (1 - BN_MOMENTUM) * m0[c]! + BN_MOMENTUM * u.mean[c]!;
        v1[c] = (1 - BN_MOMENTUM) * v0[c]! + BN_MOMENTUM * unbias * u.variance[c]!;
      }
      tf.tidy(() => {
        rm.assign(tf.tensor(m1, rm.shape));
        rv.assign(tf.tensor(v1, rv.shape));
      });
    }
  }
}
