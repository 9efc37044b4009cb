/**
 * Batched origin shifts of Fourier slices and their gradient (plain TypeScript: O(B·Di^2),
 * negligible next to the slice kernels, so every backend shares this code).
 *
 * RELION convention (architecture.md, shift.ts): the observed image is the projection translated
 * by MINUS the origin t (pixels), i.e. its centred spectrum is multiplied by
 *     phase_t(k) = exp(+2 pi i (kx tx + ky ty) / Di),   kx = x - floor(Di/2), ky = y - floor(Di/2).
 * With y = phase_t · s and g = dL/dy (planes dL/dRe y, dL/dIm y):
 *     dL/dt_x = (2 pi / Di) · sum_k kx · (gIm·yRe - gRe·yIm)     (same with ky for t_y)
 *     dL/ds   = conj(phase_t) · g  = phaseShiftBatch(g, -t)        (the adjoint of the shift).
 */
import type { Complex } from '../complex.js';

/**
 * out[b] = s[b] · phase(sign · t_b) for B slices of Di x Di; shiftsPx = [tx0, ty0, tx1, ...]
 * (2B values). out may be s (in place). sign = -1 applies the adjoint (conjugate) shift.
 */
export function phaseShiftBatch(s: Complex, Di: number, shiftsPx: Float64Array, out: Complex = s, sign: 1 | -1 = 1): Complex {
  const n = Di * Di;
  const B = shiftsPx.length / 2;
  if (!Number.isInteger(B) || s.re.length !== B * n || out.re.length !== B * n) {
    throw new RangeError(`phaseShiftBatch: ${s.re.length} slice values and ${shiftsPx.length} shift values for Di=${Di}`);
  }
  const c = Math.floor(Di / 2);
  const cx = new Float64Array(Di), sx = new Float64Array(Di), cy = new Float64Array(Di), sy = new Float64Array(Di);
  for (let b = 0; b < B; b++) {
    const tx = sign * shiftsPx[2 * b]!, ty = sign * shiftsPx[2 * b + 1]!;
    for (let i = 0; i < Di; i++) {
      const k = i - c;
      cx[i] = Math.cos((2 * Math.PI * k * tx) / Di); sx[i] = Math.sin((2 * Math.PI * k * tx) / Di);
      cy[i] = Math.cos((2 * Math.PI * k * ty) / Di); sy[i] = Math.sin((2 * Math.PI * k * ty) / Di);
    }
    for (let y = 0; y < Di; y++) {
      for (let x = 0; x < Di; x++) {
        const pr = cx[x]! * cy[y]! - sx[x]! * sy[y]!, pi = cx[x]! * sy[y]! + sx[x]! * cy[y]!;
        const i = b * n + y * Di + x;
        const ar = s.re[i]!, ai = s.im[i]!;
        out.re[i] = ar * pr - ai * pi;
        out.im[i] = ar * pi + ai * pr;
      }
    }
  }
  return out;
}

/** dL/dt (2 per slice, float64) from the shifted slices y and g = dL/dy. */
export function shiftGradient(shifted: Complex, dShifted: Complex, Di: number, B: number, out: Float64Array = new Float64Array(2 * B)): Float64Array {
  const n = Di * Di;
  if (shifted.re.length !== B * n || dShifted.re.length !== B * n || out.length !== 2 * B) {
    throw new RangeError(`shiftGradient: sizes do not match B=${B}, Di=${Di}`);
  }
  const c = Math.floor(Di / 2);
  for (let b = 0; b < B; b++) {
    let gx = 0, gy = 0;
    for (let y = 0; y < Di; y++) {
      let row = 0;
      for (let x = 0; x < Di; x++) {
        const i = b * n + y * Di + x;
        const t = dShifted.im[i]! * shifted.re[i]! - dShifted.re[i]! * shifted.im[i]!;
        gx += (x - c) * t;
        row += t;
      }
      gy += (y - c) * row;
    }
    out[2 * b] = (2 * Math.PI * gx) / Di;
    out[2 * b + 1] = (2 * Math.PI * gy) / Di;
  }
  return out;
}
