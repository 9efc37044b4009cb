/**
 * A tiny two-state heterogeneity fixture: two maps of Gaussian blobs (in state 2 one blob moves
 * and another is removed) and a 50/50 mixture simulated from them with CTF and shifts
 * (`cryospin simulate --map A --map B`), _rlnClassNumber = the true state.
 */
import { join } from 'node:path';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { writeMrc } from '../../src/io/mrc.js';

function blobMap(D: number, centres: number[][], width: number): Float32Array {
  const c = D / 2;
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const [a, b, d, w] of centres) s += w! * Math.exp(-((x - c - a!) ** 2 + (y - c - b!) ** 2 + (z - c - d!) ** 2) / width);
    v[(z * D + y) * D + x] = s;
  }
  return v;
}

/** The two states' maps for box D (blob offsets in voxels, sized for D >= 16). */
export function twoStateMaps(D: number): [Float32Array, Float32Array] {
  return [
    blobMap(D, [[3, 0, -2, 1], [-4, 2, 2, 1], [0, -4, 3, 0.8], [2, 2, 2, 1.2]], 5),
    blobMap(D, [[3, 0, -2, 1], [-4, 2, 2, 1], [0, 3, 3, 0.8]], 5),
  ];
}

/** Simulate n particles (SNR snr) of the 50/50 mixture into dir; returns the particle STAR (with true poses and classes). */
export function simulateTwoStates(dir: string, D: number, n: number, snr: number, seed = 0): string {
  const [A, B] = twoStateMaps(D);
  writeMrc(join(dir, 'state1.mrc'), A, { nx: D, ny: D, nz: D, apixAngstrom: 4 });
  writeMrc(join(dir, 'state2.mrc'), B, { nx: D, ny: D, nz: D, apixAngstrom: 4 });
  return runSimulate({ map: [join(dir, 'state1.mrc'), join(dir, 'state2.mrc')], fractions: [0.5, 0.5], out: join(dir, 'sim'), n, snr, shiftPx: 1,
    defocus: [1.0, 2.5], astigmatism: 0, voltage: 300, cs: 2.7, ampContrast: 0.1, seed, chunk: n, quiet: true }).particlesStar;
}
