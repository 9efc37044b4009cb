/*
 * cryospin WebAssembly kernels, part 1b: the COMPLEX slice kernels on a volume stored as
 * interleaved (re, im) pairs. The two x-neighbours of a trilinear cell are then one v128 load
 * (re x0, im x0, re x0+1, im x0+1), so a sample needs 4 vector loads instead of 16 scalar ones
 * and the y/z interpolation runs in SIMD; gather and rotgrad also compute sample points, cells
 * and weights for 4 pixels at a time (simd4.h), bit-identical to their scalar paths.
 *
 * Threads split the work by z-SLABS of the volume (slab.h): the caller passes a table of K + 1
 * plane bounds and each call handles slabs k0..k1-1. A slab's call first converts its own planes
 * (gather, rotgrad: interleaves the split planes into vc; scatter: clears its planes of the pair
 * accumulator, and at the end adds them into the split output planes), then handles the pixels
 * whose cell is in the slab (scatter: that have a corner in it, writing only its own planes).
 * Outputs per slab are disjoint, so gather and scatter give the same bits for any K and any thread
 * order; rotgrad writes per-slab partial sums that the caller adds in slab order.
 * Geometry and conventions exactly as slices.c (same sample-point expression, zero outside).
 * Cells that touch the grid border use the scalar helpers of trilinear.h with stride 2.
 */
#include "slab.h"

/* One pixel of gather_span at relative sample point q (the scalar path). */
INLINE void gather_one(const float *vc, int Dv, double qx, double qy, double qz, float *ore, float *oim, size_t o) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  const int cv = Dv / 2;
  Tri t;
  tri_setup(qx + cv, qy + cv, qz + cv, &t);
  if (tri_inside(&t, Dv)) {
    const float *p = vc + 2 * (((size_t)t.z0 * Dv + t.y0) * Dv + t.x0);
    const float uy = 1 - t.fy, uz = 1 - t.fz;
    V v = wasm_f32x4_mul(wasm_v128_load(p), wasm_f32x4_splat(uy * uz));
    v = fmadd(wasm_v128_load(p + sy), wasm_f32x4_splat(t.fy * uz), v);
    v = fmadd(wasm_v128_load(p + sz), wasm_f32x4_splat(uy * t.fz), v);
    v = fmadd(wasm_v128_load(p + sz + sy), wasm_f32x4_splat(t.fy * t.fz), v);
    /* lanes 0,1 (x0) + fx * (lanes 2,3 (x0+1) - lanes 0,1) */
    V d = wasm_f32x4_sub(wasm_i32x4_shuffle(v, v, 2, 3, 2, 3), v);
    v = fmadd(d, wasm_f32x4_splat(t.fx), v);
    ore[o] = wasm_f32x4_extract_lane(v, 0);
    oim[o] = wasm_f32x4_extract_lane(v, 1);
  } else if (tri_touches(&t, Dv)) {
    ore[o] = tri_edge(vc, Dv, &t, 2);
    oim[o] = tri_edge(vc + 1, Dv, &t, 2);
  } else {
    ore[o] = 0.0f;
    oim[o] = 0.0f;
  }
}

/* y/z interpolation of the pair row at voxel offset idx (floats) with the lane-L weights. */
#define YZ_LANE(L)                                                                           \
  ({                                                                                        \
    const float *p_ = vc + (size_t)wasm_i32x4_extract_lane(idx, L);                         \
    V v_ = wasm_f32x4_mul(wasm_v128_load(p_), wasm_i32x4_shuffle(wa, wa, L, L, L, L));     \
    v_ = fmadd(wasm_v128_load(p_ + sy), wasm_i32x4_shuffle(wb, wb, L, L, L, L), v_);       \
    v_ = fmadd(wasm_v128_load(p_ + sz), wasm_i32x4_shuffle(wc, wc, L, L, L, L), v_);       \
    fmadd(wasm_v128_load(p_ + sz + sy), wasm_i32x4_shuffle(wd, wd, L, L, L, L), v_);       \
  })

