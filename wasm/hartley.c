/*
 * cryospin WebAssembly kernels, part 3: fused Fourier slices of a real Hartley-space volume H
 * (cryoSPIN's explicit decoder; contract of src/core/backend/hartleySlices.ts). Each pixel's
 * relative sample point q = A^T k · s is computed once and H is sampled at cv + q and cv - q:
 *     F(k) = (H(q) + H(-q))/2 + i (H(-q) - H(q))/2.
 * Backward for g = dL/dF: a = (gRe - gIm)/2 goes to +q, b = (gRe + gIm)/2 to -q, and
 * dL/dq = a ∇H(q) - b ∇H(-q). Same geometry, masking and float64 accumulation as slices.c;
 * the mirrored point is computed as -(q) + cv, exactly the value the two-gather route (matrices
 * -A) produces, so both routes pick the same cells. gather_h and rotgrad_h work on 4 pixels at a
 * time (simd4.h): the +q and -q cell rows of a pixel share one vector (64-bit loads of the x0,
 * x0+1 voxel pairs); scatter_h_slabs is scalar (the volume step is 1 in 6 steps of the loop)
 * and split by z-slabs (slab.h) so that threads add into disjoint planes of the output.
 * hgather_slabs / hgather_combine / hrotgrad_slabs (end of file) split the gather and the rotation
 * gradient by z-slabs as well and sample H once per pixel (scalar paths; they replace gather_h /
 * rotgrad_h in the backend where present).
 */
#include "slab.h"

INLINE float sample_r(const float *v, int Dv, const Tri *t) {
  if (tri_inside(t, Dv)) return tri_interior(v, Dv, t);
  if (tri_touches(t, Dv)) return tri_edge(v, Dv, t, 1);
  return 0.0f;
}

/* F at one pixel from its relative sample point q (the scalar path of gather_h). */
INLINE void gather_h_one(const float *H, int Dv, double qx, double qy, double qz, float *ore, float *oim, size_t o) {
  const int cv = Dv / 2;
  Tri t1, t2;
  tri_setup(qx + cv, qy + cv, qz + cv, &t1);
  tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
  const float h1 = sample_r(H, Dv, &t1), h2 = sample_r(H, Dv, &t2);
  ore[o] = 0.5f * (h1 + h2);
  oim[o] = 0.5f * (h2 - h1);
}

/* Rows (x0, x0+1) of the cells of lane L at +q (lanes 0,1) and -q (lanes 2,3), y/z-interpolated. */
#define H_LANE(L)                                                                                  \
  ({                                                                                              \
    const float *p_ = H + wasm_i32x4_extract_lane(i1, L), *m_ = H + wasm_i32x4_extract_lane(i2, L); \
    V v_ = wasm_f32x4_mul(wasm_v128_load64_lane(m_, wasm_v128_load64_zero(p_), 1),                \
                          wasm_i32x4_shuffle(wa1, wa2, L, L, L + 4, L + 4));                      \
    v_ = fmadd(wasm_v128_load64_lane(m_ + sy, wasm_v128_load64_zero(p_ + sy), 1),                 \
               wasm_i32x4_shuffle(wb1, wb2, L, L, L + 4, L + 4), v_);                             \
    v_ = fmadd(wasm_v128_load64_lane(m_ + sz, wasm_v128_load64_zero(p_ + sz), 1),                 \
               wasm_i32x4_shuffle(wc1, wc2, L, L, L + 4, L + 4), v_);                             \
    fmadd(wasm_v128_load64_lane(m_ + sz + sy, wasm_v128_load64_zero(p_ + sz + sy), 1),            \
          wasm_i32x4_shuffle(wd1, wd2, L, L, L + 4, L + 4), v_);                                  \
  })

