/*
 * cryospin WebAssembly kernels, part 1: Fourier-slice gather, its adjoint scatter-add and the
 * rotation gradient on ONE REAL plane (Hartley-space volumes); the complex versions are in
 * slices_pairs.c. Also small vector helpers for the per-thread reductions.
 *
 * Language choice: C compiled by Debian's clang/lld straight to wasm32 (no emscripten, no libc):
 *   clang --target=wasm32 -O3 -msimd128 -mbulk-memory -matomics -nostdlib
 *         -Wl,--no-entry,--import-memory,--shared-memory,--max-memory=...
 * (see scripts/build-wasm.sh). C was chosen over AssemblyScript because the same source was
 * measured at 1.4-2.0x native C on this machine (shared/docs/engine.md; we see ~2x here), it
 * needs no runtime or garbage collector, and it builds deterministically with Debian's clang.
 * The module owns no data: every pointer is a byte offset into the imported SHARED memory that
 * JavaScript manages, so one memory serves all worker threads. Kernels must not touch the C
 * shadow stack (no local arrays), since all threads share one stack region (the build checks).
 *
 * Geometry (trilinear.h; the same as src/core/fourierSlice.ts, down to the floating-point
 * expression p = (s A_0j) kx + (s A_1j) ky + cv, so floor() picks the same cell at exact grid
 * points): slice pixel (x, y) of a Di x Di slice, taken relative to ci = floor(Di/2), samples
 * the volume at cv + A^T (x-ci, y-ci, 0) (Dv/Di), cv = floor(Dv/2), trilinearly; voxels outside
 * the Dv^3 grid count as zero. Rotations: row-major float64 A matrices, 9 per slice. Pixels with
 * kx^2 + ky^2 > r2max are skipped (gather writes 0), as fourierSlice.ts's radiusMax option.
 */
#include "trilinear.h"

/* Gather slices b0..b1-1 of a real volume (outputs at their batch position). */
EXPORT void gather_r(const float *vol, int Dv, const double *rots, int b0, int b1, int Di, float *out, double r2max) {
  SAMPLE_LOOP_BEGIN
    if (masked) out[o] = 0.0f;
    else if (tri_inside(&t, Dv)) out[o] = tri_interior(vol, Dv, &t);
    else if (tri_touches(&t, Dv)) out[o] = tri_edge(vol, Dv, &t, 1);
    else out[o] = 0.0f;
  SAMPLE_LOOP_END
}

/* Scatter-add slices b0..b1-1 into a real volume (accumulates; the caller zeroes). */
EXPORT void scatter_r(const float *slices, int Di, const double *rots, int b0, int b1, int Dv, float *vol, double r2max) {
  SAMPLE_LOOP_BEGIN
    if (!masked && tri_touches(&t, Dv)) splat_add(vol, Dv, &t, slices[o], tri_inside(&t, Dv), 1);
  SAMPLE_LOOP_END
}

/* dL/dA for slices b0..b1-1 given dL/dslice (overwrites dR[9b..9b+8]; row 2 is zero).
 * dL/dA_ij = s sum_k k_i g(k) df/dp_j, accumulated in float64. */
EXPORT void rotgrad_r(const float *vol, int Dv, const double *rots, int b0, int b1, int Di, const float *grad,
                      double *dR, double r2max) {
  ROTGRAD_LOOP_BEGIN
    if (!tri_touches(&t, Dv)) continue;
    float gx, gy, gz;
    tri_grad(vol, Dv, &t, tri_inside(&t, Dv), 1, &gx, &gy, &gz);
    const float g = grad[o];
    px = g * gx; py = g * gy; pz = g * gz;
  ROTGRAD_LOOP_END
}

/* dst[i] += src[i] for i < n (reduction of per-thread accumulation volumes). */
EXPORT void add_f32(float *dst, const float *src, int n) {
  for (int i = 0; i < n; i++) dst[i] += src[i];
}

/* dst[i] = 0 for i < n (per-thread accumulation volumes are cleared by their own thread). */
EXPORT void zero_f32(float *dst, int n) {
  for (int i = 0; i < n; i++) dst[i] = 0.0f;
}
