/*
 * cryospin WebAssembly kernels, part 1: Fourier-slice gather, its adjoint scatter-add, and the
 * gradient of the gathered slices with respect to the rotation matrices.
 *
 * Language choice: C compiled by Debian's clang/lld straight to wasm32 (no emscripten, no libc):
 *   clang --target=wasm32 -O3 -msimd128 -mbulk-memory -matomics -nostdlib
 *         -Wl,--no-entry,--import-memory,--shared-memory,--max-memory=...
 * (see scripts/build-wasm.sh). C was chosen over AssemblyScript because the same source was
 * measured at 1.4-2.0x native C on this machine (shared/docs/engine.md), it needs no runtime or
 * garbage collector, and it builds deterministically with a pinned Debian toolchain.
 * The module owns no data: every pointer is a byte offset into the imported (shared) memory that
 * JavaScript manages, so the same instance layout works from several worker threads. Kernels
 * must not touch the C shadow stack (no local arrays), since all threads share one stack region.
 *
 * Geometry (same as src/core/fourierSlice.ts, with the same floating-point expression
 * p = (s A_0j) kx + (s A_1j) ky + cv, so that floor() picks the same cell at exact grid points): slice pixel (x, y) of an Di x Di slice, taken
 * relative to ci = floor(Di/2), samples the volume at p = cv + A^T (x-ci, y-ci, 0) * (Dv/Di),
 * cv = floor(Dv/2), with trilinear interpolation; voxels outside the Dv^3 grid count as zero.
 * Rotations are row-major float64 A matrices (9 per slice). Volumes and slices are split
 * planes; the *_r kernels are the real (Hartley) variants on one plane. Pixels with
 * kx^2 + ky^2 > r2max are skipped (gather writes 0), as fourierSlice.ts's radiusMax option.
 */
#include "common.h"

/* One trilinear sample geometry: base index, fractional parts, and an all-inside flag. */
typedef struct {
  int x0, y0, z0;
  float fx, fy, fz;
} Tri;

INLINE void tri_setup(double px, double py, double pz, Tri *t) {
  double fx0 = __builtin_floor(px), fy0 = __builtin_floor(py), fz0 = __builtin_floor(pz);
  t->x0 = (int)fx0; t->y0 = (int)fy0; t->z0 = (int)fz0;
  t->fx = (float)(px - fx0); t->fy = (float)(py - fy0); t->fz = (float)(pz - fz0);
}

/* value at integer voxel, zero outside */
INLINE float vox(const float *v, int D, int x, int y, int z) {
  if ((unsigned)x >= (unsigned)D || (unsigned)y >= (unsigned)D || (unsigned)z >= (unsigned)D) return 0.0f;
  return v[((size_t)z * D + y) * D + x];
}

INLINE float tri_interior(const float *v, int D, const Tri *t) {
  size_t i = ((size_t)t->z0 * D + t->y0) * D + t->x0;
  size_t sy = D, sz = (size_t)D * D;
  float fx = t->fx, fy = t->fy, fz = t->fz;
  float c00 = v[i] + fx * (v[i + 1] - v[i]);
  float c10 = v[i + sy] + fx * (v[i + sy + 1] - v[i + sy]);
  float c01 = v[i + sz] + fx * (v[i + sz + 1] - v[i + sz]);
  float c11 = v[i + sz + sy] + fx * (v[i + sz + sy + 1] - v[i + sz + sy]);
  float c0 = c00 + fy * (c10 - c00);
  float c1 = c01 + fy * (c11 - c01);
  return c0 + fz * (c1 - c0);
}