/*
 * Hartley slices of slices b0..b1-1. Pixels 4 at a time: sample points +q and -q (float64, the
 * scalar expressions), cells, fractions and weights in SIMD; each of the 4 cell rows of a pixel
 * is one 64-bit load per sample point. Groups with a cell on the border use gather_h_one.
 * (SIMD and scalar paths round differently in the last bit: y/z before x versus x first.)
 */
EXPORT void gather_h(const float *H, int Dv, const double *rots, int b0, int b1, int Di, float *ore, float *oim,
                     double r2max) {
  const size_t sy = (size_t)Dv, sz = (size_t)Dv * Dv;
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  const V lim = wasm_i32x4_splat(Dv - 1), one = wasm_f32x4_splat(1.0f), half = wasm_f32x4_splat(0.5f);
  const V cv2 = wasm_f64x2_splat((double)cv), Dv4 = wasm_i32x4_splat(Dv);
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    const V ax2 = wasm_f64x2_splat(ax), ay2 = wasm_f64x2_splat(ay), az2 = wasm_f64x2_splat(az);
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      const V rx2 = wasm_f64x2_splat(rx), ry2 = wasm_f64x2_splat(ry), rz2 = wasm_f64x2_splat(rz);
      const size_t row = (size_t)b * Di * Di + (size_t)y * Di;
      int xlo, xhi;
      disc_row(Di, ci, ky, r2max, &xlo, &xhi);
      for (int x = 0; x < xlo; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
      for (int x = xhi; x < Di; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
      int x = xlo;
      for (; x + 4 <= xhi; x += 4) {
        const double k0 = x - ci;
        Cells4 c1, c2;
        cells4(ax2, ay2, az2, rx2, ry2, rz2, cv2, k0, 0, &c1);
        cells4(ax2, ay2, az2, rx2, ry2, rz2, cv2, k0, 1, &c2);
        const V in1 = cells4_inside(&c1, lim), in2 = cells4_inside(&c2, lim);
        if (!wasm_i32x4_all_true(wasm_v128_and(in1, in2))) {
          for (int l = 0; l < 4; l++) {
            const double kx = k0 + l;
            gather_h_one(H, Dv, ax * kx + rx, ay * kx + ry, az * kx + rz, ore, oim, row + x + l);
          }
          continue;
        }
        /* float indices of the cells' first voxels */
        const V i1 = cells4_index(&c1, Dv4), i2 = cells4_index(&c2, Dv4);
        const V fx1 = c1.fx, fy1 = c1.fy, fz1 = c1.fz, fx2 = c2.fx, fy2 = c2.fy, fz2 = c2.fz;
        const V uy1 = wasm_f32x4_sub(one, fy1), uz1 = wasm_f32x4_sub(one, fz1);
        const V uy2 = wasm_f32x4_sub(one, fy2), uz2 = wasm_f32x4_sub(one, fz2);
        const V wa1 = wasm_f32x4_mul(uy1, uz1), wb1 = wasm_f32x4_mul(fy1, uz1), wc1 = wasm_f32x4_mul(uy1, fz1), wd1 = wasm_f32x4_mul(fy1, fz1);
        const V wa2 = wasm_f32x4_mul(uy2, uz2), wb2 = wasm_f32x4_mul(fy2, uz2), wc2 = wasm_f32x4_mul(uy2, fz2), wd2 = wasm_f32x4_mul(fy2, fz2);
        const V v0 = H_LANE(0), v1 = H_LANE(1), v2 = H_LANE(2), v3 = H_LANE(3);
        /* x interpolation: lo/hi = x0/x0+1 values of (h1, h2) for two pixels */
        const V lo01 = wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6), hi01 = wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7);
        const V lo23 = wasm_i32x4_shuffle(v2, v3, 0, 2, 4, 6), hi23 = wasm_i32x4_shuffle(v2, v3, 1, 3, 5, 7);
        const V r01 = fmadd(wasm_f32x4_sub(hi01, lo01), wasm_i32x4_shuffle(fx1, fx2, 0, 4, 1, 5), lo01);
        const V r23 = fmadd(wasm_f32x4_sub(hi23, lo23), wasm_i32x4_shuffle(fx1, fx2, 2, 6, 3, 7), lo23);
        const V h1 = wasm_i32x4_shuffle(r01, r23, 0, 2, 4, 6), h2 = wasm_i32x4_shuffle(r01, r23, 1, 3, 5, 7);
        wasm_v128_store(ore + row + x, wasm_f32x4_mul(half, wasm_f32x4_add(h1, h2)));
        wasm_v128_store(oim + row + x, wasm_f32x4_mul(half, wasm_f32x4_sub(h2, h1)));
      }
      for (; x < xhi; x++) {
        const double kx = x - ci;
        gather_h_one(H, Dv, ax * kx + rx, ay * kx + ry, az * kx + rz, ore, oim, row + x);
      }
    }
  }
}

