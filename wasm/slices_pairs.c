/*
 * cryospin WebAssembly kernels, part 1b: the COMPLEX slice kernels on a volume stored as
 * interleaved (re, im) pairs. The two x-neighbours of a trilinear cell are then one v128 load
 * (re x0, im x0, re x0+1, im x0+1), so a sample needs 4 vector loads instead of 16 scalar ones
 * and the y/z interpolation runs in SIMD; gather and rotgrad also compute sample points, cells
 * and weights for 4 pixels at a time (simd4.h), bit-identical to their scalar paths.
 * The backend interleaves the split-plane volume first
 * (`interleave`, one pass, split across threads) and, for the scatter, de-interleaves and adds
 * the per-thread pair accumulators into the output planes (`deinterleave_add`).
 * Geometry and conventions exactly as slices.c (same sample-point expression, zero outside).
 * Cells that touch the grid border use the scalar helpers of trilinear.h with stride 2.
 */
#include "trilinear.h"
#include "simd4.h"

/* dst[2i] = re[i], dst[2i+1] = im[i] for n0 <= i < n1 */
EXPORT void interleave(const float *re, const float *im, float *dst, int n0, int n1) {
  int i = n0;
  for (; i < n1 && (i & 3); i++) { dst[2 * i] = re[i]; dst[2 * i + 1] = im[i]; }
  for (; i + 4 <= n1; i += 4) {
    V r = wasm_v128_load(re + i), m = wasm_v128_load(im + i);
    wasm_v128_store(dst + 2 * i, wasm_i32x4_shuffle(r, m, 0, 4, 1, 5));
    wasm_v128_store(dst + 2 * i + 4, wasm_i32x4_shuffle(r, m, 2, 6, 3, 7));
  }
  for (; i < n1; i++) { dst[2 * i] = re[i]; dst[2 * i + 1] = im[i]; }
}


/* re[i] += src[2i], im[i] += src[2i+1] for n0 <= i < n1 */
EXPORT void deinterleave_add(const float *src, float *re, float *im, int n0, int n1) {
  int i = n0;
  for (; i < n1 && (i & 3); i++) { re[i] += src[2 * i]; im[i] += src[2 * i + 1]; }
  for (; i + 4 <= n1; i += 4) {
    V a = wasm_v128_load(src + 2 * i), b = wasm_v128_load(src + 2 * i + 4);
    wasm_v128_store(re + i, wasm_f32x4_add(wasm_v128_load(re + i), wasm_i32x4_shuffle(a, b, 0, 2, 4, 6)));
    wasm_v128_store(im + i, wasm_f32x4_add(wasm_v128_load(im + i), wasm_i32x4_shuffle(a, b, 1, 3, 5, 7)));
  }
  for (; i < n1; i++) { re[i] += src[2 * i]; im[i] += src[2 * i + 1]; }
}

/* One pixel of gather_ci at relative sample point q (the scalar path). */
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
 * Gather slices b0..b1-1 from the interleaved volume vc. Pixels are done 4 at a time: sample
 * points (float64, the same expression as the scalar path), cells, fractions and weights in
 * SIMD, then 4 vector loads per pixel; groups with a cell on the border fall back to the scalar
 * path (gather_one), so the result is bit-identical to it.
 */
EXPORT void gather_ci(const float *vc, int Dv, const double *rots, int b0, int b1, int Di, float *ore, float *oim,
                      double r2max) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  const V lim = wasm_i32x4_splat(Dv - 1), one = wasm_f32x4_splat(1.0f), cv2 = wasm_f64x2_splat((double)cv);
  const V Dv4 = wasm_i32x4_splat(Dv);
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
      /* the unmasked pixels of a row form one interval [xlo, xhi) */
      int xlo, xhi;
      disc_row(Di, ci, ky, r2max, &xlo, &xhi);
      for (int x = 0; x < xlo; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
      for (int x = xhi; x < Di; x++) { ore[row + x] = 0.0f; oim[row + x] = 0.0f; }
      int x = xlo;
      for (; x + 4 <= xhi; x += 4) {
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
      for (; x < xhi; x++) {
        const double kx = x - ci;
        gather_one(vc, Dv, ax * kx + rx, ay * kx + ry, az * kx + rz, ore, oim, row + x);
      }
    }
  }
}

