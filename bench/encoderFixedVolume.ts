/**
 * Diagnostic for issue 5: can the amortized encoder learn poses from a random start when the
 * volume is not the problem? The decoder is held at the TRUE volume (the asymmetric five-blob
 * fixture of test/model/encoderLearnsFixtures.ts, box 16, noise-free images, no CTF, no shifts),
 * only the encoder trains (small CNN 8-16-32, Adam 1e-3, batch 32) through the amortized loop's
 * own step, with plain L2 or the symmetric loss. Every 250 steps, on 512 training images: median
 * rotation error vs the truth (no alignment: the volume fixes the frame), the fraction within 20 deg
 * of the truth, within 20 deg of the in-plane-pi-flipped truth Rz(pi)·A, and closer to the flipped
 * than to the true pose. One JSON line per report on stdout.
 *
 *   node --import tsx bench/encoderFixedVolume.ts [plain|sym] [steps 1500] [n 4096]
 * Results and reading: bench/results/modes_notes.md.
 */
import { geodesicDeg } from '../src/core/rotation.js';
import { createEncoder } from '../src/model/encoder.js';
import { initTfjs } from '../src/model/tfjsSetup.js';
import { AmortizedTrainer } from '../src/recon/amortized.js';
import { EncoderAdapter } from '../src/recon/encoderAdapter.js';
import { FixedGridDecoder, RotationOnly, fixedVolumeData } from '../test/model/encoderLearnsFixtures.js';

async function main(): Promise<void> {
  const arm = process.argv[2] ?? 'plain';
  if (arm !== 'plain' && arm !== 'sym') throw new Error(`first argument must be plain or sym, got ${arm}`);
  const steps = Number(process.argv[3] ?? 1500);
  const n = Number(process.argv[4] ?? 4096);
  await initTfjs('wasm');
  const { grid, source, rots } = fixedVolumeData(n, 1);
  const enc = createEncoder({ box: 16, heads: 1, widths: [8, 16, 32], convsPerBlock: [1, 1, 1], pools: ['max', 'max', 'avg'], headHidden: [64, 32], learningRate: 1e-3, seed: 2 });
  const trainer = new AmortizedTrainer(source, new RotationOnly(new EncoderAdapter(enc)), new FixedGridDecoder(grid, 'wasm'), { batchSize: 32, seed: 0, symmetricLoss: arm === 'sym', divergenceGuard: 0 });
  const evalIdx = Uint32Array.from({ length: 512 }, (_, i) => i);
  const flip = (A: Float64Array): Float64Array => { const B = A.slice(); for (let j = 0; j < 6; j++) B[j] = -B[j]!; return B; };
  function report(step: number, t0: number): void {
    const p = trainer.predict(evalIdx).rots;
    const e: number[] = [], ef: number[] = [];
    for (let i = 0; i < evalIdx.length; i++) {
      const P = p.subarray(9 * i, 9 * i + 9), T = rots.subarray(9 * i, 9 * i + 9);
      e.push(geodesicDeg(P, T)); ef.push(geodesicDeg(P, flip(T)));
    }
    const s = [...e].sort((a, b) => a - b);
    const near = e.filter((x) => x < 20).length / e.length, nearF = ef.filter((x) => x < 20).length / e.length;
    const closerF = e.filter((x, i) => ef[i]! < x).length / e.length;
    console.log(JSON.stringify({ arm, step, median_deg: +s[s.length >> 1]!.toFixed(1), within20: +near.toFixed(3), flipped_within20: +nearF.toFixed(3), closer_to_flipped: +closerF.toFixed(3), s: +((performance.now() - t0) / 1000).toFixed(0) }));
  }
  const t0 = performance.now();
  report(0, t0);
  let step = 0;
  while (step < steps) {
    const order = trainer.rng.permutation(n);
    for (let s = 0; s + 32 <= n && step < steps; s += 32) {
      trainer.step(trainer.source.batch(order.slice(s, s + 32).sort()));
      step++;
      if (step % 250 === 0) report(step, t0);
    }
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
