/**
 * Coordinate-network decoder of the heterogeneous mode (`hetDecoder: 'mlp'`), the cryoFIRE /
 * cryoDRGN design at CPU size, on tfjs:
 *
 *   h(p; z) = base(p) + env(|p|) · MLP([sin 2pi pW, cos 2pi pW], z)
 *
 * p is the 3D Fourier coordinate (Fourier px, scaled by 2/D), W a fixed random Gaussian matrix
 * (3 x nFeatures, std featureSigma cycles per unit of p): random Fourier features. They are
 * concatenated with z and fed to a residual MLP (ReLU, `blocks` residual blocks of width
 * `hidden`) with one real output read as a Hartley value, so every rendered slice is Hermitian
 * (Friedel symmetry by construction): F(k) = (h(k) + h(-k))/2 + i (h(-k) - h(k))/2, with h(-k)
 * taken from the mirror pixel of a symmetric disc (fourierNet.ts: assembleSlices).
 * env is a fixed radial amplitude profile (the consensus volume's RMS per Fourier shell), so the
 * network's output is O(1) at every resolution instead of spanning the volume's dynamic range.
 * base is an optional explicit Hartley grid (the heterogeneous loop uses the consensus volume,
 * refined with the same preconditioned steps as the linear decoder's mean): the network then
 * only has to represent how the volume departs from it with z, which a CPU-sized network
 * can; without a base (`base: null`) it must represent the whole volume (the relative error of
 * a 64-wide network fitted to a box-24 consensus was 0.32, measured). The base's slices are
 * rendered by the caller (slicer kernels); render/backward here cover the network part only.
 *
 * The z part of the first layer is a per-image bias (z W_z), computed once per image.
 * Gradients w.r.t. the weights and z are tfjs autodiff of the surrogate sum_i h_i g_i with
 * g = dL/dh (fourierNet.ts: hartleyGradient).
 * Whole volumes (volumeGrid / volumeMap: the run's map.mrc and live maps) are evaluated from the
 * state by hetMlpEval.ts (plain TypeScript, no tfjs), as `eval-vol` and `analyze` evaluate the
 * saved decoder.json, so they agree bit for bit. getState/setState carry the weights and the Adam
 * moments (adamState.ts): a resumed run continues as an uninterrupted one would.
 */
import type { Complex } from '../core/complex.js';
import { ifft3Centered } from '../core/fft.js';
import { Rng } from '../core/rng.js';
import { assembleSlices, hartleyGradient } from './fourierNet.js';
import { getAdamMoments, setAdamMoments, type AdamMoments } from './adamState.js';
import { HetMlpModel } from './hetMlpEval.js';
import { fourierFromHartley, type DiscIndex, type HartleyGrid, createHartleyGrid } from './hartleyVolume.js';
import { tf } from './tfjsSetup.js';

export interface HetMlpOptions {
  /** Random Fourier features: nFeatures frequencies (2 nFeatures inputs), std in cycles per unit of p = k/(D/2). */
  nFeatures: number;
  featureSigma: number;
  hidden: number;
  /** Residual blocks after the first layer. */
  blocks: number;
  learningRate: number;
  seed: number;
}

export const HET_MLP_DEFAULTS: HetMlpOptions = { nFeatures: 24, featureSigma: 0, hidden: 32, blocks: 2, learningRate: 5e-3, seed: 0 };

/** featureSigma 0 = automatic: D/8 cycles per unit (an object of diameter ~D/2 oscillates at ~D/4). */
function sigmaFor(D: number, s: number): number { return s > 0 ? s : D / 8; }

export interface HetMlpState {
  format: 'cryospin-het-mlp-v1';
  D: number;
  zdim: number;
  options: HetMlpOptions;
  /** Radial envelope per integer Fourier shell (0..D/2+1). */
  envelope: Float32Array;
  /** The base grid's values (empty when there is none). */
  base: Float32Array;
  /** Fourier-feature matrix (3 x nFeatures, row-major) and the weights by name. */
  features: Float32Array;
  params: Record<string, Float32Array>;
  /** Adam moments of the weights (checkpoints; absent in decoder.json and in older checkpoints). */
  adam?: AdamMoments;
}

let uid = 0;

