/**
 * Fourier slices of a real Hartley-space volume (cryoSPIN's explicit decoder) through any
 * Backend, with the backward pass. With H(k) = Re F(k) - Im F(k) on a symmetric grid,
 *     F(k) = (H(k) + H(-k))/2 + i (H(-k) - H(k))/2,
 * so a slice is two real gathers: at A^T k (matrices A) and at -A^T k (matrices -A). The same
 * contract as src/model/hartleyVolume.ts (renderSlices / renderSlicesBackward), whose grid has
 * Dv = 2·floor(D/2)+1 and the image's frequency spacing: opts.scale defaults to 1 here.
 * Backward, for g = dL/dF: dL/dH(k) = (gRe - gIm)/2 at k and (gRe + gIm)/2 at -k, so
 * dL/dH = scatter(a; A) + scatter(b; -A) and dL/dA = rotgrad(a; A) - rotgrad(b; -A).
 */
import type { Complex } from '../complex.js';
import type { Backend, SliceOptions } from './types.js';

function withDefaults(opts?: SliceOptions): SliceOptions {
  return { scale: 1, ...opts };
}

function negated(rots: Float64Array): Float64Array {
  return rots.map((v) => -v);
}

/** out = B complex slices (Di x Di, overwritten) of the Hartley volume H (Dv^3). */
export function gatherHartleySlices(be: Backend, H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
  const o = withDefaults(opts);
  const n = out.re.length;
  const h1 = be.allocFloat32(n), h2 = be.allocFloat32(n);
  try {
    be.gatherSlicesReal(H, Dv, rots, Di, h1, o);
    be.gatherSlicesReal(H, Dv, negated(rots), Di, h2, o);
    for (let i = 0; i < n; i++) {
      const a = h1[i]!, b = h2[i]!;
      out.re[i] = 0.5 * (a + b);
      out.im[i] = 0.5 * (b - a);
    }
  } finally {
    be.release(h1);
    be.release(h2);
  }
}

/**
 * Backward of gatherHartleySlices for dSlices = dL/dF: ADDS dL/dH into dH (if given) and writes
 * dL/dA (9 per slice, float64) into dR (if given).
 */
export function hartleySlicesBackward(
  be: Backend, H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex,
  dH: Float32Array | null, dR: Float64Array | null, opts?: SliceOptions,
): void {
  const o = withDefaults(opts);
  const n = dSlices.re.length;
  const a = be.allocFloat32(n), b = be.allocFloat32(n);
  const neg = negated(rots);
  try {
    for (let i = 0; i < n; i++) {
      const gr = dSlices.re[i]!, gi = dSlices.im[i]!;
      a[i] = 0.5 * (gr - gi);
      b[i] = 0.5 * (gr + gi);
    }
    if (dH) {
      be.scatterSlicesReal(a, Di, rots, Dv, dH, o);
      be.scatterSlicesReal(b, Di, neg, Dv, dH, o);
    }
    if (dR) {
      const r1 = be.sliceRotationGradientReal(H, Dv, rots, Di, a, undefined, o);
      const r2 = be.sliceRotationGradientReal(H, Dv, neg, Di, b, undefined, o);
      for (let i = 0; i < dR.length; i++) dR[i] = r1[i]! - r2[i]!;
    }
  } finally {
    be.release(a);
    be.release(b);
  }
}