/* Adjoint of gather_ci: ADDS into the interleaved accumulator acc (2 Dv^3 floats). */
EXPORT void scatter_ci(const float *sre, const float *sim, int Di, const double *rots, int b0, int b1, int Dv,
                       float *acc, double r2max) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  SAMPLE_LOOP_BEGIN
    if (masked) {
      /* nothing */
    } else if (tri_inside(&t, Dv)) {
      float *p = acc + 2 * (((size_t)t.z0 * Dv + t.y0) * Dv + t.x0);
      const float sr = sre[o], si = sim[o], ux = 1 - t.fx, uy = 1 - t.fy, uz = 1 - t.fz;
      const V val = wasm_f32x4_make(sr * ux, si * ux, sr * t.fx, si * t.fx);
      wasm_v128_store(p, fmadd(val, wasm_f32x4_splat(uy * uz), wasm_v128_load(p)));
      wasm_v128_store(p + sy, fmadd(val, wasm_f32x4_splat(t.fy * uz), wasm_v128_load(p + sy)));
      wasm_v128_store(p + sz, fmadd(val, wasm_f32x4_splat(uy * t.fz), wasm_v128_load(p + sz)));
      wasm_v128_store(p + sz + sy, fmadd(val, wasm_f32x4_splat(t.fy * t.fz), wasm_v128_load(p + sz + sy)));
    } else if (tri_touches(&t, Dv)) {
      splat_add(acc, Dv, &t, sre[o], 0, 2);
      splat_add(acc + 1, Dv, &t, sim[o], 0, 2);
    }
  SAMPLE_LOOP_END
}

/* dL/dA for slices b0..b1-1 from the interleaved volume (float64 accumulation; row 2 = 0). */
/* dL/dp of one pixel (scalar path of rotgrad_ci): g = (gr, gi) = dL/dslice at the pixel. */
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

/*
 * dL/dA for slices b0..b1-1 from the interleaved volume (float64 accumulation; row 2 = 0).
 * Like gather_ci, 4 pixels at a time with the same arithmetic as the scalar path (rotgrad_one),
 * accumulated in the same order, so the result is bit-identical to it.
 */
EXPORT void rotgrad_ci(const float *vc, int Dv, const double *rots, int b0, int b1, int Di, const float *gre,
                       const float *gim, double *dR, double r2max) {
  const size_t sy = 2 * (size_t)Dv, sz = 2 * (size_t)Dv * Dv;
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  const V lim = wasm_i32x4_splat(Dv - 1), one = wasm_f32x4_splat(1.0f), cv2 = wasm_f64x2_splat((double)cv);
  const V Dv4 = wasm_i32x4_splat(Dv), sgn = wasm_f32x4_make(-1.0f, -1.0f, 1.0f, 1.0f);
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
      int x = xlo;
      for (; x < xhi; ) {
        int n = 1;
        const double k0 = x - ci;
        int simd = 0;
        if (x + 4 <= xhi) {
          Cells4 c;
          cells4(ax2, ay2, az2, rx2, ry2, rz2, cv2, k0, 0, &c);
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
            n = 4;
            simd = 1;
          } else {
            n = 4;
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
      s0x += kxx; s0y += kxy; s0z += kxz;
      s1x += ky * rowx; s1y += ky * rowy; s1z += ky * rowz;
    }
    double *out = dR + 9 * b;
    out[0] = s0x * sc; out[1] = s0y * sc; out[2] = s0z * sc;
    out[3] = s1x * sc; out[4] = s1y * sc; out[5] = s1z * sc;
    out[6] = 0; out[7] = 0; out[8] = 0;
  }
}
