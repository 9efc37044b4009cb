// BatchNorm(+ReLU) passes over channels-last float32 data, and the separable filter-bank pass, for
// WebAssembly SIMD (clang --target=wasm32 -O3 -msimd128 -mbulk-memory; see bnKernelsBuild.sh). Called from
// bnEngine.ts; x, y, dy, dx are n x C row-major; per-channel statistics are accumulated in double.
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// Per-channel sums of x and x^2 (double), accumulated in float over blocks of 64 rows.
EXPORT(bn_stats)
void bn_stats(const float *x, int n, int C, double *s1, double *s2, float *a1, float *a2) {
  for (int c = 0; c < C; c++) { s1[c] = 0; s2[c] = 0; }
  for (int i0 = 0; i0 < n; i0 += 64) {
    int i1 = i0 + 64 < n ? i0 + 64 : n;
    for (int c = 0; c < C; c++) { a1[c] = 0; a2[c] = 0; }
    for (int i = i0; i < i1; i++) {
      const float *r = x + (long)i * C;
      int c = 0;
      for (; c + 4 <= C; c += 4) {
        v128_t v = wasm_v128_load(r + c);
        wasm_v128_store(a1 + c, wasm_f32x4_add(wasm_v128_load(a1 + c), v));
        wasm_v128_store(a2 + c, wasm_f32x4_add(wasm_v128_load(a2 + c), wasm_f32x4_mul(v, v)));
      }
      for (; c < C; c++) { a1[c] += r[c]; a2[c] += r[c] * r[c]; }
    }
    for (int c = 0; c < C; c++) { s1[c] += a1[c]; s2[c] += a2[c]; }
  }
}

// y = x sc + sh, then ReLU if relu != 0.
EXPORT(bn_apply)
void bn_apply(const float *x, float *y, int n, int C, const float *sc, const float *sh, int relu) {
  v128_t z = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < n; i++) {
    const float *r = x + (long)i * C;
    float *o = y + (long)i * C;
    int c = 0;
    for (; c + 4 <= C; c += 4) {
      v128_t v = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(r + c), wasm_v128_load(sc + c)), wasm_v128_load(sh + c));
      if (relu) v = wasm_f32x4_max(v, z);
      wasm_v128_store(o + c, v);
    }
    for (; c < C; c++) {
      float v = r[c] * sc[c] + sh[c];
      o[c] = relu && v < 0 ? 0 : v;
    }
  }
}

// dy masked by the ReLU: zero where the pre-activation x sc + sh is not positive.
static inline v128_t relu_mask4(v128_t xv, v128_t g, const float *sc, const float *sh, int relu) {
  if (!relu) return g;
  v128_t pre = wasm_f32x4_add(wasm_f32x4_mul(xv, wasm_v128_load(sc)), wasm_v128_load(sh));
  return wasm_v128_and(g, wasm_f32x4_gt(pre, wasm_f32x4_splat(0.0f)));
}

static inline float relu_mask1(float x, float g, float sc, float sh, int relu) {
  return relu && !(x * sc + sh > 0) ? 0 : g;
}

// Backward pass 1: g = dy masked where x sc + sh <= 0 (if relu); sums of g and g x per channel.
EXPORT(bn_back1)
void bn_back1(const float *x, const float *dy, int n, int C, const float *sc, const float *sh, int relu,
              double *sg, double *sgx, float *a1, float *a2) {
  for (int c = 0; c < C; c++) { sg[c] = 0; sgx[c] = 0; }
  for (int i0 = 0; i0 < n; i0 += 64) {
    int i1 = i0 + 64 < n ? i0 + 64 : n;
    for (int c = 0; c < C; c++) { a1[c] = 0; a2[c] = 0; }
    for (int i = i0; i < i1; i++) {
      const float *r = x + (long)i * C;
      const float *d = dy + (long)i * C;
      int c = 0;
      for (; c + 4 <= C; c += 4) {
        v128_t xv = wasm_v128_load(r + c);
        v128_t g = relu_mask4(xv, wasm_v128_load(d + c), sc + c, sh + c, relu);
        wasm_v128_store(a1 + c, wasm_f32x4_add(wasm_v128_load(a1 + c), g));
        wasm_v128_store(a2 + c, wasm_f32x4_add(wasm_v128_load(a2 + c), wasm_f32x4_mul(g, xv)));
      }
      for (; c < C; c++) {
        float g = relu_mask1(r[c], d[c], sc[c], sh[c], relu);
        a1[c] += g;
        a2[c] += g * r[c];
      }
    }
    for (int c = 0; c < C; c++) { sg[c] += a1[c]; sgx[c] += a2[c]; }
  }
}

