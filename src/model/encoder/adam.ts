/**
 * Adam with PyTorch's update rule (bias-corrected moments, eps added after the square root), whose
 * whole state (step count and both moment estimates per parameter) is exposed as plain arrays for
 * checkpoints. tfjs's own AdamOptimizer differs in eps placement and hides its slots, hence this
 * small hand-written version. Optional global gradient-norm clipping (cryoAI clips at 1).
 */
import { tf } from '../tfjsSetup.js';
import { exportVariables, importVariables } from './params.js';

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
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(private readonly params: Map<string, tf.Variable>, readonly opts: AdamOptions) {
    for (const [k, p] of params) {
      this.m.set(k, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      this.v.set(k, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  /**
   * Apply one update. `grads` maps parameter names to gradients (a missing name = zero gradient).
   * Returns the global gradient norm before clipping.
   */
  apply(grads: Map<string, tf.Tensor>): number {
    const o = this.opts;
    const sq = tf.tidy(() => {
      const parts = [...grads.values()].map((g) => tf.sum(tf.square(g)));
      return parts.length ? tf.addN(parts) : tf.scalar(0);
    });
    const norm = Math.sqrt(sq.dataSync()[0]!);
    sq.dispose();
    const scale = o.clipGradNorm > 0 && norm > o.clipGradNorm ? o.clipGradNorm / (norm + 1e-6) : 1;
    this.step += 1;
    const bc1 = 1 - Math.pow(o.beta1, this.step);
    const bc2 = 1 - Math.pow(o.beta2, this.step);
    for (const [k, p] of this.params) {
      const m = this.m.get(k)!;
      const v = this.v.get(k)!;
      const g0 = grads.get(k);
      tf.tidy(() => {
        const g = g0 === undefined ? tf.zerosLike(p) : scale === 1 ? g0 : tf.mul(g0, scale);
        const m1 = tf.add(tf.mul(m, o.beta1), tf.mul(g, 1 - o.beta1));
        const v1 = tf.add(tf.mul(v, o.beta2), tf.mul(tf.square(g), 1 - o.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(bc2)), o.eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m1, denom), o.learningRate / bc1)));
        m.assign(m1);
        v.assign(v1);
      });
    }
    return norm;
  }

  getState(): AdamState {
    return { step: this.step, m: exportVariables(this.m), v: exportVariables(this.v) };
  }

  setState(s: AdamState): void {
    importVariables(this.m, s.m, 'Adam first moment');
    importVariables(this.v, s.v, 'Adam second moment');
    this.step = s.step;
  }

  dispose(): void {
    for (const x of this.m.values()) x.dispose();
    for (const x of this.v.values()) x.dispose();
  }
}
