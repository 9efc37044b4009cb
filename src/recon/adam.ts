/**
 * Adam on a flat Float32Array of parameters (the explicit volume). Kept here rather than in
 * tfjs because the volume lives outside tfjs (its gradient comes from the slice adjoint).
 * State (moments and step) is serialisable for checkpoints.
 */
export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  t: number;
}

export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  state: AdamState;

  constructor(n: number, opts: AdamOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.state = { m: new Float32Array(n), v: new Float32Array(n), t: 0 };
  }

  /** One step: params -= lr * mhat / (sqrt(vhat) + eps). */
  step(params: Float32Array, grad: Float32Array): void {
    const { m, v } = this.state;
    this.state.t += 1;
    const t = this.state.t;
    const b1 = this.beta1, b2 = this.beta2;
    const c1 = 1 / (1 - Math.pow(b1, t));
    const c2 = 1 / (1 - Math.pow(b2, t));
    const lr = this.lr, eps = this.eps;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      const mi = b1 * m[i]! + (1 - b1) * g;
      const vi = b2 * v[i]! + (1 - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] -= (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
    }
  }
}
