/**
 * The amortized mode's whole gradient path, checked by finite differences: image loss (fourierLoss,
 * as the AmortizedTrainer computes it) -> rendered slice (explicit Hartley grid, TS and wasm slicers)
 * -> rotation matrix -> 6D Gram-Schmidt -> pose head -> CNN trunk. The loop hands the encoder dL/dA
 * and dL/dorigin and the encoder backpropagates a surrogate loss; here the encoder's returned weight
 * gradients are compared with central differences of the true loss of the training-mode forward pass
 * (BatchNorm batch statistics), for the pose head's output bias (= the 6D + shift outputs summed over
 * the batch) and the largest-gradient weights of a hidden head layer and of the first conv layer.
 * No shared data needed: a small asymmetric blob volume is built in code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Complex } from '../../src/core/complex.js';
import { fft3Centered, ifft2CenteredBatch } from '../../src/core/fft.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { createEncoder } from '../../src/model/encoder.js';
import { symmetricDisc } from '../../src/model/fourierNet.js';
import { hartleyFromFourier, renderSlices, type HartleyGrid } from '../../src/model/hartleyVolume.js';
import { initTfjs, tf } from '../../src/model/tfjsSetup.js';
import { AmortizedTrainer } from '../../src/recon/amortized.js';
import { GridDecoder } from '../../src/recon/amortizedDecoder.js';
import { MemorySource } from '../../src/recon/memorySource.js';
import type { EncoderLossResult, EncoderPrediction, PoseEncoder } from '../../src/recon/types.js';

const D = 16;

/** Five Gaussian blobs of different sizes and weights at asymmetric positions (no symmetry). */
function blobVolume(N: number): Float32Array {
  const v = new Float32Array(N * N * N);
  const c = N / 2;
  const blobs = [[0, 0, 0, 2.5, 1], [3.5, 1.5, -1, 1.5, 0.9], [-2, 3, 2, 1.5, 0.7], [1, -3.5, 1.5, 1.2, 1], [-3, -1.5, -3, 1.4, 0.8]];
  for (let z = 0; z < N; z++) for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
    let s = 0;
    for (const [bx, by, bz, r, a] of blobs) s += a! * Math.exp(-((x - c - bx!) ** 2 + (y - c - by!) ** 2 + (z - c - bz!) ** 2) / (2 * r! * r!));
    v[(z * N + y) * N + x] = s;
  }
  return v;
}

/** The true volume as a Hartley grid and noise-free images (no CTF, no shift) rendered from it. */
export function fixedVolumeData(n: number, seed: number): { grid: HartleyGrid; rots: Float64Array; source: MemorySource } {
  const grid = hartleyFromFourier(fft3Centered(blobVolume(D), D), D);
  const rng = new Rng(seed);
  const rots = randomRotations(n, rng);
  const P = D * D;
  const s: Complex = { re: new Float32Array(n * P), im: new Float32Array(n * P) };
  renderSlices(grid, rots, n, s, symmetricDisc(D));
  // obs = fft2Centered(image) / D (batch.ts), so image = ifft2Centered(D * slice)
  const imgs = ifft2CenteredBatch({ re: s.re.map((x) => x * D), im: s.im.map((x) => x * D) }, D, n);
  let s2 = 0;
  for (const x of imgs) s2 += x * x;
  const scale = 1 / Math.sqrt(s2 / imgs.length); // unit-variance images; the grid scales with them
  for (let i = 0; i < imgs.length; i++) imgs[i]! *= scale;
  for (let i = 0; i < grid.values.length; i++) grid.values[i]! *= scale;
  return { grid, rots, source: new MemorySource(imgs, D, 4, null) };
}

/** A grid decoder held at the given volume (its step does nothing). */
export class FixedGridDecoder extends GridDecoder {
  constructor(grid: HartleyGrid, backend: 'ts' | 'wasm') {
    super(D, { lr: 0, initScale: 0, seed: 0, backend });
    this.grid.values.set(grid.values);
  }
  override step(): void { /* fixed volume */ }
}

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
