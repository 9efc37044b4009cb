/*
 * z-slab ownership for the multi-threaded slice kernels (slices_pairs.c; the Hartley scatter in
 * hartley.c). The volume's z planes are cut into slabs; a slab's thread handles only the pixels
 * whose trilinear cell lies in its slab (gather, rotation gradient: cell z0 in the slab) or has a
 * corner in it (scatter: each thread writes only its own planes, splat_add_z, so no private
 * volumes and no reduction pass). The slab's thread also converts its planes between the split
 * (re, im) layout and interleaved pairs, so each thread reads back what it wrote itself (its own
 * cache) instead of the other thread's half.
 *
 * Along one row of a slice the sample point's z is (az k + rz) + cv with k = x - ci: every
 * rounding step is monotone, so z is monotone in x and the pixels of a slab form one interval,
 * found from an estimate corrected with the exact expression (zspan).
 */
#ifndef CRYOSPIN_WASM_SLAB_H
#define CRYOSPIN_WASM_SLAB_H
#include "trilinear.h"
#include "simd4.h"

/* z of pixel x of a row, the same floating-point expression as the sample-point code */
INLINE double zrow(double az, double rz, double cvd, int ci, int x) { return (az * (double)(x - ci) + rz) + cvd; }

/* integer estimate in [lo, hi] of the x where zrow crosses c */
INLINE int zguess(double az, double rz, double cvd, int ci, int lo, int hi, double c) {
  const double xe = (double)ci + (c - cvd - rz) / az;
  if (!(xe > (double)lo)) return lo;
  if (xe >= (double)hi) return hi;
  return (int)xe;
}

/* first x in [lo, hi] with zrow(x) >= c (zrow non-decreasing); hi if none */
INLINE int zfirst_ge(double az, double rz, double cvd, int ci, int lo, int hi, double c) {
  int x = zguess(az, rz, cvd, ci, lo, hi, c);
  while (x > lo && zrow(az, rz, cvd, ci, x - 1) >= c) x--;
  while (x < hi && zrow(az, rz, cvd, ci, x) < c) x++;
  return x;
}

/* first x in [lo, hi] with zrow(x) < c (zrow non-increasing); hi if none */
INLINE int zfirst_lt(double az, double rz, double cvd, int ci, int lo, int hi, double c) {
  int x = zguess(az, rz, cvd, ci, lo, hi, c);
  while (x > lo && zrow(az, rz, cvd, ci, x - 1) < c) x--;
  while (x < hi && !(zrow(az, rz, cvd, ci, x) < c)) x++;
  return x;
}

/* The pixels x in [lo, hi) of a row whose z lies in [zl, zh) (integers, or -+1e300 for no
 * bound), i.e. whose cell z0 = floor(z) lies in [zl, zh): the interval [*xa, *xb). */
INLINE void zspan(double az, double rz, double cvd, int ci, int lo, int hi, double zl, double zh, int *xa, int *xb) {
  int a = lo, b = lo;
  if (lo < hi) {
    /* quick reject: the row's z range (its ends, z monotone in x) misses [zl, zh) */
    const double z0 = zrow(az, rz, cvd, ci, lo), z1 = zrow(az, rz, cvd, ci, hi - 1);
    const double zmin = z0 < z1 ? z0 : z1, zmax = z0 < z1 ? z1 : z0;
    if (zmax < zl || !(zmin < zh)) { *xa = lo; *xb = lo; return; }
  }
  if (lo < hi) {
    if (az > 0) {
      a = zfirst_ge(az, rz, cvd, ci, lo, hi, zl);
      b = zfirst_ge(az, rz, cvd, ci, lo, hi, zh);
    } else if (az < 0) {
      a = zfirst_lt(az, rz, cvd, ci, lo, hi, zh);
      b = zfirst_lt(az, rz, cvd, ci, lo, hi, zl);
    } else {
      const double z = zrow(az, rz, cvd, ci, lo);
      b = (z >= zl && z < zh) ? hi : lo;
    }
  }
  *xa = a;
  *xb = b > a ? b : a;
}

/* Slab k's bounds from the table (float64 plane indices, K+1 entries, non-decreasing). */
INLINE int slab_at(const double *bounds, int k) { return (int)bounds[k]; }

/* v[i] = 0 for n0 <= i < n1, never touching v[n1] or beyond: a slab clears exactly its own planes
 * (an odd Dv makes a plane of pairs 2 Dv^2 = 2 mod 4 floats long, so a plain 4-wide loop would
 * overrun into the next slab's first voxel, which another thread may already be accumulating). */
INLINE void clear_range(float *v, size_t n0, size_t n1) {
  size_t i = n0;
  for (; i < n1 && (i & 3); i++) v[i] = 0.0f;
  for (; i + 4 <= n1; i += 4) wasm_v128_store(v + i, wasm_f32x4_splat(0.0f));
  for (; i < n1; i++) v[i] = 0.0f;
}

/* dst[2i] = re[i], dst[2i+1] = im[i] for n0 <= i < n1 */
INLINE void interleave_range(const float *re, const float *im, float *dst, size_t n0, size_t n1) {
  size_t i = n0;
  for (; i < n1 && (i & 3); i++) { dst[2 * i] = re[i]; dst[2 * i + 1] = im[i]; }
  for (; i + 4 <= n1; i += 4) {
    V r = wasm_v128_load(re + i), m = wasm_v128_load(im + i);
    wasm_v128_store(dst + 2 * i, wasm_i32x4_shuffle(r, m, 0, 4, 1, 5));
    wasm_v128_store(dst + 2 * i + 4, wasm_i32x4_shuffle(r, m, 2, 6, 3, 7));
  }
  for (; i < n1; i++) { dst[2 * i] = re[i]; dst[2 * i + 1] = im[i]; }
}

/* re[i] += src[2i], im[i] += src[2i+1] for n0 <= i < n1 */
INLINE void deinterleave_add_range(const float *src, float *re, float *im, size_t n0, size_t n1) {
  size_t i = n0;
  for (; i < n1 && (i & 3); i++) { re[i] += src[2 * i]; im[i] += src[2 * i + 1]; }
  for (; i + 4 <= n1; i += 4) {
    V a = wasm_v128_load(src + 2 * i), b = wasm_v128_load(src + 2 * i + 4);
    wasm_v128_store(re + i, wasm_f32x4_add(wasm_v128_load(re + i), wasm_i32x4_shuffle(a, b, 0, 2, 4, 6)));
    wasm_v128_store(im + i, wasm_f32x4_add(wasm_v128_load(im + i), wasm_i32x4_shuffle(a, b, 1, 3, 5, 7)));
  }
  for (; i < n1; i++) { re[i] += src[2 * i]; im[i] += src[2 * i + 1]; }
}

#endif
