/**
 * Fourier shell correlation between two D^3 maps and the resolution read from it
 * (../shared/docs/conventions.md, "FSC and resolution").
 *
 * Shells (cryoDRGN's definition): shell i (i = 1 .. floor(D/2)) holds the Fourier voxels with
 * i - 1 <= |k| < i, |k| the distance in voxels from the Fourier origin (index floor(D/2)), and
 *     FSC_i = Re(sum F1 F2*) / sqrt(sum |F1|^2 · sum |F2|^2).
 * Shell 1 is the DC term alone. Shell i is reported at its OUTER radius, spatial frequency i/D
 * (cycles/px), i.e. a resolution of D/i px — the same reading as cryoDRGN's `fsc` (freq =
 * arange(1, D//2)/D). The curve array returned by `fsc` is 0-based: `curve[j]` is shell j + 1.
 * Voxels with |k| >= floor(D/2) (corners) are not used.
 *
 * Resolution: the FIRST crossing below the threshold (RELION's reading), linearly interpolated
 * between the last shell above and the first shell below, as a fractional shell s; resolution
 * D/s px. A curve that never falls below the threshold gives Nyquist, 2 px.
 */
import { fft3Centered } from '../core/fft.js';
import { applyMask } from './mask.js';

export interface FscOptions {
  /** Real-space mask applied to both maps before the transform (same grid). */
  mask?: Float32Array;
}

/** FSC per shell; `curve[j]` is shell j + 1 (radii j <= |k| < j + 1), length floor(D/2). */
export function fsc(a: Float32Array, b: Float32Array, D: number, opts: FscOptions = {}): Float64Array {
  const n = D * D * D;
  if (a.length !== n || b.length !== n) throw new RangeError(`fsc: maps must have ${n} voxels (got ${a.length}, ${b.length})`);
  const A = fft3Centered(opts.mask ? applyMask(a, opts.mask) : a, D);
  const B = fft3Centered(opts.mask ? applyMask(b, opts.mask) : b, D);
  const nShell = Math.floor(D / 2);
  const cross = new Float64Array(nShell);
  const pa = new Float64Array(nShell);
  const pb = new Float64Array(nShell);
  const c = Math.floor(D / 2);
  let i = 0;
  for (let z = 0; z < D; z++) {
    const dz2 = (z - c) * (z - c);
    for (let y = 0; y < D; y++) {
      const dyz2 = dz2 + (y - c) * (y - c);
      for (let x = 0; x < D; x++, i++) {
        const r2 = dyz2 + (x - c) * (x - c);
        let j = Math.floor(Math.sqrt(r2));
        // exact integer floor(sqrt(r2)) despite rounding
        if (j * j > r2) j--;
        else if ((j + 1) * (j + 1) <= r2) j++;
        if (j >= nShell) continue;
        const ar = A.re[i]!, ai = A.im[i]!, br = B.re[i]!, bi = B.im[i]!;
        cross[j]! += ar * br + ai * bi;
        pa[j]! += ar * ar + ai * ai;
        pb[j]! += br * br + bi * bi;
      }
    }
  }
  const out = new Float64Array(nShell);
  for (let j = 0; j < nShell; j++) {
    const den = Math.sqrt(pa[j]! * pb[j]!);
    out[j] = den > 0 ? cross[j]! / den : 0;
  }
  return out;
}

/**
 * FSC binned the way RELION 3.1 does (`relion_image_handler --fsc`, for cross-checks only):
 * the half transform kx >= 0 (for even D the kx = -D/2 plane stands in for +D/2), shell j holds
 * round(|k|) = j, j = 0 .. floor(D/2); `out[j]` is shell j at frequency j/D. The half space
 * weights the kx = 0 plane twice relative to the full-grid sums of `fsc`, so values differ
 * slightly (~0.01) from `fsc` besides the binning.
 */
export function fscRelionBinning(a: Float32Array, b: Float32Array, D: number): Float64Array {
  const n = D * D * D;
  if (a.length !== n || b.length !== n) throw new RangeError(`fscRelionBinning: maps must have ${n} voxels`);
  const A = fft3Centered(a, D), B = fft3Centered(b, D);
  const c = Math.floor(D / 2), nShell = c + 1;
  const cross = new Float64Array(nShell), pa = new Float64Array(nShell), pb = new Float64Array(nShell);
  let i = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
    const kx = x - c;
    if (kx < 0 && !(D % 2 === 0 && x === 0)) continue;
    const j = Math.round(Math.sqrt(kx * kx + (y - c) ** 2 + (z - c) ** 2));
    if (j >= nShell) continue;
    const ar = A.re[i]!, ai = A.im[i]!, br = B.re[i]!, bi = B.im[i]!;
    cross[j]! += ar * br + ai * bi;
    pa[j]! += ar * ar + ai * ai;
    pb[j]! += br * br + bi * bi;
  }
  return cross.map((v, j) => (pa[j]! * pb[j]! > 0 ? v / Math.sqrt(pa[j]! * pb[j]!) : 0));
}

/**
 * Fractional shell at which the curve first drops below `threshold` (linear interpolation;
 * `curve[j]` is shell j + 1). Returns null if it never does.
 */
export function crossingShell(curve: ArrayLike<number>, threshold: number): number | null {
  // curve[0] is the DC voxel alone: its value is set by each map's mean (normalisation, and
  // mean-subtracted particle images leave it undetermined), not by structure, so the search
  // starts at shell 2 (curve[1]), as RELION's and cryoDRGN's resolution estimates in effect do.
  if (curve.length < 2) return null;
  if (curve[1]! < threshold) return 2;
  for (let j = 2; j < curve.length; j++) {
    const v = curve[j]!;
    if (v < threshold) {
      const prev = curve[j - 1]!;
      const t = (prev - threshold) / (prev - v); // in (0, 1]
      return j + t; // shell j (value prev) -> shell j + 1 (value v)
    }
  }
  return null;
}

/** Resolution in pixels (D / crossing shell) at `threshold`; 2 px (Nyquist) if never crossed. */
export function resolutionFromCurve(curve: ArrayLike<number>, D: number, threshold: number): number {
  const s = crossingShell(curve, threshold);
  return s === null ? 2 : D / s;
}

export interface FscReport {
  res05_px: number;
  res0143_px: number;
  /** Angstrom, or null when the pixel size is unknown. */
  res05_A: number | null;
  res0143_A: number | null;
  /** [shell, fsc] pairs, shell = 1 .. floor(D/2) (frequency shell/D cycles/px). */
  curve: Array<[number, number]>;
}

export function fscReport(a: Float32Array, b: Float32Array, D: number, apixAngstrom: number | null, opts: FscOptions = {}): FscReport {
  const curve = fsc(a, b, D, opts);
  const r05 = resolutionFromCurve(curve, D, 0.5);
  const r0143 = resolutionFromCurve(curve, D, 0.143);
  const withA = apixAngstrom !== null && apixAngstrom > 0;
  return {
    res05_px: r05,
    res0143_px: r0143,
    res05_A: withA ? r05 * apixAngstrom : null,
    res0143_A: withA ? r0143 * apixAngstrom : null,
    curve: Array.from(curve, (v, j): [number, number] => [j + 1, v]),
  };
}
