/**
 * Heterogeneous mode on a tiny two-state case: two clearly different maps built here (box 32:
 * four Gaussian blobs; in state 2 one blob moves by 8 voxels and another is removed), 300
 * particles, SNR 1, CTF, shifts within +-1 px, simulated as a 50/50 mixture; the run starts from
 * the true poses (--init-poses) so the test is about z. Asserts that a 2-way k-means split of z
 * recovers the states (>= 90%), that z.npy is a NumPy file of shape (N, zdim) holding the same
 * float32 values as z.pkl (and, when python3 with numpy is present, that NumPy reads it), and
 * that analyze / eval-vol run on the output (eval-vol at a cluster centre equals analyze's map).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAnalyze } from '../../src/cli/commands/analyze.js';
import { runEvalVol } from '../../src/cli/commands/evalVol.js';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { clusterAccuracy, kmeans, toRows } from '../../src/eval/cluster.js';
import { readMrc, writeMrc } from '../../src/io/mrc.js';
import { loadParticles } from '../../src/io/particles.js';
import { NdArray, readPickle } from '../../src/io/pickle.js';
import { runHeterogeneousJob } from '../../src/recon/heterogeneousJob.js';
import { gaussianBlobMap } from '../helpers/blobMap.js';

const blobs = (D: number, centres: number[][]): Float32Array => gaussianBlobMap(D, centres, 6);

test('heterogeneous mode separates two states of a tiny mixture (known poses)', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-het-'));
  try {
    const D = 32;
    const A = blobs(D, [[4, 0, -2, 1], [-5, 3, 2, 1], [0, -5, 4, 0.8], [2, 2, 2, 1.2]]);
    const B = blobs(D, [[4, 0, -2, 1], [-5, 3, 2, 1], [0, 3, 4, 0.8]]);
    writeMrc(join(dir, 'a.mrc'), A, { nx: D, ny: D, nz: D, apixAngstrom: 4 });
    writeMrc(join(dir, 'b.mrc'), B, { nx: D, ny: D, nz: D, apixAngstrom: 4 });
    const sim = runSimulate({ map: [join(dir, 'a.mrc'), join(dir, 'b.mrc')], fractions: [0.5, 0.5], out: join(dir, 'sim'), n: 300, snr: 1, shiftPx: 1,
      defocus: [1.0, 2.5], astigmatism: 0, voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: 300, quiet: true });
    const t0 = performance.now();
    const zdim = 4;
    const r = await runHeterogeneousJob({ input: sim.particlesStar, outdir: join(dir, 'out'), initPoses: sim.particlesStar, gtPoses: sim.particlesStar,
      zdim, consensusEpochs: 2, hetEpochs: 4, hetMarchStartPx: 6, hetMarchEpochs: 2, seed: 0 });
    const secs = (performance.now() - t0) / 1000;
    const truth = loadParticles(sim.particlesStar).particles.map((p) => p.classNumber!);
    // z.npy: header by hand (independent of our reader), data compared with z.pkl
    const bytes = readFileSync(r.z);
    assert.equal(bytes.subarray(0, 6).toString('latin1'), '\x93NUMPY');
    const hlen = bytes.readUInt16LE(8);
    const header = bytes.subarray(10, 10 + hlen).toString('latin1');
    assert.match(header, /'descr': '<f4'/);
    assert.match(header, new RegExp(`'shape': \\(300, ${zdim}\\)`));
    const z = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + hlen, bytes.byteOffset + bytes.length));
    assert.equal(z.length, 300 * zdim);
    const pkl = readPickle(join(dir, 'out', 'z.pkl'));
    assert.ok(pkl instanceof NdArray);
    assert.deepEqual(pkl.shape, [300, zdim]);
    assert.deepEqual(Array.from(pkl.data as Float32Array), Array.from(z));
    try {
      const out = execFileSync('python3', ['-c', `import numpy as np; z = np.load(${JSON.stringify(r.z)}); print(z.shape, z.dtype, float(z[7, 1]), sep='|')`], { encoding: 'utf8' });
      const [shape, dtype, value] = out.trim().split('|');
      assert.equal(shape, `(300, ${zdim})`);
      assert.equal(dtype, 'float32');
      assert.equal(Number(value), z[7 * zdim + 1]!);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT' || /No module named/.test(String((e as { stderr?: string }).stderr ?? ''))) t.diagnostic('numpy not available: skipped the NumPy read');
      else throw e;
    }
    const km = kmeans(toRows(z, 300, zdim), 2, 0);
    const acc = clusterAccuracy(km.labels, truth);
    t.diagnostic(`2-way split accuracy ${(100 * acc).toFixed(1)}%, ${secs.toFixed(1)} s`);
    assert.ok(acc >= 0.9, `split accuracy ${acc}`);
    // analyze + eval-vol
    const an = runAnalyze({ outdir: join(dir, 'out'), k: 2, pcs: 1, pcSteps: 2, gtLabels: sim.particlesStar, seed: 0, backproject: true });
    assert.ok(an.gtSplitAccuracy! >= 0.9);
    assert.equal(an.volumes.length, 6);
    // each cluster's backprojection resembles one of the two true maps far more than the other
    const corr = (x: Float32Array, y: Float32Array): number => {
      let mx = 0, my = 0;
      for (let i = 0; i < x.length; i++) { mx += x[i]!; my += y[i]!; }
      mx /= x.length; my /= y.length;
      let sxy = 0, sxx = 0, syy = 0;
      for (let i = 0; i < x.length; i++) { sxy += (x[i]! - mx) * (y[i]! - my); sxx += (x[i]! - mx) ** 2; syy += (y[i]! - my) ** 2; }
      return sxy / Math.sqrt(sxx * syy);
    };
    const matched = new Set<number>();
    for (const c of [0, 1]) {
      const m = readMrc(join(an.out, `cluster${c}_backprojected.mrc`)).data;
      const cc = [corr(m, A), corr(m, B)];
      t.diagnostic(`cluster ${c} backprojection: correlation with state 1 / 2 = ${cc[0]!.toFixed(3)} / ${cc[1]!.toFixed(3)}`);
      const best = cc[0]! > cc[1]! ? 0 : 1;
      assert.ok(cc[best]! > 0.8 && cc[best]! - cc[1 - best]! > 0.1, `cluster ${c}: correlations ${cc}`);
      matched.add(best);
    }
    assert.equal(matched.size, 2, 'both clusters resemble the same state');
    const info = JSON.parse(readFileSync(join(an.out, 'analysis.json'), 'utf8')) as { centroids: number[][] };
    const ev = runEvalVol({ outdir: join(dir, 'out'), z: info.centroids[0]!.join(','), output: join(dir, 'ev.mrc') });
    const a = readMrc(ev.maps[0]!).data, b = readMrc(join(an.out, 'cluster0.mrc')).data;
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
    assert.ok(err < 1e-5, `eval-vol and analyze disagree by ${err}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('heterogeneous trainer: a run resumed from a checkpoint continues exactly', async () => {
  const { Rng } = await import('../../src/core/rng.js');
  const { MemorySource } = await import('../../src/recon/memorySource.js');
  const { HeterogeneousTrainer } = await import('../../src/recon/heterogeneous.js');
  const { writeCheckpoint, readCheckpoint } = await import('../../src/recon/checkpoint.js');
  const D = 16, n = 40, rng = new Rng(9);
  const images = Float32Array.from({ length: n * D * D }, () => rng.normal());
  const source = new MemorySource(images, D, 3, null);
  const opts = { zdim: 2, consensusEpochs: 0, hetEpochs: 3, batchSize: 16, seed: 1, poseSteps: 1, backend: 'ts' as const };
  const a = new HeterogeneousTrainer(source, opts);
  while (!a.done) a.trainEpoch();
  const b = new HeterogeneousTrainer(source, opts);
  b.trainEpoch(); b.trainEpoch();
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-het-ck-'));
  try {
    writeCheckpoint(join(dir, 'ck.json'), b.getState());
    const c = new HeterogeneousTrainer(source, opts);
    c.setState(readCheckpoint(join(dir, 'ck.json')));
    while (!c.done) c.trainEpoch();
    assert.deepEqual(Array.from(c.z), Array.from(a.z));
    assert.deepEqual(Array.from(c.poses.rot), Array.from(a.poses.rot));
    for (let d = 0; d <= 2; d++) assert.deepEqual(Array.from(c.decoder!.grids[d]!.values), Array.from(a.decoder!.grids[d]!.values));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('heterogeneous trainer: hetRefit wiener ends the last epoch with the closed-form refit of the final poses and z', async () => {
  const { Rng } = await import('../../src/core/rng.js');
  const { MemorySource } = await import('../../src/recon/memorySource.js');
  const { HeterogeneousTrainer } = await import('../../src/recon/heterogeneous.js');
  const { hetWienerRefit } = await import('../../src/recon/hetWienerRefit.js');
  const D = 16, n = 40, zdim = 2, rng = new Rng(5);
  const source = new MemorySource(Float32Array.from({ length: n * D * D }, () => rng.normal()), D, 3, null);
  const base = { zdim, consensusEpochs: 0, hetEpochs: 2, batchSize: 16, seed: 2, backend: 'ts' as const };
  const a = new HeterogeneousTrainer(source, base);
  const b = new HeterogeneousTrainer(source, { ...base, hetRefit: 'none' });
  while (!a.done) a.trainEpoch();
  while (!b.done) b.trainEpoch();
  // same training up to the refit (it changes no z or pose)
  assert.deepEqual(Array.from(a.z), Array.from(b.z));
  assert.ok(a.refitHalfFsc !== null && b.refitHalfFsc === null);
  const r = hetWienerRefit(source, a.poses.rot, a.poses.origin, a.z, zdim, { batchSize: 64 });
  for (let d = 0; d <= zdim; d++) {
    assert.deepEqual(Array.from(a.decoder!.grids[d]!.values), Array.from(r.grids[d]!.values));
    assert.notDeepEqual(Array.from(b.decoder!.grids[d]!.values), Array.from(r.grids[d]!.values));
  }
  assert.throws(() => new HeterogeneousTrainer(source, { ...base, hetRefit: 'bogus' as 'none' }), /hetRefit/);
});

test('heterogeneous trainer with a class stage: classes start z and the decoder, and a resume after it continues exactly', { timeout: 120_000 }, async () => {
  const { Rng } = await import('../../src/core/rng.js');
  const { MemorySource } = await import('../../src/recon/memorySource.js');
  const { HeterogeneousTrainer } = await import('../../src/recon/heterogeneous.js');
  const { writeCheckpoint, readCheckpoint } = await import('../../src/recon/checkpoint.js');
  const { initTfjs } = await import('../../src/model/tfjsSetup.js');
  await initTfjs('wasm');
  const D = 16, n = 48, rng = new Rng(4);
  const images = Float32Array.from({ length: n * D * D }, () => rng.normal());
  const source = new MemorySource(images, D, 3, null);
  const opts = {
    zdim: 2, consensusEpochs: 1, hetEpochs: 2, batchSize: 16, seed: 1, backend: 'ts' as const, classes: 2, hetRefit: 'none' as const,
    consensus: { searchIterations: 1, searchRotations: 60, searchShiftRangePx: 0 },
    classStage: {
      search: { iterations: 1, subset: n, rotations: 60, shiftRangePx: 0, radiusStartPx: 4, radiusEndPx: 4 },
      abinitio: { searchIterations: 1, searchRotations: 60, searchShiftRangePx: 0, localIterations: 0 },
      finalLocalIterations: 1, finalLocalRadiusPx: 5, alignRotations: 100, alignCoreRounds: 1,
    },
  };
  const a = new HeterogeneousTrainer(source, opts);
  assert.equal(a.totalEpochs, 4);
  const stages: string[] = [];
  while (!a.done) stages.push(a.trainEpoch().stage);
  assert.deepEqual(stages, ['search', 'classes', 'heterogeneous', 'heterogeneous']);
  assert.ok(a.classOf && a.classSummary);
  const sizes = a.classSummary.classSizes;
  assert.equal(sizes.length, 2);
  assert.equal(sizes[0]! + sizes[1]!, n);
  assert.ok(sizes.every((s) => s > 0), `class sizes ${sizes}`);
  // right after the class stage: z dimension 0 marks the non-anchor class (one-hot + N(0, 0.1^2) noise)
  const b = new HeterogeneousTrainer(source, opts);
  b.trainEpoch(); b.trainEpoch();
  const anchor = b.classSummary!.anchor;
  let inOther = 0, inAnchor = 0, cOther = 0, cAnchor = 0;
  for (let i = 0; i < n; i++) {
    if (b.classOf![i] === anchor) { inAnchor += b.z[2 * i]!; cAnchor++; } else { inOther += b.z[2 * i]!; cOther++; }
  }
  const gap = inOther / cOther - inAnchor / cAnchor;
  assert.ok(Math.abs(gap - 1) < 0.15, `z gap between the classes ${gap}`);
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-het-cls-'));
  try {
    writeCheckpoint(join(dir, 'ck.json'), b.getState());
    const c = new HeterogeneousTrainer(source, opts);
    c.setState(readCheckpoint(join(dir, 'ck.json')));
    assert.deepEqual(Array.from(c.classOf!), Array.from(b.classOf!));
    while (!c.done) c.trainEpoch();
    assert.deepEqual(Array.from(c.z), Array.from(a.z));
    assert.deepEqual(Array.from(c.poses.rot), Array.from(a.poses.rot));
    assert.deepEqual(Array.from(c.decoder!.grids[1]!.values), Array.from(a.decoder!.grids[1]!.values));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    a.dispose(); b.dispose();
  }
});
