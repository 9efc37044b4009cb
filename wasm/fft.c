/*
 * cryospin WebAssembly kernels, part 2: centred complex FFTs along one axis of a batch of
 * arrays, for power-of-two lengths n >= 8 (other lengths stay on the TypeScript reference in
 * src/core/fft.ts, which also does Bluestein for odd boxes).
 *
 * Layout: data are split planes viewed as [outer][n][inner] (x fastest). Four independent
 * transforms are run at once, one per v128 lane: for inner >= 4 the lanes are 4 neighbouring
 * `inner` positions (y and z axes of a 3D volume, y axis of an image batch); for inner == 1 (the
 * x axis) four rows are loaded and transposed 4x4. Every butterfly is therefore a full SIMD
 * operation, including the last pass. The 1D transform is a Stockham autosort radix-4 FFT
 * (a final radix-2 pass when log2 n is odd) that ping-pongs between two scratch buffers, so no
 * bit reversal is needed. Centring (grid.ts: F[k] = sum_x f[x] exp(-2 pi i (k-c)(x-c)/n),
 * c = n/2) is a cyclic roll by c folded into the load and the store.
 * The inverse transform is the forward one with re and im planes swapped (conj trick); the
 * caller passes swapped pointers and a scale of 1/n.
 *
 * Twiddles exp(-2 pi i t/n), t < n, are computed by JavaScript in float64 and passed as float32
 * planes (no libm here).
 */
#include "common.h"
#include <wasm_simd128.h>

typedef v128_t V;

/* Stockham radix-4/2 on 4-lane data: x = (xr, xi), scratch y; element j lives at [4j .. 4j+3].
 * Returns 0 if the result is in x, 1 if in y. */
INLINE int stockham(int n, float *xr, float *xi, float *yr, float *yi, const float *twr, const float *twi) {
  int L = n, s = 1, inY = 0;
  float *ar = xr, *ai = xi, *br = yr, *bi = yi;
  while (L >= 4) {
    const int m = L >> 2, tstep = n / L;
    for (int p = 0; p < m; p++) {
      const int t1 = p * tstep;
      const V w1r = wasm_f32x4_splat(twr[t1]), w1i = wasm_f32x4_splat(twi[t1]);
      const V w2r = wasm_f32x4_splat(twr[2 * t1]), w2i = wasm_f32x4_splat(twi[2 * t1]);
      const V w3r = wasm_f32x4_splat(twr[3 * t1]), w3i = wasm_f32x4_splat(twi[3 * t1]);
      for (int q = 0; q < s; q++) {
        const int ia = 4 * (q + s * p), ib = ia + 4 * s * m, ic = ib + 4 * s * m, id = ic + 4 * s * m;
        const V a_r = wasm_v128_load(ar + ia), a_i = wasm_v128_load(ai + ia);
        const V b_r = wasm_v128_load(ar + ib), b_i = wasm_v128_load(ai + ib);
        const V c_r = wasm_v128_load(ar + ic), c_i = wasm_v128_load(ai + ic);
        const V d_r = wasm_v128_load(ar + id), d_i = wasm_v128_load(ai + id);
        const V apc_r = wasm_f32x4_add(a_r, c_r), apc_i = wasm_f32x4_add(a_i, c_i);
        const V amc_r = wasm_f32x4_sub(a_r, c_r), amc_i = wasm_f32x4_sub(a_i, c_i);
        const V bpd_r = wasm_f32x4_add(b_r, d_r), bpd_i = wasm_f32x4_add(b_i, d_i);
        const V bmd_r = wasm_f32x4_sub(b_r, d_r), bmd_i = wasm_f32x4_sub(b_i, d_i);
        const int o = 4 * (q + s * 4 * p), os = 4 * s;
        wasm_v128_store(br + o, wasm_f32x4_add(apc_r, bpd_r));
        wasm_v128_store(bi + o, wasm_f32x4_add(apc_i, bpd_i));
        /* y1 = w1 (amc - i bmd), y2 = w2 (apc - bpd), y3 = w3 (amc + i bmd) */
        const V u1r = wasm_f32x4_add(amc_r, bmd_i), u1i = wasm_f32x4_sub(amc_i, bmd_r);
        const V u2r = wasm_f32x4_sub(apc_r, bpd_r), u2i = wasm_f32x4_sub(apc_i, bpd_i);
        const V u3r = wasm_f32x4_sub(amc_r, bmd_i), u3i = wasm_f32x4_add(amc_i, bmd_r);
        wasm_v128_store(br + o + os, wasm_f32x4_sub(wasm_f32x4_mul(u1r, w1r), wasm_f32x4_mul(u1i, w1i)));
        wasm_v128_store(bi + o + os, wasm_f32x4_add(wasm_f32x4_mul(u1r, w1i), wasm_f32x4_mul(u1i, w1r)));
        wasm_v128_store(br + o + 2 * os, wasm_f32x4_sub(wasm_f32x4_mul(u2r, w2r), wasm_f32x4_mul(u2i, w2i)));
        wasm_v128_store(bi + o + 2 * os, wasm_f32x4_add(wasm_f32x4_mul(u2r, w2i), wasm_f32x4_mul(u2i, w2r)));
        wasm_v128_store(br + o + 3 * os, wasm_f32x4_sub(wasm_f32x4_mul(u3r, w3r), wasm_f32x4_mul(u3i, w3i)));
        wasm_v128_store(bi + o + 3 * os, wasm_f32x4_add(wasm_f32x4_mul(u3r, w3i), wasm_f32x4_mul(u3i, w3r)));
      }
    }
    float *tr = ar, *ti = ai; ar = br; ai = bi; br = tr; bi = ti;
    inY ^= 1; L >>= 2; s <<= 2;
  }
  if (L == 2) {
    for (int q = 0; q < s; q++) {
      const int ia = 4 * q, ib = 4 * (q + s);
      const V a_r = wasm_v128_load(ar + ia), a_i = wasm_v128_load(ai + ia);
      const V b_r = wasm_v128_load(ar + ib), b_i = wasm_v128_load(ai + ib);
      wasm_v128_store(br + ia, wasm_f32x4_add(a_r, b_r));
      wasm_v128_store(bi + ia, wasm_f32x4_add(a_i, b_i));
      wasm_v128_store(br + ib, wasm_f32x4_sub(a_r, b_r));
      wasm_v128_store(bi + ib, wasm_f32x4_sub(a_i, b_i));
    }
    inY ^= 1;
  }
  return inY;
}