/* The two samples of pixel x of a row, each added only into the planes [zl, zh) (scatter_h_slabs). */
INLINE void scatter_h_px(const float *gre, const float *gim, size_t o, double ax, double ay, double az, double rx,
                         double ry, double rz, double kx, int cv, float *acc, int Dv, int plus, int minus, int zl, int zh) {
  const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;
  const float gr = gre[o], gi = gim[o];
  if (plus) {
    Tri t;
    tri_setup(qx + cv, qy + cv, qz + cv, &t);
    if (tri_touches(&t, Dv)) splat_add_z(acc, Dv, &t, 0.5f * (gr - gi), tri_inside(&t, Dv), 1, zl, zh);
  }
  if (minus) {
    Tri t2;
    tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
    if (tri_touches(&t2, Dv)) splat_add_z(acc, Dv, &t2, 0.5f * (gr + gi), tri_inside(&t2, Dv), 1, zl, zh);
  }
}

/*
 * ADDS dL/dH of all B slices into acc (Dv^3), z-slabs k0..k1-1 of the plane table bounds (slab.h):
 * slab k adds only into its planes [bounds[k], bounds[k+1]), taking the pixels whose +q cell or
 * -q cell has a corner there (two intervals of each row: the -q point's z is -(az k + rz) + cv,
 * the +q expression with (-az, -rz)). Pixels go in row order with +q before -q, as one thread
 * does them, so every voxel sums its terms in the same order for any slab split; threads write
 * disjoint planes of acc itself (no private volumes, no reduction).
 */
EXPORT void scatter_h_slabs(const float *gre, const float *gim, int Di, const double *rots, int B, int Dv, float *acc,
                            double r2max, const double *bounds, int K, int k0, int k1) {
  const int ci = Di / 2, cv = Dv / 2;
  const double cvd = (double)cv, sc = (double)Dv / (double)Di;
  (void)K;
  for (int k = k0; k < k1; k++) {
    const int p0 = slab_at(bounds, k), p1 = slab_at(bounds, k + 1);
    if (p1 <= p0) continue;
    for (int b = 0; b < B; b++) {
      const double *A = rots + 9 * b;
      const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
      const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
      for (int y = 0; y < Di; y++) {
        const double ky = y - ci;
        const double rx = bx * ky, ry = by * ky, rz = bz * ky;
        const size_t row = (size_t)b * Di * Di + (size_t)y * Di;
        int xlo, xhi, a1, b1, a2, b2;
        disc_row(Di, ci, ky, r2max, &xlo, &xhi);
        zspan(az, rz, cvd, ci, xlo, xhi, (double)(p0 - 1), (double)p1, &a1, &b1);
        zspan(-az, -rz, cvd, ci, xlo, xhi, (double)(p0 - 1), (double)p1, &a2, &b2);
        /* the union of [a1, b1) (+q) and [a2, b2) (-q) in increasing x */
        const int s1 = a1 <= a2 ? a1 : a2, e1 = a1 <= a2 ? b1 : b2;
        const int s2 = a1 <= a2 ? a2 : a1, e2 = a1 <= a2 ? b2 : b1;
        for (int x = s1; x < e1; x++)
          scatter_h_px(gre, gim, row + x, ax, ay, az, rx, ry, rz, x - ci, cv, acc, Dv, x >= a1 && x < b1, x >= a2 && x < b2, p0, p1);
        for (int x = e1 > s2 ? e1 : s2; x < e2; x++)
          scatter_h_px(gre, gim, row + x, ax, ay, az, rx, ry, rz, x - ci, cv, acc, Dv, x >= a1 && x < b1, x >= a2 && x < b2, p0, p1);
      }
    }
  }
}

