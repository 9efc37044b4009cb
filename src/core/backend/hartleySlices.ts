/**
 * Fourier slices of a real Hartley-space volume (cryoSPIN's explicit decoder). With
 * H(k) = Re F(k) - Im F(k) on a symmetric grid,
 *     F(k) = (H(q) + H(-q))/2 + i (H(-q) - H(q))/2,   q = A^T (kx, ky, 0) · scale,
 * so a slice is two real gathers: with matrices A and with -A. Same contract as
 * src/model/hartleyVolume.ts (renderSlices / renderSlicesBackward), whose grid has
 * Dv = 2·floor(D/2)+1 at the image's frequency spacing: opts.scale defaults to 1 here.
 * Backward, for g = dL/dF: a = (gRe - gIm)/2 belongs to +q and b = (gRe + gIm)/2 to -q, so
 * dL/dH = scatter(a; A) + scatter(b; -A) and dL/dA = rotgrad(a; A) - rotgrad(b; -A).
 *
 * This file holds that two-gather route on the real-plane kernels of any backend (the TS backend
 * uses it; the wasm backend has fused kernels, wasm/hartley.c), and two convenience wrappers.
 */
import type { Complex } from '../complex.js';
import type { Backend, SliceOptions } from './types.js';

type RealOps = Pick<Backend, 'allocFloat32' | 'release' | 'gatherSlicesReal' | 'scatterSlicesReal' | 'sliceRotationGradientReal'>;

export function hartleyOptions(opts?: SliceOptions): SliceOptions {
  return { scale: 1, ...opts };
}

function negated(rots: Float64Array): Float64Array {
  return rots.map((v) => -v);
}

/** The (gRe - gIm)/2 and (gRe + gIm)/2 planes of dL/dF, in backend buffers (release them). */
function splitGradient(be: RealOps, g: Complex): [Float32Array, Float32Array] {
  const n = g.re.length;
  const a = be.allocFloat32(n), b = be.allocFloat32(n);
  for (let i = 0; i < n; i++) {
    const gr = g.re[i]!, gi = g.im[i]!;
    a[i] = 0.5 * (gr - gi);
    b[i] = 0.5 * (gr + gi);
  }
  return [a, b];
}

export function gatherHartleyTwoPass(be: RealOps, H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
  const o = hartleyOptions(opts);
  const n = out.re.length;
  const h1 = be.allocFloat32(n), h2 = be.allocFloat32(n);
  try {
    be.gatherSlicesReal(H, Dv, rots, Di, h1, o);
    be.gatherSlicesReal(H, Dv, negated(rots), Di, h2, o);
    for (let i = 0; i < n; i++) {
      const x = h1[i]!, y = h2[i]!;
      out.re[i] = 0.5 * (x + y);
      out.im[i] = 0.5 * (y - x);
    }
  } finally {
    be.release(h1);
    be.release(h2);
  }
}

export function scatterHartleyTwoPass(be: RealOps, dSlices: Complex, Di: number, rots: Float64Array, Dv: number, dH: Float32Array, opts?: SliceOptions): void {
  const o = hartleyOptions(opts);
  const [a, b] = splitGradient(be, dSlices);
  try {
    be.scatterSlicesReal(a, Di, rots, Dv, dH, o);
    be.scatterSlicesReal(b, Di, negated(rots), Dv, dH, o);
  } finally {
    be.release(a);
    be.release(b);
  }
}

export function hartleyRotationGradientTwoPass(be: RealOps, H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR: Float64Array, opts?: SliceOptions): Float64Array {
  const o = hartleyOptions(opts);
  const [a, b] = splitGradient(be, dSlices);
  try {
    const r1 = be.sliceRotationGradientReal(H, Dv, rots, Di, a, undefined, o);
    const r2 = be.sliceRotationGradientReal(H, Dv, negated(rots), Di, b, undefined, o);
    for (let i = 0; i < dR.length; i++) dR[i] = r1[i]! - r2[i]!;
  } finally {
    be.release(a);
    be.release(b);
  }
  return dR;
}

/** Convenience: be.gatherHartley. */
export function gatherHartleySlices(be: Backend, H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
  be.gatherHartley(H, Dv, rots, Di, out, opts);
}

/** Convenience: the whole backward, ADDS dL/dH into dH (if given), writes dL/dA into dR (if given). */
export function hartleySlicesBackward(
  be: Backend, H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex,
  dH: Float32Array | null, dR: Float64Array | null, opts?: SliceOptions,
): void {
  if (dH) be.scatterHartley(dSlices, Di, rots, Dv, dH, opts);
  if (dR) be.hartleyRotationGradient(H, Dv, rots, Di, dSlices, dR, opts);
}
