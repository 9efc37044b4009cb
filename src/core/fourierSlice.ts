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
 * Dv^3 grid. Returns false when no corner lies on the grid.
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

/**
 * Visit every image pixel of every slice with its sample point; `visit(pixelIndex)` is called
 * after corners() filled the scratch arrays, `miss(pixelIndex)` for pixels with no sample.
 */
function forEachSample(
  Dv: number, rots: Float64Array, Di: number, B: number, opts: SliceOptions | undefined,
  visit: (i: number) => void, miss: (i: number) => void,
): void {
  const cv = Math.floor(Dv / 2);
  const ci = Math.floor(Di / 2);
  const s = Dv / Di;
  const r2max = opts?.radiusMax !== undefined ? opts.radiusMax * opts.radiusMax : Infinity;
  for (let b = 0; b < B; b++) {
    const o = 9 * b;
    const a0 = s * rots[o]!, a1 = s * rots[o + 1]!, a2 = s * rots[o + 2]!;
    const b0 = s * rots[o + 3]!, b1 = s * rots[o + 4]!, b2 = s * rots[o + 5]!;
    for (let y = 0; y < Di; y++) {
      const ky = y - ci;
      for (let x = 0; x < Di; x++) {
        const kx = x - ci;
        const i = (b * Di + y) * Di + x;
        if (kx * kx + ky * ky > r2max) { miss(i); continue; }
        const px = a0 * kx + b0 * ky + cv;
        const py = a1 * kx + b1 * ky + cv;
        const pz = a2 * kx + b2 * ky + cv;
        if (corners(px, py, pz, Dv)) visit(i);
        else miss(i);
      }
    }
  }
}

/** Gather B slices (B*Di*Di, overwritten) from a complex centred volume (Dv^3). */
export function extractSlices(vol: Complex, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): Complex {
  const B = checkSizes('extractSlices', Dv, vol.re.length, Di, rots, out.re.length);
  const vr = vol.re, vi = vol.im, or = out.re, oi = out.im;
  forEachSample(Dv, rots, Di, B, opts, (i) => {
    let sr = 0, si = 0;
    for (let j = 0; j < 8; j++) {
      const w = cW[j]!;
      const v = cIdx[j]!;
      sr += w * vr[v]!;
      si += w * vi[v]!;
    }
    or[i] = sr;
    oi[i] = si;
  }, (i) => { or[i] = 0; oi[i] = 0; });
  return out;
}

/** Exact adjoint of extractSlices: scatter-ADD B slices into volOut (Dv^3, not cleared). */
export function insertSlicesAdjoint(slices: Complex, Di: number, rots: Float64Array, Dv: number, volOut: Complex, opts?: SliceOptions): Complex {
  const B = checkSizes('insertSlicesAdjoint', Dv, volOut.re.length, Di, rots, slices.re.length);
  const sr = slices.re, si = slices.im, vr = volOut.re, vi = volOut.im;
  forEachSample(Dv, rots, Di, B, opts, (i) => {
    const a = sr[i]!, c = si[i]!;
    for (let j = 0; j < 8; j++) {
      const w = cW[j]!;
      const v = cIdx[j]!;
      vr[v] = vr[v]! + w * a;
      vi[v] = vi[v]! + w * c;
    }
  }, () => {});
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
  const shared = pw !== undefined && pw.length === n && B !== 1;
  forEachSample(Dv, rots, Di, B, opts, (i) => {
    const a = pw ? pw[shared ? i % n : i]! : 1;
    for (let j = 0; j < 8; j++) {
      const v = cIdx[j]!;
      wOut[v] = wOut[v]! + cW[j]! * a;
    }
  }, () => {});
  return wOut;
}

/** extractSlices on one real plane (e.g. a Hartley-space volume). */
export function extractSlicesReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Float32Array, opts?: SliceOptions): Float32Array {
  const B = checkSizes('extractSlicesReal', Dv, vol.length, Di, rots, out.length);
  forEachSample(Dv, rots, Di, B, opts, (i) => {
    let s = 0;
    for (let j = 0; j < 8; j++) s += cW[j]! * vol[cIdx[j]!]!;
    out[i] = s;
  }, (i) => { out[i] = 0; });
  return out;
}

/** Exact adjoint of extractSlicesReal: scatter-ADD into volOut (Dv^3, not cleared). */
export function insertSlicesAdjointReal(slices: Float32Array, Di: number, rots: Float64Array, Dv: number, volOut: Float32Array, opts?: SliceOptions): Float32Array {
  const B = checkSizes('insertSlicesAdjointReal', Dv, volOut.length, Di, rots, slices.length);
  forEachSample(Dv, rots, Di, B, opts, (i) => {
    const a = slices[i]!;
    for (let j = 0; j < 8; j++) {
      const v = cIdx[j]!;
      volOut[v] = volOut[v]! + cW[j]! * a;
    }
  }, () => {});
  return volOut;
}