INLINE float tri_edge(const float *v, int D, const Tri *t) {
  int x = t->x0, y = t->y0, z = t->z0;
  float fx = t->fx, fy = t->fy, fz = t->fz;
  float c00 = vox(v, D, x, y, z) * (1 - fx) + vox(v, D, x + 1, y, z) * fx;
  float c10 = vox(v, D, x, y + 1, z) * (1 - fx) + vox(v, D, x + 1, y + 1, z) * fx;
  float c01 = vox(v, D, x, y, z + 1) * (1 - fx) + vox(v, D, x + 1, y, z + 1) * fx;
  float c11 = vox(v, D, x, y + 1, z + 1) * (1 - fx) + vox(v, D, x + 1, y + 1, z + 1) * fx;
  float c0 = c00 * (1 - fy) + c10 * fy;
  float c1 = c01 * (1 - fy) + c11 * fy;
  return c0 * (1 - fz) + c1 * fz;
}

INLINE int tri_inside(const Tri *t, int D) {
  return (unsigned)t->x0 < (unsigned)(D - 1) && (unsigned)t->y0 < (unsigned)(D - 1) &&
         (unsigned)t->z0 < (unsigned)(D - 1);
}
/* any corner inside at all? */
INLINE int tri_touches(const Tri *t, int D) {
  return t->x0 >= -1 && t->x0 < D && t->y0 >= -1 && t->y0 < D && t->z0 >= -1 && t->z0 < D;
}

INLINE void gather_impl(const float *vre, const float *vim, int Dv, const double *rots,
                               int b0, int b1, int Di, float *ore, float *oim, double r2max, int hasIm) {
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  const size_t P = (size_t)Di * Di;
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    /* p = cv + sc * (A[0][j] kx + A[1][j] ky) */
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    float *sr = ore + P * b;
    float *si = hasIm ? oim + P * b : 0;
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      for (int x = 0; x < Di; x++) {
        const double kx = x - ci;
        size_t o = (size_t)y * Di + x;
        if (kx * kx + ky * ky > r2max) {
          sr[o] = 0.0f;
          if (hasIm) si[o] = 0.0f;
          continue;
        }
        Tri t;
        tri_setup(ax * kx + rx + cv, ay * kx + ry + cv, az * kx + rz + cv, &t);
        if (tri_inside(&t, Dv)) {
          sr[o] = tri_interior(vre, Dv, &t);
          if (hasIm) si[o] = tri_interior(vim, Dv, &t);
        } else if (tri_touches(&t, Dv)) {
          sr[o] = tri_edge(vre, Dv, &t);
          if (hasIm) si[o] = tri_edge(vim, Dv, &t);
        } else {
          sr[o] = 0.0f;
          if (hasIm) si[o] = 0.0f;
        }
      }
    }
  }
}

/* Gather slices b0..b1-1 (outputs at their batch position). */
EXPORT void gather_c(const float *vre, const float *vim, int Dv, const double *rots, int b0, int b1,
                     int Di, float *ore, float *oim, double r2max) {
  gather_impl(vre, vim, Dv, rots, b0, b1, Di, ore, oim, r2max, 1);
}
EXPORT void gather_r(const float *vre, int Dv, const double *rots, int b0, int b1, int Di, float *ore, double r2max) {
  gather_impl(vre, 0, Dv, rots, b0, b1, Di, ore, 0, r2max, 0);
}

INLINE void splat_add(float *v, int D, const Tri *t, float val, int inside) {
  float fx = t->fx, fy = t->fy, fz = t->fz;
  float w0z = val * (1 - fz), w1z = val * fz;
  float w00 = w0z * (1 - fy), w10 = w0z * fy, w01 = w1z * (1 - fy), w11 = w1z * fy;
  if (inside) {
    size_t i = ((size_t)t->z0 * D + t->y0) * D + t->x0;
    size_t sy = D, sz = (size_t)D * D;
    v[i] += w00 * (1 - fx); v[i + 1] += w00 * fx;
    v[i + sy] += w10 * (1 - fx); v[i + sy + 1] += w10 * fx;
    v[i + sz] += w01 * (1 - fx); v[i + sz + 1] += w01 * fx;
    v[i + sz + sy] += w11 * (1 - fx); v[i + sz + sy + 1] += w11 * fx;
    return;
  }
  for (int dz = 0; dz < 2; dz++) {
    int z = t->z0 + dz;
    if ((unsigned)z >= (unsigned)D) continue;
    for (int dy = 0; dy < 2; dy++) {
      int y = t->y0 + dy;
      if ((unsigned)y >= (unsigned)D) continue;
      float w = dz ? (dy ? w11 : w01) : (dy ? w10 : w00);
      for (int dx = 0; dx < 2; dx++) {
        int x = t->x0 + dx;
        if ((unsigned)x >= (unsigned)D) continue;
        v[((size_t)z * D + y) * D + x] += w * (dx ? fx : 1 - fx);
      }
    }
  }
}

