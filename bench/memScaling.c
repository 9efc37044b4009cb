/*
 * Memory-scaling probes for bench/memScaling.ts: STREAM-like loops in WebAssembly SIMD, run on
 * the same shared memory and worker-thread pool as the slice kernels (src/core/parallel/pool.ts),
 * to measure what a second core can add on memory-bound work on this machine. Each probe works on
 * the float range it is given (a thread's half, or the whole buffer for one thread) and repeats it
 * `passes` times inside one call, so the pool's dispatch cost is negligible. Built at benchmark
 * time by memScaling.ts with the flags of scripts/build-wasm.sh (not part of kernels.wasm).
 */
#include "../wasm/simd4.h"

/* out[0] = sum of a[i0..i1) (8 x 4 independent lanes, i1 - i0 a multiple of 32), `passes` times */
EXPORT void mem_read(const float *a, int i0, int i1, int passes, float *out) {
  V s0 = wasm_f32x4_splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (int p = 0; p < passes; p++) {
    for (int i = i0; i < i1; i += 32) {
      s0 = wasm_f32x4_add(s0, wasm_v128_load(a + i));
      s1 = wasm_f32x4_add(s1, wasm_v128_load(a + i + 4));
      s2 = wasm_f32x4_add(s2, wasm_v128_load(a + i + 8));
      s3 = wasm_f32x4_add(s3, wasm_v128_load(a + i + 12));
      s4 = wasm_f32x4_add(s4, wasm_v128_load(a + i + 16));
      s5 = wasm_f32x4_add(s5, wasm_v128_load(a + i + 20));
      s6 = wasm_f32x4_add(s6, wasm_v128_load(a + i + 24));
      s7 = wasm_f32x4_add(s7, wasm_v128_load(a + i + 28));
    }
  }
  *out = hsum(wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)),
                             wasm_f32x4_add(wasm_f32x4_add(s4, s5), wasm_f32x4_add(s6, s7))));
}

/* a[i] += s over [i0, i1) (read-modify-write in place, like scatter's accumulation), `passes` times */
EXPORT void mem_rmw(float *a, int i0, int i1, int passes, float s) {
  const V sv = wasm_f32x4_splat(s);
  for (int p = 0; p < passes; p++) {
    for (int i = i0; i < i1; i += 8) {
      wasm_v128_store(a + i, wasm_f32x4_add(wasm_v128_load(a + i), sv));
      wasm_v128_store(a + i + 4, wasm_f32x4_add(wasm_v128_load(a + i + 4), sv));
    }
  }
}

/* STREAM triad a[i] = b[i] + s c[i] over [i0, i1), `passes` times */
EXPORT void mem_triad(float *a, const float *b, const float *c, int i0, int i1, int passes, float s) {
  const V sv = wasm_f32x4_splat(s);
  for (int p = 0; p < passes; p++) {
    for (int i = i0; i < i1; i += 8) {
      wasm_v128_store(a + i, fmadd(wasm_v128_load(c + i), sv, wasm_v128_load(b + i)));
      wasm_v128_store(a + i + 4, fmadd(wasm_v128_load(c + i + 4), sv, wasm_v128_load(b + i + 4)));
    }
  }
}

/*
 * `loads` independent 16-byte loads at pseudo-random 16-byte-aligned positions of [i0, i1)
 * (i1 - i0 a power of two >= 4; xorshift32 positions, not data-dependent), summed into out[0]:
 * the access pattern of a trilinear gather without its arithmetic.
 */
EXPORT void mem_random(const float *a, int i0, int i1, int loads, unsigned seed, float *out) {
  const unsigned mask = (unsigned)(i1 - i0) / 4 - 1;
  unsigned x = seed | 1u, y = seed * 2654435761u | 1u;
  V s0 = wasm_f32x4_splat(0), s1 = s0;
  for (int l = 0; l < loads; l += 2) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    y ^= y << 13; y ^= y >> 17; y ^= y << 5;
    s0 = wasm_f32x4_add(s0, wasm_v128_load(a + i0 + 4 * (x & mask)));
    s1 = wasm_f32x4_add(s1, wasm_v128_load(a + i0 + 4 * (y & mask)));
  }
  *out = hsum(wasm_f32x4_add(s0, s1));
}

/* Compute-bound control: 8 independent f32x4 multiply-add chains in registers, `iters` steps. */
EXPORT void compute_fma(int iters, float *out) {
  const V m = wasm_f32x4_splat(0.999999f), c = wasm_f32x4_splat(1e-7f);
  V v0 = wasm_f32x4_splat(1), v1 = v0, v2 = v0, v3 = v0, v4 = v0, v5 = v0, v6 = v0, v7 = v0;
  for (int i = 0; i < iters; i++) {
    v0 = fmadd(v0, m, c); v1 = fmadd(v1, m, c); v2 = fmadd(v2, m, c); v3 = fmadd(v3, m, c);
    v4 = fmadd(v4, m, c); v5 = fmadd(v5, m, c); v6 = fmadd(v6, m, c); v7 = fmadd(v7, m, c);
  }
  V s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(v0, v1), wasm_f32x4_add(v2, v3)),
                       wasm_f32x4_add(wasm_f32x4_add(v4, v5), wasm_f32x4_add(v6, v7)));
  *out = hsum(s);
}
