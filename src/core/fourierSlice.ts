/**
 * Fourier-slice extraction (the projection operator in Fourier space) and its exact adjoint.
 *
 * For rotation A (RELION's matrix, row-major, see rotation.ts) and image pixel (x, y) of an
 * image of box Di, let kx = x - floor(Di/2), ky = y - floor(Di/2). The slice samples the centred
 * volume grid of box Dv at the point
 *
 *     p = A^T·(kx, ky, 0) · (Dv / Di)      (voxels, relative to the volume centre floor(Dv/2))
 *
 * by trilinear interpolation; corners outside the grid count as zero. Dv may be a padded grid
 * (e.g. Dv = 2·Di for a volume zero-padded twice in real space). Because A^T·(kx, ky, 0) =
 * kx·(row 0 of A) + ky·(row 1 of A), only the first two rows of A are used.
 *
 * The adjoint scatters each slice value into the same 8 voxels with the same weights, so
 * <extract(v), s> = <v, adjoint(s)> holds to rounding. insertSlicesWeights accumulates the
 * weights themselves (optionally times a per-pixel weight such as CTF^2), the denominator of a
 * normalised backprojection. The *Real variants run the same kernel on one real plane (for
 * Hartley-space volumes).
 *
 * Options: radiusMax (in frequency pixels of the IMAGE grid) zeroes/skips image pixels with
 * kx^2 + ky^2 > radiusMax^2.
 */
import type { Complex } from './complex.js';

export interface SliceOptions {
  /** Skip image pixels beyond this radius (frequency pixels of the image grid). */
  radiusMax?: number;
}

export interface WeightOptions extends SliceOptions {
  /** Per-pixel weights (e.g. CTF^2): either B*Di*Di values, or Di*Di shared by all slices. */
  pixelWeights?: Float32Array;
}

// Scratch for one sample's 8 corners: flat indices and weights (0 for corners off the grid).
const cIdx = new Int32Array(8);
const cW = new Float64Array(8);

/**
 * Corners and trilinear weights of the point (px, py, pz) given in ABSOLUTE voxel indices of a
 * Dv^3 grid, for points near the grid's edge (the kernels inline the interior case with the
 * same weights). Returns false when no corner lies on the grid.
 */
function corners(px: number, py: number, pz: number, Dv: number): boolean {
  const x0 = Math.floor(px);
  const y0 = Math.floor(py);
  const z0 = Math.floor(pz);
  if (x0 < -1 || y0 < -1 || z0 < -1 || x0 >= Dv || y0 >= Dv || z0 >= Dv) return false;
  const fx = px - x0;
  const fy = py - y0;
  const fz = pz - z0;
  let j = 0;
  for (let dz = 0; dz < 2; dz++) {
    const z = z0 + dz;
    const wz = dz ? fz : 1 - fz;
    const zIn = z >= 0 && z < Dv;
    for (let dy = 0; dy < 2; dy++) {
      const y = y0 + dy;
      const wzy = wz * (dy ? fy : 1 - fy);
      const yIn = zIn && y >= 0 && y < Dv;
      for (let dx = 0; dx < 2; dx++) {
        const x = x0 + dx;
        if (yIn && x >= 0 && x < Dv) {
          cIdx[j] = (z * Dv + y) * Dv + x;
          cW[j] = wzy * (dx ? fx : 1 - fx);
        } else {
          cIdx[j] = 0;
          cW[j] = 0;
        }
        j++;
      }
    }
  }
  return true;
}

function checkSizes(name: string, Dv: number, volLen: number, Di: number, rots: Float64Array, sliceLen: number): number {
  if (rots.length % 9 !== 0) throw new RangeError(`${name}: rots length ${rots.length} is not a multiple of 9`);
  const B = rots.length / 9;
  if (volLen !== Dv * Dv * Dv) throw new RangeError(`${name}: volume length ${volLen} != Dv^3 = ${Dv ** 3}`);
  if (sliceLen !== B * Di * Di) throw new RangeError(`${name}: slice length ${sliceLen} != B*Di*Di = ${B * Di * Di}`);
  return B;
}

