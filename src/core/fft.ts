/**
 * Fast Fourier transforms on cryospin's centred grids (see grid.ts): 1D complex FFTs of any
 * length, and centred n-dimensional transforms built from them.
 *
 *   F[k] = sum_x f[x] exp(-2 pi i (k - c)·(x - c) / D),  c = floor(D/2)      (forward)
 *   f[x] = (1/N) sum_k F[k] exp(+2 pi i (k - c)·(x - c) / D)                (inverse)
 *
 * Lengths that are powers of two use an iterative radix-2^2 Cooley-Tukey transform (two radix-2
 * stages fused per sweep, so it reads memory half as often as plain radix-2); every other
 * length (odd boxes such as 65 included) uses Bluestein's chirp-z algorithm on a power-of-two
 * length. Twiddle tables and Bluestein chirps are computed once per length and cached. All
 * arithmetic is done in Float64 scratch; only the results are stored as Float32.
 *
 * Why hand-written: the npm FFTs (fft.js and the like) offer neither centred nor n-dimensional
 * nor odd-length transforms, and fft.js measured 9-11x slower than FFTW on this machine
 * (/work/shared/docs/engine.md). This module is the readable reference implementation; a
 * faster WebAssembly FFT lives behind the backend interface and is checked against this one.
 */
import type { Complex } from './complex.js';

/** A cached plan for one transform length. */
interface Plan {
  n: number;
  /** Radix-2 plan (n a power of two): bit-reversal permutation and twiddles exp(-2 pi i j/n). */
  rev?: Uint32Array;
  cos?: Float64Array;
  sin?: Float64Array;
  /** Bluestein plan: padded power-of-two length m, chirp exp(-i pi j^2 / n), FFT of the filter. */
  m?: number;
  chirpRe?: Float64Array;
  chirpIm?: Float64Array;
  filtRe?: Float64Array;
  filtIm?: Float64Array;
  scratchRe?: Float64Array;
  scratchIm?: Float64Array;
}

const plans = new Map<number, Plan>();

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function radix2Plan(n: number): Plan {
  const rev = new Uint32Array(n);
  let bits = 0;
  while ((1 << bits) < n) bits++;
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  const half = n >> 1;
  const cos = new Float64Array(Math.max(half, 1));
  const sin = new Float64Array(Math.max(half, 1));
  for (let j = 0; j < half; j++) {
    const a = (-2 * Math.PI * j) / n;
    cos[j] = Math.cos(a);
    sin[j] = Math.sin(a);
  }
  return { n, rev, cos, sin };
}

function bluesteinPlan(n: number): Plan {
  let m = 1;
  while (m < 2 * n - 1) m <<= 1;
  const chirpRe = new Float64Array(n);
  const chirpIm = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    // j^2 mod 2n keeps the angle small, so the chirp stays accurate for large j.
    const j2 = (j * j) % (2 * n);
    const a = (-Math.PI * j2) / n;
    chirpRe[j] = Math.cos(a);
    chirpIm[j] = Math.sin(a);
  }
  // Filter b[j] = conj(chirp[|j|]) on the circular length-m grid, then its FFT.
  const filtRe = new Float64Array(m);
  const filtIm = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    filtRe[j] = chirpRe[j]!;
    filtIm[j] = -chirpIm[j]!;
    if (j > 0) {
      filtRe[m - j] = chirpRe[j]!;
      filtIm[m - j] = -chirpIm[j]!;
    }
  }
  radix2InPlace(getPlan(m), filtRe, filtIm, false);
  return {
    n, m, chirpRe, chirpIm, filtRe, filtIm,
    scratchRe: new Float64Array(m), scratchIm: new Float64Array(m),
  };
}

function getPlan(n: number): Plan {
  let p = plans.get(n);
  if (!p) {
    p = isPow2(n) ? radix2Plan(n) : bluesteinPlan(n);
    plans.set(n, p);
  }
  return p;
}