/*
 * Centred 1D FFTs of length n along the middle axis of data viewed as [outer][n][inner], for the
 * transform groups g0..g1-1 (a group is 4 transforms; groups are numbered over outer x inner/4
 * for inner >= 4, or over rows/4 = outer/4 for inner == 1, where outer must be a multiple of 4).
 * Results are multiplied by `scale`. Scratch: 4 float planes of 4n floats each (s0r, s0i, s1r, s1i).
 */
EXPORT void fft_axis(float *re, float *im, int outer, int n, int inner, int g0, int g1, float scale,
                     const float *twr, const float *twi, float *s0r, float *s0i, float *s1r, float *s1i) {
  const int c = n >> 1;
  const V vs = wasm_f32x4_splat(scale);
  if (inner == 1) {
    for (int g = g0; g < g1; g++) {
      float *r0 = re + (size_t)(4 * g) * n, *i0 = im + (size_t)(4 * g) * n;
      /* load 4 rows, rolled by c, transposed into lanes */
      for (int x = 0; x < n; x += 4) {
        const int j = (x + n - c) & (n - 1); /* n >= 8: x..x+3 stay contiguous */
        V a = wasm_v128_load(r0 + x), b = wasm_v128_load(r0 + n + x), cc = wasm_v128_load(r0 + 2 * n + x),
          d = wasm_v128_load(r0 + 3 * n + x);
        V t0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
        V t2 = wasm_i32x4_shuffle(cc, d, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(cc, d, 2, 6, 3, 7);
        wasm_v128_store(s0r + 4 * j, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
        wasm_v128_store(s0r + 4 * j + 4, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
        wasm_v128_store(s0r + 4 * j + 8, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
        wasm_v128_store(s0r + 4 * j + 12, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
        a = wasm_v128_load(i0 + x); b = wasm_v128_load(i0 + n + x); cc = wasm_v128_load(i0 + 2 * n + x);
        d = wasm_v128_load(i0 + 3 * n + x);
        t0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5); t1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
        t2 = wasm_i32x4_shuffle(cc, d, 0, 4, 1, 5); t3 = wasm_i32x4_shuffle(cc, d, 2, 6, 3, 7);
        wasm_v128_store(s0i + 4 * j, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
        wasm_v128_store(s0i + 4 * j + 4, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
        wasm_v128_store(s0i + 4 * j + 8, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
        wasm_v128_store(s0i + 4 * j + 12, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
      }
      const int inY = stockham(n, s0r, s0i, s1r, s1i, twr, twi);
      const float *rr = inY ? s1r : s0r, *ri = inY ? s1i : s0i;
      for (int x = 0; x < n; x += 4) {
        const int j = (x + n - c) & (n - 1);
        for (int part = 0; part < 2; part++) {
          const float *src = part ? ri : rr;
          float *dst = part ? i0 : r0;
          V a = wasm_v128_load(src + 4 * j), b = wasm_v128_load(src + 4 * j + 4),
            cc = wasm_v128_load(src + 4 * j + 8), d = wasm_v128_load(src + 4 * j + 12);
          V t0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
          V t2 = wasm_i32x4_shuffle(cc, d, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(cc, d, 2, 6, 3, 7);
          wasm_v128_store(dst + x, wasm_f32x4_mul(vs, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5)));
          wasm_v128_store(dst + n + x, wasm_f32x4_mul(vs, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7)));
          wasm_v128_store(dst + 2 * n + x, wasm_f32x4_mul(vs, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5)));
          wasm_v128_store(dst + 3 * n + x, wasm_f32x4_mul(vs, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7)));
        }
      }
    }
    return;
  }
  const int gpo = inner >> 2; /* groups per outer index */
  for (int g = g0; g < g1; g++) {
    const int o = g / gpo, l = 4 * (g - o * gpo);
    float *br = re + (size_t)o * n * inner + l, *bi = im + (size_t)o * n * inner + l;
    for (int x = 0; x < n; x++) {
      const int j = (x + n - c) & (n - 1);
      wasm_v128_store(s0r + 4 * j, wasm_v128_load(br + (size_t)x * inner));
      wasm_v128_store(s0i + 4 * j, wasm_v128_load(bi + (size_t)x * inner));
    }
    const int inY = stockham(n, s0r, s0i, s1r, s1i, twr, twi);
    const float *rr = inY ? s1r : s0r, *ri = inY ? s1i : s0i;
    for (int x = 0; x < n; x++) {
      const int j = (x + n - c) & (n - 1);
      wasm_v128_store(br + (size_t)x * inner, wasm_f32x4_mul(vs, wasm_v128_load(rr + 4 * j)));
      wasm_v128_store(bi + (size_t)x * inner, wasm_f32x4_mul(vs, wasm_v128_load(ri + 4 * j)));
    }
  }
}
