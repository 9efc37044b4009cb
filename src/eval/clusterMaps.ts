/**
 * Maps of particle subsets (e.g. the k-means clusters of a heterogeneous run's latents): the
 * CTF-corrected known-pose backprojection (src/recon/backproject.ts) of the chosen particles of
 * a set that carries poses (a run's poses.star), streamed in chunks.
 */
import { eulerToMatrix } from '../core/rotation.js';
import { InputError } from '../io/errors.js';
import { ParticleImageReader, type ParticleSet } from '../io/particles.js';
import { backproject } from '../recon/backproject.js';

export interface SubsetMapOptions {
  /** Reconstruction box (Fourier crop of the images), default the stack's box. */
  boxPx?: number;
  /** Rotations (9 per particle of the set, RELION A) and origins (2 per particle, px) to use instead of the set's own. */
  rots?: Float64Array;
  originsPx?: Float64Array;
}

/** Backprojection of particles `indices` (0-based, in the set's order) with their poses. */
export function backprojectSubset(set: ParticleSet, indices: readonly number[], opts: SubsetMapOptions = {}): Float32Array {
  if (indices.length === 0) throw new InputError(set.source, 'no particles to backproject');
  const reader = new ParticleImageReader(set);
  try {
    const bp = backproject({
      boxPx: set.boxPx, apixAngstrom: set.apixAngstrom, count: indices.length,
      readChunk(start, count) {
        const sel = indices.slice(start, start + count);
        const images = reader.read(sel);
        const rots = new Float64Array(9 * count), originsPx = new Float64Array(2 * count);
        sel.forEach((i, b) => {
          const p = set.particles[i]!;
          if (opts.rots) rots.set(opts.rots.subarray(9 * i, 9 * i + 9), 9 * b);
          else {
            if (!p.eulerDeg) throw new InputError(set.source, 'particle has no angles', { record: i });
            rots.set(eulerToMatrix(p.eulerDeg[0], p.eulerDeg[1], p.eulerDeg[2]), 9 * b);
          }
          originsPx[2 * b] = opts.originsPx ? opts.originsPx[2 * i]! : p.originPx?.[0] ?? 0;
          originsPx[2 * b + 1] = opts.originsPx ? opts.originsPx[2 * i + 1]! : p.originPx?.[1] ?? 0;
        });
        return { images, rots, originsPx, ctfs: sel.map((i) => set.particles[i]!.ctf) };
      },
    }, { boxPx: opts.boxPx });
    return bp.map;
  } finally {
    reader.close();
  }
}
