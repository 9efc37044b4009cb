/**
 * Wiener volume (src/recon/localRefineVolume.ts): from noise-free images of a smooth Hartley
 * volume (three point masses under a Gaussian envelope) at known random poses, origins and
 * CTF-like weights, the closed-form estimate matches the true grid inside radius 6
 * (correlation > 0.98, relative error < 0.2) and the half-set FSC is ~1 at low frequency.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { createHartleyGrid, nyquistDisc } from '../../src/model/hartleyVolume.js';
import { wienerVolume } from '../../src/recon/localRefineVolume.js';
import { createSlicer } from '../../src/recon/slicer.js';
import type { ParticleBatch, ParticleSource } from '../../src/recon/types.js';

test('Wiener volume recovers a smooth volume from noise-free particles at known poses', () => {
  const D = 16, n = 1500, P = D * D;
  const rng = new Rng(5);
  const truth = createHartleyGrid(D);
  const cv = Math.floor(truth.Dv / 2);
  const pts = [[1.5, -2, 0.5, 1], [-2, 1, 2, 0.8], [0, 2.5, -1.5, 0.6]];
  for (let z = 0, v = 0; z < truth.Dv; z++) for (let y = 0; y < truth.Dv; y++) for (let x = 0; x < truth.Dv; x++, v++) {
    const k = [x - cv, y - cv, z - cv];
    let h = 0;
    for (const [px, py, pz, a] of pts) {
      const th = (2 * Math.PI / D) * (k[0]! * px! + k[1]! * py! + k[2]! * pz!);
      h += a! * (Math.cos(th) + Math.sin(th));
    }
    truth.values[v] = h * Math.exp(-(k[0]! ** 2 + k[1]! ** 2 + k[2]! ** 2) / (2 * 5 * 5));
  }
  const rots = Float32Array.from(randomRotations(n, rng));
  const origins = new Float32Array(2 * n).map(() => 2 * rng.uniform() - 1);
  const sl = createSlicer('wasm');
  const disc = nyquistDisc(D);
  const c = D / 2;
  const source: ParticleSource = {
    n, D, apixAngstrom: 1,
    batch(indices: Uint32Array): ParticleBatch {
      const B = indices.length;
      const R = new Float64Array(9 * B);
      indices.forEach((i, b) => { for (let k = 0; k < 9; k++) R[9 * b + k] = rots[9 * i + k]!; });
      const s = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      sl.render(truth, R, B, s, disc);
      const ctf = new Float32Array(B * P);
      const obs = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      indices.forEach((i, b) => {
        for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
          const p = b * P + y * D + x, kx = x - c, ky = y - c;
          const w = 0.1 + 0.9 * Math.cos(0.03 * (1 + (i % 5)) * (kx * kx + ky * ky));
          ctf[p] = w;
          const ph = (2 * Math.PI / D) * (kx * origins[2 * i]! + ky * origins[2 * i + 1]!);
          const mr = w * Math.cos(ph), mi = w * Math.sin(ph);
          obs.re[p] = mr * s.re[p]! - mi * s.im[p]!;
          obs.im[p] = mr * s.im[p]! + mi * s.re[p]!;
        }
      });
      return { indices, B, images: new Float32Array(B * P), obs, ctf };
    },
  };
  const est = createHartleyGrid(D);
  const r = wienerVolume(est, sl, source, rots, origins, { batchSize: 100 });
  sl.dispose();
  let sab = 0, saa = 0, sbb = 0, sdd = 0;
  for (let z = 0, v = 0; z < truth.Dv; z++) for (let y = 0; y < truth.Dv; y++) for (let x = 0; x < truth.Dv; x++, v++) {
    if ((x - cv) ** 2 + (y - cv) ** 2 + (z - cv) ** 2 > 36) continue;
    const a = truth.values[v]!, b = est.values[v]!;
    sab += a * b; saa += a * a; sbb += b * b; sdd += (a - b) ** 2;
  }
  const corr = sab / Math.sqrt(saa * sbb);
  const rel = Math.sqrt(sdd / saa);
  assert.ok(corr > 0.98, `correlation ${corr.toFixed(4)}`);
  assert.ok(rel < 0.2, `relative error ${rel.toFixed(4)}`);
  for (let s = 1; s <= 4; s++) assert.ok(r.halfFsc[s]! > 0.95, `half FSC shell ${s}: ${r.halfFsc[s]}`);
});
