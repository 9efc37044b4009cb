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
  SAMPLE_LOOP_BEGIN
    if (masked) { ore[o] = 0.0f; oim[o] = 0.0f; continue; }
    Tri t2;
    tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
    const float h1 = sample_r(H, Dv, &t), h2 = sample_r(H, Dv, &t2);
    ore[o] = 0.5f * (h1 + h2);
    oim[o] = 0.5f * (h2 - h1);
  SAMPLE_LOOP_END
}

/* ADDS dL/dH for slices b0..b1-1 into acc (Dv^3). */
EXPORT void scatter_h(const float *gre, const float *gim, int Di, const double *rots, int b0, int b1, int Dv,
                      float *acc, double r2max) {
  SAMPLE_LOOP_BEGIN
    if (masked) continue;
    const float gr = gre[o], gi = gim[o];
    Tri t2;
    tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
    if (tri_touches(&t, Dv)) splat_add(acc, Dv, &t, 0.5f * (gr - gi), tri_inside(&t, Dv), 1);
    if (tri_touches(&t2, Dv)) splat_add(acc, Dv, &t2, 0.5f * (gr + gi), tri_inside(&t2, Dv), 1);
  SAMPLE_LOOP_END
}

/* dL/dA for slices b0..b1-1 (overwrites dR[9b..9b+8]; row 2 is zero), float64 accumulation. */
EXPORT void rotgrad_h(const float *H, int Dv, const double *rots, int b0, int b1, int Di, const float *gre,
                      const float *gim, double *dR, double r2max) {
  ROTGRAD_LOOP_BEGIN
    const float gr = gre[o], gi = gim[o];
    Tri t2;
    tri_setup(-qx + cv, -qy + cv, -qz + cv, &t2);
    if (tri_touches(&t, Dv)) {
      float gx, gy, gz;
      const float a = 0.5f * (gr - gi);
      tri_grad(H, Dv, &t, tri_inside(&t, Dv), 1, &gx, &gy, &gz);
      px += a * gx; py += a * gy; pz += a * gz;
    }
    if (tri_touches(&t2, Dv)) {
      float gx, gy, gz;
      const float bb = 0.5f * (gr + gi);
      tri_grad(H, Dv, &t2, tri_inside(&t2, Dv), 1, &gx, &gy, &gz);
      px -= bb * gx; py -= bb * gy; pz -= bb * gz;
    }
  ROTGRAD_LOOP_END
}