export class HetMlpDecoder {
  readonly D: number;
  readonly zdim: number;
  readonly opts: HetMlpOptions;
  envelope: Float32Array;
  readonly features: Float32Array;
  /** Explicit base volume added to the network's output (null = none). */
  base: HartleyGrid | null = null;
  private readonly featT: tf.Variable;
  private readonly vars: Map<string, tf.Variable> = new Map();
  private optimizer: tf.AdamOptimizer;

  constructor(D: number, zdim: number, o: Partial<HetMlpOptions> = {}) {
    this.D = D;
    this.zdim = zdim;
    this.opts = { ...HET_MLP_DEFAULTS, ...o };
    const { nFeatures, hidden, blocks, seed } = this.opts;
    const rng = new Rng(seed + 104729);
    const sig = sigmaFor(D, this.opts.featureSigma);
    this.features = Float32Array.from({ length: 3 * nFeatures }, () => sig * rng.normal());
    this.envelope = new Float32Array(Math.floor(D / 2) + 2).fill(1);
    this.featT = tf.variable(tf.tensor2d(this.features, [3, nFeatures]), false, `hetmlp_features_${uid++}`);
    const he = (nin: number, nout: number, gain: number): Float32Array => Float32Array.from({ length: nin * nout }, () => gain * Math.sqrt(2 / nin) * rng.normal());
    const nin = 2 * nFeatures + zdim;
    this.add('w0x', [2 * nFeatures, hidden], he(nin, hidden, 1).subarray(0, 2 * nFeatures * hidden));
    this.add('w0z', [zdim, hidden], he(nin, hidden, 1).subarray(0, zdim * hidden));
    this.add('b0', [hidden], new Float32Array(hidden));
    for (let k = 0; k < blocks; k++) {
      this.add(`w${k + 1}`, [hidden, hidden], he(hidden, hidden, 0.5));
      this.add(`b${k + 1}`, [hidden], new Float32Array(hidden));
    }
    this.add('wout', [hidden, 1], new Float32Array(hidden)); // zero: the decoder starts at its base (or 0)
    this.add('bout', [1], new Float32Array(1));
    this.optimizer = tf.train.adam(this.opts.learningRate);
  }

  private add(name: string, shape: number[], v: Float32Array): void {
    this.vars.set(name, tf.variable(tf.tensor(Float32Array.from(v), shape), true, `hetmlp_${name}_${uid++}`));
  }

  private v(name: string): tf.Variable { return this.vars.get(name)!; }

  get variables(): tf.Variable[] { return [...this.vars.values()]; }

  /** Set the radial envelope from a Hartley grid (RMS per integer shell); flat where the grid is 0. */
  setEnvelopeFromGrid(grid: HartleyGrid): void {
    const { Dv, values } = grid;
    const cv = Math.floor(Dv / 2);
    const R = this.envelope.length;
    const ss = new Float64Array(R), cnt = new Float64Array(R);
    for (let z = 0; z < Dv; z++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++) {
      const r = Math.round(Math.hypot(x - cv, y - cv, z - cv));
      if (r >= R) continue;
      ss[r] += values[(z * Dv + y) * Dv + x]! ** 2; cnt[r] += 1;
    }
    let last = 1;
    for (let r = 0; r < R; r++) {
      const e = cnt[r]! > 0 ? Math.sqrt(ss[r]! / cnt[r]!) : 0;
      this.envelope[r] = e > 0 ? e : last;
      last = this.envelope[r]!;
    }
  }

  private envAt(r: number): number {
    const R = this.envelope.length;
    const i = Math.min(R - 2, Math.floor(r));
    const f = Math.min(1, r - i);
    return (1 - f) * this.envelope[i]! + f * this.envelope[i + 1]!;
  }

  /** Random Fourier features [N, 2 nFeatures] and envelope [N] of N points (Fourier px, 3 per point). */
  private encode(coordsPx: Float32Array): { feat: Float32Array; env: Float32Array } {
    const N = coordsPx.length / 3;
    const F = this.opts.nFeatures;
    const s = (2 * Math.PI * 2) / this.D;
    const W = this.features;
    const feat = new Float32Array(N * 2 * F);
    const env = new Float32Array(N);
    for (let i = 0; i < N; i++) {
      const x = coordsPx[3 * i]!, y = coordsPx[3 * i + 1]!, z = coordsPx[3 * i + 2]!;
      env[i] = this.envAt(Math.hypot(x, y, z));
      for (let f = 0; f < F; f++) {
        const a = s * (x * W[f]! + y * W[F + f]! + z * W[2 * F + f]!);
        feat[i * 2 * F + f] = Math.sin(a);
        feat[i * 2 * F + F + f] = Math.cos(a);
      }
    }
    return { feat, env };
  }

