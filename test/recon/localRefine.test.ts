/**
 * Local refinement (src/recon/localRefine.ts):
 * - slices rendered from the cropped Hartley sub-cube equal the full grid's slices inside the disc;
 * - on noise-free images rendered at known poses (smooth random volume, CTF-like weights, shifts),
 *   the coarse-to-fine local search started ~5 deg / ~0.7 px away returns to the true pose
 *   (rotation < 0.6 deg, origin < 0.15 px), and never moves a particle that starts at the truth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { expSO3, geodesicDeg, matMul, randomRotations } from '../../src/core/rotation.js';
import { createHartleyGrid, nyquistDisc } from '../../src/model/hartleyVolume.js';
import { cropHartleyGrid, localLevels, localSearch } from '../../src/recon/localRefine.js';
import { createSlicer } from '../../src/recon/slicer.js';
import type { ParticleBatch } from '../../src/recon/types.js';

function smoothGrid(D: number, rng: Rng) {
  const g = createHartleyGrid(D);
  const c = Math.floor(g.Dv / 2);
  for (let z = 0; z < g.Dv; z++) for (let y = 0; y < g.Dv; y++) for (let x = 0; x < g.Dv; x++) {
    const k2 = (x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2;
    g.values[(z * g.Dv + y) * g.Dv + x] = rng.normal() * Math.exp(-k2 / (2 * 6 * 6));
  }
  return g;
}

test('slices of the cropped Hartley grid equal the full grid inside the disc', () => {
  const D = 32, B = 5, r = 9;
  const rng = new Rng(1);
  const g = smoothGrid(D, rng);
  const small = cropHartleyGrid(g, r);
  assert.ok(small.D < D);
  const rots = randomRotations(B, rng);
  const sl = createSlicer('ts');
  const full = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
  const part = { re: new Float32Array(B * small.D ** 2), im: new Float32Array(B * small.D ** 2) };
  const d = nyquistDisc(D, r), ds = nyquistDisc(small.D, r);
  sl.render(g, rots, B, full, d);
  sl.render(small, rots, B, part, ds);
  assert.equal(d.pix.length, ds.pix.length);
  for (let b = 0; b < B; b++) for (let k = 0; k < d.pix.length; k++) {
    assert.equal(d.kx[k], ds.kx[k]);
    assert.ok(Math.abs(full.re[b * D * D + d.pix[k]!]! - part.re[b * small.D ** 2 + ds.pix[k]!]!) < 1e-6);
    assert.ok(Math.abs(full.im[b * D * D + d.pix[k]!]! - part.im[b * small.D ** 2 + ds.pix[k]!]!) < 1e-6);
  }
});

test('local search returns noise-free particles to their true poses', () => {
  const D = 32, B = 6, P = D * D;
  const rng = new Rng(2);
  const g = smoothGrid(D, rng);
  const sl = createSlicer('wasm');
  const trueR = randomRotations(B, rng);
  const trueO = new Float32Array(2 * B).map(() => 2 * rng.uniform() - 1);
  const slices = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  const disc = nyquistDisc(D);
  sl.render(g, trueR, B, slices, disc);
  const c = D / 2;
  const ctf = new Float32Array(B * P);
  const obs = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  for (let b = 0; b < B; b++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const p = b * P + y * D + x;
    const kx = x - c, ky = y - c;
    const w = Math.cos(0.02 * (b + 3) * (kx * kx + ky * ky)) * 0.9 + 0.1; // CTF-like, sign changes
    ctf[p] = w;
    const ph = (2 * Math.PI / D) * (kx * trueO[2 * b]! + ky * trueO[2 * b + 1]!);
    const mr = w * Math.cos(ph), mi = w * Math.sin(ph);
    obs.re[p] = mr * slices.re[p]! - mi * slices.im[p]!;
    obs.im[p] = mr * slices.im[p]! + mi * slices.re[p]!;
  }
  const batch: ParticleBatch = { indices: Uint32Array.from({ length: B }, (_, i) => i), B, images: new Float32Array(B * P), obs, ctf };
  const startR = new Float64Array(9 * B);
  const startO = new Float32Array(2 * B);
  const E = new Float64Array(9);
  const deg = Math.PI / 180;
  for (let b = 0; b < B; b++) {
    expSO3([3 * deg * (b % 2 ? 1 : -1), -2.5 * deg, 2 * deg], E);
    matMul(startR.subarray(9 * b, 9 * b + 9), E, trueR.subarray(9 * b, 9 * b + 9));
    startO[2 * b] = trueO[2 * b]! + 0.6;
    startO[2 * b + 1] = trueO[2 * b + 1]! - 0.45;
  }
  const levels = [...localLevels(4, 1, 0, 3), ...localLevels(4, 1, 3, 2)]; // 4, 2, 1, 0.5, 0.25 deg
  const r = localSearch(g, sl, batch, startR, startO, { radiusPx: 12, levels, shiftLimitPx: 4 });
  for (let b = 0; b < B; b++) {
    const e0 = geodesicDeg(startR.subarray(9 * b, 9 * b + 9), trueR.subarray(9 * b, 9 * b + 9));
    const e = geodesicDeg(r.rots.subarray(9 * b, 9 * b + 9), trueR.subarray(9 * b, 9 * b + 9));
    const eo = Math.hypot(r.originsPx[2 * b]! - trueO[2 * b]!, r.originsPx[2 * b + 1]! - trueO[2 * b + 1]!);
    assert.ok(e0 > 4, `start error ${e0}`);
    assert.ok(e < 0.6, `particle ${b}: rotation error ${e.toFixed(3)} deg (start ${e0.toFixed(2)})`);
    assert.ok(eo < 0.15, `particle ${b}: origin error ${eo.toFixed(3)} px`);
  }
  // started at the truth, it stays there
  const r2 = localSearch(g, sl, batch, Float64Array.from(trueR), trueO, { radiusPx: 12, levels, shiftLimitPx: 4 });
  for (let b = 0; b < B; b++) {
    assert.ok(geodesicDeg(r2.rots.subarray(9 * b, 9 * b + 9), trueR.subarray(9 * b, 9 * b + 9)) < 1e-3);
    assert.ok(Math.abs(r2.originsPx[2 * b]! - trueO[2 * b]!) < 1e-6);
  }
  sl.dispose();
});
