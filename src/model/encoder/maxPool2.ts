/**
 * 2x2 max pooling with stride 2 (channels-last, even sides) with a hand-written gradient:
 * tfjs-backend-wasm's MaxPoolGrad kernel is a generic strided loop that cost more than
 * the 3x3 convolution before it. The forward pass is the backend's own MaxPool. The gradient goes to
 * the first maximum of each window in row-major order (ties have measure zero on real data); it runs
 * as a WebAssembly SIMD kernel (bnKernels.c mp2_grad, about 4x the TypeScript loop kept here as the reference).
 */
import { tf } from '../tfjsSetup.js';
import { wasmMaxPool2Grad } from './bnEngine.js';

/**
 * The 2x2 max-pooling gradient in plain TypeScript (the reference the SIMD kernel is tested against):
 * x [B, H, W, C], dy [B, H/2, W/2, C] -> dx [B, H, W, C].
 */
export function maxPool2GradJs(xv: Float32Array, dy: Float32Array, B: number, H: number, W: number, C: number): Float32Array {
  const dx = new Float32Array(xv.length);
  const Ho = H / 2;
  const Wo = W / 2;
  const row = W * C;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Ho; i++) {
      for (let j = 0; j < Wo; j++) {
        const o = ((b * Ho + i) * Wo + j) * C;
        const p00 = ((b * H + 2 * i) * W + 2 * j) * C;
        for (let c = 0; c < C; c++) {
          let best = p00 + c;
          let bv = xv[best]!;
          const p01 = best + C;
          const p10 = best + row;
          const p11 = p10 + C;
          if (xv[p01]! > bv) { best = p01; bv = xv[p01]!; }
          if (xv[p10]! > bv) { best = p10; bv = xv[p10]!; }
          if (xv[p11]! > bv) { best = p11; }
          dx[best] = dy[o + c]!;
        }
      }
    }
  }
  return dx;
}

/** 2x2 / stride-2 max pooling with the gradient above (`grad`: 'wasm' SIMD kernel, default, or 'js'). */
export function maxPool2x2(x: tf.Tensor4D, grad: 'wasm' | 'js' = 'wasm'): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  if (H % 2 !== 0 || W % 2 !== 0) return tf.maxPool(x, 2, 2, 'valid');
  const op = tf.customGrad((...args: unknown[]) => {
    const xt = args[0] as tf.Tensor4D;
    const save = args[1] as (t: tf.Tensor[]) => void;
    save([xt]);
    const value = tf.maxPool(xt, 2, 2, 'valid');
    const gradFunc = (dyIn: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
      const dy = (Array.isArray(dyIn) ? dyIn[0]! : dyIn).dataSync() as Float32Array;
      const xv = saved[0]!.dataSync() as Float32Array;
      const dx = grad === 'wasm' ? wasmMaxPool2Grad(xv, dy, B, H, W, C) : maxPool2GradJs(xv, dy, B, H, W, C);
      return [tf.tensor4d(dx, [B, H, W, C])];
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor4D;
}
