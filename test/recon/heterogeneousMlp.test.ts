/**
 * The coordinate-network decoder and the z encoder of the heterogeneous mode on a tiny two-state
 * case: two maps built here (box 16: Gaussian blobs; in state 2 one blob moves and another is
 * removed), a 50/50 mixture simulated with CTF and shifts, the heterogeneous stage started from
 * the true poses. Asserts that with hetDecoder 'mlp' and zSource 'encoder' a 2-way k-means split
 * of the encoder's z recovers the states (>= 90%), and that the decoder's map at each cluster's
 * centre z (decoder saved to a file and read back, as eval-vol does) agrees better with its own
 * state's true map than with the other's: mean FSC over shells 2-4 (the blobs carry almost no
 * signal beyond shell 5 of a box-16 map; shell 1 is ~1 for any two maps). Also checks
 * the MLP decoder's dL/dz (tfjs autodiff) against finite differences of the data term, and that
 * its slices are Hermitian.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { eulerToMatrix, randomRotations } from '../../src/core/rotation.js';
import { Rng } from '../../src/core/rng.js';
import { clusterAccuracy, kmeans, toRows } from '../../src/eval/cluster.js';
import { fsc } from '../../src/eval/fsc.js';
import { writeMrc } from '../../src/io/mrc.js';
import { readCheckpoint, writeCheckpoint } from '../../src/recon/checkpoint.js';
import { loadParticles } from '../../src/io/particles.js';
import { symmetricDisc } from '../../src/model/fourierNet.js';
import { HetMlpDecoder, hetMlpFromState, type HetMlpState } from '../../src/model/hetMlpDecoder.js';
import { initTfjs } from '../../src/model/tfjsSetup.js';
import { DiskSource } from '../../src/recon/diskSource.js';
import { fourierLoss } from '../../src/recon/fourierLoss.js';
import { HeterogeneousTrainer, type HeterogeneousOptions } from '../../src/recon/heterogeneous.js';

function blobs(D: number, centres: number[][]): Float32Array {
  const c = D / 2;
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const [a, b, d, w] of centres) s += w! * Math.exp(-((x - c - a!) ** 2 + (y - c - b!) ** 2 + (z - c - d!) ** 2) / 5);
    v[(z * D + y) * D + x] = s;
  }
  return v;
}

/** Mean FSC over shells 2..4 (1 <= |k| < 4). */
function lowResFsc(x: Float32Array, y: Float32Array, D: number): number {
  const c = fsc(x, y, D);
  return (c[1]! + c[2]! + c[3]!) / 3;
}

/** The heterogeneous stage from known poses, as heterogeneousJob.ts sets it up. */
async function trainKnownPoses(star: string, opts: Partial<HeterogeneousOptions>): Promise<{ trainer: HeterogeneousTrainer; secs: number[] }> {
  await initTfjs('wasm');
  const set = loadParticles(star);
  const source = new DiskSource(set, { seed: 0 });
  const trainer = new HeterogeneousTrainer(source, { consensusEpochs: 2, consensus: { poseSteps: 0 }, seed: 0, ...opts });
  trainer.consensus.stage = 'autodecode';
  set.particles.forEach((p, i) => {
    trainer.poses.rot.set(Float32Array.from(eulerToMatrix(p.eulerDeg![0], p.eulerDeg![1], p.eulerDeg![2])), 9 * i);
    trainer.poses.origin[2 * i] = p.originPx?.[0] ?? 0;
    trainer.poses.origin[2 * i + 1] = p.originPx?.[1] ?? 0;
  });
  const secs: number[] = [];
  while (!trainer.done) secs.push(trainer.trainEpoch().seconds);
  source.close();
  return { trainer, secs };
}