/* dL/dq at one pixel (the scalar path of rotgrad_h). */
INLINE void rotgrad_h_one(const float *H, int Dv, double qx, double qy, double qz, float gr, float gi, float *px,
                          float *py, float *pz) {
  const int cv = Dv / 2;
  Tri t, t2;
  tri_setup(qx + cv, qy + cv, qz + cv, &t);
  tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
  *px = 0; *py = 0; *pz = 0;
  if (tri_touches(&t, Dv)) {
    float gx, gy, gz;
    const float a = 0.5f * (gr - gi);
    tri_grad(H, Dv, &t, tri_inside(&t, Dv), 1, &gx, &gy, &gz);
    *px += a * gx; *py += a * gy; *pz += a * gz;
  }
  if (tri_touches(&t2, Dv)) {
    float gx, gy, gz;
    const float bb = 0.5f * (gr + gi);
    tri_grad(H, Dv, &t2, tri_inside(&t2, Dv), 1, &gx, &gy, &gz);
    *px -= bb * gx; *py -= bb * gy; *pz -= bb * gz;
  }
}

/* Lane L of rotgrad_h: cell rows of +q (lanes 0,1: x0, x0+1) and -q (lanes 2,3); X, Y, Z as in
 * rotgrad_one (slices_pairs.c) times the lane's weights into PX, PY, PZ (summed by hsum4). */
#define RH_LANE(L, PX, PY, PZ)                                                                     \
  do {                                                                                            \
    const float *p_ = H + wasm_i32x4_extract_lane(i1, L), *m_ = H + wasm_i32x4_extract_lane(i2, L); \
    const V a_ = wasm_v128_load64_lane(m_, wasm_v128_load64_zero(p_), 1);                         \
    const V b_ = wasm_v128_load64_lane(m_ + sy, wasm_v128_load64_zero(p_ + sy), 1);               \
    const V c_ = wasm_v128_load64_lane(m_ + sz, wasm_v128_load64_zero(p_ + sz), 1);               \
    const V d_ = wasm_v128_load64_lane(m_ + sz + sy, wasm_v128_load64_zero(p_ + sz + sy), 1);     \
    V X_ = wasm_f32x4_mul(a_, wasm_i32x4_shuffle(wa1, wa2, L, L, L + 4, L + 4));                 \
    X_ = fmadd(b_, wasm_i32x4_shuffle(wb1, wb2, L, L, L + 4, L + 4), X_);                         \
    X_ = fmadd(c_, wasm_i32x4_shuffle(wc1, wc2, L, L, L + 4, L + 4), X_);                         \
    X_ = fmadd(d_, wasm_i32x4_shuffle(wd1, wd2, L, L, L + 4, L + 4), X_);                         \
    const V Y_ = fmadd(wasm_f32x4_sub(b_, a_), wasm_i32x4_shuffle(uz1, uz2, L, L, L + 4, L + 4),   \
                       wasm_f32x4_mul(wasm_f32x4_sub(d_, c_), wasm_i32x4_shuffle(fz1, fz2, L, L, L + 4, L + 4))); \
    const V Z_ = fmadd(wasm_f32x4_sub(c_, a_), wasm_i32x4_shuffle(uy1, uy2, L, L, L + 4, L + 4),   \
                       wasm_f32x4_mul(wasm_f32x4_sub(d_, b_), wasm_i32x4_shuffle(fy1, fy2, L, L, L + 4, L + 4))); \
    const V ab_ = wasm_i32x4_shuffle(a4, b4, L, L, L + 4, L + 4); /* (a, a, b, b) */            \
    const V lo_ = wasm_i32x4_shuffle(ux1, fx1, L, L + 4, L, L + 4);                               \
    const V hi_ = wasm_i32x4_shuffle(ux2, fx2, L, L + 4, L, L + 4);                               \
    const V W_ = wasm_f32x4_mul(wasm_f32x4_mul(ab_, sgnW), wasm_i32x4_shuffle(lo_, hi_, 0, 1, 6, 7)); \
    PX = wasm_f32x4_mul(X_, wasm_f32x4_mul(ab_, sgnX));                                           \
    PY = wasm_f32x4_mul(Y_, W_);                                                                  \
    PZ = wasm_f32x4_mul(Z_, W_);                                                                  \
  } while (0)

