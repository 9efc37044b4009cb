/**
 * Diagnostic for issue 5: can an encoder learn poses from a random start when the volume is not the
 * problem? The decoder is held at the TRUE volume (the asymmetric five-blob fixture of
 * test/model/encoderLearnsFixtures.ts, box 16, noise-free images, no CTF, no shifts) and only the
 * encoder trains (small CNN 8-16-32, Adam 1e-3, batch 32), from the same seed in every arm:
 *   - `plain` / `sym`: the amortized loop's own step (src/recon/amortized.ts), one head, plain L2 or
 *     the symmetric loss;
 *   - `wta --heads M`: M pose heads, each image scored at every head against the fixed volume and
 *     only the best head trained (winner take all, as the semi-amortized encoder stage does;
 *     M = 1 is plain L2 again and gives the `plain` arm's numbers).
 * Every 250 steps, on 512 training images: median rotation error vs the truth (no alignment: the
 * volume fixes the frame; multi-head: the best head by image loss), the fraction within 20 deg of
 * the truth, within 20 deg of the in-plane-pi-flipped truth Rz(pi)·A, and closer to the flipped than
 * to the true pose. One JSON line per report on stdout.
 *
 *   node --import tsx bench/encoderFixedVolume.ts [plain|sym|wta] [--heads 8] [--steps 1500] [--n 4096]
 * Results and reading: bench/results/modes_notes.md.
 */
import type { Complex } from '../src/core/complex.js';
import { Rng } from '../src/core/rng.js';
import { geodesicDeg } from '../src/core/rotation.js';
import { createEncoder } from '../src/model/encoder.js';
import { symmetricDisc } from '../src/model/fourierNet.js';
import { initTfjs } from '../src/model/tfjsSetup.js';
import { AmortizedTrainer } from '../src/recon/amortized.js';
import { EncoderAdapter } from '../src/recon/encoderAdapter.js';
import { fourierLoss } from '../src/recon/fourierLoss.js';
import { createSlicer } from '../src/recon/slicer.js';
import type { EncoderPrediction, ParticleBatch } from '../src/recon/types.js';
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
  const { grid, source, rots } = fixedVolumeData(n, 1);
  const enc = new RotationOnly(new EncoderAdapter(createEncoder({ box: D, heads: M, widths: [8, 16, 32], convsPerBlock: [1, 1, 1], pools: ['max', 'max', 'avg'], headHidden: [64, 32], learningRate: 1e-3, seed: 2 })));
  const P = D * D, disc = symmetricDisc(D), slicer = createSlicer('wasm'), dH = new Float32Array(grid.values.length);
  const amortized = arm === 'wta' ? null
    : new AmortizedTrainer(source, enc, new FixedGridDecoder(grid, 'wasm'), { batchSize: 32, seed: 0, symmetricLoss: arm === 'sym', divergenceGuard: 0 });

  /** Every head's slice and loss against the fixed volume, and the best head per image. */
  function scoreHeads(pred: EncoderPrediction, batch: ParticleBatch) {
    const B = batch.B;
    const slices: Complex = { re: new Float32Array(B * M * P), im: new Float32Array(B * M * P) };
    slicer.render(grid, pred.rotations, B * M, slices, disc);
    const losses = fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, slices, disc, { M, originsPx: pred.shiftsPx });
    const winner = new Int32Array(B);
    for (let b = 0; b < B; b++) for (let m = 1; m < M; m++) if (losses[b * M + m]! < losses[b * M + winner[b]!]!) winner[b] = m;
    return { slices, losses, winner };
  }

  /** Winner-take-all step: only the best head of each image gets the image loss's gradient. */
  function wtaStep(batch: ParticleBatch): void {
    const B = batch.B;
    enc.trainStep(batch.images, B, (pred) => {
      const { slices, losses, winner } = scoreHeads(pred, batch);
      const wR = new Float64Array(9 * B);
      const wS: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      let total = 0;
      for (let b = 0; b < B; b++) {
        const q = b * M + winner[b]!;
        total += losses[q]!;
        wR.set(pred.rotations.subarray(9 * q, 9 * q + 9), 9 * b);
        wS.re.set(slices.re.subarray(q * P, q * P + P), b * P);
        wS.im.set(slices.im.subarray(q * P, q * P + P), b * P);
      }
      const dS: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      fourierLoss({ D, obs: batch.obs, ctf: batch.ctf, B }, wS, disc, { M: 1, originsPx: new Float32Array(2 * B), dSlices: dS, dOrigins: new Float64Array(2 * B) });
      for (let i = 0; i < B * P; i++) { dS.re[i]! /= B; dS.im[i]! /= B; }
      const dR = new Float64Array(9 * B);
      slicer.backward(grid, wR, B, dS, dH, dR, disc);
      return { loss: total / B, winnerHead: winner, dLdR: dR, dLdShift: new Float32Array(2 * B) };
    });
  }

  const evalIdx = Uint32Array.from({ length: 512 }, (_, i) => i);
  function predicted(): Float64Array {
    if (amortized) return amortized.predict(evalIdx).rots;
    const out = new Float64Array(9 * evalIdx.length);
    for (let s = 0; s < evalIdx.length; s += 64) {
      const batch = source.batch(evalIdx.slice(s, s + 64));
      const pred = enc.predict(batch.images, batch.B);
      const { winner } = scoreHeads(pred, batch);
      for (let b = 0; b < batch.B; b++) out.set(pred.rotations.subarray(9 * (b * M + winner[b]!), 9 * (b * M + winner[b]!) + 9), 9 * (s + b));
    }
    return out;
  }
  const flip = (A: Float64Array): Float64Array => { const R = A.slice(); for (let j = 0; j < 6; j++) R[j] = -R[j]!; return R; };
  const t0 = performance.now();
  function report(step: number): void {
    const p = predicted();
    const e: number[] = [], ef: number[] = [];
    for (let i = 0; i < evalIdx.length; i++) {
      const T = rots.subarray(9 * i, 9 * i + 9), Q = p.subarray(9 * i, 9 * i + 9);
      e.push(geodesicDeg(Q, T));
      ef.push(geodesicDeg(Q, flip(T)));
    }
    const s = [...e].sort((a, b) => a - b), frac = (xs: number[], f: (x: number, i: number) => boolean) => +(xs.filter(f).length / xs.length).toFixed(3);
    console.log(JSON.stringify({ arm, heads: M, step, median_deg: +s[s.length >> 1]!.toFixed(1), within20: frac(e, (x) => x < 20),
      flipped_within20: frac(ef, (x) => x < 20), closer_to_flipped: frac(e, (x, i) => ef[i]! < x), s: +((performance.now() - t0) / 1000).toFixed(0) }));
  }

  report(0);
  const rng = new Rng(0);
  let step = 0;
  while (step < steps) {
    const order = amortized ? amortized.rng.permutation(n) : rng.permutation(n);
    for (let s = 0; s + 32 <= n && step < steps; s += 32) {
      const batch = source.batch(order.slice(s, s + 32).sort());
      if (amortized) amortized.step(batch);
      else wtaStep(batch);
      step++;
      if (step % 250 === 0) report(step);
    }
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
