/**
 * FourierNet (cryoAI's implicit decoder) on tfjs: a neural field over 3D Fourier coordinates,
 *     h(p) = exp(envelope(p)) · modulant(p)
 * where envelope and modulant are SIRENs (sine-activated MLPs, first-layer frequency w0). We use
 * one real output per coordinate and read it as a Hartley value, as the explicit grid decoder does
 * (src/model/hartleyVolume.ts): F(p) = (h(p) + h(-p))/2 + i (h(-p) - h(p))/2, so every rendered slice
 * satisfies Friedel symmetry F(-k) = conj F(k) by construction, whatever the weights.
 *
 * Slices are rendered on a loss disc that is symmetric under k -> -k (radius < D/2 on the centred
 * grid, see `symmetricDisc`): h is evaluated once per disc pixel and the pixel's mirror supplies
 * h(-p), so Friedel symmetry costs no second network evaluation.
 *
 * Coordinates: p = A^T (kx, ky, 0) in Fourier px (RELION A, src/core/rotation.ts), fed to the
 * network as p / (D/2). Gradients: parameter gradients by tfjs autodiff of the surrogate
 * sum_i h_i g_i (g = dL/dh); rotation gradients from dL/dp (also by autodiff) as
 * dL/dA_ij = sum_pixels k_i dL/dp_j.
 *
 * Defaults are CPU-sized (hidden width 64; the paper uses 256): measured cost, not a limit.
 */
import type { Complex } from '../core/complex.js';
import { Rng } from '../core/rng.js';
import { tf } from './tfjsSetup.js';
import { createHartleyGrid, hartleyGridSize, nyquistDisc, type DiscIndex, type HartleyGrid } from './hartleyVolume.js';

export interface FourierNetOptions {
  /** Image box D (coordinates are scaled by D/2). */
  box: number;
  /** Hidden widths of the envelope SIREN (paper: 2 x 256) and the modulant SIREN (paper: 3 x 256). */
  envelopeHidden?: number[];
  modulantHidden?: number[];
  /** First-layer frequencies (paper: 30 and 40). */
  envelopeW0?: number;
  modulantW0?: number;
  /** Initial output bias of the envelope (log amplitude scale). */
  envelopeBias?: number;
  /** Adam learning rate. */
  learningRate?: number;
  seed: number;
}

export interface FourierNetState {
  format: 'cryospin-fouriernet-v1';
  options: Required<Omit<FourierNetOptions, 'seed'>> & { seed: number };
  params: Record<string, Float32Array>;
}

/** The largest disc (<= radius) whose pixels all have their mirror -k inside the D x D grid. */
export function symmetricDisc(D: number, radius = D / 2): DiscIndex {
  return nyquistDisc(D, Math.min(radius, D / 2 - 0.5));
}

/** Index (in the disc) of each disc pixel's mirror -k; throws if the disc is not symmetric. */
const mirrorCache = new WeakMap<DiscIndex, Int32Array>();
export function discMirror(disc: DiscIndex): Int32Array {
  const hit = mirrorCache.get(disc);
  if (hit) return hit;
  const D = disc.D;
  const pos = new Int32Array(D * D).fill(-1);
  for (let i = 0; i < disc.pix.length; i++) pos[disc.pix[i]!] = i;
  const c = Math.floor(D / 2);
  const m = new Int32Array(disc.pix.length);
  for (let i = 0; i < disc.pix.length; i++) {
    const x = c - disc.kx[i]!;
    const y = c - disc.ky[i]!;
    const j = x >= 0 && x < D && y >= 0 && y < D ? pos[y * D + x]! : -1;
    if (j < 0) throw new RangeError(`disc pixel (${disc.kx[i]}, ${disc.ky[i]}) has no mirror: use symmetricDisc()`);
    m[i] = j;
  }
  mirrorCache.set(disc, m);
  return m;
}

interface Layer { w: tf.Variable; b: tf.Variable }

