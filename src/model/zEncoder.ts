/**
 * Amortised conformation encoder of the heterogeneous mode (`zSource: 'encoder'`): an MLP (tfjs)
 * that predicts each particle's latent z from its image in one pass, as cryoDRGN's / cryoFIRE's
 * z head, so a new particle needs no optimisation. It is trained end to end through the decoder:
 * the loop supplies dL/dz per image and the encoder takes an Adam step on the surrogate
 * sum_b z_b · dL/dz_b.
 *
 * Input features (`input`):
 *  - 'backprojected' (default): the image's low-resolution Fourier coefficients (|k| <= radiusPx),
 *    re-centred by its shift, multiplied by its CTF (the adjoint of the forward model) and inserted
 *    as Hartley values at their 3D positions p = A^T k under the particle's (consensus) pose, on a
 *    small (2r+1)^3 grid (trilinear weights). The encoder then sees every image in the frame of
 *    the volume, where a change of state is one fixed 3D pattern; from the raw image it would
 *    also have to learn how that pattern looks in every view.
 *  - 'image': the same coefficients as a 2D disc of Hartley values (pose-free, cryoDRGN's input
 *    in Fourier form).
 * Poses come from the consensus stage: there is no pose head here (src/model/encoder* is the
 * pose encoder).
 * getState/setState carry the weights, the input scale and the Adam moments (adamState.ts), so a
 * resumed run continues as an uninterrupted one would.
 */
import { Rng } from '../core/rng.js';
import type { ParticleBatch } from '../recon/types.js';
import { getAdamMoments, setAdamMoments, type AdamMoments } from './adamState.js';
import { tf } from './tfjsSetup.js';

export type ZEncoderInput = 'backprojected' | 'image';

export interface ZEncoderOptions {
  input: ZEncoderInput;
  /** Fourier radius (px) of the input coefficients. */
  radiusPx: number;
  hidden: number[];
  learningRate: number;
  seed: number;
}

export const Z_ENCODER_DEFAULTS: ZEncoderOptions = { input: 'backprojected', radiusPx: 6, hidden: [128, 64], learningRate: 1e-3, seed: 0 };

export interface ZEncoderState {
  format: 'cryospin-z-encoder-v1';
  zdim: number;
  options: ZEncoderOptions;
  inputScale: number;
  params: Float32Array[];
  /** Adam moments (absent in older checkpoints: they then restart from 0). */
  adam?: AdamMoments;
}

/** Number of input features for an encoder with these options. */
export function zEncoderInputSize(o: Pick<ZEncoderOptions, 'input' | 'radiusPx'>): number {
  const r = Math.floor(o.radiusPx);
  if (o.input === 'image') {
    let n = 0;
    for (let y = -r; y <= r; y++) for (let x = -r; x <= r; x++) if (x * x + y * y <= o.radiusPx ** 2) n++;
    return n;
  }
  return (2 * r + 1) ** 3;
}

/**
 * Encoder input of B images (B x inputSize): see the module comment. rots (9B, RELION A) and
 * originsPx (2B) are the particles' poses in the working box.
 */
export function zEncoderFeatures(batch: ParticleBatch, D: number, rots: Float64Array, originsPx: ArrayLike<number>, o: Pick<ZEncoderOptions, 'input' | 'radiusPx'>): Float32Array {
  const B = batch.B;
  const P = D * D;
  const c = Math.floor(D / 2);
  const R = o.radiusPx;
  const r = Math.floor(R);
  const G = 2 * r + 1;
  const size = zEncoderInputSize(o);
  const out = new Float32Array(B * size);
  const tw = (2 * Math.PI) / D;
  for (let b = 0; b < B; b++) {
    const ox = originsPx[2 * b]!, oy = originsPx[2 * b + 1]!;
    const A = rots.subarray(9 * b, 9 * b + 9);
    const f = out.subarray(b * size, (b + 1) * size);
    let j = 0;
    for (let ky = -r; ky <= r; ky++) for (let kx = -r; kx <= r; kx++) {
      if (kx * kx + ky * ky > R * R) continue;
      const q = b * P + (ky + c) * D + (kx + c);
      // undo the shift: Y · exp(-2 pi i k·o / D), times the CTF
      const ph = -tw * (kx * ox + ky * oy);
      const cr = Math.cos(ph), ci = Math.sin(ph);
      const yr = batch.obs.re[q]!, yi = batch.obs.im[q]!;
      const w = batch.ctf[q]!;
      const h = w * ((yr * cr - yi * ci) - (yr * ci + yi * cr));
      if (o.input === 'image') { f[j++] = h; continue; }
      const px = A[0]! * kx + A[3]! * ky + r, py = A[1]! * kx + A[4]! * ky + r, pz = A[2]! * kx + A[5]! * ky + r;
      const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
      const fx = px - x0, fy = py - y0, fz = pz - z0;
      for (let dz = 0; dz < 2; dz++) for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) {
        const x = x0 + dx, y = y0 + dy, z = z0 + dz;
        if (x < 0 || y < 0 || z < 0 || x >= G || y >= G || z >= G) continue;
        f[(z * G + y) * G + x] += h * (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * (dz ? fz : 1 - fz);
      }
    }
  }
  return out;
}

