/**
 * BatchNorm (+ optional ReLU) over all axes but the last (channels-last feature maps), as one tfjs op
 * with a hand-written gradient (tf.customGrad) computed in plain TypeScript loops.
 *
 * Why: on tfjs-backend-wasm the element-wise and reduction kernels that a composed BatchNorm needs
 * (moments, broadcast sub/mul/add, relu and their gradients) cost 10-25x a 3x3 convolution of the same
 * feature map; one fused pass in JS over the data is far cheaper. Statistics are accumulated in
 * float64. Gradient (per channel, n values, xhat = (x - mean) inv, g = dy masked by ReLU):
 *   dgamma = sum g xhat,  dbeta = sum g,  dx = gamma inv / n (n g - dbeta - xhat dgamma).
 */
import { tf } from '../tfjsSetup.js';

export interface BatchStats {
  mean: Float32Array;
  /** Biased (population) batch variance. */
  variance: Float32Array;
  count: number;
}

/**
 * Training mode: normalise with the batch statistics (returned through `onStats`).
 * x [..., C], gamma and beta [C].
 */
export function bnReluTrain(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number, relu: boolean,
  onStats: (s: BatchStats) => void): tf.Tensor {
  const C = x.shape[x.shape.length - 1]!;
  const n = x.size / C;
  const op = tf.customGrad((...args: unknown[]) => {
    const [xt, gt, bt] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    const xv = xt.dataSync() as Float32Array;
    const gv = gt.dataSync() as Float32Array;
    const bv = bt.dataSync() as Float32Array;
    const s1 = new Float64Array(C);
    const s2 = new Float64Array(C);
    for (let i = 0, k = 0; i < n; i++) {
      for (let c = 0; c < C; c++, k++) {
        const v = xv[k]!;
        s1[c] += v;
        s2[c] += v * v;
      }
    }
    const mean = new Float64Array(C);
    const inv = new Float64Array(C);
    const st: BatchStats = { mean: new Float32Array(C), variance: new Float32Array(C), count: n };
    for (let c = 0; c < C; c++) {
      mean[c] = s1[c]! / n;
      const v = Math.max(0, s2[c]! / n - mean[c]! * mean[c]!);
      inv[c] = 1 / Math.sqrt(v + eps);
      st.mean[c] = mean[c]!;
      st.variance[c] = v;
    }
    onStats(st);
    // y = x sc + sh with sc = gamma inv, sh = beta - mean sc (then ReLU).
    const sc = new Float64Array(C);
    const sh = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      sc[c] = gv[c]! * inv[c]!;
      sh[c] = bv[c]! - mean[c]! * sc[c]!;
    }
    const y = new Float32Array(x.size);
    const N = x.size;
    for (let k = 0, c = 0; k < N; k++) {
      const v = xv[k]! * sc[c]! + sh[c]!;
      y[k] = relu && v < 0 ? 0 : v;
      if (++c === C) c = 0;
    }
    const value = tf.tensor(y, xt.shape);
    const gradFunc = (dyIn: tf.Tensor | tf.Tensor[]): tf.Tensor[] => {
      const dy = (Array.isArray(dyIn) ? dyIn[0]! : dyIn).dataSync() as Float32Array;
      // Pass 1: g = dy masked by the ReLU (y > 0), sums of g and g x per channel.
      const sg = new Float64Array(C);
      const sgxRaw = new Float64Array(C);
      for (let k = 0, c = 0; k < N; k++) {
        const gk = relu && !(y[k]! > 0) ? 0 : dy[k]!;
        sg[c] += gk;
        sgxRaw[c] += gk * xv[k]!;
        if (++c === C) c = 0;
      }
      // dgamma = sum g xhat = inv (sum g x - mean sum g); dx = p g + q x + r per channel.
      const sgx = new Float64Array(C);
      const pc = new Float64Array(C);
      const qc = new Float64Array(C);
      const rc = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        sgx[c] = inv[c]! * (sgxRaw[c]! - mean[c]! * sg[c]!);
        const a = (gv[c]! * inv[c]!) / n;
        pc[c] = a * n;
        qc[c] = -a * sgx[c]! * inv[c]!;
        rc[c] = -a * sg[c]! + a * sgx[c]! * inv[c]! * mean[c]!;
      }
      const dx = new Float32Array(N);
      for (let k = 0, c = 0; k < N; k++) {
        const gk = relu && !(y[k]! > 0) ? 0 : dy[k]!;
        dx[k] = pc[c]! * gk + qc[c]! * xv[k]! + rc[c]!;
        if (++c === C) c = 0;
      }
      return [tf.tensor(dx, xt.shape), tf.tensor(Float32Array.from(sgx), gt.shape), tf.tensor(Float32Array.from(sg), bt.shape)];
    };
    return { value, gradFunc };
  });
  return op(x, gamma, beta);
}

/** Inference mode: fixed statistics (running mean / variance). */
export function bnReluInfer(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor,
  eps: number, relu: boolean): tf.Tensor {
  const C = x.shape[x.shape.length - 1]!;
  const n = x.size / C;
  const xv = x.dataSync() as Float32Array;
  const [gv, bv, mv, vv] = [gamma, beta, mean, variance].map((t) => t.dataSync() as Float32Array) as
    [Float32Array, Float32Array, Float32Array, Float32Array];
  const sc = new Float32Array(C);
  const sh = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    sc[c] = gv[c]! / Math.sqrt(vv[c]! + eps);
    sh[c] = bv[c]! - mv[c]! * sc[c]!;
  }
  const y = new Float32Array(x.size);
  for (let i = 0, k = 0; i < n; i++) {
    for (let c = 0; c < C; c++, k++) {
      const v = xv[k]! * sc[c]! + sh[c]!;
      y[k] = relu && v < 0 ? 0 : v;
    }
  }
  return tf.tensor(y, x.shape);
}