/*
 * Pixels x0..x1-1 of one slice row (row = index of its pixel 0; ax.. the scaled rotation rows,
 * rx.. = row 1 times ky). Groups of 4: sample points (float64, the scalar path's expression),
 * cells, fractions and weights in SIMD, then 4 vector loads per pixel; a group with a cell on the
 * grid border falls back to the scalar path (gather_one), so the result is bit-identical to it.
 */
INLINE void gather_span(const float *vc, int Dv, double ax, double ay, double az, double rx, double ry, double rz,
                        int ci, size_t row, int x0, int x1, float *ore, float *oim) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  const V lim = wasm_i32x4_splat(Dv - 1), one = wasm_f32x4_splat(1.0f), cv2 = wasm_f64x2_splat((double)(Dv / 2));
  const V Dv4 = wasm_i32x4_splat(Dv);
  const V ax2 = wasm_f64x2_splat(ax), ay2 = wasm_f64x2_splat(ay), az2 = wasm_f64x2_splat(az);
  const V rx2 = wasm_f64x2_splat(rx), ry2 = wasm_f64x2_splat(ry), rz2 = wasm_f64x2_splat(rz);
  int x = x0;
  for (; x + 4 <= x1; x += 4) {
    const double k0 = x - ci;
    Cells4 c;
    cells4(ax2, ay2, az2, rx2, ry2, rz2, cv2, k0, 0, &c);
    if (!wasm_i32x4_all_true(cells4_inside(&c, lim))) {
      for (int l = 0; l < 4; l++) {
        const double kx = k0 + l;
        gather_one(vc, Dv, ax * kx + rx, ay * kx + ry, az * kx + rz, ore, oim, row + x + l);
      }
      continue;
    }
    const V idx = wasm_i32x4_shl(cells4_index(&c, Dv4), 1);
    const V fx = c.fx, fy = c.fy, fz = c.fz;
    const V uy = wasm_f32x4_sub(one, fy), uz = wasm_f32x4_sub(one, fz);
    const V wa = wasm_f32x4_mul(uy, uz), wb = wasm_f32x4_mul(fy, uz), wc = wasm_f32x4_mul(uy, fz), wd = wasm_f32x4_mul(fy, fz);
    const V v0 = YZ_LANE(0), v1 = YZ_LANE(1), v2 = YZ_LANE(2), v3 = YZ_LANE(3);
    /* x interpolation, two pixels per vector: lo/hi = (x0 | x0+1) pairs of pixels l, l+1 */
    const V lo01 = wasm_i32x4_shuffle(v0, v1, 0, 1, 4, 5), hi01 = wasm_i32x4_shuffle(v0, v1, 2, 3, 6, 7);
    const V lo23 = wasm_i32x4_shuffle(v2, v3, 0, 1, 4, 5), hi23 = wasm_i32x4_shuffle(v2, v3, 2, 3, 6, 7);
    const V r01 = fmadd(wasm_f32x4_sub(hi01, lo01), wasm_i32x4_shuffle(fx, fx, 0, 0, 1, 1), lo01);
    const V r23 = fmadd(wasm_f32x4_sub(hi23, lo23), wasm_i32x4_shuffle(fx, fx, 2, 2, 3, 3), lo23);
    wasm_v128_store(ore + row + x, wasm_i32x4_shuffle(r01, r23, 0, 2, 4, 6));
    wasm_v128_store(oim + row + x, wasm_i32x4_shuffle(r01, r23, 1, 3, 5, 7));
  }
  for (; x < x1; x++) {
    const double kx = x - ci;
    gather_one(vc, Dv, ax * kx + rx, ay * kx + ry, az * kx + rz, ore, oim, row + x);
  }
}

/* Interleave the planes slab k reads: its own and the next one (cells reach z0 + 1). */
INLINE void slab_interleave(const float *re, const float *im, float *vc, int Dv, const double *bounds, int K, int k) {
  const size_t plane = (size_t)Dv * Dv;
  const int p0 = slab_at(bounds, k), p1 = slab_at(bounds, k + 1), pend = slab_at(bounds, K);
  const int q1 = p1 + 1 < pend ? p1 + 1 : pend;
  if (q1 > p0) interleave_range(re, im, vc, p0 * plane, q1 * plane);
}