/*
 * dL/dA for slices b0..b1-1 (overwrites dR[9b..9b+8]; row 2 is zero), float64 accumulation.
 * Pixels 4 at a time like gather_h; dL/dq = a grad H(q) - b grad H(-q), a = (gRe - gIm)/2,
 * b = (gRe + gIm)/2; border groups use rotgrad_h_one.
 */
EXPORT void rotgrad_h(const float *H, int Dv, const double *rots, int b0, int b1, int Di, const float *gre,
                      const float *gim, double *dR, double r2max) {
  const size_t sy = (size_t)Dv, sz = (size_t)Dv * Dv;
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  const V lim = wasm_i32x4_splat(Dv - 1), one = wasm_f32x4_splat(1.0f), half = wasm_f32x4_splat(0.5f);
  const V cv2 = wasm_f64x2_splat((double)cv), Dv4 = wasm_i32x4_splat(Dv);
  const V sgnX = wasm_f32x4_make(-1.0f, 1.0f, 1.0f, -1.0f), sgnW = wasm_f32x4_make(1.0f, 1.0f, -1.0f, -1.0f);
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    const V ax2 = wasm_f64x2_splat(ax), ay2 = wasm_f64x2_splat(ay), az2 = wasm_f64x2_splat(az);
    double s0x = 0, s0y = 0, s0z = 0, s1x = 0, s1y = 0, s1z = 0;
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      const V rx2 = wasm_f64x2_splat(rx), ry2 = wasm_f64x2_splat(ry), rz2 = wasm_f64x2_splat(rz);
      const size_t row = (size_t)b * Di * Di + (size_t)y * Di;
      double rowx = 0, rowy = 0, rowz = 0, kxx = 0, kxy = 0, kxz = 0;
      int xlo, xhi;
      disc_row(Di, ci, ky, r2max, &xlo, &xhi);
      for (int x = xlo; x < xhi;) {
        const double k0 = x - ci;
        const int n = x + 4 <= xhi ? 4 : 1;
        int simd = 0;
        if (n == 4) {
          Cells4 c1, c2;
          cells4(ax2, ay2, az2, rx2, ry2, rz2, cv2, k0, 0, &c1);
          cells4(ax2, ay2, az2, rx2, ry2, rz2, cv2, k0, 1, &c2);
          const V in1 = cells4_inside(&c1, lim), in2 = cells4_inside(&c2, lim);
          if (wasm_i32x4_all_true(wasm_v128_and(in1, in2))) {
            const V i1 = cells4_index(&c1, Dv4), i2 = cells4_index(&c2, Dv4);
            const V fx1 = c1.fx, fy1 = c1.fy, fz1 = c1.fz, fx2 = c2.fx, fy2 = c2.fy, fz2 = c2.fz;
            const V ux1 = wasm_f32x4_sub(one, fx1), uy1 = wasm_f32x4_sub(one, fy1), uz1 = wasm_f32x4_sub(one, fz1);
            const V ux2 = wasm_f32x4_sub(one, fx2), uy2 = wasm_f32x4_sub(one, fy2), uz2 = wasm_f32x4_sub(one, fz2);
            const V wa1 = wasm_f32x4_mul(uy1, uz1), wb1 = wasm_f32x4_mul(fy1, uz1), wc1 = wasm_f32x4_mul(uy1, fz1), wd1 = wasm_f32x4_mul(fy1, fz1);
            const V wa2 = wasm_f32x4_mul(uy2, uz2), wb2 = wasm_f32x4_mul(fy2, uz2), wc2 = wasm_f32x4_mul(uy2, fz2), wd2 = wasm_f32x4_mul(fy2, fz2);
            const V g4r = wasm_v128_load(gre + row + x), g4i = wasm_v128_load(gim + row + x);
            const V a4 = wasm_f32x4_mul(half, wasm_f32x4_sub(g4r, g4i)), b4 = wasm_f32x4_mul(half, wasm_f32x4_add(g4r, g4i));
            V PX0, PY0, PZ0, PX1, PY1, PZ1, PX2, PY2, PZ2, PX3, PY3, PZ3;
            RH_LANE(0, PX0, PY0, PZ0);
            RH_LANE(1, PX1, PY1, PZ1);
            RH_LANE(2, PX2, PY2, PZ2);
            RH_LANE(3, PX3, PY3, PZ3);
            const V sx = hsum4(PX0, PX1, PX2, PX3), sy4 = hsum4(PY0, PY1, PY2, PY3), sz4 = hsum4(PZ0, PZ1, PZ2, PZ3);
            ACC_PIXEL(k0, wasm_f32x4_extract_lane(sx, 0), wasm_f32x4_extract_lane(sy4, 0), wasm_f32x4_extract_lane(sz4, 0));
            ACC_PIXEL(k0 + 1, wasm_f32x4_extract_lane(sx, 1), wasm_f32x4_extract_lane(sy4, 1), wasm_f32x4_extract_lane(sz4, 1));
            ACC_PIXEL(k0 + 2, wasm_f32x4_extract_lane(sx, 2), wasm_f32x4_extract_lane(sy4, 2), wasm_f32x4_extract_lane(sz4, 2));
            ACC_PIXEL(k0 + 3, wasm_f32x4_extract_lane(sx, 3), wasm_f32x4_extract_lane(sy4, 3), wasm_f32x4_extract_lane(sz4, 3));
            simd = 1;
          }
        }
        if (!simd) {
          for (int l = 0; l < n; l++) {
            const double kx = k0 + l;
            float px, py, pz;
            rotgrad_h_one(H, Dv, ax * kx + rx, ay * kx + ry, az * kx + rz, gre[row + x + l], gim[row + x + l], &px, &py, &pz);
            ACC_PIXEL(kx, px, py, pz);
          }
        }
        x += n;
      }
      s0x += kxx; s0y += kxy; s0z += kxz;
      s1x += ky * rowx; s1y += ky * rowy; s1z += ky * rowz;
    }
    double *out = dR + 9 * b;
    out[0] = s0x * sc; out[1] = s0y * sc; out[2] = s0z * sc;
    out[3] = s1x * sc; out[4] = s1y * sc; out[5] = s1z * sc;
    out[6] = 0; out[7] = 0; out[8] = 0;
  }
}