let uid = 0;

export class ZEncoder {
  readonly zdim: number;
  readonly opts: ZEncoderOptions;
  readonly inputSize: number;
  /** Scale applied to the input features (set from the first batch seen: RMS -> 1). */
  inputScale = 0;
  private readonly layers: { w: tf.Variable; b: tf.Variable }[] = [];
  private readonly optimizer: tf.AdamOptimizer;

  constructor(zdim: number, o: Partial<ZEncoderOptions> = {}) {
    this.zdim = zdim;
    this.opts = { ...Z_ENCODER_DEFAULTS, ...o };
    this.inputSize = zEncoderInputSize(this.opts);
    const rng = new Rng(this.opts.seed + 15485863);
    const sizes = [this.inputSize, ...this.opts.hidden, zdim];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const nin = sizes[l]!, nout = sizes[l + 1]!;
      const gain = l + 2 === sizes.length ? 0.1 : 1;
      const w = Float32Array.from({ length: nin * nout }, () => gain * Math.sqrt(2 / nin) * rng.normal());
      this.layers.push({ w: tf.variable(tf.tensor2d(w, [nin, nout]), true, `zenc${l}_w_${uid}`), b: tf.variable(tf.zeros([nout]), true, `zenc${l}_b_${uid++}`) });
    }
    this.optimizer = tf.train.adam(this.opts.learningRate);
  }

  get variables(): tf.Variable[] { return this.layers.flatMap((L) => [L.w, L.b]); }

  private scaled(x: Float32Array): Float32Array {
    if (!(this.inputScale > 0)) {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += x[i]! ** 2;
      const rms = Math.sqrt(s / Math.max(1, x.length));
      this.inputScale = rms > 0 ? 1 / rms : 1;
    }
    return Float32Array.from(x, (v) => v * this.inputScale);
  }

  private forward(x: tf.Tensor2D): tf.Tensor2D {
    let h = x;
    this.layers.forEach((L, l) => {
      const a = tf.add(tf.matMul(h, L.w), L.b) as tf.Tensor2D;
      h = l + 1 < this.layers.length ? tf.relu(a) : a;
    });
    return h;
  }

  /** z (B x zdim) for B images' features (B x inputSize). */
  predict(x: Float32Array, B: number): Float32Array {
    const xs = this.scaled(x);
    return tf.tidy(() => Float32Array.from(this.forward(tf.tensor2d(xs, [B, this.inputSize])).dataSync() as Float32Array));
  }

  /** One Adam step given dL/dz (B x zdim) at the encoder's current prediction for x. */
  trainStep(x: Float32Array, B: number, dLdz: ArrayLike<number>): void {
    const xs = this.scaled(x);
    const xT = tf.tensor2d(xs, [B, this.inputSize]);
    const gT = tf.tensor2d(Float32Array.from(dLdz), [B, this.zdim]);
    const res = tf.variableGrads(() => tf.sum(tf.mul(this.forward(xT), gT)) as tf.Scalar, this.variables);
    res.value.dispose(); xT.dispose(); gT.dispose();
    this.optimizer.applyGradients(this.variables.map((v) => ({ name: v.name, tensor: res.grads[v.name]! })));
    for (const t of Object.values(res.grads)) t.dispose();
  }

  /** Change the output to (z - mu) / s (the loop re-centres and rescales the latents). */
  absorbAffine(mu: ArrayLike<number>, s: number): void {
    const L = this.layers[this.layers.length - 1]!;
    tf.tidy(() => {
      L.w.assign(tf.div(L.w, s) as tf.Tensor2D);
      L.b.assign(tf.div(tf.sub(L.b, tf.tensor1d(Float32Array.from(mu))), s) as tf.Tensor1D);
    });
  }

  getState(): ZEncoderState {
    return { format: 'cryospin-z-encoder-v1', zdim: this.zdim, options: { ...this.opts, hidden: [...this.opts.hidden] }, inputScale: this.inputScale,
      params: this.variables.map((v) => Float32Array.from(v.dataSync() as Float32Array)), adam: getAdamMoments(this.optimizer) };
  }

  /** Load weights, input scale and (when saved) the Adam moments. */
  setState(s: ZEncoderState): void {
    const vars = this.variables;
    if (s.format !== 'cryospin-z-encoder-v1' || s.zdim !== this.zdim || s.params.length !== vars.length) throw new RangeError('not a matching z-encoder state');
    vars.forEach((v, i) => {
      if (s.params[i]!.length !== v.size) throw new RangeError(`z-encoder state: weight ${i} has the wrong size`);
      tf.tidy(() => v.assign(tf.tensor(s.params[i]!, v.shape)));
    });
    this.inputScale = s.inputScale;
    if (s.adam) setAdamMoments(this.optimizer, vars, s.adam);
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.optimizer.dispose();
  }
}