/*
 * Gather all B slices from the split volume (re, im), slabs k0..k1-1 of the table bounds (K + 1
 * planes: bounds[0] .. bounds[K] - 1 hold every cell the slices reach). Slab k takes the pixels
 * whose cell z0 lies in [bounds[k], bounds[k+1]) (the first and last slabs are open-ended), and
 * slab 0 also writes the zeros outside the radius mask. vc: the interleaved scratch volume.
 */
EXPORT void gather_slabs(const float *re, const float *im, float *vc, int Dv, const double *rots, int B, int Di,
                         float *ore, float *oim, double r2max, const double *bounds, int K, int k0, int k1) {
  const int ci = Di / 2;
  const double cvd = (double)(Dv / 2), sc = (double)Dv / (double)Di;
  for (int k = k0; k < k1; k++) {
    slab_interleave(re, im, vc, Dv, bounds, K, k);
    const double zl = k == 0 ? -1e300 : bounds[k], zh = k == K - 1 ? 1e300 : bounds[k + 1];
    /* odd slabs walk the slices backwards: two threads then write different parts of the output
     * at any one time, instead of the two ends of the same rows (the cache line at the seam) */
    for (int i = 0; i < B; i++) {
      const int b = (k & 1) ? B - 1 - i : i;
      const double *A = rots + 9 * b;
      const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
      const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
      for (int y = 0; y < Di; y++) {
        const double ky = y - ci;
        const double rx = bx * ky, ry = by * ky, rz = bz * ky;
        const size_t row = (size_t)b * Di * Di + (size_t)y * Di;
        int xlo, xhi, xa, xb;
        disc_row(Di, ci, ky, r2max, &xlo, &xhi);
        if (k == 0) {
          for (int x = 0; x < xlo; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
          for (int x = xhi; x < Di; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
        }
        zspan(az, rz, cvd, ci, xlo, xhi, zl, zh, &xa, &xb);
        gather_span(vc, Dv, ax, ay, az, rx, ry, rz, ci, row, xa, xb, ore, oim);
      }
    }
  }
}

/* Adjoint of one gathered pixel, adding only into the accumulator planes zl <= z < zh. */
INLINE void scatter_px(float *acc, int Dv, const Tri *t, float sr, float si, int zl, int zh) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  if (tri_inside(t, Dv)) {
    float *p = acc + 2 * (((size_t)t->z0 * Dv + t->y0) * Dv + t->x0);
    const float ux = 1 - t->fx, uy = 1 - t->fy, uz = 1 - t->fz;
    const V val = wasm_f32x4_make(sr * ux, si * ux, sr * t->fx, si * t->fx);
    if (t->z0 >= zl) {
      wasm_v128_store(p, fmadd(val, wasm_f32x4_splat(uy * uz), wasm_v128_load(p)));
      wasm_v128_store(p + sy, fmadd(val, wasm_f32x4_splat(t->fy * uz), wasm_v128_load(p + sy)));
    }
    if (t->z0 + 1 < zh) {
      wasm_v128_store(p + sz, fmadd(val, wasm_f32x4_splat(uy * t->fz), wasm_v128_load(p + sz)));
      wasm_v128_store(p + sz + sy, fmadd(val, wasm_f32x4_splat(t->fy * t->fz), wasm_v128_load(p + sz + sy)));
    }
  } else if (tri_touches(t, Dv)) {
    splat_add_z(acc, Dv, t, sr, 0, 2, zl, zh);
    splat_add_z(acc + 1, Dv, t, si, 0, 2, zl, zh);
  }
}

/*
 * Adjoint of gather_slabs: ADDS the scatter of all B slices into the split planes (vre, vim),
 * slabs k0..k1-1. Slab k owns the planes [bounds[k], bounds[k+1]) (every written voxel lies in
 * [bounds[0], bounds[K])): it clears them in the pair accumulator acc, adds the pixels whose cell
 * has a corner there (cell z0 in [bounds[k] - 1, bounds[k+1]); a cell on a slab boundary is done
 * by both slabs, each adding its own corners), then adds its planes into vre, vim. Every voxel
 * gets its terms in the one-thread order, so the result is the same for any K.
 */
EXPORT void scatter_slabs(const float *sre, const float *sim, int Di, const double *rots, int B, int Dv, float *acc,
                          float *vre, float *vim, double r2max, const double *bounds, int K, int k0, int k1) {
  const size_t plane = (size_t)Dv * Dv;
  const int ci = Di / 2, cv = Dv / 2;
  const double cvd = (double)cv, sc = (double)Dv / (double)Di;
  (void)K;
  for (int k = k0; k < k1; k++) {
    const int p0 = slab_at(bounds, k), p1 = slab_at(bounds, k + 1);
    if (p1 <= p0) continue;
    clear_range(acc, 2 * p0 * plane, 2 * p1 * plane);
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
        zspan(az, rz, cvd, ci, xlo, xhi, (double)(p0 - 1), (double)p1, &xa, &xb);
        for (int x = xa; x < xb; x++) {
          const double kx = x - ci;
          Tri t;
          tri_setup(ax * kx + rx + cv, ay * kx + ry + cv, az * kx + rz + cv, &t);
          scatter_px(acc, Dv, &t, sre[row + x], sim[row + x], p0, p1);
        }
      }
    }
    deinterleave_add_range(acc, vre, vim, p0 * plane, p1 * plane);
  }
}

