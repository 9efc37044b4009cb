/**
 * Shared fixture of the encoder-learning tests: a small asymmetric blob volume built in code (no
 * shared data), noise-free images rendered from it (no CTF, no shift) and a grid decoder held at it.
 */
import type { Complex } from '../../src/core/complex.js';
import { fft3Centered, ifft2CenteredBatch } from '../../src/core/fft.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { symmetricDisc } from '../../src/model/fourierNet.js';
import { hartleyFromFourier, renderSlices, type HartleyGrid } from '../../src/model/hartleyVolume.js';
import { GridDecoder } from '../../src/recon/amortizedDecoder.js';
import { MemorySource } from '../../src/recon/memorySource.js';
import type { EncoderLossResult, EncoderPrediction, PoseEncoder } from '../../src/recon/types.js';

export const D = 16;

/** Five Gaussian blobs of different sizes and weights at asymmetric positions (no symmetry). */
function blobVolume(N: number): Float32Array {
  const v = new Float32Array(N * N * N);
  const c = N / 2;
  const blobs = [[0, 0, 0, 2.5, 1], [3.5, 1.5, -1, 1.5, 0.9], [-2, 3, 2, 1.5, 0.7], [1, -3.5, 1.5, 1.2, 1], [-3, -1.5, -3, 1.4, 0.8]];
  for (let z = 0; z < N; z++) for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
    let s = 0;
    for (const [bx, by, bz, r, a] of blobs) s += a! * Math.exp(-((x - c - bx!) ** 2 + (y - c - by!) ** 2 + (z - c - bz!) ** 2) / (2 * r! * r!));
    v[(z * N + y) * N + x] = s;
  }
  return v;
}

/**
 * The true volume as a Hartley grid and noise-free images (no CTF, no shift) rendered from it.
 * `held` more images (further random rotations from the same generator) form `heldSource` /
 * `heldRots`; the training images and the scale are the same as without them.
 */
export function fixedVolumeData(n: number, seed: number, poses?: Float64Array, held = 0): {
  grid: HartleyGrid; rots: Float64Array; source: MemorySource; heldRots: Float64Array; heldSource: MemorySource | null;
} {
  const grid = hartleyFromFourier(fft3Centered(blobVolume(D), D), D);
  const rng = new Rng(seed);
  const rots = poses ?? randomRotations(n, rng);
  const heldRots = held > 0 ? randomRotations(held, rng) : new Float64Array(0);
  const P = D * D;
  const render = (R: Float64Array, m: number): Float32Array => {
    const s: Complex = { re: new Float32Array(m * P), im: new Float32Array(m * P) };
    renderSlices(grid, R, m, s, symmetricDisc(D));
    // obs = fft2Centered(image) / D (batch.ts), so image = ifft2Centered(D * slice)
    return ifft2CenteredBatch({ re: s.re.map((x) => x * D), im: s.im.map((x) => x * D) }, D, m);
  };
  const imgs = render(rots, n);
  const heldImgs = held > 0 ? render(heldRots, held) : new Float32Array(0);
  let s2 = 0;
  for (const x of imgs) s2 += x * x;
  const scale = 1 / Math.sqrt(s2 / imgs.length); // unit-variance images; the grid scales with them
  for (let i = 0; i < imgs.length; i++) imgs[i]! *= scale;
  for (let i = 0; i < heldImgs.length; i++) heldImgs[i]! *= scale;
  for (let i = 0; i < grid.values.length; i++) grid.values[i]! *= scale;
  return { grid, rots, source: new MemorySource(imgs, D, 4, null), heldRots, heldSource: held > 0 ? new MemorySource(heldImgs, D, 4, null) : null };
}

/** A grid decoder held at the given volume (its step does nothing). */
export class FixedGridDecoder extends GridDecoder {
  constructor(grid: HartleyGrid, backend: 'ts' | 'wasm') {
    super(D, { lr: 0, initScale: 0, seed: 0, backend });
    this.grid.values.set(grid.values);
  }
  override step(): void { /* fixed volume */ }
}


/** The loop sees zero shifts and the shift head gets no gradient (the data have none). */
export class RotationOnly implements PoseEncoder {
  constructor(readonly inner: PoseEncoder) {}
  get heads(): number { return this.inner.heads; }
  predict(images: Float32Array, B: number): EncoderPrediction {
    const p = this.inner.predict(images, B);
    p.shiftsPx.fill(0);
    return p;
  }
  trainStep(images: Float32Array, B: number, f: (p: EncoderPrediction) => EncoderLossResult): number {
    return this.inner.trainStep(images, B, (p) => {
      p.shiftsPx.fill(0);
      const r = f(p);
      r.dLdShift.fill(0);
      return r;
    });
  }
  dispose(): void { this.inner.dispose(); }
}
