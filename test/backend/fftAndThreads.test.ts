/**
 * WebAssembly FFTs against the TypeScript reference (src/core/fft.ts) and a direct DFT, forward
 * and inverse, 3D and batched 2D; round trips; the non-power-of-two fallback. Then the two-thread
 * pool against one thread: gather, rotation gradient and FFT must be bit-identical (each output
 * is computed by exactly the same instructions, only on another thread); scatter differs only by
 * float32 summation order (two partial volumes added), tolerance 1e-6 x the largest |voxel|.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/core/backend/index.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import type { Complex } from '../../src/core/complex.js';

function randc(n: number, rng: Rng): Complex {
  const re = new Float32Array(n), im = new Float32Array(n);
  for (let i = 0; i < n; i++) { re[i] = rng.normal(); im[i] = rng.normal(); }
  return { re, im };
}
function clone(c: Complex): Complex {
  return { re: c.re.slice(), im: c.im.slice() };
}
function maxAbsC(c: Complex): number {
  let m = 0;
  for (let i = 0; i < c.re.length; i++) m = Math.max(m, Math.abs(c.re[i]!), Math.abs(c.im[i]!));
  return m;
}
function maxDiffC(a: Complex, b: Complex): number {
  let m = 0;
  for (let i = 0; i < a.re.length; i++) m = Math.max(m, Math.abs(a.re[i]! - b.re[i]!), Math.abs(a.im[i]! - b.im[i]!));
  return m;
}

const ts = getBackend('ts');

test('wasm fft3 matches the TS reference, forward and inverse, and round-trips', () => {
  const wasm = getBackend('wasm');
  const rng = new Rng(31);
  for (const D of [8, 16, 32, 9]) {
    const x = randc(D ** 3, rng);
    for (const inverse of [false, true]) {
      const a = clone(x), b = clone(x);
      ts.fft3(a, D, inverse);
      wasm.fft3(b, D, inverse);
      assert.ok(maxDiffC(a, b) <= 2e-6 * maxAbsC(a) * Math.log2(D), `D=${D} inverse=${inverse}: ${maxDiffC(a, b)} / ${maxAbsC(a)}`);
    }
    const y = clone(x);
    wasm.fft3(y, D, false);
    wasm.fft3(y, D, true);
    assert.ok(maxDiffC(x, y) <= 1e-5 * maxAbsC(x), `round trip D=${D}`);
  }
  wasm.dispose();
});

test('wasm fft2Batch matches a direct centred DFT (D=8) and the TS reference (D=16, 32, 12)', () => {
  const wasm = getBackend('wasm');
  const rng = new Rng(32);
  // direct DFT, grid.ts convention: F[k] = sum_x f[x] exp(-2 pi i (k-c)(x-c)/D)
  const D = 8, B = 4, c = 4;
  const x = randc(B * D * D, rng);
  const F = clone(x);
  wasm.fft2Batch(F, D, B, false);
  let err = 0;
  for (let b = 0; b < B; b++) for (let ky = 0; ky < D; ky++) for (let kx = 0; kx < D; kx++) {
    let sr = 0, si = 0;
    for (let y = 0; y < D; y++) for (let xx = 0; xx < D; xx++) {
      const ph = (-2 * Math.PI * ((kx - c) * (xx - c) + (ky - c) * (y - c))) / D;
      const i = b * D * D + y * D + xx;
      sr += x.re[i]! * Math.cos(ph) - x.im[i]! * Math.sin(ph);
      si += x.re[i]! * Math.sin(ph) + x.im[i]! * Math.cos(ph);
    }
    const k = b * D * D + ky * D + kx;
    err = Math.max(err, Math.abs(F.re[k]! - sr), Math.abs(F.im[k]! - si));
  }
  assert.ok(err < 1e-4, `direct DFT error ${err}`);
  for (const [Dn, Bn] of [[16, 5], [32, 3], [12, 2]] as const) {
    const z = randc(Bn * Dn * Dn, rng);
    for (const inverse of [false, true]) {
      const a = clone(z), b = clone(z);
      ts.fft2Batch(a, Dn, Bn, inverse);
      wasm.fft2Batch(b, Dn, Bn, inverse);
      assert.ok(maxDiffC(a, b) <= 1e-5 * maxAbsC(a), `D=${Dn} inverse=${inverse}`);
    }
  }
  wasm.dispose();
});

test('two threads give the same results as one (real scatter up to float32 summation order)', () => {
  const one = getBackend('wasm', { threads: 1 });
  const two = getBackend('wasm', { threads: 2 });
  const rng = new Rng(33);
  for (const [Dv, Di, B] of [[32, 32, 7], [17, 17, 2], [16, 16, 1]] as const) {
    const rots = randomRotations(B, rng);
    const v = randc(Dv ** 3, rng), s = randc(B * Di * Di, rng);
    const g1 = { re: new Float32Array(B * Di * Di), im: new Float32Array(B * Di * Di) }, g2 = clone(g1);
    one.gatherSlices(v, Dv, rots, Di, g1);
    two.gatherSlices(v, Dv, rots, Di, g2);
    assert.deepEqual(g2, g1);
    assert.deepEqual(two.sliceRotationGradient(v, Dv, rots, Di, s), one.sliceRotationGradient(v, Dv, rots, Di, s));
    const a1 = { re: new Float32Array(Dv ** 3), im: new Float32Array(Dv ** 3) }, a2 = clone(a1);
    one.scatterSlices(s, Di, rots, Dv, a1);
    two.scatterSlices(s, Di, rots, Dv, a2);
    assert.deepEqual(a2, a1, `scatter Dv=${Dv}`); // z-slabs: every voxel sums its terms in the one-thread order
    const r1 = new Float32Array(Dv ** 3), r2 = new Float32Array(Dv ** 3);
    one.scatterSlicesReal(s.re, Di, rots, Dv, r1);
    two.scatterSlicesReal(s.re, Di, rots, Dv, r2);
    let m = 0, mx = 0;
    for (let i = 0; i < r1.length; i++) { m = Math.max(m, Math.abs(r1[i]! - r2[i]!)); mx = Math.max(mx, Math.abs(r1[i]!)); }
    assert.ok(m <= 1e-6 * mx);
  }
  const x = randc(32 ** 3, rng);
  const f1 = clone(x), f2 = clone(x);
  one.fft3(f1, 32, false);
  two.fft3(f2, 32, false);
  assert.deepEqual(f2, f1);
  const y = randc(6 * 16 * 16, rng);
  const h1 = clone(y), h2 = clone(y);
  one.fft2Batch(h1, 16, 6, true);
  two.fft2Batch(h2, 16, 6, true);
  assert.deepEqual(h2, h1);
  one.dispose();
  two.dispose();
});

test('fresh two-thread backends reproduce one thread exactly, call after call (no shared scratch between threads)', () => {
  // Regression: a kernel that kept per-pixel arrays on the C shadow stack, which all threads share,
  // gave wrong rotation gradients only now and then. Fresh pools and repeated calls make the
  // threads overlap in many different ways.
  const rng = new Rng(34);
  const D = 24, B = 16;
  for (let it = 0; it < 6; it++) {
    const one = getBackend('wasm', { threads: 1 });
    const two = getBackend('wasm', { threads: 2 });
    const rots = randomRotations(B, rng);
    const v = randc(D ** 3, rng), s = randc(B * D * D, rng);
    const Dh = D + 1, h = randc(Dh ** 3, rng).re; // Hartley grid for box D
    for (let rep = 0; rep < 2; rep++) {
      assert.deepEqual(two.sliceRotationGradient(v, D, rots, D, s), one.sliceRotationGradient(v, D, rots, D, s));
      assert.deepEqual(two.hartleyRotationGradient(h, Dh, rots, D, s), one.hartleyRotationGradient(h, Dh, rots, D, s));
      const g1 = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) }, g2 = clone(g1);
      one.gatherHartley(h, Dh, rots, D, g1);
      two.gatherHartley(h, Dh, rots, D, g2);
      assert.deepEqual(g2, g1);
    }
    two.dispose();
    one.dispose();
  }
});
