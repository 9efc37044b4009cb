import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Complex } from '../../src/core/complex.js';
import { randomRotations } from '../../src/core/rotation.js';
import { Rng } from '../../src/core/rng.js';
import { nyquistDisc, renderSlices } from '../../src/model/hartleyVolume.js';
import {
  allocParts, centreLatents, combineSlices, createHetDecoder, decoderBackward, hetVolumeGrid, renderParts, rescaleLatents, zGradient,
  type HetDecoder,
} from '../../src/model/hetDecoder.js';
import { fourierLoss } from '../../src/recon/fourierLoss.js';
import { tsSlicer } from '../../src/recon/slicer.js';

const D = 12, P = D * D, zdim = 3, B = 2;

/** Grids of smooth random values (a few low-frequency cosines): trilinear kinks stay small for finite differences. */
function randomDecoder(seed: number): HetDecoder {
  const rng = new Rng(seed);
  const dec = createHetDecoder(D, zdim);
  for (const g of dec.grids) {
    const waves = Array.from({ length: 4 }, () => [rng.normal() * 0.3, rng.normal() * 0.3, rng.normal() * 0.3, rng.uniform() * 6.28, rng.normal()]);
    for (let z = 0; z < g.Dv; z++) for (let y = 0; y < g.Dv; y++) for (let x = 0; x < g.Dv; x++) {
      let v = 0;
      for (const [a, b, c, ph, amp] of waves) v += amp! * Math.cos(a! * x + b! * y + c! * z + ph!);
      g.values[(z * g.Dv + y) * g.Dv + x] = v;
    }
  }
  return dec;
}

function planes(n: number): Complex { return { re: new Float32Array(n), im: new Float32Array(n) }; }

test('slices of H(z) are Hermitian (Friedel) and equal the slice of the summed grid', () => {
  const dec = randomDecoder(1);
  const rng = new Rng(2);
  const rots = randomRotations(B, rng);
  const z = Float64Array.from({ length: B * zdim }, () => rng.normal());
  const disc = nyquistDisc(D);
  const parts = allocParts(dec, B);
  renderParts(dec, tsSlicer, rots, B, parts, disc);
  const s = planes(B * P);
  combineSlices(parts, z, zdim, B, D, disc, s);
  const c = D / 2;
  for (let b = 0; b < B; b++) {
    // independent truth: render the grid H_0 + sum z_d H_d directly
    const direct = planes(P);
    renderSlices(hetVolumeGrid(dec, z.subarray(b * zdim, (b + 1) * zdim)), rots.subarray(9 * b, 9 * b + 9), 1, direct, disc);
    let maxErr = 0, maxVal = 0, maxFriedel = 0;
    for (const q of disc.pix) {
      maxErr = Math.max(maxErr, Math.abs(s.re[b * P + q]! - direct.re[q]!), Math.abs(s.im[b * P + q]! - direct.im[q]!));
      maxVal = Math.max(maxVal, Math.abs(direct.re[q]!));
      const x = q % D, y = Math.floor(q / D);
      const xm = 2 * c - x, ym = 2 * c - y; // -k
      if (xm >= D || ym >= D) continue;
      const qm = ym * D + xm;
      maxFriedel = Math.max(maxFriedel, Math.abs(s.re[b * P + q]! - s.re[b * P + qm]!), Math.abs(s.im[b * P + q]! + s.im[b * P + qm]!));
    }
    assert.ok(maxErr < 1e-4 * maxVal, `combined slice differs from the summed grid's slice by ${maxErr}`);
    assert.ok(maxFriedel < 1e-4 * maxVal, `Friedel symmetry broken by ${maxFriedel}`);
  }
});

