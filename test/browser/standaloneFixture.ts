/**
 * Tiny fixture for the browser test: an asymmetric map of a few Gaussian blobs (box 32) and
 * particles simulated from it (src/sim/simulate.ts: CTF, shifts, noise), written to `dir`.
 */
import { simulateParticles, type SimulateSummary } from '../../src/sim/simulate.js';

export function blobMap(D: number): Float32Array {
  const v = new Float32Array(D ** 3);
  const c = D / 2;
  const blobs: Array<[number, number, number, number, number]> = [
    [0, 0, 0, 3.5, 1], [5, 1, -2, 2.5, 0.8], [-3, 6, 1, 2, 0.7], [1, -4, 5, 2.2, 0.9], [-5, -3, -4, 1.8, 0.6],
  ];
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const [bx, by, bz, r, a] of blobs) s += a * Math.exp(-((x - c - bx) ** 2 + (y - c - by) ** 2 + (z - c - bz) ** 2) / (2 * r * r));
    v[(z * D + y) * D + x] = s;
  }
  return v;
}

export function simulateFixture(dir: string, n: number, D = 32): SimulateSummary {
  return simulateParticles(blobMap(D), D, 4, { outDir: dir, n, snr: 1, shiftPx: 1, defocus: { kind: 'uniform', minUm: 1, maxUm: 2.5 }, seed: 5, chunk: 200 });
}