/* dL/dp of one pixel (scalar path of rotgrad_span): g = (gr, gi) = dL/dslice at the pixel. */
INLINE void rotgrad_one(const float *vc, int Dv, const Tri *t, float gr, float gi, float *px, float *py, float *pz) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  const V sgn = wasm_f32x4_make(-1.0f, -1.0f, 1.0f, 1.0f);
  if (tri_inside(t, Dv)) {
    const float *p = vc + 2 * (((size_t)t->z0 * Dv + t->y0) * Dv + t->x0);
    const float ux = 1 - t->fx, uy = 1 - t->fy, uz = 1 - t->fz;
    const V a = wasm_v128_load(p), bb = wasm_v128_load(p + sy), c = wasm_v128_load(p + sz),
            d = wasm_v128_load(p + sz + sy);
    /* X: y/z interpolation at x0 (lanes 0,1) and x0+1 (lanes 2,3) */
    V X = wasm_f32x4_mul(a, wasm_f32x4_splat(uy * uz));
    X = fmadd(bb, wasm_f32x4_splat(t->fy * uz), X);
    X = fmadd(c, wasm_f32x4_splat(uy * t->fz), X);
    X = fmadd(d, wasm_f32x4_splat(t->fy * t->fz), X);
    /* Y: y-differences interpolated in z; Z: z-differences interpolated in y */
    const V Y = fmadd(wasm_f32x4_sub(bb, a), wasm_f32x4_splat(uz), wasm_f32x4_mul(wasm_f32x4_sub(d, c), wasm_f32x4_splat(t->fz)));
    const V Z = fmadd(wasm_f32x4_sub(c, a), wasm_f32x4_splat(uy), wasm_f32x4_mul(wasm_f32x4_sub(d, bb), wasm_f32x4_splat(t->fy)));
    const V G = wasm_f32x4_make(gr, gi, gr, gi);
    const V GW = wasm_f32x4_mul(G, wasm_f32x4_make(ux, ux, t->fx, t->fx));
    *px = hsum(wasm_f32x4_mul(X, wasm_f32x4_mul(G, sgn)));
    *py = hsum(wasm_f32x4_mul(Y, GW));
    *pz = hsum(wasm_f32x4_mul(Z, GW));
  } else if (tri_touches(t, Dv)) {
    float gx, gy, gz, hx, hy, hz;
    tri_grad(vc, Dv, t, 0, 2, &gx, &gy, &gz);
    tri_grad(vc + 1, Dv, t, 0, 2, &hx, &hy, &hz);
    *px = gr * gx + gi * hx; *py = gr * gy + gi * hy; *pz = gr * gz + gi * hz;
  } else {
    *px = 0; *py = 0; *pz = 0;
  }
}

