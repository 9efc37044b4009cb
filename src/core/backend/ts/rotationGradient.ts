/**
 * Reference gradient of Fourier slices with respect to the rotation matrices (readable
 * TypeScript, float64 throughout; the WebAssembly kernel is checked against it).
 *
 * A slice pixel k = (kx, ky) samples the volume at p = c + s·A^T (kx, ky, 0), s = Dv/Di, i.e.
 * p_j = c + s·(A_0j kx + A_1j ky). With trilinear interpolation f(p),
 *     dL/dA_ij = s · sum_k  k_i · sum_planes g(k) · (df/dp_j)(p(k)),   i in {0, 1},
 * where g = dL/dslice (re and im planes for complex volumes). Row 2 of dL/dA is zero. Voxels
 * outside the grid are zero (as in fourierSlice.ts), so df/dp uses zero corners there.
 */
import { checkVolume, batchSize } from '../types.js';
import type { SliceOptions } from '../types.js';

/** Partial derivatives of the trilinear interpolant of `v` at (px, py, pz); adds g·grad to acc. */
function addTrilinearGrad(v: Float32Array, D: number, px: number, py: number, pz: number, g: number, acc: Float64Array): void {
  const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
  const fx = px - x0, fy = py - y0, fz = pz - z0;
  const at = (x: number, y: number, z: number): number =>
    x >= 0 && x < D && y >= 0 && y < D && z >= 0 && z < D ? v[(z * D + y) * D + x]! : 0;
  const v000 = at(x0, y0, z0), v100 = at(x0 + 1, y0, z0), v010 = at(x0, y0 + 1, z0), v110 = at(x0 + 1, y0 + 1, z0);
  const v001 = at(x0, y0, z0 + 1), v101 = at(x0 + 1, y0, z0 + 1), v011 = at(x0, y0 + 1, z0 + 1), v111 = at(x0 + 1, y0 + 1, z0 + 1);
  const ux = 1 - fx, uy = 1 - fy, uz = 1 - fz;
  acc[0] += g * (uz * (uy * (v100 - v000) + fy * (v110 - v010)) + fz * (uy * (v101 - v001) + fy * (v111 - v011)));
  acc[1] += g * (uz * (ux * (v010 - v000) + fx * (v110 - v100)) + fz * (ux * (v011 - v001) + fx * (v111 - v101)));
  acc[2] += g * (uy * (ux * (v001 - v000) + fx * (v101 - v100)) + fy * (ux * (v011 - v010) + fx * (v111 - v110)));
}

/**
 * dL/dA (9 per slice) for a volume given as 1 (real) or 2 (re, im) planes and the matching
 * planes of dL/dslice. Overwrites dR.
 */
export function rotationGradientPlanes(
  volPlanes: Float32Array[], Dv: number, rots: Float64Array, Di: number, gradPlanes: Float32Array[],
  dR: Float64Array, opts?: SliceOptions,
): Float64Array {
  for (const v of volPlanes) checkVolume(v.length, Dv, 'sliceRotationGradient');
  const B = batchSize(rots, gradPlanes[0]!.length, Di, 'sliceRotationGradient');
  if (dR.length !== 9 * B) throw new RangeError(`sliceRotationGradient: dR has ${dR.length} values, expected ${9 * B}`);
  const cv = Math.floor(Dv / 2), ci = Math.floor(Di / 2), s = Dv / Di;
  const r2max = opts?.radiusMax !== undefined ? opts.radiusMax * opts.radiusMax : Infinity;
  const dp = new Float64Array(3);
  for (let b = 0; b < B; b++) {
    const A = rots.subarray(9 * b, 9 * b + 9);
    const sum = new Float64Array(6); // sum kx·dL/dp_j (0..2), sum ky·dL/dp_j (3..5)
    for (let y = 0; y < Di; y++) {
      const ky = y - ci;
      for (let x = 0; x < Di; x++) {
        const kx = x - ci;
        if (kx * kx + ky * ky > r2max) continue;
        // same expression as fourierSlice.ts, so exact grid points fall in the same cell
        const px = s * A[0]! * kx + s * A[3]! * ky + cv;
        const py = s * A[1]! * kx + s * A[4]! * ky + cv;
        const pz = s * A[2]! * kx + s * A[5]! * ky + cv;
        if (Math.floor(px) < -1 || Math.floor(py) < -1 || Math.floor(pz) < -1 || px >= Dv || py >= Dv || pz >= Dv) continue;
        const i = (b * Di + y) * Di + x;
        dp.fill(0);
        for (let c = 0; c < volPlanes.length; c++) addTrilinearGrad(volPlanes[c]!, Dv, px, py, pz, gradPlanes[c]![i]!, dp);
        for (let j = 0; j < 3; j++) {
          sum[j] += kx * dp[j]!;
          sum[3 + j] += ky * dp[j]!;
        }
      }
    }
    for (let j = 0; j < 6; j++) dR[9 * b + j] = s * sum[j]!;
    dR[9 * b + 6] = 0; dR[9 * b + 7] = 0; dR[9 * b + 8] = 0;
  }
  return dR;
}
