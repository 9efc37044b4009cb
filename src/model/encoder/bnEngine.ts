/**
 * The numeric passes of BatchNorm(+ReLU) on channels-last float32 data (n rows of C channels), in
 * two interchangeable engines: WebAssembly SIMD (bnKernels.c, embedded in bnKernelsBinary.ts; the
 * default, ~4x faster than the loops) and plain TypeScript loops (the reference, used by tests).
 *   stats:  per-channel sum x and sum x^2 (double)
 *   apply:  y = x sc + sh (then ReLU)
 *   back1:  g = dy masked where x sc + sh <= 0 (if ReLU); per-channel sum g and sum g x (double)
 *   back2:  dx = p g + q (x - m) + r
 * The same module also runs the encoder's input filter bank (wasmFilterBank, used by filterBank.ts) and
 * the 2x2 max-pooling gradient (wasmMaxPool2Grad, used by maxPool2.ts).
 */
import { BN_KERNELS_WASM_BASE64 } from './bnKernelsBinary.js';

export interface BnEngine {
  stats(x: Float32Array, C: number): { s1: Float64Array; s2: Float64Array };
  apply(x: Float32Array, C: number, sc: Float32Array, sh: Float32Array, relu: boolean): Float32Array;
  back1(x: Float32Array, dy: Float32Array, C: number, sc: Float32Array, sh: Float32Array, relu: boolean):
    { sg: Float64Array; sgx: Float64Array };
  back2(x: Float32Array, dy: Float32Array, C: number, sc: Float32Array, sh: Float32Array, relu: boolean,
    p: Float32Array, q: Float32Array, m: Float32Array, r: Float32Array): Float32Array;
}

export const jsBnEngine: BnEngine = {
  stats(x, C) {
    const s1 = new Float64Array(C);
    const s2 = new Float64Array(C);
    const n = x.length / C;
    for (let i = 0, k = 0; i < n; i++) {
      for (let c = 0; c < C; c++, k++) {
        const v = x[k]!;
        s1[c] += v;
        s2[c] += v * v;
      }
    }
    return { s1, s2 };
  },
  apply(x, C, sc, sh, relu) {
    const y = new Float32Array(x.length);
    for (let k = 0, c = 0; k < x.length; k++) {
      const v = x[k]! * sc[c]! + sh[c]!;
      y[k] = relu && v < 0 ? 0 : v;
      if (++c === C) c = 0;
    }
    return y;
  },
  back1(x, dy, C, sc, sh, relu) {
    const sg = new Float64Array(C);
    const sgx = new Float64Array(C);
    for (let k = 0, c = 0; k < x.length; k++) {
      const g = relu && !(x[k]! * sc[c]! + sh[c]! > 0) ? 0 : dy[k]!;
      sg[c] += g;
      sgx[c] += g * x[k]!;
      if (++c === C) c = 0;
    }
    return { sg, sgx };
  },
  back2(x, dy, C, sc, sh, relu, p, q, m, r) {
    const dx = new Float32Array(x.length);
    for (let k = 0, c = 0; k < x.length; k++) {
      const g = relu && !(x[k]! * sc[c]! + sh[c]! > 0) ? 0 : dy[k]!;
      dx[k] = p[c]! * g + q[c]! * (x[k]! - m[c]!) + r[c]!;
      if (++c === C) c = 0;
    }
    return dx;
  },
};

interface BnExports {
  memory: WebAssembly.Memory;
  bn_stats(x: number, n: number, C: number, s1: number, s2: number, a1: number, a2: number): void;
  bn_apply(x: number, y: number, n: number, C: number, sc: number, sh: number, relu: number): void;
  bn_back1(x: number, dy: number, n: number, C: number, sc: number, sh: number, relu: number,
    sg: number, sgx: number, a1: number, a2: number): void;
  bn_back2(x: number, dy: number, dx: number, n: number, C: number, sc: number, sh: number, relu: number,
    p: number, q: number, m: number, r: number): void;
  fb_image(img: number, D: number, g: number, S: number, nc: number, out: number, pad: number, tmp: number,
    plane: number, standardise: number, mu: number, sd: number): void;
  mp2_grad(x: number, dy: number, dx: number, B: number, H: number, W: number, C: number): void;
}