/** Unnormalised power-of-two DFT in place (radix-2^2); `inverse` flips the exponent sign. */
function radix2InPlace(p: Plan, re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = p.n;
  const rev = p.rev!;
  for (let i = 0; i < n; i++) {
    const j = rev[i]!;
    if (j > i) {
      const tr = re[i]!; re[i] = re[j]!; re[j] = tr;
      const ti = im[i]!; im[i] = im[j]!; im[j] = ti;
    }
  }
  const cos = p.cos!;
  const sin = p.sin!;
  const sgn = inverse ? -1 : 1;
  // With an odd number of radix-2 stages, do the first (twiddle-free) one alone.
  let log2n = 0;
  while ((1 << log2n) < n) log2n++;
  let size = 4;
  if (log2n % 2 === 1) {
    for (let a = 0; a < n; a += 2) {
      const xr = re[a + 1]!, xi = im[a + 1]!;
      re[a + 1] = re[a]! - xr;
      im[a + 1] = im[a]! - xi;
      re[a] = re[a]! + xr;
      im[a] = im[a]! + xi;
    }
    size = 8;
  }
  // Radix-2^2: each pass fuses the radix-2 stages of sizes s/2 and s (one sweep over memory).
  // For a = start + j, b = a + s/4, c = a + s/2, d = a + 3s/4 (j < s/4), with w = w_s^j:
  //   stage s/2: (a, b) and (c, d) with twiddle w^2;  stage s: (a, c) with w, (b, d) with -+i·w.
  for (; size <= n; size <<= 2) {
    const q = size >> 2;
    const step = (n / size) | 0;
    for (let start = 0; start < n; start += size) {
      for (let j = 0; j < q; j++) {
        const w1r = cos[2 * j * step]!, w1i = sgn * sin[2 * j * step]!;
        const w2r = cos[j * step]!, w2i = sgn * sin[j * step]!;
        const a = start + j, b = a + q, c = b + q, d = c + q;
        // stage s/2
        const br = re[b]! * w1r - im[b]! * w1i, bi = re[b]! * w1i + im[b]! * w1r;
        const dr = re[d]! * w1r - im[d]! * w1i, di = re[d]! * w1i + im[d]! * w1r;
        const a1r = re[a]! + br, a1i = im[a]! + bi;
        const b1r = re[a]! - br, b1i = im[a]! - bi;
        const c1r = re[c]! + dr, c1i = im[c]! + di;
        const d1r = re[c]! - dr, d1i = im[c]! - di;
        // stage s
        const tr = c1r * w2r - c1i * w2i, ti = c1r * w2i + c1i * w2r;
        const vr = d1r * w2r - d1i * w2i, vi = d1r * w2i + d1i * w2r;
        // u = (-i·sgn) v: forward multiplies by -i, inverse by +i
        const ur = sgn * vi, ui = -sgn * vr;
        re[a] = a1r + tr; im[a] = a1i + ti;
        re[c] = a1r - tr; im[c] = a1i - ti;
        re[b] = b1r + ur; im[b] = b1i + ui;
        re[d] = b1r - ur; im[d] = b1i - ui;
      }
    }
  }
}

/** Unnormalised Bluestein DFT in place for any length. */
function bluesteinInPlace(p: Plan, re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = p.n;
  const m = p.m!;
  const cr = p.chirpRe!;
  const ci = p.chirpIm!;
  const sgn = inverse ? -1 : 1;
  const ar = p.scratchRe!;
  const ai = p.scratchIm!;
  ar.fill(0);
  ai.fill(0);
  // a[j] = x[j] * chirp[j]   (chirp conjugated for the inverse)
  for (let j = 0; j < n; j++) {
    const wr = cr[j]!;
    const wi = sgn * ci[j]!;
    ar[j] = re[j]! * wr - im[j]! * wi;
    ai[j] = re[j]! * wi + im[j]! * wr;
  }
  const sub = getPlan(m);
  radix2InPlace(sub, ar, ai, false);
  const fr = p.filtRe!;
  const fi = p.filtIm!;
  // Multiply by the filter's spectrum (the inverse uses the conjugate filter: b -> conj(b),
  // whose FFT is conj(B[-k]); B is even in k so that is conj(B[k])).
  for (let k = 0; k < m; k++) {
    const br = fr[k]!;
    const bi = sgn * fi[k]!;
    const xr = ar[k]! * br - ai[k]! * bi;
    const xi = ar[k]! * bi + ai[k]! * br;
    ar[k] = xr;
    ai[k] = xi;
  }
  radix2InPlace(sub, ar, ai, true);
  const inv = 1 / m;
  for (let k = 0; k < n; k++) {
    const wr = cr[k]!;
    const wi = sgn * ci[k]!;
    const xr = ar[k]! * inv;
    const xi = ai[k]! * inv;
    re[k] = xr * wr - xi * wi;
    im[k] = xr * wi + xi * wr;
  }
}

