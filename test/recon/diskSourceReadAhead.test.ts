/**
 * DiskSource read-ahead: with a planned epoch (and with explicit prefetch hints) the batches are
 * bit-identical to those of a source without read-ahead; the plan is followed (hits counted), a
 * loop that departs from it only switches read-ahead off; the byte ranges of a batch cover
 * exactly its images (merged runs), checked against the file's own layout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadParticles } from '../../src/io/particles.js';
import { Rng } from '../../src/core/rng.js';
import { DiskSource } from '../../src/recon/diskSource.js';
import { ReadAhead } from '../../src/recon/readAhead.js';
import { simulateParticles } from '../../src/sim/simulate.js';

function blob(D: number): Float32Array {
  const v = new Float32Array(D ** 3);
  const c = D / 2;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    v[(z * D + y) * D + x] = Math.exp(-((x - c) ** 2 + (y - c - 1) ** 2 / 2 + (z - c + 1) ** 2 / 3) / 4);
  }
  return v;
}

test('read-ahead batches equal plain batches; plan hits, misses and byte ranges', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-ra-'));
  try {
    const D = 16, n = 70;
    const sim = simulateParticles(blob(D), D, 4, { outDir: dir, n, snr: 1, shiftPx: 1, defocus: { kind: 'uniform', minUm: 1, maxUm: 2 }, seed: 3, chunk: 25 });
    const set = loadParticles(sim.particlesStar);
    const plain = new DiskSource(set, { readAhead: false });
    const ahead = new DiskSource(loadParticles(sim.particlesStar), { box: D });
    const order = new Rng(9).permutation(n);
    const B = 16;
    ahead.planEpoch(order, B);
    const batches = Math.ceil(n / B);
    for (let k = 0; k < batches; k++) {
      const idx = order.slice(k * B, Math.min(n, (k + 1) * B)).sort();
      const a = plain.batch(idx), b = ahead.batch(idx);
      assert.deepEqual(b.images, a.images);
      assert.deepEqual(b.ctf, a.ctf);
      assert.deepEqual(b.obs.re, a.obs.re);
      await new Promise((r) => setTimeout(r, 5)); // let the worker run
    }
    assert.equal(ahead.readAheadStats.planHits, batches);
    assert.equal(ahead.readAheadStats.planMisses, 0);
    assert.ok(ahead.readAheadStats.requested >= 2, `requested ${ahead.readAheadStats.requested}`);
    // departing from the plan: counted once, read-ahead stops, results unchanged
    ahead.planEpoch(order, B);
    const other = Uint32Array.from([1, 2, 3]);
    assert.deepEqual(ahead.batch(other).images, plain.batch(other).images);
    assert.equal(ahead.readAheadStats.planMisses, 1);
    ahead.prefetch(Uint32Array.from([5, 6, 7, 40]));
    assert.deepEqual(ahead.batch(Uint32Array.from([5, 6, 7, 40])).images, plain.batch(Uint32Array.from([5, 6, 7, 40])).images);
    // ranges: runs merged; image i of the stack at 1024 + i*D*D*4 (float32, no extended header)
    const ra = new ReadAhead(set);
    const r = ra.ranges(Uint32Array.from([3, 4, 5, 9, 69]));
    const per = D * D * 4;
    assert.deepEqual(r.map(([, p, l]) => [p, l]), [[1024 + 3 * per, 3 * per], [1024 + 9 * per, per], [1024 + 69 * per, per]]);
    assert.equal(statSync(sim.particlesMrcs).size, 1024 + n * per);
    plain.close();
    ahead.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
