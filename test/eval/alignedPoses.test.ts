/**
 * alignedPoses (poseError.ts): the poses of particles modelled on map B, taken into the frame of B
 * aligned onto A (alignMaps), must explain the same images with map A. Independent truth: the
 * simulator (the forward model verified against RELION in test/oracle) renders noise-free particles
 * of B with CTF and shifts; the fit of each image to A's CTF-modulated, shifted slice at the
 * composed pose (regression gain c/e, sliceFit) must match its fit to B's slice at the true pose,
 * while A at the uncomposed pose fits far worse. Both hands (B a rotated + shifted copy of A, and
 * a mirrored one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fft3Centered } from '../../src/core/fft.js';
import { expSO3, matMul } from '../../src/core/rotation.js';
import { alignMaps, transformVolume } from '../../src/eval/align.js';
import { alignedPoses } from '../../src/eval/poseError.js';
import { loadParticles } from '../../src/io/particles.js';
import { hartleyFromFourier, nyquistDisc, type HartleyGrid } from '../../src/model/hartleyVolume.js';
import { sliceFit } from '../../src/recon/classSearch.js';
import { DiskSource } from '../../src/recon/diskSource.js';
import { readPoseFile } from '../../src/recon/jobRunner.js';
import { tsSlicer } from '../../src/recon/slicer.js';
import { simulateParticles } from '../../src/sim/simulate.js';
import { gaussianBlobMap } from '../helpers/blobMap.js';

const D = 32;
const N = 24;

function gridOf(map: Float32Array): HartleyGrid {
  return hartleyFromFourier(fft3Centered(map, D), D);
}

function gains(grid: HartleyGrid, source: DiskSource, rot: ArrayLike<number>, origin: ArrayLike<number>): number[] {
  const idx = Uint32Array.from({ length: N }, (_, i) => i);
  const batch = source.batch(idx);
  const f = sliceFit(grid, tsSlicer, batch, Float64Array.from(rot), Float32Array.from(origin), nyquistDisc(D, D / 2 - 2));
  return Array.from(f.cross, (c, b) => c / Math.sqrt(f.energy[b]!));
}

for (const mirrored of [false, true]) {
  test(`alignedPoses: B's particles explained by A at the composed poses (${mirrored ? 'mirrored' : 'same hand'})`, { timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'cryospin-alp-'));
    try {
      const A = gaussianBlobMap(D, [[4, 0, -3, 1], [-5, 3, 2, 1], [0, -5, 4, 0.8], [3, 3, 3, 1.2], [-2, -2, -4, 0.6]], 4);
      // B(x) = A(L·(x - t)): a rotated (and, mirrored, z-flipped) and shifted copy of A
      const L = Float64Array.from(expSO3([0.7, -1.1, 0.4]));
      if (mirrored) { L[2] = -L[2]!; L[5] = -L[5]!; L[8] = -L[8]!; }
      const B = transformVolume(A, D, L, [1.5, -1, 0.5]);
      const al = alignMaps(A, B, D, { nRotations: 3000 });
      assert.equal(al.mirrored, mirrored, 'alignMaps finds the hand');
      assert.ok(al.correlation > 0.95, `aligned correlation ${al.correlation}`);
      const sim = simulateParticles(B, D, 4, { outDir: dir, n: N, snr: Infinity, shiftPx: 2, defocus: { kind: 'uniform', minUm: 1, maxUm: 2 }, seed: 3 });
      const star = sim.particlesStar;
      const source = new DiskSource(loadParticles(star), { seed: 0, readAhead: false });
      const truth = readPoseFile(star, N, 'truth');
      const onB = gains(gridOf(B), source, truth.rots, truth.origins);
      const composed = alignedPoses(truth.rots, truth.origins, al);
      const onA = gains(gridOf(A), source, composed.rot, composed.origin);
      const wrong = gains(gridOf(A), source, truth.rots, truth.origins);
      for (let i = 0; i < N; i++) {
        assert.ok(onA[i]! > 0.95 * onB[i]!, `particle ${i}: fit to A at the composed pose ${onA[i]} vs B at the true pose ${onB[i]}`);
        // every composed rotation is proper
        const R = composed.rot.subarray(9 * i, 9 * i + 9);
        const det = R[0]! * (R[4]! * R[8]! - R[5]! * R[7]!) - R[1]! * (R[3]! * R[8]! - R[5]! * R[6]!) + R[2]! * (R[3]! * R[7]! - R[4]! * R[6]!);
        assert.ok(Math.abs(det - 1) < 1e-4, `det ${det}`);
      }
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      assert.ok(mean(wrong) < 0.7 * mean(onB), `control: A at B's poses fits worse (${mean(wrong)} vs ${mean(onB)})`);
      source.close();
      void matMul;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