test('mlp decoder + encoder z separate two states; each state map resembles its own truth', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-hetmlp-'));
  try {
    const D = 16, n = 300;
    const A = blobs(D, [[3, 0, -2, 1], [-4, 2, 2, 1], [0, -4, 3, 0.8], [2, 2, 2, 1.2]]);
    const B = blobs(D, [[3, 0, -2, 1], [-4, 2, 2, 1], [0, 3, 3, 0.8]]);
    writeMrc(join(dir, 'a.mrc'), A, { nx: D, ny: D, nz: D, apixAngstrom: 4 });
    writeMrc(join(dir, 'b.mrc'), B, { nx: D, ny: D, nz: D, apixAngstrom: 4 });
    const sim = runSimulate({ map: [join(dir, 'a.mrc'), join(dir, 'b.mrc')], fractions: [0.5, 0.5], out: join(dir, 'sim'), n, snr: 1, shiftPx: 1,
      defocus: [1.0, 2.5], astigmatism: 0, voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: n, quiet: true });
    const t0 = performance.now();
    const zdim = 2;
    const { trainer, secs } = await trainKnownPoses(sim.particlesStar, {
      zdim, hetEpochs: 5, batchSize: 8, hetDecoder: 'mlp', zSource: 'encoder', zWarmupEpochs: 1, hetMarchStartPx: 4, hetMarchEpochs: 3,
      mlp: { hidden: 32, nFeatures: 24, learningRate: 0.005 },
    });
    const truth = loadParticles(sim.particlesStar).particles.map((p) => p.classNumber!);
    const km = kmeans(toRows(trainer.z, n, zdim), 2, 0);
    const acc = clusterAccuracy(km.labels, truth);
    t.diagnostic(`epochs ${secs.map((s) => s.toFixed(1)).join(' ')} s; `
      + `2-way split ${(100 * acc).toFixed(1)}%; total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.ok(acc >= 0.9, `split accuracy ${acc}`);
    // eval-vol at each cluster centre, through the saved decoder state
    writeCheckpoint(join(dir, 'decoder.json'), trainer.mlp!.getState());
    const dec = hetMlpFromState(readCheckpoint<HetMlpState>(join(dir, 'decoder.json')));
    const matched = new Set<number>();
    for (const c of [0, 1]) {
      const m = dec.volumeMap(km.centroids[c]!);
      const cc = [lowResFsc(m, A, D), lowResFsc(m, B, D)];
      t.diagnostic(`cluster ${c}: decoded map, mean FSC (shells 2-4) vs state 1 / 2 = ${cc[0]!.toFixed(3)} / ${cc[1]!.toFixed(3)}`);
      const best = cc[0]! > cc[1]! ? 0 : 1;
      // the cluster's particles are mostly of state `best`
      const members = truth.filter((_, i) => km.labels[i] === c);
      const major = members.filter((s) => s === best + 1).length / members.length;
      assert.ok(major > 0.9, `cluster ${c} resembles state ${best + 1} but holds ${(100 * major).toFixed(0)}% of it`);
      assert.ok(cc[best]! > 0.7 && cc[best]! - cc[1 - best]! > 0.02, `cluster ${c}: FSC ${cc}`);
      matched.add(best);
    }
    assert.equal(matched.size, 2, 'both cluster maps resemble the same state');
    trainer.dispose(); dec.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mlp decoder: dL/dz matches finite differences; slices are Hermitian', async () => {
  await initTfjs('wasm');
  const D = 12, zdim = 3, Bn = 2, P = D * D;
  const dec = new HetMlpDecoder(D, zdim, { hidden: 16, nFeatures: 8, blocks: 1, seed: 3 });
  const rng = new Rng(5);
  // random weights everywhere (the output layer starts at 0)
  const st = dec.getState();
  for (const w of Object.values(st.params)) for (let i = 0; i < w.length; i++) w[i] = 0.5 * rng.normal();
  dec.setState(st);
  const rots = randomRotations(Bn, rng);
  const z = Float64Array.from({ length: Bn * zdim }, () => rng.normal());
  const disc = symmetricDisc(D);
  const obs = { re: new Float32Array(Bn * P), im: new Float32Array(Bn * P) };
  for (let i = 0; i < Bn * P; i++) { obs.re[i] = rng.normal(); obs.im[i] = rng.normal(); }
  const ctf = Float32Array.from({ length: Bn * P }, () => 0.5 + rng.uniform());
  const orig = Float32Array.from([0.3, -0.7, 1.1, 0.2]);
  const lossOf = (zz: Float64Array, dS?: { re: Float32Array; im: Float32Array }): number => {
    const s = { re: new Float32Array(Bn * P), im: new Float32Array(Bn * P) };
    dec.render(rots, zz, Bn, disc, s);
    const l = fourierLoss({ D, obs, ctf, B: Bn }, s, disc, { M: 1, originsPx: orig, dSlices: dS });
    return l[0]! + l[1]!;
  };
  // Hermitian: F(-k) = conj F(k) on the disc
  const s = { re: new Float32Array(Bn * P), im: new Float32Array(Bn * P) };
  dec.render(rots, z, Bn, disc, s);
  const c = D / 2;
  let maxAbs = 0, maxF = 0;
  for (let b = 0; b < Bn; b++) for (const q of disc.pix) {
    const x = q % D, y = Math.floor(q / D), qm = (2 * c - y) * D + (2 * c - x);
    maxAbs = Math.max(maxAbs, Math.abs(s.re[b * P + q]!));
    maxF = Math.max(maxF, Math.abs(s.re[b * P + q]! - s.re[b * P + qm]!), Math.abs(s.im[b * P + q]! + s.im[b * P + qm]!));
  }
  assert.ok(maxAbs > 0 && maxF <= 1e-6 * maxAbs, `Friedel symmetry broken by ${maxF} (max ${maxAbs})`);
  const dS = { re: new Float32Array(Bn * P), im: new Float32Array(Bn * P) };
  lossOf(z, dS);
  const { dz } = dec.backward(rots, z, Bn, disc, dS, false);
  const h = 1e-2;
  for (let k = 0; k < Bn * zdim; k++) {
    const zp = Float64Array.from(z); zp[k] += h;
    const zm = Float64Array.from(z); zm[k] -= h;
    const fd = (lossOf(zp) - lossOf(zm)) / (2 * h);
    assert.ok(Math.abs(fd - dz[k]!) < 2e-2 * Math.max(0.05, Math.abs(fd)), `dz[${k}]: autodiff ${dz[k]}, finite difference ${fd}`);
  }
  dec.dispose();
});

test('re-centring/rescaling z folded into the mlp decoder and the encoder changes no volume and no prediction', async () => {
  await initTfjs('wasm');
  const { ZEncoder } = await import('../../src/model/zEncoder.js');
  const D = 12, zdim = 3, Bn = 2;
  const rng = new Rng(8);
  const dec = new HetMlpDecoder(D, zdim, { hidden: 16, nFeatures: 8, blocks: 1, seed: 1 });
  const st = dec.getState();
  for (const w of Object.values(st.params)) for (let i = 0; i < w.length; i++) w[i] = 0.5 * rng.normal();
  dec.setState(st);
  const rots = randomRotations(Bn, rng);
  const disc = symmetricDisc(D);
  const z = Float64Array.from({ length: Bn * zdim }, () => rng.normal());
  const mu = [0.3, -1.2, 0.5], sc = 2.5;
  const before = dec.values(HetMlpDecoder.sliceCoords(rots, Bn, disc), z, Bn);
  dec.absorbLatentAffine(mu, sc);
  const z2 = Float64Array.from(z, (v, k) => (v - mu[k % zdim]!) / sc);
  const after = dec.values(HetMlpDecoder.sliceCoords(rots, Bn, disc), z2, Bn);
  let err = 0, mx = 0;
  for (let i = 0; i < before.length; i++) { err = Math.max(err, Math.abs(before[i]! - after[i]!)); mx = Math.max(mx, Math.abs(before[i]!)); }
  assert.ok(mx > 0 && err < 1e-4 * mx, `decoder output changed by ${err} (max ${mx})`);
  const enc = new ZEncoder(zdim, { input: 'image', radiusPx: 3, hidden: [8], seed: 2 });
  const x = Float32Array.from({ length: 4 * enc.inputSize }, () => rng.normal());
  const p0 = enc.predict(x, 4);
  enc.absorbAffine(mu, sc);
  const p1 = enc.predict(x, 4);
  for (let k = 0; k < p0.length; k++) assert.ok(Math.abs((p0[k]! - mu[k % zdim]!) / sc - p1[k]!) < 1e-5, `encoder output ${k}`);
  dec.dispose(); enc.dispose();
});
