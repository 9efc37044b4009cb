/**
 * Multi-class global re-search (classSearch.ts) on a tiny two-state mixture (test/helpers/
 * twoStates.ts: box 24, blobs; state 2 moves one blob and drops another), built like B3's failure:
 * the "consensus" has state 1's particles 15 deg off their true poses and state 2's 40 deg off,
 * and its volume is the Wiener map of all particles at those poses (box 24, 400 particles, SNR 1).
 * Independent truths: the simulated classes and poses (the STAR file's _rlnClassNumber / angles).
 * Schedule: 5 global iterations (radius 4 -> 10 px, 1500 rotations), 2 local ones.
 * Asserts: states recovered (>= 90%, measured 94.3%), both states' median rotation error vs the
 * truth (no alignment: the classes must stay in the consensus frame) below the consensus's
 * (measured 15.0 -> 9.2 and 40.0 -> 36.5 deg), determinism, and no class emptied (3 classes for
 * 2 states from a random split).
 * The second state's gain is small and depends on the schedule (radius 4 -> 8, 3 iterations:
 * 40 -> 51 deg). Not achieved (bench/results/b3_abinitio_notes.md): a second state 60 deg or more
 * off: accuracy 70-78% and its poses got worse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { expSO3, geodesicDeg, matMul } from '../../src/core/rotation.js';
import { loadParticles } from '../../src/io/particles.js';
import { initTfjs } from '../../src/model/tfjsSetup.js';
import { createHartleyGrid } from '../../src/model/hartleyVolume.js';
import { classSearch, type ClassSearchOptions } from '../../src/recon/classSearch.js';
import { DiskSource } from '../../src/recon/diskSource.js';
import { readPoseFile } from '../../src/recon/jobRunner.js';
import { wienerVolume } from '../../src/recon/localRefineVolume.js';
import { createSlicer } from '../../src/recon/slicer.js';
import { simulateTwoStates } from '../helpers/twoStates.js';

const D = 24;
const N = 400;

function medianRotErr(rot: ArrayLike<number>, truth: Float64Array, idx: number[]): number {
  const e = idx.map((i) => geodesicDeg(Array.from({ length: 9 }, (_, k) => rot[9 * i + k]!), truth.subarray(9 * i, 9 * i + 9))).sort((a, b) => a - b);
  return e[Math.floor(e.length / 2)]!;
}

test('classSearch separates two states from a one-state consensus and stays in its frame', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-cls-'));
  try {
    await initTfjs('wasm');
    const star = simulateTwoStates(dir, D, N, 1, 0);
    const source = new DiskSource(loadParticles(star), { seed: 0, readAhead: false });
    const truth = readPoseFile(star, N, 'truth');
    const cls = truth.classes!;
    const slicer = createSlicer('wasm', 1);
    // consensus: state 1 15 deg and state 2 40 deg from the truth (random axes)
    const rng = new Rng(7);
    const rot = new Float32Array(9 * N);
    const origin = Float32Array.from(truth.origins);
        const tmp = new Float64Array(9);
    for (let i = 0; i < N; i++) {
      const w = [rng.normal(), rng.normal(), rng.normal()];
      const s = ((cls[i] === 1 ? 15 : 40) * Math.PI / 180) / Math.hypot(w[0]!, w[1]!, w[2]!);
      matMul(tmp, expSO3([w[0]! * s, w[1]! * s, w[2]! * s]), truth.rots.subarray(9 * i, 9 * i + 9));
      rot.set(tmp, 9 * i);
    }
    const grid = createHartleyGrid(D);
    wienerVolume(grid, slicer, source, rot, origin, { batchSize: 64 });
    const byState = [1, 2].map((c) => [...cls.keys()].filter((i) => cls[i] === c));
    const before = byState.map((idx) => medianRotErr(rot, truth.rots, idx));
    const opts: Partial<ClassSearchOptions> = { classes: 2, iterations: 5, subset: 400, radiusStartPx: 4, radiusEndPx: 10, rotations: 1500, shiftRangePx: 1, seed: 3,
      localIterations: 2, localRadiusPx: 10, slicer };
    const t0 = performance.now();
    const r = classSearch(source, { grid, rot, origin }, opts);
    const secs = (performance.now() - t0) / 1000;
    // class labels are arbitrary: accuracy of the better matching
    let agree = 0;
    for (let i = 0; i < N; i++) if (r.classOf[i] === cls[i]! - 1) agree++;
    const acc = Math.max(agree, N - agree) / N;
    const after = byState.map((idx) => medianRotErr(r.rot, truth.rots, idx));
    t.diagnostic(`accuracy ${(100 * acc).toFixed(1)}%, median rot err state1 ${before[0]!.toFixed(1)} -> ${after[0]!.toFixed(1)}, state2 ${before[1]!.toFixed(1)} -> ${after[1]!.toFixed(1)} deg, ` +
      `sizes ${r.stats.map((s) => s.classSizes.join('/')).join(' ')}, ${secs.toFixed(1)} s`);
    assert.ok(acc >= 0.9, `class accuracy ${acc}`);
    for (let c = 0; c < 2; c++) {
      assert.ok(after[c]! < before[c]! - 3, `state ${c + 1}: ${after[c]} vs ${before[c]}`);
    }
    assert.ok(r.classOf.every((k) => k === 0 || k === 1));
    for (const s of r.stats) for (const size of s.classSizes) assert.ok(size > 0);

    // determinism: same seed, same output (a cheaper schedule, run twice)
    const cheap: Partial<ClassSearchOptions> = { ...opts, iterations: 2, rotations: 300, localIterations: 1, balancedIterations: 1 };
    const ra = classSearch(source, { grid, rot, origin }, cheap);
    const rb = classSearch(source, { grid, rot, origin }, cheap);
    assert.deepEqual(Array.from(rb.classOf), Array.from(ra.classOf));
    assert.deepEqual(Array.from(rb.rot), Array.from(ra.rot));
    assert.deepEqual(Array.from(rb.origin), Array.from(ra.origin));
    assert.deepEqual(Array.from(rb.grids[1]!.values), Array.from(ra.grids[1]!.values));
    assert.deepEqual(ra.stats[0]!.classSizes, [200, 200]); // balanced first iteration

    // a class never ends empty: 3 classes for 2 states, random split, one cheap iteration
    const r3 = classSearch(source, { grid, rot, origin }, { ...opts, classes: 3, split: 'random', iterations: 2, rotations: 300, localIterations: 0, minClassFraction: 0.15 });
    for (const s of r3.stats) for (const size of s.classSizes) assert.ok(size >= Math.ceil(0.15 * s.particles), `class sizes ${s.classSizes}`);
    const final = [0, 0, 0];
    for (const k of r3.classOf) final[k]! += 1;
    assert.ok(final.every((c) => c >= 0.15 * N), `final sizes ${final}`);
    slicer.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
