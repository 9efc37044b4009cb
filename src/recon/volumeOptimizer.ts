/**
 * Volume optimiser with a curvature (backprojection-weight) preconditioner.
 *
 * For fixed poses the Fourier loss is quadratic in the Hartley volume, and its Hessian is close
 * to diagonal: voxel v's curvature is about sum over the batch's slice samples of CTF^2 times the
 * trilinear weight. Plain Adam (the reference's choice) moves every voxel by ~lr per step
 * whatever its scale, so the low-frequency voxels (values 100x the high-frequency ones) take
 * thousands of steps to arrive. Here the step is
 *     m  <- beta1 m + (1 - beta1) g            (momentum of the gradient)
 *     W  <- beta2 W + (1 - beta2) w_batch      (running curvature)
 *     H  <- H - lr · m_hat / (W_hat + lambda · mean(W_hat))
 * i.e. a damped, stochastic diagonal Newton step (RELION's SGD uses a similar backprojection
 * weight). lambda regularises voxels that few slices touch.
 *
 * Stability: a voxel that few batches touch (high frequencies at larger boxes) sees its gradient
 * enter the momentum with weight (1 - beta1) but its curvature enter W with weight (1 - beta2),
 * so its step is ~(1-beta1)/(1-beta2) = 10x the Newton step; with the diagonal estimate's own
 * factor ~2 this passes the heavy-ball limit 2(1+beta1) unless lr is small. At box 32 lr 0.3 is
 * stable; at box 64 / SNR 0.1 it diverged. Callers scale lr with the box (see semiAmortized.ts).
 */
export interface VolumeOptimizerOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  /** Damping relative to the mean curvature. */
  lambda?: number;
}

export interface VolumeOptimizerState {
  m: Float32Array;
  w: Float32Array;
  t: number;
}

export class PreconditionedMomentum {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly lambda: number;
  state: VolumeOptimizerState;

  constructor(n: number, opts: VolumeOptimizerOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.99;
    this.lambda = opts.lambda ?? 0.05;
    this.state = { m: new Float32Array(n), w: new Float32Array(n), t: 0 };
  }

  step(params: Float32Array, grad: Float32Array, curvature: Float32Array): void {
    const { m, w } = this.state;
    this.state.t += 1;
    const t = this.state.t;
    const b1 = this.beta1, b2 = this.beta2;
    const c1 = 1 / (1 - Math.pow(b1, t));
    const c2 = 1 / (1 - Math.pow(b2, t));
    let wsum = 0;
    for (let i = 0; i < params.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * grad[i]!;
      const wi = b2 * w[i]! + (1 - b2) * curvature[i]!;
      w[i] = wi;
      wsum += wi;
    }
    const damp = this.lambda * (wsum / params.length) * c2 + 1e-12;
    const lr = this.lr;
    for (let i = 0; i < params.length; i++) {
      params[i] -= (lr * m[i]! * c1) / (w[i]! * c2 + damp);
    }
  }
}
