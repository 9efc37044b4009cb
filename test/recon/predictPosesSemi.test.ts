/**
 * predict-poses on a semi-amortized (--init encoder) checkpoint: the multi-head encoder kept in the
 * checkpoint after the switch, each head scored against the checkpoint's volume, best head wins.
 *
 * The run switches after 2 encoder epochs and then runs one auto-decoding epoch that changes
 * nothing (pose steps 0, SGD volume update with step 0), so the run's final poses are exactly the
 * poses the switch assigned from the encoder: predict-poses on the same particles must reproduce
 * them. The shift warm-up covers the whole encoder stage (origins 0, shift head untrained).
 * Also: a checkpoint of the search initialisation (no encoder) is refused with a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPredictPoses } from '../../src/cli/commands/predictPoses.js';
import { readPoseSet } from '../../src/cli/commands/poseError.js';
import { runReconstructJob } from '../../src/recon/reconstructJob.js';
import { simulateBlobSet } from '../reliability/fixtures.js';

test('predict-poses on a semi-amortized --init encoder checkpoint reproduces the poses the switch assigned', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-predict-semi-'));
  try {
    const star = simulateBlobSet(join(dir, 'sim'), { D: 16, n: 96, snr: 10, seed: 3 });
    const r = await runReconstructJob({
      input: star, outdir: join(dir, 'out'), init: 'encoder', heads: 3, epochs: 3, switchEpoch: 2, batchSize: 16, seed: 1,
      lrEncoder: 1e-3, shiftWarmupEpochs: 2, poseSteps: 0, lrPose: 0, autodecodeVolume: 'sgd', lrVolumeAutodecode: 0, threads: 1,
    });
    assert.equal(r.epochs, 3);
    const ck = JSON.parse(readFileSync(join(dir, 'out', 'checkpoint.json'), 'utf8')) as { encoder: unknown; trainer: { stage: string } };
    assert.equal(ck.trainer.stage, 'autodecode');
    assert.ok(ck.encoder !== null && typeof ck.encoder === 'object', 'the checkpoint keeps the encoder after the switch');

    const out = join(dir, 'pred.star');
    const p = await runPredictPoses({ checkpoint: join(dir, 'out', 'checkpoint.json'), particles: star, output: out, quiet: true });
    assert.equal(p.mode, 'semi-amortized');
    assert.equal(p.heads, 3);
    assert.equal(p.n, 96);
    const run = readPoseSet(r.poses);
    const pred = readPoseSet(out);
    let maxR = 0;
    for (let i = 0; i < 9 * 96; i++) maxR = Math.max(maxR, Math.abs(pred.rotations[i]! - run.rotations[i]!));
    assert.ok(maxR < 1e-4, `rotation entries differ by ${maxR}`);
    for (let i = 0; i < 2 * 96; i++) {
      assert.equal(run.originsPx![i], 0, 'run origins held at 0');
      assert.equal(pred.originsPx![i], 0, 'predicted origins 0 (shift head never trained)');
    }
    // the heads are not all one pose: the prediction is a real choice among them
    let spread = 0;
    for (let i = 1; i < 96; i++) for (let k = 0; k < 9; k++) spread = Math.max(spread, Math.abs(pred.rotations[9 * i + k]! - pred.rotations[k]!));
    assert.ok(spread > 0.1, 'predicted rotations vary per particle');

    // the search initialisation has no encoder: a clear error naming the checkpoint
    await runReconstructJob({ input: star, outdir: join(dir, 'search'), epochs: 1, searchIterations: 1, localIterations: 0, searchRotations: 50, batchSize: 16, seed: 1, threads: 1 });
    await assert.rejects(runPredictPoses({ checkpoint: join(dir, 'search', 'checkpoint.json'), particles: star, output: join(dir, 'x.star'), quiet: true }),
      (e: Error) => e.message.includes('checkpoint.json') && e.message.includes('--init encoder'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