/** Per-slice constants: the first two rows of A scaled by Dv/Di. */
function rowsOf(rots: Float64Array, b: number, s: number): [number, number, number, number, number, number] {
  const o = 9 * b;
  return [s * rots[o]!, s * rots[o + 1]!, s * rots[o + 2]!, s * rots[o + 3]!, s * rots[o + 4]!, s * rots[o + 5]!];
}

/**
 * The gather kernel on one real plane: out[i] = trilinear sample of vol at pixel i's point.
 * Interior points (all 8 corners on the grid) take the inlined fast path; points near the
 * edge go through corners(), which drops the off-grid corners.
 */
function gatherPlane(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, B: number, out: Float32Array, r2max: number): void {
  const cv = Math.floor(Dv / 2);
  const ci = Math.floor(Di / 2);
  const s = Dv / Di;
  const D2 = Dv * Dv;
  const lim = Dv - 1;
  for (let b = 0; b < B; b++) {
    const [a0, a1, a2, b0, b1, b2] = rowsOf(rots, b, s);
    for (let y = 0; y < Di; y++) {
      const ky = y - ci;
      const rowBase = (b * Di + y) * Di;
      for (let x = 0; x < Di; x++) {
        const kx = x - ci;
        const i = rowBase + x;
        if (kx * kx + ky * ky > r2max) { out[i] = 0; continue; }
        const px = a0 * kx + b0 * ky + cv;
        const py = a1 * kx + b1 * ky + cv;
        const pz = a2 * kx + b2 * ky + cv;
        const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
        if (x0 >= 0 && y0 >= 0 && z0 >= 0 && x0 < lim && y0 < lim && z0 < lim) {
          const fx = px - x0, fy = py - y0, fz = pz - z0;
          const gx = 1 - fx, gy = 1 - fy, gz = 1 - fz;
          const q = (z0 * Dv + y0) * Dv + x0;
          out[i] = gz * (gy * (gx * vol[q]! + fx * vol[q + 1]!) + fy * (gx * vol[q + Dv]! + fx * vol[q + Dv + 1]!)) +
            fz * (gy * (gx * vol[q + D2]! + fx * vol[q + D2 + 1]!) + fy * (gx * vol[q + D2 + Dv]! + fx * vol[q + D2 + Dv + 1]!));
        } else if (corners(px, py, pz, Dv)) {
          let acc = 0;
          for (let j = 0; j < 8; j++) acc += cW[j]! * vol[cIdx[j]!]!;
          out[i] = acc;
        } else {
          out[i] = 0;
        }
      }
    }
  }
}

/**
 * The scatter kernel on one real plane (exact adjoint of gatherPlane): volOut += weights x
 * value, value = vals[i % period] (vals null: 1).
 */
function scatterPlane(vals: Float32Array | null, period: number, Di: number, rots: Float64Array, B: number, Dv: number, volOut: Float32Array, r2max: number): void {
  const cv = Math.floor(Dv / 2);
  const ci = Math.floor(Di / 2);
  const s = Dv / Di;
  const D2 = Dv * Dv;
  const lim = Dv - 1;
  for (let b = 0; b < B; b++) {
    const [a0, a1, a2, b0, b1, b2] = rowsOf(rots, b, s);
    for (let y = 0; y < Di; y++) {
      const ky = y - ci;
      const rowBase = (b * Di + y) * Di;
      for (let x = 0; x < Di; x++) {
        const kx = x - ci;
        if (kx * kx + ky * ky > r2max) continue;
        const v = vals ? vals[(rowBase + x) % period]! : 1;
        if (v === 0) continue;
        const px = a0 * kx + b0 * ky + cv;
        const py = a1 * kx + b1 * ky + cv;
        const pz = a2 * kx + b2 * ky + cv;
        const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
        if (x0 >= 0 && y0 >= 0 && z0 >= 0 && x0 < lim && y0 < lim && z0 < lim) {
          const fx = px - x0, fy = py - y0, fz = pz - z0;
          const gx = 1 - fx, gy = 1 - fy, gz = 1 - fz;
          const q = (z0 * Dv + y0) * Dv + x0;
          const lo = gz * v, hi = fz * v;
          volOut[q] = volOut[q]! + lo * gy * gx;
          volOut[q + 1] = volOut[q + 1]! + lo * gy * fx;
          volOut[q + Dv] = volOut[q + Dv]! + lo * fy * gx;
          volOut[q + Dv + 1] = volOut[q + Dv + 1]! + lo * fy * fx;
          volOut[q + D2] = volOut[q + D2]! + hi * gy * gx;
          volOut[q + D2 + 1] = volOut[q + D2 + 1]! + hi * gy * fx;
          volOut[q + D2 + Dv] = volOut[q + D2 + Dv]! + hi * fy * gx;
          volOut[q + D2 + Dv + 1] = volOut[q + D2 + Dv + 1]! + hi * fy * fx;
        } else if (corners(px, py, pz, Dv)) {
          for (let j = 0; j < 8; j++) {
            const t = cIdx[j]!;
            volOut[t] = volOut[t]! + cW[j]! * v;
          }
        }
      }
    }
  }
}

