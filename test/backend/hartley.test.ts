/**
 * Hartley-volume slices through the backends: (1) against src/model/hartleyVolume.ts (an
 * independent implementation of the same contract, skipped if absent); (2) Friedel symmetry of
 * every slice; (3) the backward pass against finite differences of L = <F, G> (volume, by
 * linearity; rotation entries, with L evaluated in float64 by a sampler written here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { gatherHartleySlices, getBackend, hartleySlicesBackward } from '../../src/core/backend/index.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';

function randn(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

const D = 16, Dv = 17, B = 3, opts = { radiusMax: D / 2 };

/** L = <F, G> for Hartley slices, in float64 with its own trilinear sampler (zero outside). */
function lossF64(H: Float32Array, rots: Float64Array, G: { re: Float32Array; im: Float32Array }): number {
  const cv = Math.floor(Dv / 2), c = Math.floor(D / 2);
  const at = (x: number, y: number, z: number): number =>
    x >= 0 && x < Dv && y >= 0 && y < Dv && z >= 0 && z < Dv ? H[(z * Dv + y) * Dv + x]! : 0;
  const sample = (p: number[]): number => {
    const f = p.map(Math.floor), w = p.map((v, j) => v - f[j]!);
    let s = 0;
    for (let k = 0; k < 8; k++) {
      const dx = k & 1, dy = (k >> 1) & 1, dz = k >> 2;
      s += (dx ? w[0]! : 1 - w[0]!) * (dy ? w[1]! : 1 - w[1]!) * (dz ? w[2]! : 1 - w[2]!) * at(f[0]! + dx, f[1]! + dy, f[2]! + dz);
    }
    return s;
  };
  let L = 0;
  for (let b = 0; b < B; b++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const kx = x - c, ky = y - c;
    if (kx * kx + ky * ky > (D / 2) ** 2) continue;
    const q = [0, 1, 2].map((j) => rots[9 * b + j]! * kx + rots[9 * b + 3 + j]! * ky);
    const h1 = sample(q.map((v) => cv + v)), h2 = sample(q.map((v) => cv - v));
    const i = b * D * D + y * D + x;
    L += 0.5 * (h1 + h2) * G.re[i]! + 0.5 * (h2 - h1) * G.im[i]!;
  }
  return L;
}

for (const [name, threads] of [['ts', 1], ['wasm', 1], ['wasm', 2]] as const) {
  test(`${name} (threads=${threads}): Hartley slices are Hermitian and their backward matches finite differences`, () => {
    const be = getBackend(name, { threads });
    const rng = new Rng(41);
    const H = randn(Dv ** 3, rng);
    const rots = randomRotations(B, rng);
    const F = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
    gatherHartleySlices(be, H, Dv, rots, D, F, opts);
    const c = D / 2;
    for (let b = 0; b < B; b++) for (let y = 1; y < D; y++) for (let x = 1; x < D; x++) {
      const i = b * D * D + y * D + x, j = b * D * D + (2 * c - y) * D + (2 * c - x);
      assert.ok(Math.abs(F.re[i]! - F.re[j]!) < 1e-5 && Math.abs(F.im[i]! + F.im[j]!) < 1e-5, 'F(-k) = conj F(k)');
    }
    const G = { re: randn(B * D * D, rng), im: randn(B * D * D, rng) };
    const L = (h: Float32Array, R: Float64Array): number => {
      const f = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
      gatherHartleySlices(be, h, Dv, R, D, f, opts);
      let s = 0;
      for (let i = 0; i < f.re.length; i++) s += f.re[i]! * G.re[i]! + f.im[i]! * G.im[i]!;
      return s;
    };
    const dH = new Float32Array(Dv ** 3), dR = new Float64Array(9 * B);
    hartleySlicesBackward(be, H, Dv, rots, D, G, dH, dR, opts);
    // volume: L is linear in H, so <dH, dir> = L(dir) exactly
    const dir = randn(Dv ** 3, rng);
    let an = 0;
    for (let i = 0; i < dir.length; i++) an += dH[i]! * dir[i]!;
    const lin = L(dir, rots);
    assert.ok(Math.abs(an - lin) <= 1e-4 * Math.abs(lin) + 1e-3, `${an} vs ${lin}`);
    // rotations: central differences (h = 1e-6) of L evaluated in float64 by lossF64 below
    const h = 1e-6;
    for (let e = 0; e < 9 * B; e++) {
      const Rp = rots.slice(), Rm = rots.slice();
      Rp[e] += h; Rm[e] -= h;
      const fd = (lossF64(H, Rp, G) - lossF64(H, Rm, G)) / (2 * h);
      assert.ok(Math.abs(fd - dR[e]!) <= 1e-3 * Math.max(1, Math.abs(fd)), `e=${e}: ${dR[e]} vs fd ${fd}`);
    }
    be.dispose();
  });
}

// .ts under tsx, .js in dist/
const modelPresent = ['ts', 'js'].some((ext) => existsSync(new URL(`../../src/model/hartleyVolume.${ext}`, import.meta.url)));
test('agrees with src/model/hartleyVolume.ts (render and backward)', { skip: modelPresent ? false : 'model module absent' }, async () => {
  const model = await import('../../src/model/hartleyVolume.js');
  const rng = new Rng(42);
  const grid = model.createHartleyGrid(D, randn(Dv ** 3, rng));
  const rots = randomRotations(B, rng);
  const ref = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
  model.renderSlices(grid, rots, B, ref);
  const G = { re: randn(B * D * D, rng), im: randn(B * D * D, rng) };
  const dHref = new Float32Array(Dv ** 3), dRref = new Float64Array(9 * B);
  model.renderSlicesBackward(grid, rots, B, G, dHref, dRref);
  for (const name of ['ts', 'wasm'] as const) {
    const be = getBackend(name);
    const F = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
    gatherHartleySlices(be, grid.values, Dv, rots, D, F, opts);
    let m = 0;
    for (let i = 0; i < F.re.length; i++) m = Math.max(m, Math.abs(F.re[i]! - ref.re[i]!), Math.abs(F.im[i]! - ref.im[i]!));
    assert.ok(m < 1e-5, `${name} slices differ by ${m}`);
    const dH = new Float32Array(Dv ** 3), dR = new Float64Array(9 * B);
    hartleySlicesBackward(be, grid.values, Dv, rots, D, G, dH, dR, opts);
    let mh = 0, mr = 0, sr = 0;
    for (let i = 0; i < dH.length; i++) mh = Math.max(mh, Math.abs(dH[i]! - dHref[i]!));
    for (let i = 0; i < dR.length; i++) { mr = Math.max(mr, Math.abs(dR[i]! - dRref[i]!)); sr = Math.max(sr, Math.abs(dRref[i]!)); }
    assert.ok(mh < 1e-4, `${name} dH differs by ${mh}`);
    assert.ok(mr <= 1e-4 * sr, `${name} dR differs by ${mr} (scale ${sr})`);
    be.dispose();
  }
});
