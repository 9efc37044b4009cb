import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHartleyGrid, renderSlices, renderSlicesBackward, nyquistDisc, hartleyFromFourier, fourierFromHartley } from '../../src/model/hartleyVolume.js';
import { fourierLoss } from '../../src/recon/fourierLoss.js';
import { Rng } from '../../src/core/rng.js';
import type { Complex } from '../../src/core/complex.js';

function randomRot(rng: Rng): Float64Array {
  let w = rng.normal(), x = rng.normal(), y = rng.normal(), z = rng.normal();
  const n = Math.hypot(w, x, y, z);
  w /= n; x /= n; y /= n; z /= n;
  return Float64Array.from([
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  ]);
}

function setup(D: number, B: number, seed: number) {
  const rng = new Rng(seed);
  const grid = createHartleyGrid(D);
  for (let i = 0; i < grid.values.length; i++) grid.values[i] = rng.normal();
  const rots = new Float64Array(9 * B);
  for (let b = 0; b < B; b++) rots.set(randomRot(rng), 9 * b);
  const P = D * D;
  const obs: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  const ctf = new Float32Array(B * P);
  for (let i = 0; i < B * P; i++) { obs.re[i] = rng.normal(); obs.im[i] = rng.normal(); ctf[i] = rng.range(-1, 1); }
  const origins = new Float32Array(2 * B);
  for (let i = 0; i < 2 * B; i++) origins[i] = rng.range(-2, 2);
  return { rng, grid, rots, obs, ctf, origins };
}

function totalLoss(D: number, B: number, grid: ReturnType<typeof createHartleyGrid>, rots: Float64Array, obs: Complex, ctf: Float32Array, origins: Float32Array): number {
  const P = D * D;
  const slices: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  const disc = nyquistDisc(D);
  renderSlices(grid, rots, B, slices, disc);
  const l = fourierLoss({ D, obs, ctf, B }, slices, disc, { M: 1, originsPx: origins });
  return l.reduce((a, b) => a + b, 0);
}

test('rendered slices are Hermitian (Friedel symmetry by construction)', () => {
  const D = 12;
  const { grid, rots } = setup(D, 1, 1);
  const out: Complex = { re: new Float32Array(D * D), im: new Float32Array(D * D) };
  renderSlices(grid, rots, 1, out);
  const c = D / 2;
  for (let ky = -c + 1; ky < c; ky++) for (let kx = -c + 1; kx < c; kx++) {
    if (kx * kx + ky * ky > c * c) continue;
    const i = (ky + c) * D + kx + c;
    const j = (-ky + c) * D - kx + c;
    assert.ok(Math.abs(out.re[i]! - out.re[j]!) < 1e-5);
    assert.ok(Math.abs(out.im[i]! + out.im[j]!) < 1e-5);
  }
});

test('Hartley <-> Fourier conversion round trip on a Hermitian volume', () => {
  const D = 8;
  const { grid } = setup(D, 1, 2);
  const F = fourierFromHartley(grid);
  const back = hartleyFromFourier(F, D);
  const F2 = fourierFromHartley(back);
  for (let i = 0; i < F.re.length; i++) {
    assert.ok(Math.abs(F.re[i]! - F2.re[i]!) < 1e-5);
    assert.ok(Math.abs(F.im[i]! - F2.im[i]!) < 1e-5);
  }
});

test('volume gradient is the exact adjoint: <render(H), G> = <H, render^T(G)>', () => {
  const D = 10, B = 3;
  const { grid, rots, rng } = setup(D, B, 3);
  const P = D * D;
  const s: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  renderSlices(grid, rots, B, s);
  const G: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  for (let i = 0; i < B * P; i++) { G.re[i] = rng.normal(); G.im[i] = rng.normal(); }
  let lhs = 0;
  for (let i = 0; i < B * P; i++) lhs += s.re[i]! * G.re[i]! + s.im[i]! * G.im[i]!;
  const dH = new Float32Array(grid.values.length);
  renderSlicesBackward(grid, rots, B, G, dH, null);
  let rhs = 0;
  for (let i = 0; i < dH.length; i++) rhs += grid.values[i]! * dH[i]!;
  assert.ok(Math.abs(lhs - rhs) / Math.abs(lhs) < 1e-5, `${lhs} vs ${rhs}`);
});

test('loss gradients w.r.t. volume, rotation and origin match finite differences', () => {
  const D = 10, B = 2;
  const { grid, rots, obs, ctf, origins } = setup(D, B, 4);
  const P = D * D;
  const disc = nyquistDisc(D);
  const slices: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  renderSlices(grid, rots, B, slices, disc);
  const dS: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  const dO = new Float64Array(2 * B);
  fourierLoss({ D, obs, ctf, B }, slices, disc, { M: 1, originsPx: origins, dSlices: dS, dOrigins: dO });
  const dH = new Float32Array(grid.values.length);
  const dR = new Float64Array(9 * B);
  renderSlicesBackward(grid, rots, B, dS, dH, dR, disc);
  const L0 = (): number => totalLoss(D, B, grid, rots, obs, ctf, origins);
  // volume: a few random voxels near the centre
  const cv = (grid.Dv - 1) / 2;
  for (const [x, y, z] of [[cv, cv, cv], [cv + 1, cv - 2, cv + 1], [cv - 3, cv + 2, cv]] as const) {
    const i = (z * grid.Dv + y) * grid.Dv + x;
    const h = 1e-2;
    const v = grid.values[i]!;
    grid.values[i] = v + h; const lp = L0();
    grid.values[i] = v - h; const lm = L0();
    grid.values[i] = v;
    const fd = (lp - lm) / (2 * h);
    assert.ok(Math.abs(fd - dH[i]!) < 1e-3 * Math.max(1, Math.abs(fd)), `voxel ${i}: fd ${fd} vs ${dH[i]}`);
  }
  // rotation entries (first two rows matter)
  for (let k = 0; k < 6; k++) {
    const h = 1e-4;
    const v = rots[k]!;
    rots[k] = v + h; const lp = L0();
    rots[k] = v - h; const lm = L0();
    rots[k] = v;
    const fd = (lp - lm) / (2 * h);
    assert.ok(Math.abs(fd - dR[k]!) < 2e-2 * Math.max(1, Math.abs(fd)), `rot ${k}: fd ${fd} vs ${dR[k]}`);
  }
  // origins
  for (let k = 0; k < 2 * B; k++) {
    const h = 1e-3;
    const v = origins[k]!;
    origins[k] = v + h; const lp = L0();
    origins[k] = v - h; const lm = L0();
    origins[k] = v;
    const fd = (lp - lm) / (2 * h);
    assert.ok(Math.abs(fd - dO[k]!) < 1e-2 * Math.max(1, Math.abs(fd)), `origin ${k}: fd ${fd} vs ${dO[k]}`);
  }
});