/* X, Y, Z of lane L (see rotgrad_one) times the lane's gradient weights, into PX/PY/PZ. */
#define RG_LANE(L, PX, PY, PZ)                                                                  \
  do {                                                                                         \
    const float *p_ = vc + (size_t)wasm_i32x4_extract_lane(idx, L);                            \
    const V a_ = wasm_v128_load(p_), b_ = wasm_v128_load(p_ + sy), c_ = wasm_v128_load(p_ + sz), \
            d_ = wasm_v128_load(p_ + sz + sy);                                                 \
    V X_ = wasm_f32x4_mul(a_, wasm_i32x4_shuffle(wa, wa, L, L, L, L));                        \
    X_ = fmadd(b_, wasm_i32x4_shuffle(wb, wb, L, L, L, L), X_);                               \
    X_ = fmadd(c_, wasm_i32x4_shuffle(wc, wc, L, L, L, L), X_);                               \
    X_ = fmadd(d_, wasm_i32x4_shuffle(wd, wd, L, L, L, L), X_);                               \
    const V Y_ = fmadd(wasm_f32x4_sub(b_, a_), wasm_i32x4_shuffle(uz, uz, L, L, L, L),        \
                       wasm_f32x4_mul(wasm_f32x4_sub(d_, c_), wasm_i32x4_shuffle(fz, fz, L, L, L, L))); \
    const V Z_ = fmadd(wasm_f32x4_sub(c_, a_), wasm_i32x4_shuffle(uy, uy, L, L, L, L),        \
                       wasm_f32x4_mul(wasm_f32x4_sub(d_, b_), wasm_i32x4_shuffle(fy, fy, L, L, L, L))); \
    const V G_ = wasm_i32x4_shuffle(g4r, g4i, L, L + 4, L, L + 4);                              \
    const V GW_ = wasm_f32x4_mul(G_, wasm_i32x4_shuffle(ux, fx, L, L, L + 4, L + 4));          \
    PX = wasm_f32x4_mul(X_, wasm_f32x4_mul(G_, sgn));                                         \
    PY = wasm_f32x4_mul(Y_, GW_);                                                             \
    PZ = wasm_f32x4_mul(Z_, GW_);                                                             \
  } while (0)

/* Row sums of a rotation-gradient span: sum dL/dp and sum kx dL/dp (ROTGRAD_LOOP in trilinear.h). */
typedef struct { double rowx, rowy, rowz, kxx, kxy, kxz; } RowSums;

/*
 * dL/dp of pixels x0..x1-1 of one row (g: dL/dslice planes) added to the row sums s. Like
 * gather_span, 4 pixels at a time with the same arithmetic as the scalar path (rotgrad_one),
 * accumulated in pixel order, so the sums are bit-identical to it.
 */