function r2maxOf(opts: SliceOptions | undefined): number {
  return opts?.radiusMax !== undefined ? opts.radiusMax * opts.radiusMax : Infinity;
}

/** Gather B slices (B*Di*Di, overwritten) from a complex centred volume (Dv^3). */
export function extractSlices(vol: Complex, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): Complex {
  const B = checkSizes('extractSlices', Dv, vol.re.length, Di, rots, out.re.length);
  gatherPlane(vol.re, Dv, rots, Di, B, out.re, r2maxOf(opts));
  gatherPlane(vol.im, Dv, rots, Di, B, out.im, r2maxOf(opts));
  return out;
}

/** Exact adjoint of extractSlices: scatter-ADD B slices into volOut (Dv^3, not cleared). */
export function insertSlicesAdjoint(slices: Complex, Di: number, rots: Float64Array, Dv: number, volOut: Complex, opts?: SliceOptions): Complex {
  const B = checkSizes('insertSlicesAdjoint', Dv, volOut.re.length, Di, rots, slices.re.length);
  scatterPlane(slices.re, slices.re.length, Di, rots, B, Dv, volOut.re, r2maxOf(opts));
  scatterPlane(slices.im, slices.im.length, Di, rots, B, Dv, volOut.im, r2maxOf(opts));
  return volOut;
}

/**
 * Accumulate (ADD) the interpolation weights of B slices into wOut (Dv^3), each times the
 * pixel's weight from opts.pixelWeights (default 1). This is insertSlicesAdjointReal applied
 * to the pixel weights.
 */
export function insertSlicesWeights(Di: number, rots: Float64Array, Dv: number, wOut: Float32Array, opts?: WeightOptions): Float32Array {
  const B = checkSizes('insertSlicesWeights', Dv, wOut.length, Di, rots, (rots.length / 9) * Di * Di);
  const pw = opts?.pixelWeights;
  const n = Di * Di;
  if (pw && pw.length !== n && pw.length !== B * n) {
    throw new RangeError(`insertSlicesWeights: pixelWeights length ${pw.length} is neither Di*Di nor B*Di*Di`);
  }
  scatterPlane(pw ?? null, pw ? pw.length : 1, Di, rots, B, Dv, wOut, r2maxOf(opts));
  return wOut;
}

/** extractSlices on one real plane (e.g. a Hartley-space volume). */
export function extractSlicesReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Float32Array, opts?: SliceOptions): Float32Array {
  const B = checkSizes('extractSlicesReal', Dv, vol.length, Di, rots, out.length);
  gatherPlane(vol, Dv, rots, Di, B, out, r2maxOf(opts));
  return out;
}

/** Exact adjoint of extractSlicesReal: scatter-ADD into volOut (Dv^3, not cleared). */
export function insertSlicesAdjointReal(slices: Float32Array, Di: number, rots: Float64Array, Dv: number, volOut: Float32Array, opts?: SliceOptions): Float32Array {
  const B = checkSizes('insertSlicesAdjointReal', Dv, volOut.length, Di, rots, slices.length);
  scatterPlane(slices, slices.length, Di, rots, B, Dv, volOut, r2maxOf(opts));
  return volOut;
}
