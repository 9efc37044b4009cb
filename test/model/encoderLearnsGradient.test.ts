/**
 * The amortized mode's whole gradient path, checked by finite differences: image loss (fourierLoss,
 * as the AmortizedTrainer computes it) -> rendered slice (explicit Hartley grid, TS and wasm slicers)
 * -> rotation matrix -> 6D Gram-Schmidt -> pose head -> CNN trunk. The loop hands the encoder dL/dA
 * and dL/dorigin and the encoder backpropagates a surrogate loss; here the encoder's returned weight
 * gradients are compared with central differences of the true loss of the training-mode forward pass
 * (BatchNorm batch statistics), for the pose head's output bias (= the 6D + shift outputs summed over
 * the batch) and the largest-gradient weights of a hidden head layer and of the first conv layer.
 * No shared data needed: a small asymmetric blob volume is built in code (encoderLearnsFixtures.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEncoder } from '../../src/model/encoder.js';
import { initTfjs, tf } from '../../src/model/tfjsSetup.js';
import { AmortizedTrainer } from '../../src/recon/amortized.js';
import type { EncoderLossResult, EncoderPrediction, PoseEncoder } from '../../src/recon/types.js';
import { D, FixedGridDecoder, fixedVolumeData } from './encoderLearnsFixtures.js';

test('amortized loss -> slice -> R -> 6D -> head -> CNN: encoder gradients equal finite differences of the image loss', { timeout: 60_000 }, async () => {
  await initTfjs('wasm');
  const B = 6;
  const { grid, source } = fixedVolumeData(B, 3);
  const batch = source.batch(Uint32Array.from({ length: B }, (_, i) => i));
  for (const backend of ['ts', 'wasm'] as const) {
    const enc = createEncoder({ box: D, heads: 1, widths: [8, 16], convsPerBlock: [1, 1], pools: ['max', 'avg'], headHidden: [32, 16], seed: 11 });
    // capture the trainer's own loss function through a PoseEncoder that only computes gradients
    let lossGrad: ((p: EncoderPrediction) => EncoderLossResult) | null = null;
    let grads: Record<string, Float32Array> = {};
    const spy: PoseEncoder = {
      heads: 1,
      predict: () => { throw new Error('not used'); },
      trainStep: (images, nb, f) => {
        lossGrad = f;
        let loss = NaN;
        grads = enc.gradients(images, nb, (rotations, shiftsPx) => { const r = f({ rotations, shiftsPx }); loss = r.loss; return r; });
        return loss;
      },
      dispose: () => undefined,
    };
    const trainer = new AmortizedTrainer(source, spy, new FixedGridDecoder(grid, backend), { batchSize: B });
    trainer.step(batch);
    const f = lossGrad!;
    const lossOfWeights = (): number => tf.tidy(() => {
      const o = enc.forwardTensors(tf.tensor4d(batch.images, [B, D, D, 1]));
      return f({ rotations: Float64Array.from(o.R.dataSync()), shiftsPx: Float32Array.from(o.t.dataSync()) }).loss;
    });
    const checks: [string, number[]][] = [['pose2/b', [0, 1, 2, 3, 4, 5, 6, 7]]];
    for (const name of ['pose1/w', 'trunk0_0/w']) {
      const g = grads[name]!;
      checks.push([name, Array.from(g.keys()).sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!)).slice(0, 3)]);
    }
    let gMax = 0;
    for (const v of Object.values(grads)) for (const x of v) gMax = Math.max(gMax, Math.abs(x));
    assert.ok(gMax > 1e-3, `gradients reach the encoder (max |g| ${gMax})`);
    for (const [name, entries] of checks) {
      const v = enc.variables.get(name)!;
      const vals = Float32Array.from(v.dataSync() as Float32Array);
      const set = (k: number, x: number): void => { const c = Float32Array.from(vals); c[k] = x; tf.tidy(() => v.assign(tf.tensor(c, v.shape))); };
      for (const k of entries) {
        // central differences at two steps; a ReLU / max-pool switch inside one step spoils that
        // step only, so the entry passes when either agrees (both converge to the gradient, measured)
        const fds = [3e-4, 1e-3].map((eps) => {
          set(k, vals[k]! + eps);
          const lp = lossOfWeights();
          set(k, vals[k]! - eps);
          const lm = lossOfWeights();
          set(k, vals[k]!);
          return (lp - lm) / (2 * eps);
        });
        const got = grads[name]![k]!;
        assert.ok(fds.some((fd) => Math.abs(fd - got) <= 0.03 * Math.abs(fd) + 2e-3 * gMax),
          `${backend} ${name}[${k}]: encoder ${got.toExponential(4)} vs finite differences ${fds.map((x) => x.toExponential(4)).join(', ')}`);
      }
    }
    enc.dispose();
  }
});
