/**
 * Diagnostic for issue 5: can an encoder learn poses from a random start when the volume is not the
 * problem? The decoder is held at the TRUE volume (the asymmetric five-blob fixture of
 * test/model/encoderLearnsFixtures.ts, box 16, noise-free images, no CTF, no shifts) and only the
 * encoder trains (small CNN 8-16-32, Adam 1e-3, batch 32), from the same seed in every arm:
 *   - `plain` / `sym`: the amortized loop's own step (src/recon/amortized.ts), one head, plain L2 or
 *     the symmetric loss;
 *   - `wta --heads M`: the semi-amortized encoder stage itself (src/recon/semiAmortized.ts): M pose
 *     heads, each image scored at every head against the volume and only the best head trained
 *     (winner take all); its volume is set to the truth and its volume step is 0. It reports once
 *     per epoch (n / 32 steps) and uses the trainer's batch order, so M = 1 is plain L2 on a
 *     different batch order than the `plain` arm.
 * Every 250 steps, on 512 training images: median rotation error vs the truth (no alignment: the
 * volume fixes the frame; multi-head: the best head by image loss), the fraction within 20 deg of
 * the truth, within 20 deg of the in-plane-pi-flipped truth Rz(pi)·A, and closer to the flipped than
 * to the true pose; wta also on 512 held-out images (rendered from further random rotations, never
 * trained on): the best head's median error and fraction within 20 deg. One JSON line per report on stdout.
 *
 *   node --import tsx bench/encoderFixedVolume.ts [plain|sym|wta] [--heads 8] [--steps 1500] [--n 4096]
 * Results and reading: bench/results/modes_notes.md.
 */
import { geodesicDeg } from '../src/core/rotation.js';
import { createEncoder } from '../src/model/encoder.js';
import { nyquistDisc } from '../src/model/hartleyVolume.js';
import { initTfjs } from '../src/model/tfjsSetup.js';
import { AmortizedTrainer } from '../src/recon/amortized.js';
import { EncoderAdapter } from '../src/recon/encoderAdapter.js';
import { bestHeadPoses } from '../src/recon/bestHead.js';
import { SemiAmortizedTrainer } from '../src/recon/semiAmortized.js';
import { D, FixedGridDecoder, RotationOnly, fixedVolumeData } from '../test/model/encoderLearnsFixtures.js';

const argv = process.argv.slice(2);
const flag = (k: string, d: number): number => { const i = argv.indexOf(k); return i >= 0 ? Number(argv[i + 1]) : d; };
const arm = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'plain';
if (arm !== 'plain' && arm !== 'sym' && arm !== 'wta') throw new Error(`first argument must be plain, sym or wta, got ${arm}`);
const M = arm === 'wta' ? flag('--heads', 8) : 1, steps = flag('--steps', 1500), n = flag('--n', 4096);
for (const [k, v] of [['--heads', M], ['--steps', steps], ['--n', n]] as const) if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
if (n < 512) throw new Error(`--n must be at least 512 (the report's images), got ${n}`);

async function main(): Promise<void> {
  await initTfjs('wasm');
  const { grid, source, rots, heldSource, heldRots } = fixedVolumeData(n, 1, undefined, 512);
  const enc = new RotationOnly(new EncoderAdapter(createEncoder({ box: D, heads: M, widths: [8, 16, 32], convsPerBlock: [1, 1, 1], pools: ['max', 'max', 'avg'], headHidden: [64, 32], learningRate: 1e-3, seed: 2 })));
  const amortized = arm === 'wta' ? null
    : new AmortizedTrainer(source, enc, new FixedGridDecoder(grid, 'wasm'), { batchSize: 32, seed: 0, symmetricLoss: arm === 'sym', divergenceGuard: 0 });
  // wta: the semi-amortized encoder stage itself, its volume set to the truth and its volume step 0
  const epochsNeeded = Math.ceil(steps / Math.ceil(n / 32));
  const semi = arm !== 'wta' ? null
    : new SemiAmortizedTrainer(source, enc, { init: 'encoder', batchSize: 32, seed: 0, lrVolumeEncoderStage: 0, epochs: epochsNeeded + 1, switchEpoch: epochsNeeded + 1, backend: 'wasm', threads: 1 });
  semi?.grid.values.set(grid.values);

  const evalIdx = Uint32Array.from({ length: 512 }, (_, i) => i);
  function predicted(): Float64Array {
    return amortized ? amortized.predict(evalIdx).rots : semi!.predictBest(evalIdx).rots;
  }
  const flip = (A: Float64Array): Float64Array => { const R = A.slice(); for (let j = 0; j < 6; j++) R[j] = -R[j]!; return R; };
  const t0 = performance.now();
  const errors = (p: Float64Array, truth: Float64Array) => {
    const e: number[] = [], ef: number[] = [];
    for (let i = 0; i < p.length / 9; i++) {
      const T = truth.subarray(9 * i, 9 * i + 9), Q = p.subarray(9 * i, 9 * i + 9);
      e.push(geodesicDeg(Q, T));
      ef.push(geodesicDeg(Q, flip(T)));
    }
    return { e, ef };
  };
  const frac = (xs: number[], f: (x: number, i: number) => boolean) => +(xs.filter(f).length / xs.length).toFixed(3);
  const median = (xs: number[]) => +[...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1);
  function report(step: number): void {
    const { e, ef } = errors(predicted(), rots);
    // wta: the same encoder pass on 512 images it never trained on (what predict-poses does)
    let held = {};
    if (semi && heldSource) {
      const hp = bestHeadPoses(enc, semi.slicer, semi.grid, heldSource, evalIdx, 64, nyquistDisc(D), false);
      const h = errors(hp.rots, heldRots);
      held = { held_median_deg: median(h.e), held_within20: frac(h.e, (x) => x < 20) };
    }
    console.log(JSON.stringify({ arm, heads: M, step, median_deg: median(e), within20: frac(e, (x) => x < 20),
      flipped_within20: frac(ef, (x) => x < 20), closer_to_flipped: frac(e, (x, i) => ef[i]! < x), ...held, s: +((performance.now() - t0) / 1000).toFixed(0) }));
  }

  report(0);
  if (semi) {
    // one report per epoch (n / 32 steps)
    for (let ep = 0; ep < epochsNeeded; ep++) {
      semi.trainEpoch();
      report((ep + 1) * Math.ceil(n / 32));
    }
    let d = 0;
    for (let i = 0; i < grid.values.length; i++) d = Math.max(d, Math.abs(semi.grid.values[i]! - grid.values[i]!));
    if (d !== 0) throw new Error(`the volume moved by ${d}: the stage's volume step should be 0`);
    return;
  }
  let step = 0;
  while (step < steps) {
    const order = amortized!.rng.permutation(n);
    for (let s = 0; s + 32 <= n && step < steps; s += 32) {
      amortized!.step(source.batch(order.slice(s, s + 32).sort()));
      step++;
      if (step % 250 === 0) report(step);
    }
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