test('gradients w.r.t. z, decoder voxels and rotations match finite differences', () => {
  const dec = randomDecoder(3);
  const rng = new Rng(4);
  const rots = randomRotations(B, rng);
  const z = Float64Array.from({ length: B * zdim }, () => rng.normal());
  const disc = nyquistDisc(D);
  const obs = planes(B * P);
  for (let i = 0; i < B * P; i++) { obs.re[i] = rng.normal(); obs.im[i] = rng.normal(); }
  const ctf = Float32Array.from({ length: B * P }, () => 0.5 + rng.uniform());
  const orig = Float32Array.from([0.3, -0.7, 1.1, 0.2]);
  const lossOf = (zz: Float64Array, R: Float64Array, dS?: Complex): number => {
    const parts = allocParts(dec, B);
    renderParts(dec, tsSlicer, R, B, parts, disc);
    const s = planes(B * P);
    combineSlices(parts, zz, zdim, B, D, disc, s);
    const l = fourierLoss({ D, obs, ctf, B }, s, disc, { M: 1, originsPx: orig, dSlices: dS });
    return l[0]! + l[1]!;
  };
  const dS = planes(B * P);
  lossOf(z, rots, dS);
  const parts = allocParts(dec, B);
  renderParts(dec, tsSlicer, rots, B, parts, disc);
  const gz = new Float64Array(B * zdim);
  zGradient(parts, dS, zdim, B, D, disc, gz);
  const dGrids = dec.grids.map((g) => new Float32Array(g.values.length));
  const dR = new Float64Array(9 * B);
  decoderBackward(dec, tsSlicer, rots, z, B, dS, dGrids, dR, disc);
  const h = 1e-3;
  for (let k = 0; k < B * zdim; k++) {
    const zp = Float64Array.from(z); zp[k] += h;
    const zm = Float64Array.from(z); zm[k] -= h;
    const fd = (lossOf(zp, rots) - lossOf(zm, rots)) / (2 * h);
    assert.ok(Math.abs(fd - gz[k]!) < 2e-3 * Math.max(1, Math.abs(fd)), `dz[${k}]: analytic ${gz[k]}, numeric ${fd}`);
  }
  // voxels near the centre of the mean grid and of a basis grid (touched by the slices)
  const Dv = dec.grids[0]!.Dv, cv = Math.floor(D / 2);
  for (const [d, dx, dy, dz] of [[0, 1, 0, 0], [2, 0, -1, 1], [1, -2, 1, 0]] as const) {
    const idx = ((cv + dz) * Dv + cv + dy) * Dv + cv + dx;
    const v = dec.grids[d]!.values;
    const v0 = v[idx]!;
    v[idx] = v0 + 0.01; const lp = lossOf(z, rots);
    v[idx] = v0 - 0.01; const lm = lossOf(z, rots);
    v[idx] = v0;
    const fd = (lp - lm) / 0.02;
    assert.ok(Math.abs(fd - dGrids[d]![idx]!) < 2e-3 * Math.max(1, Math.abs(fd)), `dH_${d}: analytic ${dGrids[d]![idx]}, numeric ${fd}`);
  }
  for (const k of [0, 1, 4, 5, 9 + 2, 9 + 3]) { // first two rows of A (the third does not enter a central slice)
    const rp = Float64Array.from(rots); rp[k] += 1e-4;
    const rm = Float64Array.from(rots); rm[k] -= 1e-4;
    const fd = (lossOf(z, rp) - lossOf(z, rm)) / 2e-4;
    assert.ok(Math.abs(fd - dR[k]!) < 2e-2 * Math.max(1, Math.abs(fd)), `dA[${k}]: analytic ${dR[k]}, numeric ${fd}`);
  }
});

test('re-centring and rescaling the latents leave every particle volume unchanged', () => {
  const dec = randomDecoder(5);
  const rng = new Rng(6);
  const n = 7;
  const z = Float32Array.from({ length: n * zdim }, () => 2 + rng.normal());
  const before = Array.from({ length: n }, (_, i) => hetVolumeGrid(dec, z.subarray(i * zdim, (i + 1) * zdim)).values);
  centreLatents(dec, z, n);
  const s = rescaleLatents(dec, z, n);
  assert.ok(s > 0);
  let sum = 0, ss = 0;
  for (let i = 0; i < n * zdim; i++) { sum += z[i]!; ss += z[i]! ** 2; }
  assert.ok(Math.abs(sum) < 1e-4, 'latents not centred');
  assert.ok(Math.abs(ss / n - 1) < 1e-4, `total variance ${ss / n}`);
  for (let i = 0; i < n; i++) {
    const after = hetVolumeGrid(dec, z.subarray(i * zdim, (i + 1) * zdim)).values;
    let err = 0, mag = 0;
    for (let j = 0; j < after.length; j++) { err = Math.max(err, Math.abs(after[j]! - before[i]![j]!)); mag = Math.max(mag, Math.abs(before[i]![j]!)); }
    assert.ok(err < 1e-4 * mag, `particle ${i}: volume changed by ${err}`);
  }
});
