/**
 * The TypeScript reference backend: wraps the readable kernels of src/core/fourierSlice.ts and
 * src/core/fft.ts, plus the rotation-gradient reference in ./rotationGradient.ts and the
 * two-gather Hartley route of ../hartleySlices.ts. Single threaded; the WebAssembly backend is tested against this one.
 */
import type { Complex } from '../../complex.js';
import { extractSlices, extractSlicesReal, insertSlicesAdjoint, insertSlicesAdjointReal } from '../../fourierSlice.js';
import { fftnCentered } from '../../fft.js';
import { rescaledRotations } from '../types.js';
import type { Backend, SliceOptions } from '../types.js';
import { rotationGradientPlanes } from './rotationGradient.js';
import { gatherHartleyTwoPass, hartleyRotationGradientTwoPass, scatterHartleyTwoPass } from '../hartleySlices.js';

export class TsBackend implements Backend {
  readonly name = 'ts' as const;
  readonly threads = 1;

  allocFloat32(n: number): Float32Array {
    return new Float32Array(n);
  }

  release(_buf: Float32Array): void {
    /* garbage collected */
  }

  gatherSlices(vol: Complex, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
    extractSlices(vol, Dv, rescaledRotations(rots, Dv, Di, opts).rots, Di, out, opts);
  }

  gatherSlicesReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Float32Array, opts?: SliceOptions): void {
    extractSlicesReal(vol, Dv, rescaledRotations(rots, Dv, Di, opts).rots, Di, out, opts);
  }

  scatterSlices(slices: Complex, Di: number, rots: Float64Array, Dv: number, volOut: Complex, opts?: SliceOptions): void {
    insertSlicesAdjoint(slices, Di, rescaledRotations(rots, Dv, Di, opts).rots, Dv, volOut, opts);
  }

  scatterSlicesReal(slices: Float32Array, Di: number, rots: Float64Array, Dv: number, volOut: Float32Array, opts?: SliceOptions): void {
    insertSlicesAdjointReal(slices, Di, rescaledRotations(rots, Dv, Di, opts).rots, Dv, volOut, opts);
  }

  sliceRotationGradient(vol: Complex, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    const out = dR ?? new Float64Array(rots.length);
    const { rots: R, factor } = rescaledRotations(rots, Dv, Di, opts);
    rotationGradientPlanes([vol.re, vol.im], Dv, R, Di, [dSlices.re, dSlices.im], out, opts);
    if (factor !== 1) for (let i = 0; i < out.length; i++) out[i] = out[i]! * factor;
    return out;
  }

  sliceRotationGradientReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Float32Array, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    const out = dR ?? new Float64Array(rots.length);
    const { rots: R, factor } = rescaledRotations(rots, Dv, Di, opts);
    rotationGradientPlanes([vol], Dv, R, Di, [dSlices], out, opts);
    if (factor !== 1) for (let i = 0; i < out.length; i++) out[i] = out[i]! * factor;
    return out;
  }

  gatherHartley(H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
    gatherHartleyTwoPass(this, H, Dv, rots, Di, out, opts);
  }

  scatterHartley(dSlices: Complex, Di: number, rots: Float64Array, Dv: number, dH: Float32Array, opts?: SliceOptions): void {
    scatterHartleyTwoPass(this, dSlices, Di, rots, Dv, dH, opts);
  }

  hartleyRotationGradient(H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    return hartleyRotationGradientTwoPass(this, H, Dv, rots, Di, dSlices, dR ?? new Float64Array(rots.length), opts);
  }

  fft2Batch(c: Complex, D: number, B: number, inverse: boolean): void {
    const n = D * D;
    if (c.re.length !== B * n) throw new RangeError(`fft2Batch: ${c.re.length} values, expected ${B}*${D}^2`);
    for (let b = 0; b < B; b++) {
      const one = { re: c.re.subarray(b * n, (b + 1) * n), im: c.im.subarray(b * n, (b + 1) * n) };
      const r = fftnCentered(one, [D, D], inverse);
      one.re.set(r.re);
      one.im.set(r.im);
    }
  }

  fft3(c: Complex, D: number, inverse: boolean): void {
    const r = fftnCentered(c, [D, D, D], inverse);
    c.re.set(r.re);
    c.im.set(r.im);
  }

  dispose(): void {
    /* nothing to free */
  }
}
