/*
 * Trilinear sampling helpers and the sample-point loop shared by the slice kernels (slices.c:
 * one real plane; slices_pairs.c: complex volumes stored as interleaved (re, im) pairs; the
 * `st` arguments are the distance between voxels, 1 or 2). All inline: the kernels must not
 * use the C shadow stack (see common.h).
 */
#ifndef CRYOSPIN_WASM_TRILINEAR_H
#define CRYOSPIN_WASM_TRILINEAR_H
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

/* value at integer voxel, zero outside; st = distance between voxels (1 split planes, 2 pairs) */
INLINE float vox(const float *v, int D, int x, int y, int z, int st) {
  if ((unsigned)x >= (unsigned)D || (unsigned)y >= (unsigned)D || (unsigned)z >= (unsigned)D) return 0.0f;
  return v[(((size_t)z * D + y) * D + x) * st];
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

INLINE float tri_edge(const float *v, int D, const Tri *t, int st) {
  int x = t->x0, y = t->y0, z = t->z0;
  float fx = t->fx, fy = t->fy, fz = t->fz;
  float c00 = vox(v, D, x, y, z, st) * (1 - fx) + vox(v, D, x + 1, y, z, st) * fx;
  float c10 = vox(v, D, x, y + 1, z, st) * (1 - fx) + vox(v, D, x + 1, y + 1, z, st) * fx;
  float c01 = vox(v, D, x, y, z + 1, st) * (1 - fx) + vox(v, D, x + 1, y, z + 1, st) * fx;
  float c11 = vox(v, D, x, y + 1, z + 1, st) * (1 - fx) + vox(v, D, x + 1, y + 1, z + 1, st) * fx;
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

/* Adds val times the trilinear weights of cell t into v, at the corners in the planes zl <= z < zh
 * only (inside: all 8 corners on the grid; st = distance between voxels). */
INLINE void splat_add_z(float *v, int D, const Tri *t, float val, int inside, int st, int zl, int zh) {
  float fx = t->fx, fy = t->fy, fz = t->fz;
  float w0z = val * (1 - fz), w1z = val * fz;
  float w00 = w0z * (1 - fy), w10 = w0z * fy, w01 = w1z * (1 - fy), w11 = w1z * fy;
  if (inside && st == 1) {
    size_t i = ((size_t)t->z0 * D + t->y0) * D + t->x0;
    size_t sy = D, sz = (size_t)D * D;
    if (t->z0 >= zl) {
      v[i] += w00 * (1 - fx); v[i + 1] += w00 * fx;
      v[i + sy] += w10 * (1 - fx); v[i + sy + 1] += w10 * fx;
    }
    if (t->z0 + 1 < zh) {
      v[i + sz] += w01 * (1 - fx); v[i + sz + 1] += w01 * fx;
      v[i + sz + sy] += w11 * (1 - fx); v[i + sz + sy + 1] += w11 * fx;
    }
    return;
  }
  for (int dz = 0; dz < 2; dz++) {
    int z = t->z0 + dz;
    if ((unsigned)z >= (unsigned)D || z < zl || z >= zh) continue;
    for (int dy = 0; dy < 2; dy++) {
      int y = t->y0 + dy;
      if ((unsigned)y >= (unsigned)D) continue;
      float w = dz ? (dy ? w11 : w01) : (dy ? w10 : w00);
      for (int dx = 0; dx < 2; dx++) {
        int x = t->x0 + dx;
        if ((unsigned)x >= (unsigned)D) continue;
        v[(((size_t)z * D + y) * D + x) * st] += w * (dx ? fx : 1 - fx);
      }
    }
  }
}

/* splat_add_z into all planes */
INLINE void splat_add(float *v, int D, const Tri *t, float val, int inside, int st) {
  splat_add_z(v, D, t, val, inside, st, -2147483647 - 1, 2147483647);
}

/* Gradient of a trilinear sample with respect to the sample position (zero outside). */
INLINE void tri_grad(const float *v, int D, const Tri *t, int inside, int st, float *gx, float *gy, float *gz) {
  float v000, v100, v010, v110, v001, v101, v011, v111;
  if (inside && st == 1) {
    size_t i = ((size_t)t->z0 * D + t->y0) * D + t->x0;
    size_t sy = D, sz = (size_t)D * D;
    v000 = v[i]; v100 = v[i + 1]; v010 = v[i + sy]; v110 = v[i + sy + 1];
    v001 = v[i + sz]; v101 = v[i + sz + 1]; v011 = v[i + sz + sy]; v111 = v[i + sz + sy + 1];
  } else {
    int x = t->x0, y = t->y0, z = t->z0;
    v000 = vox(v, D, x, y, z, st); v100 = vox(v, D, x + 1, y, z, st);
    v010 = vox(v, D, x, y + 1, z, st); v110 = vox(v, D, x + 1, y + 1, z, st);
    v001 = vox(v, D, x, y, z + 1, st); v101 = vox(v, D, x + 1, y, z + 1, st);
    v011 = vox(v, D, x, y + 1, z + 1, st); v111 = vox(v, D, x + 1, y + 1, z + 1, st);
  }
  float fx = t->fx, fy = t->fy, fz = t->fz, ux = 1 - fx, uy = 1 - fy, uz = 1 - fz;
  *gx = uz * (uy * (v100 - v000) + fy * (v110 - v010)) + fz * (uy * (v101 - v001) + fy * (v111 - v011));
  *gy = uz * (ux * (v010 - v000) + fx * (v110 - v100)) + fz * (ux * (v011 - v001) + fx * (v111 - v101));
  *gz = uy * (ux * (v001 - v000) + fx * (v101 - v100)) + fy * (ux * (v011 - v010) + fx * (v111 - v110));
}

/* Loops over the sample points of slices b0..b1-1 (needs rots, b0, b1, Di, Dv, r2max in scope).
 * Inside: o (pixel index in the batch), masked (outside radiusMax), q = (qx, qy, qz) the sample
 * point relative to the volume centre cv, t (the trilinear cell of cv + q, valid when !masked). */
#define SAMPLE_LOOP_BEGIN                                                                   \
  const int ci = Di / 2, cv = Dv / 2;                                                     \
  const double sc = (double)Dv / (double)Di;                                              \
  for (int b = b0; b < b1; b++) {                                                         \
    const double *A = rots + 9 * b;                                                       \
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;                          \
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;                          \
    for (int y = 0; y < Di; y++) {                                                        \
      const double ky = y - ci;                                                           \
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;                              \
      for (int x = 0; x < Di; x++) {                                                      \
        const double kx = x - ci;                                                         \
        const size_t o = (size_t)b * Di * Di + (size_t)y * Di + x;                        \
        const int masked = kx * kx + ky * ky > r2max;                                     \
        const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;             \
        Tri t;                                                                            \
        if (!masked) tri_setup(qx + cv, qy + cv, qz + cv, &t);
#define SAMPLE_LOOP_END \
      }                 \
    }                   \
  }

/* Rotation-gradient loops: dL/dA_ij = s sum_k k_i dL/dp_j over the unmasked pixels of each slice,
 * accumulated in float64 (per-row partial sums), written to dR[9b..9b+8] (row 2 = 0). The body
 * between BEGIN and END sets the floats px, py, pz (dL/dp at this pixel; `continue` skips the
 * pixel) and sees o, kx, ky, qx, qy, qz and t as in SAMPLE_LOOP. Needs dR in scope too. */
#define ROTGRAD_LOOP_BEGIN                                                                  \
  const int ci = Di / 2, cv = Dv / 2;                                                     \
  const double sc = (double)Dv / (double)Di;                                              \
  for (int b = b0; b < b1; b++) {                                                         \
    const double *A = rots + 9 * b;                                                       \
    const double ax = A[0] * sc, ay = A[1] * sc, az = A[2] * sc;                          \
    const double bx = A[3] * sc, by = A[4] * sc, bz = A[5] * sc;                          \
    double s0x = 0, s0y = 0, s0z = 0, s1x = 0, s1y = 0, s1z = 0;                          \
    for (int y = 0; y < Di; y++) {                                                        \
      const double ky = y - ci;                                                           \
      const double rx = bx * ky, ry = by * ky, rz = bz * ky;                              \
      double rowx = 0, rowy = 0, rowz = 0, kxx = 0, kxy = 0, kxz = 0;                     \
      for (int x = 0; x < Di; x++) {                                                      \
        const double kx = x - ci;                                                         \
        if (kx * kx + ky * ky > r2max) continue;                                          \
        const size_t o = (size_t)b * Di * Di + (size_t)y * Di + x;                        \
        const double qx = ax * kx + rx, qy = ay * kx + ry, qz = az * kx + rz;             \
        Tri t;                                                                            \
        tri_setup(qx + cv, qy + cv, qz + cv, &t);                                         \
        float px = 0, py = 0, pz = 0;
#define ROTGRAD_LOOP_END                                                                    \
        rowx += px; rowy += py; rowz += pz;                                               \
        kxx += kx * px; kxy += kx * py; kxz += kx * pz;                                   \
      }                                                                                   \
      s0x += kxx; s0y += kxy; s0z += kxz;                                                 \
      s1x += ky * rowx; s1y += ky * rowy; s1z += ky * rowz;                               \
    }                                                                                     \
    double *dRb = dR + 9 * b;                                                             \
    dRb[0] = s0x * sc; dRb[1] = s0y * sc; dRb[2] = s0z * sc;                              \
    dRb[3] = s1x * sc; dRb[4] = s1y * sc; dRb[5] = s1z * sc;                              \
    dRb[6] = 0; dRb[7] = 0; dRb[8] = 0;                                                   \
  }

#endif
