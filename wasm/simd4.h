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

/* The unmasked pixels (kx^2 + ky^2 <= r2max, kx = x - ci) of a row form one interval [xlo, xhi)
 * (empty: xlo = xhi = Di). Found in O(1) from h = floor(sqrt(r2max - ky^2)), then moved by the
 * exact test itself, so the interval is the one a pixel-by-pixel scan gives (which cost O(Di) per
 * row and slab: ~5% of the D=128 slab kernels' time with a radius limit). */
INLINE int disc_in(int ci, double ky, double r2max, int x) { return !((double)(x - ci) * (x - ci) + ky * ky > r2max); }
INLINE void disc_row(int Di, int ci, double ky, double r2max, int *xlo, int *xhi) {
  const double rem = r2max - ky * ky;
  int lo = 0, hi = Di;
  if (rem < (double)Di * (double)Di) {
    const int h = rem > 0 ? (int)__builtin_sqrt(rem) : 0;
    lo = ci - h < 0 ? 0 : ci - h;
    hi = ci + h + 1 > Di ? Di : ci + h + 1;
    if (lo > hi) lo = hi;
    while (lo < hi && !disc_in(ci, ky, r2max, lo)) lo++;
    while (lo > 0 && disc_in(ci, ky, r2max, lo - 1)) lo--;
    while (hi > lo && !disc_in(ci, ky, r2max, hi - 1)) hi--;
    while (hi < Di && disc_in(ci, ky, r2max, hi)) hi++;
    if (hi <= lo) { lo = Di; hi = Di; }
  }
  *xlo = lo;
  *xhi = hi;
}

/* Trilinear cells of 4 sample points: integer corner (ix, iy, iz) and fractions (fx, fy, fz). */
typedef struct { V ix, iy, iz, fx, fy, fz; } Cells4;

/*
 * Cells of the points cv + s q, q = a k + r for k = k0 .. k0+3 (a, r: per-axis f64x2 splats),
 * s = +1 or -1 (mirror), in float64 with the scalar path's expression (a k + r) + cv.
 */
INLINE void cells4(V ax2, V ay2, V az2, V rx2, V ry2, V rz2, V cv2, double k0, int mirror, Cells4 *c) {
  const V kA = wasm_f64x2_make(k0, k0 + 1), kB = wasm_f64x2_make(k0 + 2, k0 + 3);
  V qxA = wasm_f64x2_add(wasm_f64x2_mul(ax2, kA), rx2), qxB = wasm_f64x2_add(wasm_f64x2_mul(ax2, kB), rx2);
  V qyA = wasm_f64x2_add(wasm_f64x2_mul(ay2, kA), ry2), qyB = wasm_f64x2_add(wasm_f64x2_mul(ay2, kB), ry2);
  V qzA = wasm_f64x2_add(wasm_f64x2_mul(az2, kA), rz2), qzB = wasm_f64x2_add(wasm_f64x2_mul(az2, kB), rz2);
  if (mirror) {
    qxA = wasm_f64x2_neg(qxA); qxB = wasm_f64x2_neg(qxB);
    qyA = wasm_f64x2_neg(qyA); qyB = wasm_f64x2_neg(qyB);
    qzA = wasm_f64x2_neg(qzA); qzB = wasm_f64x2_neg(qzB);
  }
  split4(wasm_f64x2_add(qxA, cv2), wasm_f64x2_add(qxB, cv2), &c->ix, &c->fx);
  split4(wasm_f64x2_add(qyA, cv2), wasm_f64x2_add(qyB, cv2), &c->iy, &c->fy);
  split4(wasm_f64x2_add(qzA, cv2), wasm_f64x2_add(qzB, cv2), &c->iz, &c->fz);
}

/* Lanes whose cell lies inside a D^3 grid (lim = D - 1 splat): all 8 corners on the grid. */
INLINE V cells4_inside(const Cells4 *c, V lim) {
  return wasm_v128_and(wasm_v128_and(wasm_u32x4_lt(c->ix, lim), wasm_u32x4_lt(c->iy, lim)), wasm_u32x4_lt(c->iz, lim));
}

/* Flat voxel index (z D + y) D + x of each lane's first corner (D4 = D splat). */
INLINE V cells4_index(const Cells4 *c, V D4) {
  return wasm_i32x4_add(wasm_i32x4_mul(wasm_i32x4_add(wasm_i32x4_mul(c->iz, D4), c->iy), D4), c->ix);
}

/* Add one pixel's dL/dp (PX, PY, PZ) at frequency KX to the float64 row sums of a rotation-gradient
 * kernel (rowx.. = sum dL/dp, kxx.. = sum kx dL/dp; see ROTGRAD_LOOP in trilinear.h). */
#define ACC_PIXEL(KX, PX, PY, PZ)                                             \
  do {                                                                       \
    const double kx_ = (KX);                                                 \
    const float px_ = (PX), py_ = (PY), pz_ = (PZ);                          \
    rowx += px_; rowy += py_; rowz += pz_;                                   \
    kxx += kx_ * px_; kxy += kx_ * py_; kxz += kx_ * pz_;                    \
  } while (0)

#endif