  /**
   * The same for the disc pixels of B central slices, without a sine per point: the phase is
   * kx u + ky v (u, v per image and feature), so exp(i phase) = exp(i u)^kx exp(i v)^ky from
   * tables of powers.
   */
  private encodeSlices(rots: Float64Array, B: number, disc: DiscIndex): { feat: Float32Array; env: Float32Array } {
    const n = disc.pix.length;
    const F = this.opts.nFeatures;
    const s = (2 * Math.PI * 2) / this.D;
    const W = this.features;
    let r = 0;
    for (let i = 0; i < n; i++) r = Math.max(r, Math.abs(disc.kx[i]!), Math.abs(disc.ky[i]!));
    const M = 2 * r + 1;
    const feat = new Float32Array(B * n * 2 * F);
    const env = new Float32Array(B * n);
    const envDisc = Float32Array.from({ length: n }, (_, i) => this.envAt(Math.hypot(disc.kx[i]!, disc.ky[i]!)));
    const ur = new Float64Array(F * M), ui = new Float64Array(F * M), vr = new Float64Array(F * M), vi = new Float64Array(F * M);
    for (let b = 0; b < B; b++) {
      const A = rots.subarray(9 * b, 9 * b + 9);
      env.set(envDisc, b * n);
      for (let f = 0; f < F; f++) {
        const u = s * (A[0]! * W[f]! + A[1]! * W[F + f]! + A[2]! * W[2 * F + f]!);
        const v = s * (A[3]! * W[f]! + A[4]! * W[F + f]! + A[5]! * W[2 * F + f]!);
        for (let m = -r; m <= r; m++) {
          const o = f * M + m + r;
          ur[o] = Math.cos(m * u); ui[o] = Math.sin(m * u);
          vr[o] = Math.cos(m * v); vi[o] = Math.sin(m * v);
        }
      }
      for (let i = 0; i < n; i++) {
        const kx = disc.kx[i]! + r, ky = disc.ky[i]! + r;
        const o = (b * n + i) * 2 * F;
        for (let f = 0; f < F; f++) {
          const a = f * M + kx, c = f * M + ky;
          feat[o + f] = ur[a]! * vi[c]! + ui[a]! * vr[c]!;
          feat[o + F + f] = ur[a]! * vr[c]! - ui[a]! * vi[c]!;
        }
      }
    }
    return { feat, env };
  }

  /** Network output (before the envelope) for B groups of n points each: [B n]. */
  private net(feat: tf.Tensor2D, z: tf.Tensor2D, B: number, n: number): tf.Tensor1D {
    const H = this.opts.hidden;
    const zb = tf.add(tf.matMul(z, this.v('w0z')), this.v('b0')); // [B, H]
    let h = tf.relu(tf.add(tf.reshape(tf.matMul(feat, this.v('w0x')), [B, n, H]), tf.reshape(zb, [B, 1, H])));
    h = tf.reshape(h, [B * n, H]);
    for (let k = 0; k < this.opts.blocks; k++) h = tf.add(h, tf.relu(tf.add(tf.matMul(h as tf.Tensor2D, this.v(`w${k + 1}`)), this.v(`b${k + 1}`))));
    return tf.reshape(tf.add(tf.matMul(h as tf.Tensor2D, this.v('wout')), this.v('bout')), [-1]) as tf.Tensor1D;
  }

  /** Coordinates (Fourier px) p = A^T (kx, ky, 0) of B slices over the disc, 3 per point. */
  static sliceCoords(rots: Float64Array, B: number, disc: DiscIndex): Float32Array {
    const n = disc.pix.length;
    const out = new Float32Array(B * n * 3);
    for (let b = 0; b < B; b++) {
      const o9 = 9 * b;
      for (let i = 0; i < n; i++) {
        const kx = disc.kx[i]!, ky = disc.ky[i]!;
        const o = 3 * (b * n + i);
        out[o] = rots[o9]! * kx + rots[o9 + 3]! * ky;
        out[o + 1] = rots[o9 + 1]! * kx + rots[o9 + 4]! * ky;
        out[o + 2] = rots[o9 + 2]! * kx + rots[o9 + 5]! * ky;
      }
    }
    return out;
  }

