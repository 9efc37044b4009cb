/**
 * The search stage refits the volume from scratch after every pose search with a short, unscaled
 * optimiser step. On the full 20,000-particle B1 run that refit diverged (loss 1.17 -> 53), so it
 * now watches its loss and starts again with half the step. Reproduced here with a step far
 * above the stable one: unguarded, the refit's loss climbs; guarded, the search epoch ends with the
 * loss of a stable fit. A run whose loss never climbs is left bit-identical (checked against the
 * same trainer with the default step).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { initTfjs } from '../../src/model/tfjsSetup.js';
import { loadParticles } from '../../src/io/particles.js';
import { DiskSource } from '../../src/recon/diskSource.js';
import { PreconditionedMomentum } from '../../src/recon/volumeOptimizer.js';
import { SemiAmortizedTrainer } from '../../src/recon/semiAmortized.js';
import { simulateBlobSet } from '../reliability/fixtures.js';

const D = 16;
const base = { init: 'search' as const, searchIterations: 2, searchRotations: 60, searchSubset: 100000, batchSize: 8, epochs: 2, seed: 5 };

test('search-stage volume refit: a diverging step is detected and retried with a smaller one', { timeout: 120_000 }, async (t) => {
  await initTfjs();
  const root = mkdtempSync(join(tmpdir(), 'cryospin-refit-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D, n: 160, apix: 4, snr: 5, seed: 7 });
    const set = loadParticles(star);

    // the failure: with a 8x step the unguarded refit's loss climbs far above the stable fit's
    const stable = new SemiAmortizedTrainer(new DiskSource(set, { seed: 0 }), null, base);
    const sEpoch = stable.trainEpoch();
    const idx = Uint32Array.from({ length: set.particles.length }, (_, i) => i);
    const raw = new SemiAmortizedTrainer(new DiskSource(set, { seed: 0 }), null, base);
    raw.trainEpoch();
    raw.grid.values.fill(0);
    raw.volOpt = new PreconditionedMomentum(raw.grid.values.length, { lr: 8 * 0.3 });
    const unguarded = raw.fitVolume(idx, 2);
    t.diagnostic(`stable search epoch loss ${sEpoch.loss.toFixed(4)}; unguarded refit with a 8x step ${unguarded}`);
    assert.ok(!(unguarded < 1.5 * sEpoch.loss), `the large step should diverge (got ${unguarded} vs ${sEpoch.loss})`);

    // guarded: the same poses and the same large step through refitVolume end near the stable fit
    const guarded = new SemiAmortizedTrainer(new DiskSource(set, { seed: 0 }), null, base);
    guarded.trainEpoch();
    const sameStep = guarded.refitVolume(idx, 2, 0.3);
    const bigStep = guarded.refitVolume(idx, 2, 8 * 0.3);
    t.diagnostic(`refitVolume: default step ${sameStep.toFixed(4)}, 8x step with the guard ${bigStep.toFixed(4)}`);
    assert.ok(Number.isFinite(bigStep) && bigStep < 1.1 * sameStep, `guarded loss ${bigStep} vs default step ${sameStep}`);

    // a stable fit is unchanged by the guard (bit-identical volume)
    const again = new SemiAmortizedTrainer(new DiskSource(set, { seed: 0 }), null, base);
    again.trainEpoch();
    assert.deepEqual(again.grid.values, stable.grid.values);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