// Backward pass 2: dx = p g + q (x - m) + r (g as in pass 1).
EXPORT(bn_back2)
void bn_back2(const float *x, const float *dy, float *dx, int n, int C, const float *sc, const float *sh, int relu,
              const float *p, const float *q, const float *m, const float *rr) {
  for (int i = 0; i < n; i++) {
    const float *r = x + (long)i * C;
    const float *d = dy + (long)i * C;
    float *o = dx + (long)i * C;
    int c = 0;
    for (; c + 4 <= C; c += 4) {
      v128_t xv = wasm_v128_load(r + c);
      v128_t g = relu_mask4(xv, wasm_v128_load(d + c), sc + c, sh + c, relu);
      v128_t xm = wasm_f32x4_sub(xv, wasm_v128_load(m + c));
      v128_t v = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(p + c), g),
                                               wasm_f32x4_mul(wasm_v128_load(q + c), xm)), wasm_v128_load(rr + c));
      wasm_v128_store(o + c, v);
    }
    for (; c < C; c++) {
      float g = relu_mask1(r[c], d[c], sc[c], sh[c], relu);
      o[c] = p[c] * g + q[c] * (r[c] - m[c]) + rr[c];
    }
  }
}

// Filter bank of one D x D image: for each of nc separable kernels g[c*S..] (S taps, S odd),
// reflect-padded horizontal then vertical pass, then (if standardise) per-channel standardisation
// to mean `mu`, std `sd`; written channels-last to out[(y D + x) nc + c]. Scratch: pad (D + S),
// tmp and plane (D D floats each).
EXPORT(fb_image)
void fb_image(const float *img, int D, const float *g, int S, int nc, float *out, float *pad, float *tmp,
              float *plane, int standardise, float mu, float sd) {
  int h = S / 2;
  for (int c = 0; c < nc; c++) {
    const float *gc = g + c * S;
    for (int y = 0; y < D; y++) {
      const float *row = img + y * D;
      for (int i = 0; i < D + 2 * h; i++) {
        int j = i - h;
        j = j < 0 ? -j : (j >= D ? 2 * (D - 1) - j : j);
        pad[i] = row[j];
      }
      float *o = tmp + y * D;
      int x = 0;
      for (; x + 4 <= D; x += 4) {
        v128_t acc = wasm_f32x4_splat(0.0f);
        for (int t = 0; t < S; t++) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(gc[t]), wasm_v128_load(pad + x + t)));
        wasm_v128_store(o + x, acc);
      }
      for (; x < D; x++) {
        float a = 0;
        for (int t = 0; t < S; t++) a += gc[t] * pad[x + t];
        o[x] = a;
      }
    }
    double s1 = 0, s2 = 0;
    for (int y = 0; y < D; y++) {
      float *o = plane + y * D;
      for (int x = 0; x < D; x++) o[x] = 0;
      for (int t = 0; t < S; t++) {
        int j = y + t - h;
        j = j < 0 ? -j : (j >= D ? 2 * (D - 1) - j : j);
        const float *src = tmp + j * D;
        v128_t w = wasm_f32x4_splat(gc[t]);
        int x = 0;
        for (; x + 4 <= D; x += 4) wasm_v128_store(o + x, wasm_f32x4_add(wasm_v128_load(o + x), wasm_f32x4_mul(w, wasm_v128_load(src + x))));
        for (; x < D; x++) o[x] += gc[t] * src[x];
      }
      for (int x = 0; x < D; x++) { s1 += o[x]; s2 += (double)o[x] * o[x]; }
    }
    float scale = 1, shift = 0;
    if (standardise) {
      double n = (double)D * D, mean = s1 / n, var = s2 / n - mean * mean;
      double std = var > 0 ? __builtin_sqrt(var) : 0;
      scale = std > 0 ? (float)(sd / std) : 0;
      shift = (float)(mu - mean * scale);
    }
    for (int k = 0; k < D * D; k++) out[k * nc + c] = plane[k] * scale + shift;
  }
}