  /** Hartley values h at B groups of n points (coordsPx: 3 B n) for latents z (B zdim). */
  values(coordsPx: Float32Array, z: ArrayLike<number>, B: number): Float32Array {
    return this.valuesOf(this.encode(coordsPx), z, B);
  }

  private valuesOf({ feat, env }: { feat: Float32Array; env: Float32Array }, z: ArrayLike<number>, B: number): Float32Array {
    const n = env.length / B;
    return tf.tidy(() => {
      const out = this.net(tf.tensor2d(feat, [B * n, 2 * this.opts.nFeatures]), tf.tensor2d(Float32Array.from(z), [B, this.zdim]), B, n);
      return tf.mul(out, tf.tensor1d(env)).dataSync() as Float32Array;
    });
  }

  /** B Fourier slices (D x D each, 0 outside the symmetric disc) for rotations rots and latents z. */
  render(rots: Float64Array, z: ArrayLike<number>, B: number, disc: DiscIndex, out: Complex): void {
    const h = this.valuesOf(this.encodeSlices(rots, B, disc), z, B);
    assembleSlices(h, B, disc, out);
  }

  /**
   * Gradients for slice gradients dSlices (dL/dslice, B images): returns dL/dz (B zdim) and,
   * when wantParams, the weight gradients (tensors: pass them to applyGradients).
   */
  backward(rots: Float64Array, z: ArrayLike<number>, B: number, disc: DiscIndex, dSlices: Complex, wantParams: boolean): { dz: Float32Array; grads: Map<string, tf.Tensor> | null } {
    const n = disc.pix.length;
    const g = hartleyGradient(dSlices, B, disc);
    const { feat, env } = this.encodeSlices(rots, B, disc);
    for (let i = 0; i < g.length; i++) g[i] *= env[i]!;
    const zVar = tf.variable(tf.tensor2d(Float32Array.from(z), [B, this.zdim]), true, `hetmlp_z_${uid++}`);
    const coordT = tf.tensor2d(feat, [B * n, 2 * this.opts.nFeatures]);
    const gT = tf.tensor1d(g);
    const list = wantParams ? [...this.variables, zVar] : [zVar];
    const res = tf.variableGrads(() => tf.sum(tf.mul(this.net(coordT, zVar, B, n), gT)) as tf.Scalar, list);
    res.value.dispose(); coordT.dispose(); gT.dispose();
    const dz = Float32Array.from(res.grads[zVar.name]!.dataSync() as Float32Array);
    res.grads[zVar.name]!.dispose();
    zVar.dispose();
    let grads: Map<string, tf.Tensor> | null = null;
    if (wantParams) {
      grads = new Map();
      for (const v of this.variables) grads.set(v.name, res.grads[v.name]!);
    }
    return { dz, grads };
  }

  /**
   * Re-express the decoder for latents z' = (z - mu) / s without changing any volume: z enters
   * only through z W_z + b_0, so b_0 += mu W_z and W_z *= s.
   */
  absorbLatentAffine(mu: ArrayLike<number>, s: number): void {
    tf.tidy(() => {
      const wz = this.v('w0z');
      const muT = tf.tensor2d(Float32Array.from(mu), [1, this.zdim]);
      this.v('b0').assign(tf.add(this.v('b0'), tf.reshape(tf.matMul(muT, wz as tf.Tensor2D), [-1])));
      wz.assign(tf.mul(wz, s));
    });
  }

  /** One Adam step with the given weight gradients (disposes them). */
  applyGradients(grads: Map<string, tf.Tensor>): void {
    this.optimizer.applyGradients([...grads].map(([name, tensor]) => ({ name, tensor })));
    for (const t of grads.values()) t.dispose();
  }