INLINE void scatter_impl(const float *sre, const float *sim, int Di, const double *rots, int b0, int b1,
                                int Dv, float *vre, float *vim, double r2max, int hasIm) {
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  const size_t P = (size_t)Di * Di;
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    const float *sr = sre + P * b;
    const float *si = hasIm ? sim + P * b : 0;
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      for (int x = 0; x < Di; x++) {
        const double kx = x - ci;
        if (kx * kx + ky * ky > r2max) continue;
        Tri t;
        tri_setup(ax * kx + rx + cv, ay * kx + ry + cv, az * kx + rz + cv, &t);
        if (!tri_touches(&t, Dv)) continue;
        int inside = tri_inside(&t, Dv);
        size_t o = (size_t)y * Di + x;
        splat_add(vre, Dv, &t, sr[o], inside);
        if (hasIm) splat_add(vim, Dv, &t, si[o], inside);
      }
    }
  }
}

/* Scatter-add slices b0..b1-1 into the volume (accumulates; the caller zeroes). */
EXPORT void scatter_c(const float *sre, const float *sim, int Di, const double *rots, int b0, int b1, int Dv,
                      float *vre, float *vim, double r2max) {
  scatter_impl(sre, sim, Di, rots, b0, b1, Dv, vre, vim, r2max, 1);
}
EXPORT void scatter_r(const float *sre, int Di, const double *rots, int b0, int b1, int Dv, float *vre, double r2max) {
  scatter_impl(sre, 0, Di, rots, b0, b1, Dv, vre, 0, r2max, 0);
}

/* Gradient of a trilinear sample with respect to the sample position (zero outside). */
INLINE void tri_grad(const float *v, int D, const Tri *t, int inside, float *gx, float *gy, float *gz) {
  float v000, v100, v010, v110, v001, v101, v011, v111;
  if (inside) {
    size_t i = ((size_t)t->z0 * D + t->y0) * D + t->x0;
    size_t sy = D, sz = (size_t)D * D;
    v000 = v[i]; v100 = v[i + 1]; v010 = v[i + sy]; v110 = v[i + sy + 1];
    v001 = v[i + sz]; v101 = v[i + sz + 1]; v011 = v[i + sz + sy]; v111 = v[i + sz + sy + 1];
  } else {
    int x = t->x0, y = t->y0, z = t->z0;
    v000 = vox(v, D, x, y, z); v100 = vox(v, D, x + 1, y, z);
    v010 = vox(v, D, x, y + 1, z); v110 = vox(v, D, x + 1, y + 1, z);
    v001 = vox(v, D, x, y, z + 1); v101 = vox(v, D, x + 1, y, z + 1);
    v011 = vox(v, D, x, y + 1, z + 1); v111 = vox(v, D, x + 1, y + 1, z + 1);
  }
  float fx = t->fx, fy = t->fy, fz = t->fz, ux = 1 - fx, uy = 1 - fy, uz = 1 - fz;
  *gx = uz * (uy * (v100 - v000) + fy * (v110 - v010)) + fz * (uy * (v101 - v001) + fy * (v111 - v011));
  *gy = uz * (ux * (v010 - v000) + fx * (v110 - v100)) + fz * (ux * (v011 - v001) + fx * (v111 - v101));
  *gz = uy * (ux * (v001 - v000) + fx * (v101 - v100)) + fy * (ux * (v011 - v010) + fx * (v111 - v110));
}

