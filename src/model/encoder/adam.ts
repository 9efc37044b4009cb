/**
 * Adam with PyTorch's update rule (bias-corrected moments, eps added after the square root), whose
 * whole state (step count and both moment estimates per parameter) is exposed as plain arrays for
 * checkpoints. tfjs's own AdamOptimizer differs in eps placement and hides its slots, hence this
 * small hand-written version. Optional global gradient-norm clipping (cryoAI clips at 1).
 *
 * The update is one fused WebAssembly SIMD pass per parameter (bnKernels.c adam_step, float32 like
 * tfjs) on a private module instance that keeps both moments resident; it replaces 12 element-wise
 * tfjs ops per parameter (about 8% of an encoder step on tfjs-wasm; a plain JS loop was no faster
 * than those ops, the SIMD pass is ~10x faster than the loop).
 */
import { tf } from '../tfjsSetup.js';
import { BN_KERNELS_WASM_BASE64 } from './bnKernelsBinary.js';

export interface AdamOptions {
  learningRate: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Clip the global L2 norm of the gradient to this value; 0 = no clipping. */
  clipGradNorm: number;
}

export interface AdamState {
  step: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

interface AdamExports {
  memory: WebAssembly.Memory;
  adam_step(p: number, g: number, m: number, v: number, n: number, scale: number, b1: number, c1: number,
    b2: number, c2: number, lr: number, invSqrtBc2: number, eps: number): void;
  sum_sq(g: number, n: number): number;
}

export class Adam {
  step = 0;
  private readonly ex: AdamExports;
  /** Byte offsets of each parameter's moments in the module memory, and of two scratch blocks (p, g). */
  private readonly at = new Map<string, { m: number; v: number; n: number }>();
  private readonly pAt: number;
  private readonly gAt: number;

  constructor(private readonly params: Map<string, tf.Variable>, readonly opts: AdamOptions) {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(BN_KERNELS_WASM_BASE64, 'base64')), {});
    this.ex = inst.exports as unknown as AdamExports;
    const align = (v: number): number => Math.ceil(v / 16) * 16;
    let off = this.ex.memory.buffer.byteLength;
    let maxN = 0;
    for (const [k, p] of params) {
      const m = off;
      const v = align(m + 4 * p.size);
      off = align(v + 4 * p.size);
      this.at.set(k, { m, v, n: p.size });
      maxN = Math.max(maxN, p.size);
    }
    this.pAt = off;
    this.gAt = align(off + 4 * maxN);
    const end = align(this.gAt + 4 * maxN);
    const need = end - this.ex.memory.buffer.byteLength;
    if (need > 0) this.ex.memory.grow(Math.ceil(need / 65536));
  }

  private f32(at: number, n: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer, at, n);
  }

  /**
   * Apply one update. `grads` maps parameter names to gradients (a missing name = zero gradient).
   * Returns the global gradient norm before clipping.
   */
  apply(grads: Map<string, tf.Tensor>): number {
    const o = this.opts;
    this.step += 1;
    const bc1 = 1 - Math.pow(o.beta1, this.step);
    const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(o.beta2, this.step));
    const update = (k: string, p: tf.Variable, g: Float32Array | undefined, scale: number): number => {
      const { m, v, n } = this.at.get(k)!;
      if (g === undefined) this.f32(this.gAt, n).fill(0);
      else this.f32(this.gAt, n).set(g);
      const sq = this.ex.sum_sq(this.gAt, n);
      this.f32(this.pAt, n).set(p.dataSync() as Float32Array);
      this.ex.adam_step(this.pAt, this.gAt, m, v, n, scale, o.beta1, 1 - o.beta1, o.beta2, 1 - o.beta2,
        o.learningRate / bc1, invSqrtBc2, o.eps);
      const next = this.f32(this.pAt, n).slice();
      tf.tidy(() => p.assign(tf.tensor(next, p.shape)));
      return sq;
    };
    const gradOf = (k: string): Float32Array | undefined => grads.get(k)?.dataSync() as Float32Array | undefined;
    if (!(o.clipGradNorm > 0)) {
      // no clipping: one pass (the norm is only reported)
      let sq = 0;
      for (const [k, p] of this.params) sq += update(k, p, gradOf(k), 1);
      return Math.sqrt(sq);
    }
    let sq = 0;
    const gv = new Map<string, Float32Array>();
    for (const k of this.params.keys()) {
      const a = gradOf(k);
      if (a === undefined) continue;
      this.f32(this.gAt, a.length).set(a);
      sq += this.ex.sum_sq(this.gAt, a.length);
      gv.set(k, a);
    }
    const norm = Math.sqrt(sq);
    const scale = norm > o.clipGradNorm ? o.clipGradNorm / (norm + 1e-6) : 1;
    for (const [k, p] of this.params) update(k, p, gv.get(k), scale);
    return norm;
  }

  getState(): AdamState {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const [k, a] of this.at) {
      m[k] = this.f32(a.m, a.n).slice();
      v[k] = this.f32(a.v, a.n).slice();
    }
    return { step: this.step, m, v };
  }

  setState(s: AdamState): void {
    const check = (arrays: Record<string, Float32Array>, what: string): void => {
      for (const [k, a] of this.at) {
        const x = arrays[k];
        if (x === undefined) throw new Error(`encoder state: ${what} ${k} missing`);
        if (x.length !== a.n) throw new Error(`encoder state: ${what} ${k} has ${x.length} values, expected ${a.n}`);
      }
    };
    check(s.m, 'Adam first moment');
    check(s.v, 'Adam second moment');
    for (const [k, a] of this.at) {
      this.f32(a.m, a.n).set(s.m[k]!);
      this.f32(a.v, a.n).set(s.v[k]!);
    }
    this.step = s.step;
  }

  dispose(): void {
    this.at.clear();
  }
}