  /**
   * Fit the network to a Hartley grid (the consensus volume) at random grid points inside the
   * Nyquist sphere, with z drawn from N(0, zStd^2) (the decoder learns to explain every particle
   * by one volume, whatever z). Returns the final relative squared error.
   */
  fitGrid(grid: HartleyGrid, steps: number, pointsPerStep: number, zStd: number, rng: Rng): number {
    const { Dv, values } = grid;
    const cv = Math.floor(Dv / 2);
    const R = this.D / 2;
    const inside: number[] = [];
    for (let z = 0; z < Dv; z++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++) {
      if (Math.hypot(x - cv, y - cv, z - cv) <= R) inside.push((z * Dv + y) * Dv + x);
    }
    const m = Math.min(pointsPerStep, inside.length);
    const G = 8; // groups of points sharing one z draw
    const per = Math.floor(m / G);
    let rel = 1;
    for (let s = 0; s < steps; s++) {
      const coords = new Float32Array(3 * G * per);
      const target = new Float32Array(G * per);
      for (let i = 0; i < G * per; i++) {
        const q = inside[Math.floor(rng.uniform() * inside.length)]!;
        const x = q % Dv, y = Math.floor(q / Dv) % Dv, z = Math.floor(q / (Dv * Dv));
        coords[3 * i] = x - cv; coords[3 * i + 1] = y - cv; coords[3 * i + 2] = z - cv;
        target[i] = values[q]!;
      }
      const zz = Float32Array.from({ length: G * this.zdim }, () => zStd * rng.normal());
      const { feat, env } = this.encode(coords);
      for (let i = 0; i < target.length; i++) target[i] /= env[i]!;
      const coordT = tf.tensor2d(feat, [G * per, 2 * this.opts.nFeatures]);
      const zT = tf.tensor2d(zz, [G, this.zdim]);
      const tT = tf.tensor1d(target);
      const res = tf.variableGrads(() => tf.mean(tf.square(tf.sub(this.net(coordT, zT, G, per), tT))) as tf.Scalar, this.variables);
      const loss = (res.value.dataSync() as Float32Array)[0]!;
      let t2 = 0;
      for (let i = 0; i < target.length; i++) t2 += target[i]! ** 2;
      rel = loss / (t2 / target.length);
      res.value.dispose(); coordT.dispose(); zT.dispose(); tT.dispose();
      this.applyGradients(new Map(Object.entries(res.grads)));
    }
    return rel;
  }

  /**
   * The volume at latent z sampled on the Hartley grid of box D (network 0 outside the Nyquist
   * sphere, plus the base), evaluated by hetMlpEval.ts from the current weights.
   */
  volumeGrid(z: ArrayLike<number>): HartleyGrid {
    return new HetMlpModel(this.getState(false)).volumeGrid(z);
  }

  /** Real-space map (D^3, the scaling of hetDecoder.ts: hetVolumeMap) of the volume at latent z. */
  volumeMap(z: ArrayLike<number>): Float32Array {
    const D = this.D;
    const v = ifft3Centered(fourierFromHartley(this.volumeGrid(z)), D);
    for (let i = 0; i < v.length; i++) v[i]! *= D;
    return v;
  }

  /** Weights, features, envelope, base and (withAdam, default) the Adam moments. */
  getState(withAdam = true): HetMlpState {
    const params: Record<string, Float32Array> = {};
    for (const [k, v] of this.vars) params[k] = Float32Array.from(v.dataSync() as Float32Array);
    const st: HetMlpState = { format: 'cryospin-het-mlp-v1', D: this.D, zdim: this.zdim, options: { ...this.opts }, envelope: Float32Array.from(this.envelope), base: this.base ? Float32Array.from(this.base.values) : new Float32Array(0), features: Float32Array.from(this.features), params };
    if (withAdam) st.adam = getAdamMoments(this.optimizer);
    return st;
  }

  /** Load a state; its Adam moments too when it has them (else they restart from 0). */
  setState(s: HetMlpState): void {
    if (s.format !== 'cryospin-het-mlp-v1' || s.D !== this.D || s.zdim !== this.zdim) throw new RangeError('not a matching cryospin het-mlp state');
    for (const [k, v] of this.vars) {
      const w = s.params[k];
      if (!w || w.length !== v.size) throw new RangeError(`het-mlp state: weight ${k} missing or of the wrong size`);
      tf.tidy(() => v.assign(tf.tensor(w, v.shape)));
    }
    this.envelope.set(s.envelope);
    this.features.set(s.features);
    tf.tidy(() => this.featT.assign(tf.tensor2d(s.features, [3, this.opts.nFeatures])));
    this.base = s.base.length ? createHartleyGrid(this.D, Float32Array.from(s.base)) : null;
    if (s.adam) setAdamMoments(this.optimizer, this.variables, s.adam);
  }

  dispose(): void {
    this.featT.dispose();
    for (const v of this.vars.values()) v.dispose();
    this.optimizer.dispose();
  }
}

/** A decoder restored from its state (decoder files, checkpoints). */
export function hetMlpFromState(s: HetMlpState): HetMlpDecoder {
  const dec = new HetMlpDecoder(s.D, s.zdim, s.options);
  dec.setState(s);
  return dec;
}