/**
 * Unnormalised 1D DFT of length re.length, in place, in the standard (uncentred) layout:
 * X[k] = sum_j x[j] exp(-+2 pi i j k / n) (minus for forward, plus for inverse).
 */
export function fft1dInPlace(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  if (n <= 1) return;
  const p = getPlan(n);
  if (p.rev) radix2InPlace(p, re, im, inverse);
  else bluesteinInPlace(p, re, im, inverse);
}

const shiftTables = new Map<number, Int32Array>();

/** ifftshift permutation for length n: the centred index x goes to standard index (x - c) mod n. */
function shiftTable(n: number): Int32Array {
  let t = shiftTables.get(n);
  if (!t) {
    t = new Int32Array(n);
    const c = Math.floor(n / 2);
    for (let x = 0; x < n; x++) t[x] = (x - c + n) % n;
    shiftTables.set(n, t);
  }
  return t;
}

/**
 * Centred transform along every axis of a Float64 array pair, in place. dims slowest first.
 * Lines are gathered with the ifftshift permutation (x -> x - c mod n), transformed, and
 * scattered back with the fftshift permutation, so the centre index is the phase origin.
 */
function centredNdInPlace(re: Float64Array, im: Float64Array, dims: number[], inverse: boolean): void {
  const total = re.length;
  let stride = 1;
  for (let ax = dims.length - 1; ax >= 0; ax--) {
    const n = dims[ax]!;
    if (n > 1) {
      const perm = shiftTable(n);
      const lr = new Float64Array(n);
      const li = new Float64Array(n);
      const block = stride * n;
      for (let outer = 0; outer < total; outer += block) {
        for (let inner = 0; inner < stride; inner++) {
          const base = outer + inner;
          for (let x = 0; x < n; x++) {
            const j = perm[x]!;
            const src = base + x * stride;
            lr[j] = re[src]!;
            li[j] = im[src]!;
          }
          fft1dInPlace(lr, li, inverse);
          for (let k = 0; k < n; k++) {
            const j = perm[k]!;
            const dst = base + k * stride;
            re[dst] = lr[j]!;
            im[dst] = li[j]!;
          }
        }
      }
    }
    stride *= n;
  }
  if (inverse) {
    const s = 1 / total;
    for (let i = 0; i < total; i++) {
      re[i] = re[i]! * s;
      im[i] = im[i]! * s;
    }
  }
}

function checkDims(len: number, dims: number[]): void {
  let n = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 1) throw new RangeError(`fft: bad dimension ${d}`);
    n *= d;
  }
  if (n !== len) throw new RangeError(`fft: array length ${len} does not match dims [${dims.join(', ')}]`);
}

/**
 * Centred complex-to-complex transform over all axes of `c` (dims slowest first, e.g. [D, D]
 * or [D, D, D]). Returns a new array; the inverse divides by the number of elements.
 */
export function fftnCentered(c: Complex, dims: number[], inverse: boolean): Complex {
  checkDims(c.re.length, dims);
  const re = Float64Array.from(c.re);
  const im = Float64Array.from(c.im);
  centredNdInPlace(re, im, dims, inverse);
  return { re: Float32Array.from(re), im: Float32Array.from(im) };
}

/** Centred forward 2D FFT of a real D*D image. */
export function fft2Centered(img: Float32Array, D: number): Complex {
  return fft2CenteredBatch(img, D, 1);
}

/** Real part of the centred inverse 2D FFT of a D*D spectrum. */
export function ifft2Centered(F: Complex, D: number): Float32Array {
  return ifft2CenteredBatch(F, D, 1);
}

/** Centred forward 3D FFT of a real D^3 volume. */
export function fft3Centered(vol: Float32Array, D: number): Complex {
  checkDims(vol.length, [D, D, D]);
  const re = Float64Array.from(vol);
  const im = new Float64Array(vol.length);
  centredNdInPlace(re, im, [D, D, D], false);
  return { re: Float32Array.from(re), im: Float32Array.from(im) };
}

