/**
 * cryoAI's symmetric loss, as data operations: each image is also scored rotated in-plane by pi,
 * and the smaller of the two errors is kept (seed paper Sec. 3.5: avoids mirrored, spuriously
 * symmetric solutions).
 *
 * Rotating an image by pi about the box centre maps Fourier pixel k to -k, so the rotated image's
 * centred transform (and its CTF) is the original's read at the mirrored pixel (2c - x, 2c - y),
 * c = floor(D/2). Only pixels whose mirror lies inside the box are defined; the loss disc used with
 * it must be symmetric (radius < D/2, see fourierNet.ts `symmetricDisc`).
 *
 * Pose bookkeeping: if the prediction (A, o) explains the rotated image, then the original image is
 * explained by A' = Rz(pi)·A = diag(-1, -1, 1)·A (RELION psi + 180 deg) and origin o' = -o:
 *   slice_A'(k) = F(A'^T k) = F(A^T diag(-1,-1,1) k) = slice_A(-k),  shift phase exp(2 pi i k·o'/D)
 *   = exp(2 pi i (-k)·o/D), and CTF(-k) is the mirrored CTF. `composeInPlanePi` applies this.
 */
import type { Complex } from '../core/complex.js';

/** Mirror B centred D x D planes k -> -k (pixels without a mirror in the box become 0). */
export function mirrorPlanes(src: Float32Array, B: number, D: number, out = new Float32Array(B * D * D)): Float32Array {
  const c = Math.floor(D / 2);
  const P = D * D;
  for (let b = 0; b < B; b++) {
    for (let y = 0; y < D; y++) {
      const y2 = 2 * c - y;
      for (let x = 0; x < D; x++) {
        const x2 = 2 * c - x;
        out[b * P + y * D + x] = x2 < D && y2 < D ? src[b * P + y2 * D + x2]! : 0;
      }
    }
  }
  return out;
}

/** The centred transforms of B images rotated in-plane by pi. */
export function mirrorComplex(src: Complex, B: number, D: number): Complex {
  return { re: mirrorPlanes(src.re, B, D), im: mirrorPlanes(src.im, B, D) };
}

/**
 * Pose of the original image when (A, origin) explains its in-plane pi rotation: A <- diag(-1,-1,1)·A
 * (rows 0 and 1 negated), origin <- -origin. In place at offsets 9b / 2b.
 */
export function composeInPlanePi(rots: Float64Array | Float32Array, rOff: number, origins: Float32Array | Float64Array | null, oOff: number): void {
  for (let k = 0; k < 6; k++) rots[rOff + k] = -rots[rOff + k]!;
  if (origins) {
    origins[oOff] = -origins[oOff]!;
    origins[oOff + 1] = -origins[oOff + 1]!;
  }
}
