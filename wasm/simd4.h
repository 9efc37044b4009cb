/* SIMD helpers shared by the kernels that work on 4 pixels at a time (slices_pairs.c, hartley.c). */
#ifndef CRYOSPIN_WASM_SIMD4_H
#define CRYOSPIN_WASM_SIMD4_H
#include "common.h"
#include <wasm_simd128.h>

typedef v128_t V;

INLINE V fmadd(V a, V b, V c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }
INLINE float hsum(V v) {
  V t = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  t = wasm_f32x4_add(t, wasm_i32x4_shuffle(t, t, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(t, 0);
}

/* floor, its int, and the float fraction of 4 coordinates held as two f64x2 halves. */
INLINE void split4(V lo, V hi, V *cell, V *frac) {
  const V flo = wasm_f64x2_floor(lo), fhi = wasm_f64x2_floor(hi);
  *cell = wasm_i32x4_shuffle(wasm_i32x4_trunc_sat_f64x2_zero(flo), wasm_i32x4_trunc_sat_f64x2_zero(fhi), 0, 1, 4, 5);
  *frac = wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_sub(lo, flo)),
                             wasm_f32x4_demote_f64x2_zero(wasm_f64x2_sub(hi, fhi)), 0, 1, 4, 5);
}

/* Horizontal sums of 4 vectors, in hsum's order: (sum P0, sum P1, sum P2, sum P3). */
INLINE V hsum4(V P0, V P1, V P2, V P3) {
  const V a = wasm_f32x4_add(wasm_i32x4_shuffle(P0, P1, 0, 4, 1, 5), wasm_i32x4_shuffle(P0, P1, 2, 6, 3, 7));
  const V b = wasm_f32x4_add(wasm_i32x4_shuffle(P2, P3, 0, 4, 1, 5), wasm_i32x4_shuffle(P2, P3, 2, 6, 3, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}

#endif
