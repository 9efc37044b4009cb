/**
 * In-plane shifts as Fourier phase ramps, with RELION's origin sign
 * (/work/shared/docs/conventions.md): an image with origin (ox, oy) pixels equals the centred
 * projection translated by MINUS the origin, d = -origin. A real-space translation by d
 * multiplies the centred spectrum by exp(-2 pi i k·d), k = (x - floor(D/2)) / D cycles/pixel, so
 * the factor applied here is exp(+2 pi i k·origin). Re-centring an observed image is the same
 * call with the origin negated.
 *
 * Integer origins are exact circular shifts (np.roll by -origin); fractional ones interpolate
 * with the band-limited (sinc) kernel. For even D the Nyquist row/column gets a phase that is
 * not Hermitian-symmetric for fractional shifts; taking the real part of the inverse transform
 * (ifft2Centered) is the usual resolution.
 */
import type { Complex } from './complex.js';

/** 1D factors exp(+2 pi i (j - c) o / D) for j = 0..D-1, as [cos, sin] arrays (Float64). */
function axisFactors(D: number, originPx: number): [Float64Array, Float64Array] {
  const c = Math.floor(D / 2);
  const cr = new Float64Array(D);
  const ci = new Float64Array(D);
  for (let j = 0; j < D; j++) {
    const a = (2 * Math.PI * (j - c) * originPx) / D;
    cr[j] = Math.cos(a);
    ci[j] = Math.sin(a);
  }
  return [cr, ci];
}

/** The phase factors exp(+2 pi i k·origin) on the centred D*D grid. */
export function shiftPhaseFactors(D: number, originXPx: number, originYPx: number): Complex {
  const [xr, xi] = axisFactors(D, originXPx);
  const [yr, yi] = axisFactors(D, originYPx);
  const out: Complex = { re: new Float32Array(D * D), im: new Float32Array(D * D) };
  for (let y = 0; y < D; y++) {
    for (let x = 0; x < D; x++) {
      out.re[y * D + x] = xr[x]! * yr[y]! - xi[x]! * yi[y]!;
      out.im[y * D + x] = xr[x]! * yi[y]! + xi[x]! * yr[y]!;
    }
  }
  return out;
}

/**
 * Multiply the centred D*D spectrum F (or the D*D block of a stack starting at `offset`) in
 * place by exp(+2 pi i k·origin): turns the spectrum of a centred projection into that of an
 * image with RELION origin (originXPx, originYPx).
 */
export function applyShift(F: Complex, D: number, originXPx: number, originYPx: number, offset = 0): Complex {
  if (offset < 0 || offset + D * D > F.re.length) throw new RangeError(`applyShift: block at ${offset} exceeds the array`);
  if (originXPx === 0 && originYPx === 0) return F;
  const [xr, xi] = axisFactors(D, originXPx);
  const [yr, yi] = axisFactors(D, originYPx);
  const re = F.re;
  const im = F.im;
  for (let y = 0; y < D; y++) {
    for (let x = 0; x < D; x++) {
      const pr = xr[x]! * yr[y]! - xi[x]! * yi[y]!;
      const pi = xr[x]! * yi[y]! + xi[x]! * yr[y]!;
      const i = offset + y * D + x;
      const a = re[i]!;
      const b = im[i]!;
      re[i] = a * pr - b * pi;
      im[i] = a * pi + b * pr;
    }
  }
  return F;
}

/** applyShift for B spectra stored back to back; origins holds (ox, oy) per image (2B values). */
export function applyShiftBatch(F: Complex, D: number, origins: ArrayLike<number>): Complex {
  const B = origins.length / 2;
  if (!Number.isInteger(B) || F.re.length !== B * D * D) {
    throw new RangeError(`applyShiftBatch: ${origins.length / 2} origins for ${F.re.length / (D * D)} images`);
  }
  for (let b = 0; b < B; b++) applyShift(F, D, origins[2 * b]!, origins[2 * b + 1]!, b * D * D);
  return F;
}