/** The WebAssembly engine: one module instance, buffers laid out after its initial memory. */
class WasmBnEngine implements BnEngine {
  private readonly ex: BnExports;
  private readonly base: number;

  constructor() {
    const bytes = Buffer.from(BN_KERNELS_WASM_BASE64, 'base64');
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    this.ex = inst.exports as unknown as BnExports;
    this.base = this.ex.memory.buffer.byteLength;
  }

  /**
   * Byte offsets of: `big` float arrays of N values, then 8 small blocks of C doubles; grows memory.
   */
  private layout(N: number, big: number, C: number): { bigAt: number[]; smallAt: number[] } {
    const align = (v: number): number => Math.ceil(v / 16) * 16;
    const bigAt: number[] = [];
    let off = this.base;
    for (let i = 0; i < big; i++) { bigAt.push(off); off = align(off + 4 * N); }
    const smallAt: number[] = [];
    for (let i = 0; i < 8; i++) { smallAt.push(off); off = align(off + 8 * C); }
    const need = off - this.ex.memory.buffer.byteLength;
    if (need > 0) this.ex.memory.grow(Math.ceil(need / 65536));
    return { bigAt, smallAt };
  }

  private f32(at: number, n: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer, at, n);
  }

  private f64(at: number, n: number): Float64Array {
    return new Float64Array(this.ex.memory.buffer, at, n);
  }

  stats(x: Float32Array, C: number): { s1: Float64Array; s2: Float64Array } {
    const { bigAt, smallAt } = this.layout(x.length, 1, C);
    this.f32(bigAt[0]!, x.length).set(x);
    const [s1, s2, a1, a2] = smallAt as [number, number, number, number];
    this.ex.bn_stats(bigAt[0]!, x.length / C, C, s1, s2, a1, a2);
    return { s1: this.f64(s1, C).slice(), s2: this.f64(s2, C).slice() };
  }

  apply(x: Float32Array, C: number, sc: Float32Array, sh: Float32Array, relu: boolean): Float32Array {
    const { bigAt, smallAt } = this.layout(x.length, 2, C);
    this.f32(bigAt[0]!, x.length).set(x);
    this.f32(smallAt[0]!, C).set(sc);
    this.f32(smallAt[1]!, C).set(sh);
    this.ex.bn_apply(bigAt[0]!, bigAt[1]!, x.length / C, C, smallAt[0]!, smallAt[1]!, relu ? 1 : 0);
    return this.f32(bigAt[1]!, x.length).slice();
  }

  back1(x: Float32Array, dy: Float32Array, C: number, sc: Float32Array, sh: Float32Array, relu: boolean):
    { sg: Float64Array; sgx: Float64Array } {
    const { bigAt, smallAt } = this.layout(x.length, 2, C);
    this.f32(bigAt[0]!, x.length).set(x);
    this.f32(bigAt[1]!, x.length).set(dy);
    const [scA, shA, sg, sgx, a1, a2] = smallAt as [number, number, number, number, number, number];
    this.f32(scA, C).set(sc);
    this.f32(shA, C).set(sh);
    this.ex.bn_back1(bigAt[0]!, bigAt[1]!, x.length / C, C, scA, shA, relu ? 1 : 0, sg, sgx, a1, a2);
    return { sg: this.f64(sg, C).slice(), sgx: this.f64(sgx, C).slice() };
  }

  back2(x: Float32Array, dy: Float32Array, C: number, sc: Float32Array, sh: Float32Array, relu: boolean,
    p: Float32Array, q: Float32Array, m: Float32Array, r: Float32Array): Float32Array {
    const { bigAt, smallAt } = this.layout(x.length, 3, C);
    this.f32(bigAt[0]!, x.length).set(x);
    this.f32(bigAt[1]!, x.length).set(dy);
    const [scA, shA, pA, qA, mA, rA] = smallAt as [number, number, number, number, number, number];
    this.f32(scA, C).set(sc);
    this.f32(shA, C).set(sh);
    this.f32(pA, C).set(p);
    this.f32(qA, C).set(q);
    this.f32(mA, C).set(m);
    this.f32(rA, C).set(r);
    this.ex.bn_back2(bigAt[0]!, bigAt[1]!, bigAt[2]!, x.length / C, C, scA, shA, relu ? 1 : 0, pA, qA, mA, rA);
    return this.f32(bigAt[2]!, x.length).slice();
  }

  /** Gradient of 2x2 / stride-2 max pooling (bnKernels.c mp2_grad); x [B, H, W, C], dy [B, H/2, W/2, C]. */
  maxPool2Grad(x: Float32Array, dy: Float32Array, B: number, H: number, W: number, C: number): Float32Array {
    const { bigAt } = this.layout(x.length, 3, 1);
    this.f32(bigAt[0]!, x.length).set(x);
    this.f32(bigAt[1]!, dy.length).set(dy);
    this.ex.mp2_grad(bigAt[0]!, bigAt[1]!, bigAt[2]!, B, H, W, C);
    return this.f32(bigAt[2]!, x.length).slice();
  }

  /**
   * Separable filter bank of B images (bnKernels.c fb_image): kernels g (nc x S taps), output
   * channels-last Float32Array(B D D nc), optionally standardised to mean mu, std sd.
   */
  filterBank(images: Float32Array, B: number, D: number, g: Float32Array, S: number, nc: number,
    standardise: boolean, mu: number, sd: number): Float32Array {
    const align = (v: number): number => Math.ceil(v / 16) * 16;
    const img = this.base;
    const gA = align(img + 4 * D * D);
    const out = align(gA + 4 * g.length);
    const pad = align(out + 4 * D * D * nc);
    const tmp = align(pad + 4 * (D + S));
    const plane = align(tmp + 4 * D * D);
    const need = align(plane + 4 * D * D) - this.ex.memory.buffer.byteLength;
    if (need > 0) this.ex.memory.grow(Math.ceil(need / 65536));
    this.f32(gA, g.length).set(g);
    const res = new Float32Array(B * D * D * nc);
    for (let b = 0; b < B; b++) {
      this.f32(img, D * D).set(images.subarray(b * D * D, (b + 1) * D * D));
      this.ex.fb_image(img, D, gA, S, nc, out, pad, tmp, plane, standardise ? 1 : 0, mu, sd);
      res.set(this.f32(out, D * D * nc), b * D * D * nc);
    }
    return res;
  }
}

let wasmEngine: WasmBnEngine | null = null;

function wasm(): WasmBnEngine {
  if (wasmEngine === null) wasmEngine = new WasmBnEngine();
  return wasmEngine;
}

/** The default engine (WebAssembly SIMD; created once). */
export function defaultBnEngine(): BnEngine {
  return wasm();
}

/** The filter bank on the WebAssembly SIMD module (see WasmBnEngine.filterBank). */
export function wasmFilterBank(images: Float32Array, B: number, D: number, g: Float32Array, S: number, nc: number,
  standardise: boolean, mu: number, sd: number): Float32Array {
  return wasm().filterBank(images, B, D, g, S, nc, standardise, mu, sd);
}

/** Gradient of 2x2 / stride-2 max pooling on the WebAssembly SIMD module (see WasmBnEngine.maxPool2Grad). */
export function wasmMaxPool2Grad(x: Float32Array, dy: Float32Array, B: number, H: number, W: number, C: number): Float32Array {
  return wasm().maxPool2Grad(x, dy, B, H, W, C);
}