/** Real part of the centred inverse 3D FFT of a D^3 spectrum. */
export function ifft3Centered(F: Complex, D: number): Float32Array {
  checkDims(F.re.length, [D, D, D]);
  const re = Float64Array.from(F.re);
  const im = Float64Array.from(F.im);
  centredNdInPlace(re, im, [D, D, D], true);
  return Float32Array.from(re);
}

const mirrorTables = new Map<number, Int32Array>();

/** For a centred D*D grid: index of the pixel at frequency -k (mod D on each axis). */
function mirrorTable(D: number): Int32Array {
  let t = mirrorTables.get(D);
  if (!t) {
    t = new Int32Array(D * D);
    const c = Math.floor(D / 2);
    for (let y = 0; y < D; y++) {
      const my = (2 * c - y + D) % D;
      for (let x = 0; x < D; x++) t[y * D + x] = my * D + ((2 * c - x + D) % D);
    }
    mirrorTables.set(D, t);
  }
  return t;
}

/**
 * Centred forward 2D FFTs of B real images stored back to back (B*D*D values). Two real
 * images go through one complex transform (z = a + i b), then are separated with the Hermitian
 * symmetry A[k] = (Z[k] + conj Z[-k]) / 2, B[k] = (Z[k] - conj Z[-k]) / 2i.
 */
export function fft2CenteredBatch(imgs: Float32Array, D: number, B: number): Complex {
  checkDims(imgs.length, [B, D, D]);
  const n = D * D;
  const out: Complex = { re: new Float32Array(B * n), im: new Float32Array(B * n) };
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const mirror = mirrorTable(D);
  for (let b = 0; b < B; b += 2) {
    const pair = b + 1 < B;
    for (let i = 0; i < n; i++) {
      re[i] = imgs[b * n + i]!;
      im[i] = pair ? imgs[(b + 1) * n + i]! : 0;
    }
    centredNdInPlace(re, im, [D, D], false);
    if (!pair) {
      out.re.set(re, b * n);
      out.im.set(im, b * n);
      continue;
    }
    const oa = b * n;
    const ob = (b + 1) * n;
    for (let i = 0; i < n; i++) {
      const m = mirror[i]!;
      const zr = re[i]!, zi = im[i]!, mr = re[m]!, mi = im[m]!;
      out.re[oa + i] = 0.5 * (zr + mr);
      out.im[oa + i] = 0.5 * (zi - mi);
      out.re[ob + i] = 0.5 * (zi + mi);
      out.im[ob + i] = 0.5 * (mr - zr);
    }
  }
  return out;
}

/**
 * Real parts of the centred inverse 2D FFTs of B spectra stored back to back. The real part of
 * an inverse transform is the inverse of the spectrum's Hermitian part, so two spectra are
 * symmetrised and packed into one complex transform (real part -> first, imaginary -> second).
 */
export function ifft2CenteredBatch(F: Complex, D: number, B: number): Float32Array {
  checkDims(F.re.length, [B, D, D]);
  const n = D * D;
  const out = new Float32Array(B * n);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const mirror = mirrorTable(D);
  const fr = F.re;
  const fi = F.im;
  for (let b = 0; b < B; b += 2) {
    const oa = b * n;
    if (b + 1 >= B) {
      for (let i = 0; i < n; i++) {
        re[i] = fr[oa + i]!;
        im[i] = fi[oa + i]!;
      }
      centredNdInPlace(re, im, [D, D], true);
      out.set(re, oa);
      continue;
    }
    const ob = (b + 1) * n;
    for (let i = 0; i < n; i++) {
      const m = mirror[i]!;
      // Hermitian parts: H_A = (A[k] + conj A[-k]) / 2, H_B likewise; z = H_A + i H_B
      const har = 0.5 * (fr[oa + i]! + fr[oa + m]!);
      const hai = 0.5 * (fi[oa + i]! - fi[oa + m]!);
      const hbr = 0.5 * (fr[ob + i]! + fr[ob + m]!);
      const hbi = 0.5 * (fi[ob + i]! - fi[ob + m]!);
      re[i] = har - hbi;
      im[i] = hai + hbr;
    }
    centredNdInPlace(re, im, [D, D], true);
    out.set(re, oa);
    out.set(im, ob);
  }
  return out;
}