export class FourierNet {
  readonly opts: Required<Omit<FourierNetOptions, 'seed'>> & { seed: number };
  private readonly env: Layer[] = [];
  private readonly mod: Layer[] = [];
  private readonly optimizer: tf.AdamOptimizer;

  constructor(o: FourierNetOptions) {
    this.opts = {
      box: o.box, seed: o.seed,
      envelopeHidden: o.envelopeHidden ?? [64, 64], modulantHidden: o.modulantHidden ?? [64, 64, 64],
      envelopeW0: o.envelopeW0 ?? 30, modulantW0: o.modulantW0 ?? 40, envelopeBias: o.envelopeBias ?? 0,
      learningRate: o.learningRate ?? 1e-3,
    };
    const rng = new Rng(this.opts.seed);
    this.build(this.env, 'env', this.opts.envelopeHidden, this.opts.envelopeW0, rng, this.opts.envelopeBias);
    this.build(this.mod, 'mod', this.opts.modulantHidden, this.opts.modulantW0, rng, 0);
    this.optimizer = tf.train.adam(this.opts.learningRate);
  }

  /** SIREN initialisation (Sitzmann et al.): first layer U(-1/in, 1/in), later U(-sqrt(6/in)/w0, +). */
  private build(out: Layer[], name: string, hidden: number[], w0: number, rng: Rng, outBias: number): void {
    const sizes = [3, ...hidden, 1];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const nin = sizes[l]!;
      const nout = sizes[l + 1]!;
      const lim = l === 0 ? 1 / nin : Math.sqrt(6 / nin) / w0;
      const w = new Float32Array(nin * nout);
      for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * lim;
      const b = new Float32Array(nout);
      const last = l + 2 === sizes.length;
      for (let i = 0; i < nout; i++) b[i] = last ? outBias : (2 * rng.uniform() - 1) * lim;
      out.push({ w: tf.variable(tf.tensor2d(w, [nin, nout]), true, `${name}${l}_w_${uid}`), b: tf.variable(tf.tensor1d(b), true, `${name}${l}_b_${uid++}`) });
    }
  }

  private static siren(x: tf.Tensor2D, layers: Layer[], w0: number): tf.Tensor2D {
    let h = x;
    layers.forEach((L, l) => {
      const z = tf.add(tf.matMul(h, L.w), L.b) as tf.Tensor2D;
      h = l + 1 < layers.length ? (tf.sin(tf.mul(z, w0)) as tf.Tensor2D) : z;
    });
    return h;
  }

  /** h at N normalised coordinates [N, 3] -> [N]. */
  forward(coords: tf.Tensor2D): tf.Tensor1D {
    const e = FourierNet.siren(coords, this.env, this.opts.envelopeW0);
    const m = FourierNet.siren(coords, this.mod, this.opts.modulantW0);
    return tf.reshape(tf.mul(tf.exp(e), m), [-1]) as tf.Tensor1D;
  }

  get variables(): tf.Variable[] {
    return [...this.env, ...this.mod].flatMap((L) => [L.w, L.b]);
  }

  /** Normalised coordinates p / (D/2) of B slices over the disc, [B n, 3]. */
  coords(rots: Float64Array, B: number, disc: DiscIndex): Float32Array {
    const n = disc.pix.length;
    const s = 2 / this.opts.box;
    const out = new Float32Array(B * n * 3);
    for (let b = 0; b < B; b++) {
      const A = rots.subarray(9 * b, 9 * b + 9);
      for (let i = 0; i < n; i++) {
        const kx = disc.kx[i]! * s;
        const ky = disc.ky[i]! * s;
        const o = 3 * (b * n + i);
        // p = A^T (kx, ky, 0): p_j = A_0j kx + A_1j ky
        out[o] = A[0]! * kx + A[3]! * ky;
        out[o + 1] = A[1]! * kx + A[4]! * ky;
        out[o + 2] = A[2]! * kx + A[5]! * ky;
      }
    }
    return out;
  }

  /** Hartley values h at the disc pixels of B slices, Float32Array(B n). */
  hartleyValues(rots: Float64Array, B: number, disc: DiscIndex): Float32Array {
    const n = disc.pix.length;
    const c = this.coords(rots, B, disc);
    const out = new Float32Array(B * n);
    const chunk = 16384;
    for (let s = 0; s < B * n; s += chunk) {
      const m = Math.min(chunk, B * n - s);
      tf.tidy(() => { out.set(this.forward(tf.tensor2d(c.subarray(3 * s, 3 * (s + m)), [m, 3])).dataSync() as Float32Array, s); });
    }
    return out;
  }

  /** B Fourier slices (D x D each; 0 outside the disc), Hermitian by construction. */
  render(rots: Float64Array, B: number, out: Complex, disc: DiscIndex): void {
    const h = this.hartleyValues(rots, B, disc);
    assembleSlices(h, B, disc, out);
  }

  /**
   * Gradients for dL/dslice dSlices (B D^2): returns the parameter gradients (tensors, caller
   * applies or disposes them) and writes dL/dA into dRots (9B) when given.
   */
  backward(rots: Float64Array, B: number, dSlices: Complex, disc: DiscIndex, dRots: Float64Array | null): Map<string, tf.Tensor> {
    return outsideOuterTape(() => this.backwardImpl(rots, B, dSlices, disc, dRots));
  }

  private backwardImpl(rots: Float64Array, B: number, dSlices: Complex, disc: DiscIndex, dRots: Float64Array | null): Map<string, tf.Tensor> {
    const n = disc.pix.length;
    const g = hartleyGradient(dSlices, B, disc);
    const c = this.coords(rots, B, disc);
    const vars = this.variables;
    const coordVar = dRots ? tf.variable(tf.tensor2d(c, [B * n, 3]), true) : null;
    const coordsT = coordVar ?? tf.tensor2d(c, [B * n, 3]);
    const gT = tf.tensor1d(g);
    const res = tf.variableGrads(() => tf.sum(tf.mul(this.forward(coordsT as tf.Tensor2D), gT)) as tf.Scalar,
      coordVar ? [...vars, coordVar] : vars);
    res.value.dispose();
    gT.dispose();
    if (dRots && coordVar) {
      const dp = res.grads[coordVar.name]!.dataSync() as Float32Array;
      const s = 2 / this.opts.box;
      dRots.fill(0, 0, 9 * B);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < n; i++) {
          const o = 3 * (b * n + i);
          const kx = disc.kx[i]! * s;
          const ky = disc.ky[i]! * s;
          for (let j = 0; j < 3; j++) {
            dRots[9 * b + j] += kx * dp[o + j]!;
            dRots[9 * b + 3 + j] += ky * dp[o + j]!;
          }
        }
      }
      res.grads[coordVar.name]!.dispose();
      coordVar.dispose();
    } else coordsT.dispose();
    const grads = new Map<string, tf.Tensor>();
    // kept: the caller may be inside another tidy scope (the encoder's gradient tape)
    for (const v of vars) grads.set(v.name, tf.keep(res.grads[v.name]!));
    return grads;
  }

  /** One Adam step with the given parameter gradients (disposes them). */
  applyGradients(grads: Map<string, tf.Tensor>): void {
    const named: { name: string; tensor: tf.Tensor }[] = [];
    for (const [k, v] of grads) named.push({ name: k, tensor: v });
    this.optimizer.applyGradients(named);
    for (const v of grads.values()) v.dispose();
  }

  /** The learned volume sampled on the explicit Hartley grid of box D (for maps and the grid tools). */
  toGrid(): HartleyGrid {
    const D = this.opts.box;
    const Dv = hartleyGridSize(D);
    const cv = Math.floor(D / 2);
    const s = 2 / D;
    const c = new Float32Array(3 * Dv * Dv * Dv);
    let o = 0;
    for (let z = 0; z < Dv; z++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++) {
      c[o++] = (x - cv) * s; c[o++] = (y - cv) * s; c[o++] = (z - cv) * s;
    }
    const vals = new Float32Array(Dv * Dv * Dv);
    const chunk = 16384;
    for (let st = 0; st < vals.length; st += chunk) {
      const m = Math.min(chunk, vals.length - st);
      tf.tidy(() => { vals.set(this.forward(tf.tensor2d(c.subarray(3 * st, 3 * (st + m)), [m, 3])).dataSync() as Float32Array, st); });
    }
    return createHartleyGrid(D, vals);
  }

  getState(): FourierNetState {
    const params: Record<string, Float32Array> = {};
    const all = [...this.env.map((L, i) => [`env${i}`, L] as const), ...this.mod.map((L, i) => [`mod${i}`, L] as const)];
    for (const [k, L] of all) {
      params[`${k}/w`] = Float32Array.from(L.w.dataSync() as Float32Array);
      params[`${k}/b`] = Float32Array.from(L.b.dataSync() as Float32Array);
    }
    return { format: 'cryospin-fouriernet-v1', options: structuredClone(this.opts), params };
  }

  /** Loads weights (the Adam moments restart: documented limitation of a resumed FourierNet run). */
  setState(s: FourierNetState): void {
    const all = [...this.env.map((L, i) => [`env${i}`, L] as const), ...this.mod.map((L, i) => [`mod${i}`, L] as const)];
    for (const [k, L] of all) {
      const w = s.params[`${k}/w`];
      const b = s.params[`${k}/b`];
      if (!w || !b || w.length !== L.w.size || b.length !== L.b.size) throw new RangeError(`FourierNet state: layer ${k} missing or of the wrong size`);
      L.w.assign(tf.tensor(w, L.w.shape));
      L.b.assign(tf.tensor(b, L.b.shape));
    }
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.optimizer.dispose();
  }
}