/* ---- z-slab split of the Hartley gather and rotation gradient (one sample per pixel) ----
 * Pixel k's mirrored point -q(k) is pixel -k's point q(-k), bit for bit (negation is exact and
 * (-a) + (-b) = -(a + b)), so H is sampled once per pixel at +q and the -q sample of k is read
 * from pixel -k; only pixels without a mirror in the image (even Di: row 0 and column 0) take their
 * -q sample themselves. A slab's call handles the samples whose cell z0 lies in its slab (the
 * first and last slabs open-ended, as gather_slabs), so each thread reads only its planes of H.
 */

/* pixel (x, y)'s mirror (2ci - x, 2ci - y) lies in the image */
INLINE int h_mirrored(int Di, int ci, int x, int y) { return 2 * ci - x < Di && 2 * ci - y < Di; }

/* z of the cell of pixel x's -q point (the +q expression with -az, -rz) is in [zl, zh) */
INLINE int h_minus_in(double az, double rz, double cvd, int ci, int x, double zl, double zh) {
  const double z = zrow(-az, -rz, cvd, ci, x);
  return z >= zl && z < zh;
}

/*
 * Phase 1 of the Hartley gather, slabs k0..k1-1 of the plane table bounds: hp[o] = H(+q) for the
 * unmasked pixels whose +q cell is in the slab, hm[o] = H(-q) for the unmasked pixels without a
 * mirror whose -q cell is. Every unmasked pixel's hp (and, without a mirror, hm) is written by
 * exactly one slab, so the result does not depend on the split. hgather_combine finishes.
 */
