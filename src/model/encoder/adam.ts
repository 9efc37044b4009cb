/**
 * Adam with PyTorch's update rule (bias-corrected moments, eps added after the square root), whose
 * whole state (step count and both moment estimates per parameter) is exposed as plain arrays for
 * checkpoints. tfjs's own AdamOptimizer differs in eps placement and hides its slots, hence this
 * small hand-written version. Optional global gradient-norm clipping (cryoAI clips at 1).
 *
 * The update runs as one fused loop per parameter on plain Float32Arrays (the moments live in
 * JavaScript, not in tfjs), replacing 12 element-wise tfjs ops and their temporaries per
 * parameter. Arithmetic in float64, stored as float32.
 */
import { tf } from '../tfjsSetup.js';

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

export class Adam {
  step = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  constructor(private readonly params: Map<string, tf.Variable>, readonly opts: AdamOptions) {
    for (const [k, p] of params) {
      this.m.set(k, new Float32Array(p.size));
      this.v.set(k, new Float32Array(p.size));
    }
  }

  /**
   * Apply one update. `grads` maps parameter names to gradients (a missing name = zero gradient).
   * Returns the global gradient norm before clipping.
   */
  apply(grads: Map<string, tf.Tensor>): number {
    const o = this.opts;
    const gv = new Map<string, Float32Array>();
    let sq = 0;
    for (const [k, g] of grads) {
      if (!this.params.has(k)) continue;
      const a = g.dataSync() as Float32Array;
      for (let i = 0; i < a.length; i++) sq += a[i]! * a[i]!;
      gv.set(k, a);
    }
    const norm = Math.sqrt(sq);
    const scale = o.clipGradNorm > 0 && norm > o.clipGradNorm ? o.clipGradNorm / (norm + 1e-6) : 1;
    this.step += 1;
    const bc1 = 1 - Math.pow(o.beta1, this.step);
    const sqrtBc2 = Math.sqrt(1 - Math.pow(o.beta2, this.step));
    const b1 = o.beta1, b2 = o.beta2, c1 = 1 - o.beta1, c2 = 1 - o.beta2, eps = o.eps, lr = o.learningRate / bc1;
    for (const [k, p] of this.params) {
      const m = this.m.get(k)!;
      const v = this.v.get(k)!;
      const g = gv.get(k);
      // dataSync may return the backend's own storage (tfjs-cpu): update a copy
      const pv = new Float32Array(p.dataSync() as Float32Array);
      adamLoop(pv, g, m, v, scale, b1, c1, b2, c2, lr, sqrtBc2, eps);
      tf.tidy(() => p.assign(tf.tensor(pv, p.shape)));
    }
    return norm;
  }

  getState(): AdamState {
    const copy = (src: Map<string, Float32Array>): Record<string, Float32Array> =>
      Object.fromEntries([...src].map(([k, a]) => [k, Float32Array.from(a)]));
    return { step: this.step, m: copy(this.m), v: copy(this.v) };
  }

  setState(s: AdamState): void {
    const check = (arrays: Record<string, Float32Array>, what: string): void => {
      for (const [k, p] of this.params) {
        const a = arrays[k];
        if (a === undefined) throw new Error(`encoder state: ${what} ${k} missing`);
        if (a.length !== p.size) throw new Error(`encoder state: ${what} ${k} has ${a.length} values, expected ${p.size}`);
      }
    };
    check(s.m, 'Adam first moment');
    check(s.v, 'Adam second moment');
    for (const k of this.params.keys()) {
      this.m.get(k)!.set(s.m[k]!);
      this.v.get(k)!.set(s.v[k]!);
    }
    this.step = s.step;
  }

  dispose(): void {
    this.m.clear();
    this.v.clear();
  }
}

/** p -= lr m / (sqrt(v) / sqrtBc2 + eps) after the moment updates, element-wise (g absent = 0). */
function adamLoop(p: Float32Array, g: Float32Array | undefined, m: Float32Array, v: Float32Array, scale: number,
  b1: number, c1: number, b2: number, c2: number, lr: number, sqrtBc2: number, eps: number): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g === undefined ? 0 : g[i]! * scale;
    const mi = b1 * m[i]! + c1 * gi;
    const vi = b2 * v[i]! + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! - (lr * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
  }
}