INLINE void rotgrad_impl(const float *vre, const float *vim, int Dv, const double *rots, int b0, int b1,
                                int Di, const float *gre, const float *gim, double *dR, double r2max, int hasIm) {
  const int ci = Di / 2, cv = Dv / 2;
  const double sc = (double)Dv / (double)Di;
  const size_t P = (size_t)Di * Di;
  for (int b = b0; b < b1; b++) {
    const double *A = rots + 9 * b;
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;
    const float *dr = gre + P * b;
    const float *di = hasIm ? gim + P * b : 0;
    double s0x = 0, s0y = 0, s0z = 0, s1x = 0, s1y = 0, s1z = 0; /* sum k_i * dL/dp_j */
    for (int y = 0; y < Di; y++) {
      const double ky = y - ci;
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;
      double rowx = 0, rowy = 0, rowz = 0, kxx = 0, kxy = 0, kxz = 0;
      for (int x = 0; x < Di; x++) {
        const double kx = x - ci;
        if (kx * kx + ky * ky > r2max) continue;
        Tri t;
        tri_setup(ax * kx + rx + cv, ay * kx + ry + cv, az * kx + rz + cv, &t);
        if (!tri_touches(&t, Dv)) continue;
        int inside = tri_inside(&t, Dv);
        size_t o = (size_t)y * Di + x;
        float gx, gy, gz;
        tri_grad(vre, Dv, &t, inside, &gx, &gy, &gz);
        float g = dr[o];
        float px = g * gx, py = g * gy, pz = g * gz;
        if (hasIm) {
          float hx, hy, hz;
          tri_grad(vim, Dv, &t, inside, &hx, &hy, &hz);
          float h = di[o];
          px += h * hx; py += h * hy; pz += h * hz;
        }
        rowx += px; rowy += py; rowz += pz;
        kxx += kx * px; kxy += kx * py; kxz += kx * pz;
      }
      s0x += kxx; s0y += kxy; s0z += kxz;
      s1x += ky * rowx; s1y += ky * rowy; s1z += ky * rowz;
    }
    double *o = dR + 9 * b;
    o[0] = s0x * sc; o[1] = s0y * sc; o[2] = s0z * sc;
    o[3] = s1x * sc; o[4] = s1y * sc; o[5] = s1z * sc;
    o[6] = 0; o[7] = 0; o[8] = 0;
  }
}

/* dL/dA for slices b0..b1-1 given dL/dslice (overwrites dR[9b..9b+8]; row 2 is zero). */
EXPORT void rotgrad_c(const float *vre, const float *vim, int Dv, const double *rots, int b0, int b1, int Di,
                      const float *gre, const float *gim, double *dR, double r2max) {
  rotgrad_impl(vre, vim, Dv, rots, b0, b1, Di, gre, gim, dR, r2max, 1);
}
EXPORT void rotgrad_r(const float *vre, int Dv, const double *rots, int b0, int b1, int Di, const float *gre,
                      double *dR, double r2max) {
  rotgrad_impl(vre, 0, Dv, rots, b0, b1, Di, gre, 0, dR, r2max, 0);
}

/* dst[i] += src[i] for i < n (reduction of per-thread accumulation volumes); n multiple of 4. */
EXPORT void add_f32(float *dst, const float *src, int n) {
  for (int i = 0; i < n; i++) dst[i] += src[i];
}

/* dst[i] = 0 for i < n (per-thread accumulation volumes are cleared by their own thread). */
EXPORT void zero_f32(float *dst, int n) {
  for (int i = 0; i < n; i++) dst[i] = 0.0f;
}
