/**
 * Small generated inputs for the reliability tests (no dependence on ../shared/data): an
 * asymmetric blob volume and a simulated particle set (RELION 3.1 STAR + .mrcs) made from it.
 */
import { simulateParticles } from '../../src/sim/simulate.js';

/** An asymmetric sum of Gaussian blobs in a D^3 box (x fastest). */
export function blobVolume(D: number): Float32Array {
  const c = Math.floor(D / 2);
  const s = D / 32;
  const v = new Float32Array(D ** 3);
  const centres = [[4, 0, -2, 3], [-6, 4, 2, 2], [0, -6, 6, 2.5], [2, 2, 2, 4], [-3, -5, -4, 1.5]];
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let sum = 0;
    for (const [a, b, d, w] of centres) {
      sum += Math.exp(-((x - c - a! * s) ** 2 + (y - c - b! * s) ** 2 + (z - c - d! * s) ** 2) / (2 * (w! * s) ** 2));
    }
    v[(z * D + y) * D + x] = sum;
  }
  return v;
}

/** Simulate `n` particles of the blob volume into `outDir` (particles.star, particles.mrcs, gt.mrc). */
export function simulateBlobSet(outDir: string, opts: { D: number; n: number; apix?: number; snr?: number; seed?: number }): string {
  const s = simulateParticles(blobVolume(opts.D), opts.D, opts.apix ?? 4, {
    outDir, n: opts.n, snr: opts.snr ?? 2, shiftPx: 1, defocus: { kind: 'uniform', minUm: 1, maxUm: 2.5 },
    seed: opts.seed ?? 1, chunk: 500,
  });
  return s.particlesStar;
}
