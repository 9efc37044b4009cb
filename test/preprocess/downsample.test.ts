import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downsampleParticles } from '../../src/preprocess/downsample.js';
import { loadParticles, readParticleImages } from '../../src/io/particles.js';
import { fourierCropImages } from '../../src/core/resample.js';
import { simulateParticles } from '../../src/sim/simulate.js';

test('downsample: images are the Fourier crops, pixel size and pixel origins scale, angles and CTF kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-ds-'));
  try {
    // a small asymmetric blob volume
    const D = 24;
    const vol = new Float32Array(D * D * D);
    for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      const r1 = (x - 12) ** 2 + (y - 11) ** 2 + (z - 12) ** 2, r2 = (x - 15) ** 2 + (y - 14) ** 2 + (z - 10) ** 2;
      vol[(z * D + y) * D + x] = Math.exp(-r1 / 18) + 0.6 * Math.exp(-r2 / 6);
    }
    simulateParticles(vol, D, 2, { outDir: join(dir, 'sim'), n: 30, snr: 1, shiftPx: 2, defocus: { kind: 'uniform', minUm: 1, maxUm: 2 }, seed: 3 });
    const src = join(dir, 'sim', 'particles.star');
    const r = downsampleParticles({ input: src, boxPx: 12, output: join(dir, 'ds', 'small.star'), chunk: 7 });
    assert.equal(r.n, 30);
    assert.ok(existsSync(join(dir, 'ds', 'small.mrcs')));
    const a = loadParticles(src);
    const b = loadParticles(r.star!);
    assert.equal(b.boxPx, 12);
    assert.ok(Math.abs(b.apixAngstrom - 4) < 1e-5, `apix ${b.apixAngstrom}`);
    const ia = readParticleImages(a, { start: 0, count: 30 });
    const ib = readParticleImages(b, { start: 0, count: 30 });
    const crop = fourierCropImages(ia, 24, 30, 12);
    let maxd = 0, maxv = 0;
    for (let i = 0; i < crop.length; i++) { maxd = Math.max(maxd, Math.abs(crop[i]! - ib[i]!)); maxv = Math.max(maxv, Math.abs(crop[i]!)); }
    assert.ok(maxd <= 1e-6 * maxv, `images differ by ${maxd}`);
    for (let i = 0; i < 30; i++) {
      const p = a.particles[i]!, q = b.particles[i]!;
      assert.ok(Math.abs(q.originPx![0] - p.originPx![0] / 2) < 1e-4 && Math.abs(q.originPx![1] - p.originPx![1] / 2) < 1e-4);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(q.eulerDeg![k]! - p.eulerDeg![k]!) < 1e-4);
      assert.ok(Math.abs(q.ctf!.defocusUAngstrom - p.ctf!.defocusUAngstrom) < 1e-2);
    }
    // bad box: clear error naming the file
    assert.throws(() => downsampleParticles({ input: src, boxPx: 48, output: join(dir, 'x.mrcs') }), /particles\.star.*new box 48/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
