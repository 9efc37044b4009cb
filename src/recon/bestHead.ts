/**
 * Poses from a multi-head encoder, chosen per image by the image loss against an explicit volume
 * (cryoSPIN's rule): each of the M heads' poses is rendered from the Hartley volume, multiplied by
 * the CTF and the shift phase, and scored against the image; the lowest-loss head wins. No
 * gradient. Used by the semi-amortized encoder stage (monitoring and the switch to
 * auto-decoding) and by `predict-poses` on a semi-amortized checkpoint (poses for new particles).
 */
import type { Complex } from '../core/complex.js';
import type { DiscIndex, HartleyGrid } from '../model/hartleyVolume.js';
import { fourierLoss } from './fourierLoss.js';
import type { Slicer } from './slicer.js';
import type { ParticleSource, PoseEncoder } from './types.js';

export interface BestHeadPoses {
  /** Rotations (9 per particle, row-major). */
  rots: Float64Array;
  /** Origins (working px, 2 per particle). */
  origins: Float32Array;
  /** The winning head's loss per particle. */
  loss: Float64Array;
  /** The winning head per particle. */
  head: Int32Array;
}

/**
 * For every particle in `indices` (in that order): the pose of its lowest-loss head.
 * `useShifts` false: every origin is 0 (the encoder's shift head was held during training).
 */
export function bestHeadPoses(encoder: PoseEncoder, slicer: Slicer, grid: HartleyGrid, source: ParticleSource, indices: Uint32Array,
  batchSize: number, disc: DiscIndex, useShifts: boolean): BestHeadPoses {
  const { D } = source;
  const P = D * D;
  const M = encoder.heads;
  const N = indices.length;
  const out: BestHeadPoses = { rots: new Float64Array(9 * N), origins: new Float32Array(2 * N), loss: new Float64Array(N), head: new Int32Array(N) };
  for (let s = 0; s < N; s += batchSize) {
    const batch = source.batch(indices.slice(s, Math.min(N, s + batchSize)));
    const B = batch.B;
    const pred = encoder.predict(batch.images, B);
    if (!useShifts) pred.shiftsPx.fill(0);
    const slices: Complex = { re: new Float32Array(B * M * P), im: new Float32Array(B * M * P) };
    slicer.render(grid, pred.rotations, B * M, slices, disc);
    const losses = fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, slices, disc, { M, originsPx: pred.shiftsPx });
    for (let b = 0; b < B; b++) {
      let best = 0;
      for (let m = 1; m < M; m++) if (losses[b * M + m]! < losses[b * M + best]!) best = m;
      const k = b * M + best;
      out.rots.set(pred.rotations.subarray(9 * k, 9 * k + 9), 9 * (s + b));
      out.origins[2 * (s + b)] = pred.shiftsPx[2 * k]!;
      out.origins[2 * (s + b) + 1] = pred.shiftsPx[2 * k + 1]!;
      out.loss[s + b] = losses[k]!;
      out.head[s + b] = best;
    }
  }
  return out;
}
