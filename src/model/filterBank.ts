/**
 * The fixed input filter bank of the cryoAI / cryoSPIN encoders: each 1-channel image becomes 5
 * channels, the image blurred by 11x11 isotropic Gaussians of variance 0.01, 0.1, 1, 10 and 100 px^2
 * (each kernel normalised to sum 1, reflect padding at the borders); then each channel of each image
 * is standardised (zero mean, unit std over its pixels) and mapped to mean 0.45, std 0.226.
 * Computed with separable 1D passes in WebAssembly SIMD (encoder/bnKernels.c; a TypeScript reference
 * is kept): a tfjs-wasm 11x11 1->5-channel convolution took longer than the whole first conv block
 * (XNNPACK handles 1 input channel poorly).
 */
import { wasmFilterBank } from './encoder/bnEngine.js';
import { tf } from './tfjsSetup.js';

export const FILTER_BANK_VARIANCES_PX2 = [0.01, 0.1, 1, 10, 100] as const;
export const FILTER_BANK_SIZE = 11;
export const FILTER_BANK_MEAN = 0.45;
export const FILTER_BANK_STD = 0.226;

/**
 * The Gaussian kernels, Float32Array(channels * size * size), kernel c at [c][y][x] with
 * k(y, x) proportional to exp(-((y-h)^2 + (x-h)^2) / (2 variance)), h = (size-1)/2, sum 1.
 */
export function gaussianKernels(variancesPx2: readonly number[] = FILTER_BANK_VARIANCES_PX2,
  size = FILTER_BANK_SIZE): Float32Array {
  const out = new Float32Array(variancesPx2.length * size * size);
  const h = (size - 1) / 2;
  variancesPx2.forEach((v, c) => {
    const k = new Float64Array(size * size);
    let s = 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const e = Math.exp(-((y - h) ** 2 + (x - h) ** 2) / (2 * v));
        k[y * size + x] = e;
        s += e;
      }
    }
    for (let i = 0; i < size * size; i++) out[c * size * size + i] = k[i]! / s;
  });
  return out;
}

/** Normalised 1D Gaussian of variance v (the 2D kernel is its outer product with itself). */
function gaussian1D(v: number, size: number): Float64Array {
  const h = (size - 1) / 2;
  const g = new Float64Array(size);
  let s = 0;
  for (let i = 0; i < size; i++) {
    g[i] = Math.exp(-((i - h) ** 2) / (2 * v));
    s += g[i]!;
  }
  for (let i = 0; i < size; i++) g[i]! /= s;
  return g;
}

/** Reflect (mirror without repeating the edge) an index into [0, n). */
function reflect(i: number, n: number): number {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

export interface FilterBankOptions {
  /** Standardise each channel and map it to mean 0.45, std 0.226 (default true). */
  standardise?: boolean;
  /** 'wasm' (default; WebAssembly SIMD, encoder/bnKernels.c) or 'js' (the TypeScript reference). */
  engine?: 'wasm' | 'js';
}

/**
 * Filter-bank features of B images (Float32Array(B D D), row-major) as channels-last
 * Float32Array(B D D 5): out[((b D + y) D + x) 5 + c]. The Gaussians are separable, so each channel
 * is two 1D passes (exactly the 2D normalised kernel). Images must be larger than 5 px.
 */
export function filterBankFeatures(images: Float32Array, B: number, D: number, opts: FilterBankOptions = {}): Float32Array {
  const S = FILTER_BANK_SIZE;
  const half = (S - 1) / 2;
  if (D <= half) throw new Error(`filter bank: image side ${D} must exceed ${half} px`);
  const C = FILTER_BANK_VARIANCES_PX2.length;
  const kernels = FILTER_BANK_VARIANCES_PX2.map((v) => gaussian1D(v, S));
  if (opts.engine !== 'js') {
    const g = new Float32Array(C * S);
    kernels.forEach((k, c) => g.set(k, c * S));
    return wasmFilterBank(images, B, D, g, S, C, opts.standardise !== false, FILTER_BANK_MEAN, FILTER_BANK_STD);
  }
  const out = new Float32Array(B * D * D * C);
  const tmp = new Float64Array(D * D);
  const col = new Int32Array(D * S);
  for (let x = 0; x < D; x++) for (let t = 0; t < S; t++) col[x * S + t] = reflect(x + t - half, D);
  for (let b = 0; b < B; b++) {
    const img = images.subarray(b * D * D, (b + 1) * D * D);
    for (let c = 0; c < C; c++) {
      const g = kernels[c]!;
      for (let y = 0; y < D; y++) {
        for (let x = 0; x < D; x++) {
          let a = 0;
          for (let t = 0; t < S; t++) a += g[t]! * img[y * D + col[x * S + t]!]!;
          tmp[y * D + x] = a;
        }
      }
      let s1 = 0;
      let s2 = 0;
      const base = b * D * D * C + c;
      for (let y = 0; y < D; y++) {
        for (let x = 0; x < D; x++) {
          let a = 0;
          for (let t = 0; t < S; t++) a += g[t]! * tmp[col[y * S + t]! * D + x]!;
          out[base + (y * D + x) * C] = a;
          s1 += a;
          s2 += a * a;
        }
      }
      if (opts.standardise === false) continue;
      const n = D * D;
      const mean = s1 / n;
      const std = Math.sqrt(Math.max(0, s2 / n - mean * mean));
      const scale = std > 0 ? FILTER_BANK_STD / std : 0;
      for (let i = 0; i < n; i++) {
        const k = base + i * C;
        out[k] = (out[k]! - mean) * scale + FILTER_BANK_MEAN;
      }
    }
  }
  return out;
}

/** The same on a tfjs tensor x [B, D, D, 1]; returns [B, D, D, 5] (not differentiable). */
export function applyFilterBank(x: tf.Tensor4D, opts: FilterBankOptions = {}): tf.Tensor4D {
  const [B, D] = [x.shape[0], x.shape[1]];
  const f = filterBankFeatures(x.dataSync() as Float32Array, B, D, opts);
  return tf.tensor4d(f, [B, D, D, FILTER_BANK_VARIANCES_PX2.length]);
}