EXPORT void hgather_slabs(const float *H, int Dv, const double *rots, int B, int Di, float *hp, float *hm,
                          double r2max, const double *bounds, int K, int k0, int k1) {
  const int ci = Di / 2, cv = Dv / 2;
  const double cvd = (double)cv, sc = (double)Dv / (double)Di;
  for (int k = k0; k < k1; k++) {
    const double zl = k == 0 ? -1e300 : bounds[k], zh = k == K - 1 ? 1e300 : bounds[k + 1];
    for (int b = 0; b < B; b++) {
      const double *A = rots + 9 * b;
      const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
      const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
      for (int y = 0; y < Di; y++) {
        const double ky = y - ci;
        const double rx = bx * ky, ry = by * ky, rz = bz * ky;
        const size_t row = (size_t)b * Di * Di + (size_t)y * Di;
        int xlo, xhi, xa, xb;
        disc_row(Di, ci, ky, r2max, &xlo, &xhi);
        zspan(az, rz, cvd, ci, xlo, xhi, zl, zh, &xa, &xb);
        for (int x = xa; x < xb; x++) {
          const double kx = x - ci;
          Tri t;
          tri_setup(ax * kx + rx + cv, ay * kx + ry + cv, az * kx + rz + cv, &t);
          hp[row + x] = sample_r(H, Dv, &t);
        }
        for (int x = xlo; x < xhi; x++) {
          if (h_mirrored(Di, ci, x, y)) { if (y != 0) break; continue; }
          if (!h_minus_in(az, rz, cvd, ci, x, zl, zh)) continue;
          const double kx = x - ci;
          const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;
          Tri t2;
          tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
          hm[row + x] = sample_r(H, Dv, &t2);
        }
      }
    }
  }
}

