/**
 * The slice operations of the reconstruction loops (render Hartley slices; their volume and
 * rotation gradients) behind one small interface, so the loop runs on the readable TypeScript
 * reference (src/model/hartleyVolume.ts) or on a compute backend (src/core/backend, e.g. the
 * WebAssembly SIMD kernels, ~4x faster). Both give the same numbers to float32 tolerance.
 */
import type { Complex } from '../core/complex.js';
import { getBackend, type Backend, type BackendName } from '../core/backend/index.js';
import { renderSlices, renderSlicesBackward, type DiscIndex, type HartleyGrid } from '../model/hartleyVolume.js';

export interface Slicer {
  readonly name: string;
  /** Threads the slice kernels are split over (1 for the TS reference). */
  readonly threads: number;
  /** B slices (D x D each, the first B·D² entries of out) for rotations rots (9B); 0 outside the disc. */
  render(grid: HartleyGrid, rots: Float64Array, B: number, out: Complex, disc: DiscIndex): void;
  /** Adds dL/dH into dGrid (if given); writes dL/dA (9 per slice) into dRots (if given). */
  backward(grid: HartleyGrid, rots: Float64Array, B: number, dSlices: Complex, dGrid: Float32Array | null, dRots: Float64Array | null, disc: DiscIndex): void;
  /**
   * A zeroed float32 buffer the slice operations use in place (the wasm backend's heap: no copy in
   * or out per call); a plain array for the TS reference. Any Float32Array works as well.
   */
  alloc(n: number): Float32Array;
  dispose(): void;
}

export const tsSlicer: Slicer = {
  name: 'ts',
  threads: 1,
  render: (grid, rots, B, out, disc) => renderSlices(grid, rots, B, out, disc),
  backward: (grid, rots, B, dS, dGrid, dRots, disc) => renderSlicesBackward(grid, rots, B, dS, dGrid, dRots, disc),
  alloc: (n) => new Float32Array(n),
  dispose: () => undefined,
};

function discRadius(disc: DiscIndex): number {
  let r2 = 0;
  for (let i = 0; i < disc.kx.length; i++) r2 = Math.max(r2, disc.kx[i]! * disc.kx[i]! + disc.ky[i]! * disc.ky[i]!);
  return Math.sqrt(r2) + 1e-6;
}

class BackendSlicer implements Slicer {
  readonly name: string;
  readonly threads: number;
  private readonly be: Backend;
  private readonly radius = new WeakMap<DiscIndex, number>();
  constructor(name: BackendName, threads: number) {
    this.name = name;
    this.be = getBackend(name, { threads });
    this.threads = this.be.threads;
  }
  private r(disc: DiscIndex): number {
    let r = this.radius.get(disc);
    if (r === undefined) { r = discRadius(disc); this.radius.set(disc, r); }
    return r;
  }
  render(grid: HartleyGrid, rots: Float64Array, B: number, out: Complex, disc: DiscIndex): void {
    const n = B * grid.D * grid.D;
    const o: Complex = { re: out.re.subarray(0, n), im: out.im.subarray(0, n) };
    this.be.gatherHartley(grid.values, grid.Dv, rots.subarray(0, 9 * B), grid.D, o, { radiusMax: this.r(disc) });
  }
  backward(grid: HartleyGrid, rots: Float64Array, B: number, dSlices: Complex, dGrid: Float32Array | null, dRots: Float64Array | null, disc: DiscIndex): void {
    const n = B * grid.D * grid.D;
    const g: Complex = { re: dSlices.re.subarray(0, n), im: dSlices.im.subarray(0, n) };
    const R = rots.subarray(0, 9 * B);
    const opts = { radiusMax: this.r(disc) };
    if (dGrid) this.be.scatterHartley(g, grid.D, R, grid.Dv, dGrid, opts);
    if (dRots) this.be.hartleyRotationGradient(grid.values, grid.Dv, R, grid.D, g, dRots.subarray(0, 9 * B), opts);
  }
  alloc(n: number): Float32Array { return this.be.allocFloat32(n); }
  dispose(): void { this.be.dispose(); }
}

/**
 * A slicer on the named backend; `threads` > 1 splits the wasm kernels over worker threads (gather
 * and rotation gradient by slices; the volume gradient by z-slabs of the output, each thread adding
 * into its own planes): the same numbers as one thread, bit for bit.
 */
export function createSlicer(name: 'ts' | BackendName, threads = 1): Slicer {
  if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`slicer threads must be a whole number >= 1, got ${threads}`);
  return name === 'ts' ? tsSlicer : new BackendSlicer(name, threads);
}
