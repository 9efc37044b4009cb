/*
 * cryospin WebAssembly kernels, part 3: fused Fourier slices of a real Hartley-space volume H
 * (cryoSPIN's explicit decoder; contract of src/core/backend/hartleySlices.ts). Each pixel's
 * relative sample point q = A^T k · s is computed once and H is sampled at cv + q and cv - q:
 *     F(k) = (H(q) + H(-q))/2 + i (H(-q) - H(q))/2.
 * Backward for g = dL/dF: a = (gRe - gIm)/2 goes to +q, b = (gRe + gIm)/2 to -q, and
 * dL/dq = a ∇H(q) - b ∇H(-q). Same geometry, masking and float64 accumulation as slices.c;
 * the mirrored point is computed as -(q) + cv, exactly the value the two-gather route (matrices
 * -A) produces, so both routes pick the same cells.
 */
#include "trilinear.h"

INLINE float sample_r(const float *v, int Dv, const Tri *t) {
  if (tri_inside(t, Dv)) return tri_interior(v, Dv, t);
  if (tri_touches(t, Dv)) return tri_edge(v, Dv, t, 1);
  return 0.0f;
}

EXPORT void gather_h(const float *H, int Dv, const double *rots, int b0, int b1, int Di, float *ore, float *oim,
                     double r2max) {
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      for (int x = 0; x < Di; x++) {
        const double kx = x - ci;
        const size_t o = (size_t)b * Di * Di + (size_t)y * Di + x;
        if (kx * kx + ky * ky > r2max) { ore[o] = 0.0f; oim[o] = 0.0f; continue; }
        const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;
        Tri t1, t2;
        tri_setup(qx + cv, qy + cv, qz + cv, &t1);
        tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
        const float h1 = sample_r(H, Dv, &t1), h2 = sample_r(H, Dv, &t2);
        ore[o] = 0.5f * (h1 + h2);
        oim[o] = 0.5f * (h2 - h1);
      }
    }
  }
}

/* ADDS dL/dH for slices b0..b1-1 into acc (Dv^3). */
EXPORT void scatter_h(const float *gre, const float *gim, int Di, const double *rots, int b0, int b1, int Dv,
                      float *acc, double r2max) {
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      for (int x = 0; x < Di; x++) {
        const double kx = x - ci;
        if (kx * kx + ky * ky > r2max) continue;
        const size_t o = (size_t)b * Di * Di + (size_t)y * Di + x;
        const float gr = gre[o], gi = gim[o];
        const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;
        Tri t1, t2;
        tri_setup(qx + cv, qy + cv, qz + cv, &t1);
        tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
        if (tri_touches(&t1, Dv)) splat_add(acc, Dv, &t1, 0.5f * (gr - gi), tri_inside(&t1, Dv), 1);
        if (tri_touches(&t2, Dv)) splat_add(acc, Dv, &t2, 0.5f * (gr + gi), tri_inside(&t2, Dv), 1);
      }
    }
  }
}

/* dL/dA for slices b0..b1-1 (overwrites dR[9b..9b+8]; row 2 is zero), float64 accumulation. */
EXPORT void rotgrad_h(const float *H, int Dv, const double *rots, int b0, int b1, int Di, const float *gre,
                      const float *gim, double *dR, double r2max) {
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    double s0x = 0, s0y = 0, s0z = 0, s1x = 0, s1y = 0, s1z = 0;
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      double rowx = 0, rowy = 0, rowz = 0, kxx = 0, kxy = 0, kxz = 0;
      for (int x = 0; x < Di; x++) {
        const double kx = x - ci;
        if (kx * kx + ky * ky > r2max) continue;
        const size_t o = (size_t)b * Di * Di + (size_t)y * Di + x;
        const float gr = gre[o], gi = gim[o];
        const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;
        Tri t1, t2;
        tri_setup(qx + cv, qy + cv, qz + cv, &t1);
        tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
        float px = 0, py = 0, pz = 0;
        if (tri_touches(&t1, Dv)) {
          float gx, gy, gz;
          const float a = 0.5f * (gr - gi);
          tri_grad(H, Dv, &t1, tri_inside(&t1, Dv), 1, &gx, &gy, &gz);
          px += a * gx; py += a * gy; pz += a * gz;
        }
        if (tri_touches(&t2, Dv)) {
          float gx, gy, gz;
          const float bb = 0.5f * (gr + gi);
          tri_grad(H, Dv, &t2, tri_inside(&t2, Dv), 1, &gx, &gy, &gz);
          px -= bb * gx; py -= bb * gy; pz -= bb * gz;
        }
        rowx += px; rowy += py; rowz += pz;
        kxx += kx * px; kxy += kx * py; kxz += kx * pz;
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