// Gradient of 2x2 / stride-2 max pooling over channels-last B x H x W x C data (H, W even): each
// window's dy goes to its first maximum in the order (0,0), (0,1), (1,0), (1,1) (strict >, as in
// maxPool2.ts); every dx element is written (the windows tile the input), so dx needs no zeroing.
EXPORT(mp2_grad)
void mp2_grad(const float *x, const float *dy, float *dx, int B, int H, int W, int C) {
  const int Ho = H / 2, Wo = W / 2;
  const long row = (long)W * C;
  for (int b = 0; b < B; b++) {
    for (int i = 0; i < Ho; i++) {
      for (int j = 0; j < Wo; j++) {
        const long p = (((long)b * H + 2 * i) * W + 2 * j) * C;
        const long o = (((long)b * Ho + i) * Wo + j) * C;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          v128_t v00 = wasm_v128_load(x + p + c), v01 = wasm_v128_load(x + p + C + c);
          v128_t v10 = wasm_v128_load(x + p + row + c), v11 = wasm_v128_load(x + p + row + C + c);
          v128_t g = wasm_v128_load(dy + o + c);
          v128_t s01 = wasm_f32x4_gt(v01, v00);
          v128_t m = wasm_v128_bitselect(v01, v00, s01);
          v128_t s10 = wasm_f32x4_gt(v10, m);
          m = wasm_v128_bitselect(v10, m, s10);
          v128_t s11 = wasm_f32x4_gt(v11, m);
          v128_t w10 = wasm_v128_andnot(s10, s11);
          v128_t w01 = wasm_v128_andnot(wasm_v128_andnot(s01, s10), s11);
          v128_t w00 = wasm_v128_not(wasm_v128_or(wasm_v128_or(s01, s10), s11));
          wasm_v128_store(dx + p + c, wasm_v128_and(g, w00));
          wasm_v128_store(dx + p + C + c, wasm_v128_and(g, w01));
          wasm_v128_store(dx + p + row + c, wasm_v128_and(g, w10));
          wasm_v128_store(dx + p + row + C + c, wasm_v128_and(g, s11));
        }
        for (; c < C; c++) {
          const long q00 = p + c, q01 = q00 + C, q10 = q00 + row, q11 = q10 + C;
          long best = q00;
          float bv = x[q00];
          if (x[q01] > bv) { best = q01; bv = x[q01]; }
          if (x[q10] > bv) { best = q10; bv = x[q10]; }
          if (x[q11] > bv) best = q11;
          dx[q00] = 0; dx[q01] = 0; dx[q10] = 0; dx[q11] = 0;
          dx[best] = dy[o + c];
        }
      }
    }
  }
}

// One Adam step (PyTorch's rule) on n parameters, in float32: g' = g scale, m = b1 m + c1 g',
// v = b2 v + c2 g'^2, p -= lr m / (sqrt(v) inv_sqrt_bc2 + eps), with lr already divided by the
// first-moment bias correction and inv_sqrt_bc2 = 1 / sqrt(1 - beta2^t).
EXPORT(adam_step)
void adam_step(float *p, const float *g, float *m, float *v, int n, float scale, float b1, float c1, float b2,
               float c2, float lr, float inv_sqrt_bc2, float eps) {
  const v128_t vs = wasm_f32x4_splat(scale), vb1 = wasm_f32x4_splat(b1), vc1 = wasm_f32x4_splat(c1);
  const v128_t vb2 = wasm_f32x4_splat(b2), vc2 = wasm_f32x4_splat(c2), vlr = wasm_f32x4_splat(lr);
  const v128_t vib = wasm_f32x4_splat(inv_sqrt_bc2), veps = wasm_f32x4_splat(eps);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t gi = wasm_f32x4_mul(wasm_v128_load(g + i), vs);
    v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(vb1, wasm_v128_load(m + i)), wasm_f32x4_mul(vc1, gi));
    v128_t vi = wasm_f32x4_add(wasm_f32x4_mul(vb2, wasm_v128_load(v + i)), wasm_f32x4_mul(vc2, wasm_f32x4_mul(gi, gi)));
    wasm_v128_store(m + i, mi);
    wasm_v128_store(v + i, vi);
    v128_t den = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_sqrt(vi), vib), veps);
    wasm_v128_store(p + i, wasm_f32x4_sub(wasm_v128_load(p + i), wasm_f32x4_div(wasm_f32x4_mul(vlr, mi), den)));
  }
  for (; i < n; i++) {
    float gi = g[i] * scale;
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * mi / (__builtin_sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

// Sum of squares of n floats (double accumulation over float blocks of 4 lanes).
EXPORT(sum_sq)
double sum_sq(const float *g, int n) {
  double s = 0;
  int i = 0;
  for (; i + 64 <= n; i += 64) {
    v128_t a = wasm_f32x4_splat(0.0f);
    for (int k = 0; k < 64; k += 4) { v128_t x = wasm_v128_load(g + i + k); a = wasm_f32x4_add(a, wasm_f32x4_mul(x, x)); }
    s += (double)wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 2) + wasm_f32x4_extract_lane(a, 3);
  }
  for (; i < n; i++) s += (double)g[i] * g[i];
  return s;
}
