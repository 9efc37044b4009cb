/**
 * BatchNorm (+ optional ReLU) over all axes but the last (channels-last feature maps), as one tfjs op
 * with a hand-written gradient (tf.customGrad); the passes over the data run in bnEngine.ts
 * (WebAssembly SIMD by default).
 *
 * Why: on tfjs-backend-wasm the element-wise and reduction kernels that a composed BatchNorm needs
 * (moments, broadcast sub/mul/add, relu and their gradients) cost 10-25x a 3x3 convolution of the same
 * feature map; fused passes are far cheaper. Statistics are accumulated in double. Gradient (per
 * channel, n values, xhat = (x - mean) inv, g = dy masked by the ReLU):
 *   dgamma = sum g xhat = inv (sum g x - mean sum g),  dbeta = sum g,
 *   dx = gamma inv / n (n g - dbeta - xhat dgamma)  =  p g + q (x - mean) + r.
 */
import { tf } from '../tfjsSetup.js';
import { defaultBnEngine, type BnEngine } from './bnEngine.js';

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
  onStats: (s: BatchStats) => void, engine: BnEngine = defaultBnEngine()): tf.Tensor {
  const C = x.shape[x.shape.length - 1]!;
  const n = x.size / C;
  const op = tf.customGrad((...args: unknown[]) => {
    const [xt, gt, bt] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    const xv = xt.dataSync() as Float32Array;
    const gv = gt.dataSync() as Float32Array;
    const bv = bt.dataSync() as Float32Array;
    const { s1, s2 } = engine.stats(xv, C);
    const mean = new Float64Array(C);
    const inv = new Float64Array(C);
    const sc = new Float32Array(C);
    const sh = new Float32Array(C);
    const st: BatchStats = { mean: new Float32Array(C), variance: new Float32Array(C), count: n };
    for (let c = 0; c < C; c++) {
      mean[c] = s1[c]! / n;
      const v = Math.max(0, s2[c]! / n - mean[c]! * mean[c]!);
      inv[c] = 1 / Math.sqrt(v + eps);
      st.mean[c] = mean[c]!;
      st.variance[c] = v;
      sc[c] = gv[c]! * inv[c]!;
      sh[c] = bv[c]! - mean[c]! * sc[c]!;
    }
    onStats(st);
    const value = tf.tensor(engine.apply(xv, C, sc, sh, relu), xt.shape);
    const gradFunc = (dyIn: tf.Tensor | tf.Tensor[]): tf.Tensor[] => {
      const dy = (Array.isArray(dyIn) ? dyIn[0]! : dyIn).dataSync() as Float32Array;
      const { sg, sgx: sgxRaw } = engine.back1(xv, dy, C, sc, sh, relu);
      const sgx = new Float32Array(C);
      const p = new Float32Array(C);
      const q = new Float32Array(C);
      const r = new Float32Array(C);
      for (let c = 0; c < C; c++) {
        const dgamma = inv[c]! * (sgxRaw[c]! - mean[c]! * sg[c]!);
        const a = (gv[c]! * inv[c]!) / n;
        sgx[c] = dgamma;
        p[c] = a * n;
        q[c] = -a * dgamma * inv[c]!;
        r[c] = -a * sg[c]!;
      }
      const dx = engine.back2(xv, dy, C, sc, sh, relu, p, q, st.mean, r);
      return [tf.tensor(dx, xt.shape), tf.tensor(sgx, gt.shape), tf.tensor(Float32Array.from(sg), bt.shape)];
    };
    return { value, gradFunc };
  });
  return op(x, gamma, beta);
}

/** Inference mode: fixed statistics (running mean / variance). */
export function bnReluInfer(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor,
  eps: number, relu: boolean, engine: BnEngine = defaultBnEngine()): tf.Tensor {
  const C = x.shape[x.shape.length - 1]!;
  const [gv, bv, mv, vv] = [gamma, beta, mean, variance].map((t) => t.dataSync() as Float32Array) as
    [Float32Array, Float32Array, Float32Array, Float32Array];
  const sc = new Float32Array(C);
  const sh = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    sc[c] = gv[c]! / Math.sqrt(vv[c]! + eps);
    sh[c] = bv[c]! - mv[c]! * sc[c]!;
  }
  return tf.tensor(engine.apply(x.dataSync() as Float32Array, C, sc, sh, relu), x.shape);
}
