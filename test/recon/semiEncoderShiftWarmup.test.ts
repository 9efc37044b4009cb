/**
 * The semi-amortized encoder stage's shift warm-up (`--init encoder --shift-warmup-epochs n`):
 * during the first n encoder epochs every particle origin is exactly 0 (the loss sees no shift and
 * the shift head gets no gradient); afterwards the shift head trains and the origins move.
 *
 * The encoder's shift outputs start at exactly 0 px (zero last layer), so without the warm-up the
 * origins leave 0 within the first epoch: that run is the control which shows the assertion on the
 * warm-up run can fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEncoder } from '../../src/model/encoder.js';
import { initTfjs } from '../../src/model/tfjsSetup.js';
import { EncoderAdapter } from '../../src/recon/encoderAdapter.js';
import { SemiAmortizedTrainer } from '../../src/recon/semiAmortized.js';
import { D, fixedVolumeData } from '../model/encoderLearnsFixtures.js';

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function trainer(shiftWarmupEpochs: number): SemiAmortizedTrainer {
  const { source } = fixedVolumeData(64, 4);
  const enc = createEncoder({ box: D, heads: 2, widths: [4, 8], convsPerBlock: [1, 1], pools: ['max', 'avg'], headHidden: [16], learningRate: 1e-3, seed: 1 });
  return new SemiAmortizedTrainer(source, new EncoderAdapter(enc), {
    init: 'encoder', epochs: 3, switchEpoch: 3, batchSize: 16, seed: 0, backend: 'ts', threads: 1, shiftWarmupEpochs,
  });
}

test('semi-amortized encoder stage: origins held at exactly 0 during the shift warm-up, trained after it', async () => {
  await initTfjs('cpu');
  const control = trainer(0);
  control.trainEpoch();
  assert.ok(maxAbs(control.poses.origin) > 1e-4, `control: the shift head should move the origins in epoch 0 (max |origin| ${maxAbs(control.poses.origin)})`);
  control.dispose();

  const held = trainer(1);
  assert.equal(held.encoderShiftsActive(), false);
  held.trainEpoch();
  assert.equal(maxAbs(held.poses.origin), 0, 'origins must stay exactly 0 during the warm-up epoch');
  assert.equal(held.encoderShiftsActive(), true);
  held.trainEpoch();
  assert.ok(maxAbs(held.poses.origin) > 1e-4, `after the warm-up the shift head trains (max |origin| ${maxAbs(held.poses.origin)})`);
  held.dispose();
});
