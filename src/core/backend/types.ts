/**
 * The compute-backend interface: every heavy numeric operation of a reconstruction loop goes
 * through one `Backend`, so the TypeScript reference (`ts/`), the WebAssembly SIMD kernels
 * (`wasm/`, optionally on several threads) and a later WebGPU backend are interchangeable.
 *
 * The loop this is designed for minimises, per particle b with rotation A_b, CTF c_b and origin
 * shift t_b,  L = sum_b sum_k | slice(V, A_b)[k] · c_b[k] · phase(t_b)[k] - img_b[k] |^2.
 * Given dL/d(shifted slice) = g the loop obtains
 *   - dL/dt_b (2 numbers):   `shiftGradient` (shiftOps.ts, cheap, plain TypeScript);
 *   - dL/dslice:             multiply g by conj(phase)·c_b (phaseShiftBatch with -t, then CTF);
 *   - dL/dV:                 `scatterSlices(dL/dslice)`: the exact adjoint of `gatherSlices`;
 *   - dL/dA_b (9 numbers):   `sliceRotationGradient(V, dL/dslice)`, float64 accumulation;
 *     chain to Euler angles / axis-angle / 6D outside (rotation.ts).
 * For a real loss on complex values, "dL/dz" means the pair (dL/dRe z, dL/dIm z).
 *
 * Geometry (grid.ts, fourierSlice.ts): slice pixel (x, y), relative to floor(Di/2), samples the
 * centred volume at A^T (x - ci, y - ci, 0) · (Dv/Di) relative to floor(Dv/2), trilinearly, with
 * voxels outside the grid counted as zero. Rotations: RELION A matrices, row-major, 9 per slice.
 * opts.radiusMax (image frequency pixels) skips pixels outside that disc (gather writes 0);
 * opts.scale overrides the Dv/Di sampling step. The samples of H(-k) (Hartley / Friedel mates)
 * are those of the negated matrices -A.
 * The `...Real` variants work on one real plane (Hartley-space volumes, cryoSPIN/cryoFIRE).
 *
 * Buffers: any Float32Array works. `allocFloat32` may return a buffer that lives inside the
 * backend's memory (wasm), which avoids a copy in and out on every call: allocate long-lived
 * volumes and batches there in hot loops, and `release` them when done.
 */
import type { Complex } from '../complex.js';
import type { SliceOptions as ReferenceSliceOptions } from '../fourierSlice.js';

export interface SliceOptions extends ReferenceSliceOptions {
  /**
   * Volume voxels per image frequency pixel: the slice samples A^T (kx, ky, 0) · scale.
   * Default Dv/Di (a volume padded by Dv/Di). Use 1 for a symmetric grid of the image's own
   * frequency spacing, e.g. cryoSPIN's Hartley grid Dv = 2·floor(D/2)+1 for image box D.
   */
  scale?: number;
}

export type BackendName = 'ts' | 'wasm' | 'webgpu';

export interface BackendOptions {
  /** Threads for the slice kernels and FFTs (wasm only; 1 = no workers). Default 1. */
  threads?: number;
}

export interface Backend {
  readonly name: BackendName;
  /** Number of threads the kernels use (1 for the TypeScript backend). */
  readonly threads: number;

  /** A zeroed Float32Array of n values, in backend memory when that saves copies. */
  allocFloat32(n: number): Float32Array;
  /** Give back a buffer from allocFloat32 (no-op for plain arrays). */
  release(buf: Float32Array): void;

  /** out[b] = slice of vol (Dv^3) for rotation b, Di x Di each (B = rots.length / 9). Overwrites out. */
  gatherSlices(vol: Complex, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void;
  gatherSlicesReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Float32Array, opts?: SliceOptions): void;

  /** Adjoint of gatherSlices: ADDS the trilinear splat of every slice into volOut (caller zeroes). */
  scatterSlices(slices: Complex, Di: number, rots: Float64Array, Dv: number, volOut: Complex, opts?: SliceOptions): void;
  scatterSlicesReal(slices: Float32Array, Di: number, rots: Float64Array, Dv: number, volOut: Float32Array, opts?: SliceOptions): void;

  /**
   * dL/dA_b for every slice, given dSlices = dL/d(gathered slice). Writes 9 numbers per slice
   * (row-major; the third row is always 0 since slices lie in the kz = 0 plane) into dR
   * (Float64Array(9B), allocated if omitted) and returns it. Accumulated in float64.
   */
  sliceRotationGradient(vol: Complex, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array;
  sliceRotationGradientReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Float32Array, dR?: Float64Array, opts?: SliceOptions): Float64Array;

  /**
   * Slices of a real Hartley-space volume H (symmetric grid, e.g. Dv = 2·floor(D/2)+1):
   * F(k) = (H(q) + H(-q))/2 + i (H(-q) - H(q))/2 with q = A^T (kx, ky, 0) · scale, written into
   * out (B complex Di x Di slices, overwritten). NOTE opts.scale defaults to 1 here (the grid has
   * the image's own frequency spacing), not Dv/Di. See hartleySlices.ts.
   */
  gatherHartley(H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void;
  /** Adjoint of gatherHartley: ADDS dL/dH into dH for dSlices = dL/dF. */
  scatterHartley(dSlices: Complex, Di: number, rots: Float64Array, Dv: number, dH: Float32Array, opts?: SliceOptions): void;
  /** dL/dA (9 per slice, float64) of gatherHartley for dSlices = dL/dF. */
  hartleyRotationGradient(H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array;

  /** In-place centred 2D FFT of B complex D x D images (grid.ts convention; inverse divides by D^2). */
  fft2Batch(c: Complex, D: number, B: number, inverse: boolean): void;
  /** In-place centred 3D FFT of a complex D^3 volume (inverse divides by D^3). */
  fft3(c: Complex, D: number, inverse: boolean): void;

  /** Stop worker threads and free memory. The backend must not be used afterwards. */
  dispose(): void;
}

/** Number of slices described by a rotation array, with a size check against the slice buffer. */
export function batchSize(rots: Float64Array, sliceLen: number, Di: number, what: string): number {
  if (rots.length % 9 !== 0) throw new RangeError(`${what}: rots length ${rots.length} is not a multiple of 9`);
  const B = rots.length / 9;
  if (sliceLen !== B * Di * Di) throw new RangeError(`${what}: slice buffer has ${sliceLen} values, expected ${B}*${Di}^2`);
  return B;
}

export function checkVolume(len: number, Dv: number, what: string): void {
  if (len !== Dv * Dv * Dv) throw new RangeError(`${what}: volume has ${len} values, expected ${Dv}^3`);
}

/**
 * Rotations to hand to kernels that always step by Dv/Di, so that they step by opts.scale:
 * A' = A · scale / (Dv/Di). Returns the factor too: dL/dA = factor · dL/dA'.
 */
export function rescaledRotations(rots: Float64Array, Dv: number, Di: number, opts?: SliceOptions): { rots: Float64Array; factor: number } {
  if (opts?.scale === undefined) return { rots, factor: 1 };
  if (!(opts.scale > 0)) throw new RangeError(`slice scale must be > 0, got ${opts.scale}`);
  const factor = opts.scale / (Dv / Di);
  if (factor === 1) return { rots, factor };
  return { rots: rots.map((v) => v * factor), factor };
}