/* Phase 2 (slices b0..b1-1): F = (h1 + h2)/2 + i (h2 - h1)/2 from hgather_slabs' planes; 0 if masked. */
EXPORT void hgather_combine(const float *hp, const float *hm, int b0, int b1, int Di, float *ore, float *oim, double r2max) {
  const int ci = Di / 2;
  for (int b = b0; b < b1; b++) {
    const size_t base = (size_t)b * Di * Di;
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const size_t row = base + (size_t)y * Di, mrow = base + (size_t)(2 * ci - y) * Di;
      int xlo, xhi;
      disc_row(Di, ci, ky, r2max, &xlo, &xhi);
      for (int x = 0; x < xlo; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
      for (int x = xhi; x < Di; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
      for (int x = xlo; x < xhi; x++) {
        const float h1 = hp[row + x], h2 = h_mirrored(Di, ci, x, y) ? hp[mrow + (size_t)(2 * ci - x)] : hm[row + x];
        ore[row + x] = 0.5f * (h1 + h2);
        oim[row + x] = 0.5f * (h2 - h1);
      }
    }
  }
}

/*
 * Rotation-gradient partial sums of slabs k0..k1-1 (as rotgrad_slabs: part[6 (k B + b) + j], float64,
 * before the factor Dv/Di; the caller adds the slabs in order). With a = (gRe - gIm)/2 and
 * b = (gRe + gIm)/2, dL/dA_ij = s sum_k k_i (a(k) dH(q(k))_j - b(k) dH(-q(k))_j); the -q term of k is
 * the +q sample of m = -k with k_i = -m_i, so each pixel m's one gradient sample gets the weight
 * a(m) + b(-m); pixels without a mirror add their own -q term.
 */
EXPORT void hrotgrad_slabs(const float *H, int Dv, const double *rots, int B, int Di, const float *gre, const float *gim,
                           double *part, double r2max, const double *bounds, int K, int k0, int k1) {
  const int ci = Di / 2, cv = Dv / 2;
  const double cvd = (double)cv, sc = (double)Dv / (double)Di;
  for (int k = k0; k < k1; k++) {
    const double zl = k == 0 ? -1e300 : bounds[k], zh = k == K - 1 ? 1e300 : bounds[k + 1];
    for (int b = 0; b < B; b++) {
      const double *A = rots + 9 * b;
      const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
      const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
      const size_t base = (size_t)b * Di * Di;
      double s0x = 0, s0y = 0, s0z = 0, s1x = 0, s1y = 0, s1z = 0;
      for (int y = 0; y < Di; y++) {
        const double ky = y - ci;
        const double rx = bx * ky, ry = by * ky, rz = bz * ky;
        const size_t row = base + (size_t)y * Di, mrow = base + (size_t)(2 * ci - y) * Di;
        double rowx = 0, rowy = 0, rowz = 0, kxx = 0, kxy = 0, kxz = 0;
        int xlo, xhi, xa, xb;
        disc_row(Di, ci, ky, r2max, &xlo, &xhi);
        zspan(az, rz, cvd, ci, xlo, xhi, zl, zh, &xa, &xb);
        for (int x = xa; x < xb; x++) {
          const double kx = x - ci;
          Tri t;
          tri_setup(ax * kx + rx + cv, ay * kx + ry + cv, az * kx + rz + cv, &t);
          if (!tri_touches(&t, Dv)) continue;
          float w = 0.5f * (gre[row + x] - gim[row + x]);
          if (h_mirrored(Di, ci, x, y)) {
            const size_t m = mrow + (size_t)(2 * ci - x);
            w += 0.5f * (gre[m] + gim[m]);
          }
          float gx, gy, gz;
          tri_grad(H, Dv, &t, tri_inside(&t, Dv), 1, &gx, &gy, &gz);
          ACC_PIXEL(kx, w * gx, w * gy, w * gz);
        }
        for (int x = xlo; x < xhi; x++) {
          if (h_mirrored(Di, ci, x, y)) { if (y != 0) break; continue; }
          if (!h_minus_in(az, rz, cvd, ci, x, zl, zh)) continue;
          const double kx = x - ci;
          const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;
          Tri t2;
          tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
          if (!tri_touches(&t2, Dv)) continue;
          const float w = -0.5f * (gre[row + x] + gim[row + x]);
          float gx, gy, gz;
          tri_grad(H, Dv, &t2, tri_inside(&t2, Dv), 1, &gx, &gy, &gz);
          ACC_PIXEL(kx, w * gx, w * gy, w * gz);
        }
        s0x += kxx; s0y += kxy; s0z += kxz;
        s1x += ky * rowx; s1y += ky * rowy; s1z += ky * rowz;
      }
      double *out = part + 6 * ((size_t)k * B + b);
      out[0] = s0x; out[1] = s0y; out[2] = s0z;
      out[3] = s1x; out[4] = s1y; out[5] = s1z;
    }
  }
}
