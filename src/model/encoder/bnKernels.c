// BatchNorm(+ReLU) passes over channels-last float32 data, and the separable filter-bank pass, for
// WebAssembly SIMD (clang --target=wasm32 -O3 -msimd128; see bnKernelsBuild.sh). Called from
// bnWasm.ts; x, y, dy, dx are n x C row-major; per-channel statistics are accumulated in double.
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

// Backward pass 1: g = dy masked where x sc + sh <= 0 (if relu); sums of g and g x per channel.
EXPORT(bn_back1)
void bn_back1(const float *x, const float *dy, int n, int C, const float *sc, const float *sh, int relu,
              double *sg, double *sgx, float *a1, float *a2) {
  for (int c = 0; c < C; c++) { sg[c] = 0; sgx[c] = 0; }
  v128_t z = wasm_f32x4_splat(0.0f);
  for (int i0 = 0; i0 < n; i0 += 64) {
    int i1 = i0 + 64 < n ? i0 + 64 : n;
    for (int c = 0; c < C; c++) { a1[c] = 0; a2[c] = 0; }
    for (int i = i0; i < i1; i++) {
      const float *r = x + (long)i * C;
      const float *d = dy + (long)i * C;
      int c = 0;
      for (; c + 4 <= C; c += 4) {
        v128_t xv = wasm_v128_load(r + c);
        v128_t g = wasm_v128_load(d + c);
        if (relu) {
          v128_t pre = wasm_f32x4_add(wasm_f32x4_mul(xv, wasm_v128_load(sc + c)), wasm_v128_load(sh + c));
          g = wasm_v128_and(g, wasm_f32x4_gt(pre, z));
        }
        wasm_v128_store(a1 + c, wasm_f32x4_add(wasm_v128_load(a1 + c), g));
        wasm_v128_store(a2 + c, wasm_f32x4_add(wasm_v128_load(a2 + c), wasm_f32x4_mul(g, xv)));
      }
      for (; c < C; c++) {
        float g = d[c];
        if (relu && !(r[c] * sc[c] + sh[c] > 0)) g = 0;
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
  v128_t z = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < n; i++) {
    const float *r = x + (long)i * C;
    const float *d = dy + (long)i * C;
    float *o = dx + (long)i * C;
    int c = 0;
    for (; c + 4 <= C; c += 4) {
      v128_t xv = wasm_v128_load(r + c);
      v128_t g = wasm_v128_load(d + c);
      if (relu) {
        v128_t pre = wasm_f32x4_add(wasm_f32x4_mul(xv, wasm_v128_load(sc + c)), wasm_v128_load(sh + c));
        g = wasm_v128_and(g, wasm_f32x4_gt(pre, z));
      }
      v128_t xm = wasm_f32x4_sub(xv, wasm_v128_load(m + c));
      v128_t v = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(p + c), g),
                                               wasm_f32x4_mul(wasm_v128_load(q + c), xm)), wasm_v128_load(rr + c));
      wasm_v128_store(o + c, v);
    }
    for (; c < C; c++) {
      float g = d[c];
      if (relu && !(r[c] * sc[c] + sh[c] > 0)) g = 0;
      o[c] = p[c] * g + q[c] * (r[c] - m[c]) + rr[c];
    }
  }
}