INLINE void rotgrad_span(const float *vc, int Dv, double ax, double ay, double az, double rx, double ry, double rz,
                         int ci, size_t row, int x0, int x1, const float *gre, const float *gim, RowSums *s) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  const double cv = (double)(Dv / 2);
  const V lim = wasm_i32x4_splat(Dv - 1), one = wasm_f32x4_splat(1.0f), cv2 = wasm_f64x2_splat(cv);
  const V Dv4 = wasm_i32x4_splat(Dv), sgn = wasm_f32x4_make(-1.0f, -1.0f, 1.0f, 1.0f);
  const V ax2 = wasm_f64x2_splat(ax), ay2 = wasm_f64x2_splat(ay), az2 = wasm_f64x2_splat(az);
  const V rx2 = wasm_f64x2_splat(rx), ry2 = wasm_f64x2_splat(ry), rz2 = wasm_f64x2_splat(rz);
  double rowx = s->rowx, rowy = s->rowy, rowz = s->rowz, kxx = s->kxx, kxy = s->kxy, kxz = s->kxz;
  int x = x0;
  for (; x < x1; ) {
    int n = 1;
    const double k0 = x - ci;
    int simd = 0;
    if (x + 4 <= x1) {
      Cells4 c;
      cells4(ax2, ay2, az2, rx2, ry2, rz2, cv2, k0, 0, &c);
      n = 4;
      if (wasm_i32x4_all_true(cells4_inside(&c, lim))) {
        const V idx = wasm_i32x4_shl(cells4_index(&c, Dv4), 1);
        const V fx = c.fx, fy = c.fy, fz = c.fz;
        const V ux = wasm_f32x4_sub(one, fx), uy = wasm_f32x4_sub(one, fy), uz = wasm_f32x4_sub(one, fz);
        const V wa = wasm_f32x4_mul(uy, uz), wb = wasm_f32x4_mul(fy, uz), wc = wasm_f32x4_mul(uy, fz), wd = wasm_f32x4_mul(fy, fz);
        const V g4r = wasm_v128_load(gre + row + x), g4i = wasm_v128_load(gim + row + x);
        V PX0, PY0, PZ0, PX1, PY1, PZ1, PX2, PY2, PZ2, PX3, PY3, PZ3;
        RG_LANE(0, PX0, PY0, PZ0);
        RG_LANE(1, PX1, PY1, PZ1);
        RG_LANE(2, PX2, PY2, PZ2);
        RG_LANE(3, PX3, PY3, PZ3);
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
        Tri t;
        tri_setup(ax * kx + rx + cv, ay * kx + ry + cv, az * kx + rz + cv, &t);
        rotgrad_one(vc, Dv, &t, gre[row + x + l], gim[row + x + l], &px, &py, &pz);
        ACC_PIXEL(kx, px, py, pz);
      }
    }
    x += n;
  }
  s->rowx = rowx; s->rowy = rowy; s->rowz = rowz; s->kxx = kxx; s->kxy = kxy; s->kxz = kxz;
}

/*
 * Rotation-gradient partial sums of slabs k0..k1-1 (pixels as gather_slabs) from the split volume
 * (re, im; vc the interleaved scratch volume): part[6 (k B + b) + j] = the slab's share of
 * (sum_k kx dL/dp, sum_k ky dL/dp) of slice b (float64, before the factor Dv/Di). The caller adds
 * the slabs in order: dL/dA_0j = sc sum part[j], dL/dA_1j = sc sum part[3 + j], row 2 = 0.
 */
EXPORT void rotgrad_slabs(const float *re, const float *im, float *vc, int Dv, const double *rots, int B, int Di,
                          const float *gre, const float *gim, double *part, double r2max, const double *bounds, int K,
                          int k0, int k1) {
  const int ci = Di / 2;
  const double cvd = (double)(Dv / 2), sc = (double)Dv / (double)Di;
  for (int k = k0; k < k1; k++) {
    slab_interleave(re, im, vc, Dv, bounds, K, k);
    const double zl = k == 0 ? -1e300 : bounds[k], zh = k == K - 1 ? 1e300 : bounds[k + 1];
    for (int b = 0; b < B; b++) {
      const double *A = rots + 9 * b;
      const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
      const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
      double s0x = 0, s0y = 0, s0z = 0, s1x = 0, s1y = 0, s1z = 0;
      for (int y = 0; y < Di; y++) {
        const double ky = y - ci;
        const double rx = bx * ky, ry = by * ky, rz = bz * ky;
        const size_t row = (size_t)b * Di * Di + (size_t)y * Di;
        int xlo, xhi, xa, xb;
        disc_row(Di, ci, ky, r2max, &xlo, &xhi);
        zspan(az, rz, cvd, ci, xlo, xhi, zl, zh, &xa, &xb);
        if (xb <= xa) continue;
        RowSums s = {0, 0, 0, 0, 0, 0};
        rotgrad_span(vc, Dv, ax, ay, az, rx, ry, rz, ci, row, xa, xb, gre, gim, &s);
        s0x += s.kxx; s0y += s.kxy; s0z += s.kxz;
        s1x += ky * s.rowx; s1y += ky * s.rowy; s1z += ky * s.rowz;
      }
      double *out = part + 6 * ((size_t)k * B + b);
      out[0] = s0x; out[1] = s0y; out[2] = s0z;
      out[3] = s1x; out[4] = s1y; out[5] = s1z;
    }
  }
}
