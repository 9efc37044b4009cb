/**
 * DiskSource over a compact particle table (src/io/particleTable.ts, the default for large STAR
 * files) hands out exactly the batches it hands out over one-object-per-particle records: same
 * images, CTFs and transforms (bit for bit), with and without Fourier cropping and read-ahead, and
 * the read-ahead byte ranges are the same. Also checks the auto-decoding trainer's reused
 * (wasm-heap) work buffers: a short epoch on the TS slicer and on the wasm slicer agree to float32
 * tolerance, and two trainers built the same way end bit-identical (no state leaks between batches
 * of different sizes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { loadParticles } from '../../src/io/particles.js';
import { DiskSource } from '../../src/recon/diskSource.js';
import { ReadAhead } from '../../src/recon/readAhead.js';
import { SemiAmortizedTrainer } from '../../src/recon/semiAmortized.js';
import { simulateParticles } from '../../src/sim/simulate.js';
import { blobVolume as blob } from '../reliability/fixtures.js';

test('DiskSource batches over a compact table equal those over object records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-dsc-'));
  try {
    const D = 16, n = 75;
    const sim = simulateParticles(blob(D), D, 4, { outDir: dir, n, snr: 1, shiftPx: 1, defocus: { kind: 'uniform', minUm: 1, maxUm: 2 }, seed: 5, chunk: 30 });
    const objects = loadParticles(sim.particlesStar, { compactTable: false });
    const compact = loadParticles(sim.particlesStar, { compactTable: true });
    assert.equal(objects.columns, undefined);
    assert.ok(compact.columns, 'the compact route was taken');
    for (const box of [D, 12]) {
      const a = new DiskSource(objects, { box, readAhead: false, maskFraction: 0.9 });
      const b = new DiskSource(compact, { box, maskFraction: 0.9 });
      const order = new Rng(2).permutation(n);
      b.planEpoch(order, 16);
      for (let k = 0; k * 16 < n; k++) {
        const idx = order.slice(k * 16, Math.min(n, (k + 1) * 16)).sort();
        const x = a.batch(idx), y = b.batch(idx);
        assert.deepEqual(y.images, x.images);
        assert.deepEqual(y.ctf, x.ctf);
        assert.deepEqual(y.obs.re, x.obs.re);
        assert.deepEqual(y.obs.im, x.obs.im);
        await new Promise((r) => setTimeout(r, 2));
      }
      assert.equal(b.readAheadStats.planMisses, 0);
      a.close();
      b.close();
    }
    const idx = Uint32Array.from([0, 1, 2, 7, 30, 31, 74]);
    assert.deepEqual(new ReadAhead(compact).ranges(idx), new ReadAhead(objects).ranges(idx));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('auto-decoding with reused work buffers: wasm matches the TS slicer; repeated runs are bit-identical', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-dsc2-'));
  try {
    const D = 16, n = 45; // batches of 16, 16, 13: the last one smaller
    const sim = simulateParticles(blob(D), D, 4, { outDir: dir, n, snr: 2, shiftPx: 1, defocus: { kind: 'uniform', minUm: 1, maxUm: 2 }, seed: 8, chunk: 50 });
    const run = (backend: 'ts' | 'wasm'): SemiAmortizedTrainer => {
      const src = new DiskSource(loadParticles(sim.particlesStar), { readAhead: false });
      const tr = new SemiAmortizedTrainer(src, null, { seed: 1, batchSize: 16, backend, init: 'encoder', epochs: 2, poseSteps: 3 });
      tr.trainEpoch();
      tr.trainEpoch();
      src.close();
      return tr;
    };
    const w1 = run('wasm'), w2 = run('wasm'), t = run('ts');
    assert.deepEqual(w2.grid.values, w1.grid.values);
    assert.deepEqual(w2.poses.rot, w1.poses.rot);
    assert.deepEqual(w2.poses.adamV, w1.poses.adamV);
    let dv = 0, scale = 0;
    for (let i = 0; i < t.grid.values.length; i++) {
      dv = Math.max(dv, Math.abs(w1.grid.values[i]! - t.grid.values[i]!));
      scale = Math.max(scale, Math.abs(t.grid.values[i]!));
    }
    assert.ok(dv <= 1e-3 * scale, `volume max diff ${dv} (max |H| ${scale})`);
    let dr = 0;
    for (let i = 0; i < t.poses.rot.length; i++) dr = Math.max(dr, Math.abs(w1.poses.rot[i]! - t.poses.rot[i]!));
    assert.ok(dr < 1e-3, `rotation entries max diff ${dr}`);
    for (const x of [w1, w2]) x.slicer.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