let uid = 0;

/**
 * Run fn as a top-level gradient computation even when called from inside another one (the
 * encoder computes its surrogate loss inside tf.variableGrads and calls the decoder from there):
 * the outer tape is set aside so the decoder's ops are neither recorded on it nor freed with it.
 */
function outsideOuterTape<T>(fn: () => T): T {
  const st = tf.engine().state;
  const depth = st.gradientDepth;
  const tape = st.activeTape;
  st.gradientDepth = 0;
  try {
    return fn();
  } finally {
    st.gradientDepth = depth;
    st.activeTape = tape;
  }
}

/** FourierNet restored from its state. */
export function fourierNetFromState(s: FourierNetState): FourierNet {
  const net = new FourierNet(s.options);
  net.setState(s);
  return net;
}

/** Slices from Hartley values at disc pixels: F(k) = (h(k) + h(-k))/2 + i (h(-k) - h(k))/2. */
export function assembleSlices(h: Float32Array, B: number, disc: DiscIndex, out: Complex): void {
  const D = disc.D;
  const P = D * D;
  const n = disc.pix.length;
  const mir = discMirror(disc);
  out.re.fill(0, 0, B * P);
  out.im.fill(0, 0, B * P);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const hi = h[b * n + i]!;
      const hj = h[b * n + mir[i]!]!;
      const p = b * P + disc.pix[i]!;
      out.re[p] = 0.5 * (hi + hj);
      out.im[p] = 0.5 * (hj - hi);
    }
  }
}

/** dL/dh at the disc pixels from dL/dslice (adjoint of assembleSlices). */
export function hartleyGradient(dS: Complex, B: number, disc: DiscIndex): Float32Array {
  const D = disc.D;
  const P = D * D;
  const n = disc.pix.length;
  const mir = discMirror(disc);
  const g = new Float32Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const pi = b * P + disc.pix[i]!;
      const pj = b * P + disc.pix[mir[i]!]!;
      g[b * n + i] = 0.5 * (dS.re[pi]! + dS.re[pj]! - dS.im[pi]! + dS.im[pj]!);
    }
  }
  return g;
}
