/**
 * The WebGPU backend (WGSL kernels; on CI Mesa llvmpipe through Dawn's OpenGL ES backend) against
 * the TypeScript reference with the same cases and float32 tolerances as the WebAssembly tests
 * (sliceKernels.test.ts, fftAndThreads.test.ts, hartley.test.ts): gather / scatter-add / rotation
 * gradient (complex and real) on random and axis-aligned rotations, odd and even boxes, padded
 * volumes, a radius mask; the adjoint identity; Hartley slices (vs TS, and the backward vs float64
 * finite differences); FFTs (2D batch and 3D, power-of-two and not, forward and inverse).
 * Skipped, with the reason, only if no WebGPU adapter can be created.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/core/backend/index.js';
import type { Backend } from '../../src/core/backend/index.js';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix, randomRotations } from '../../src/core/rotation.js';
import type { Complex } from '../../src/core/complex.js';

let gpu: Backend | null = null;
let skip: string | false = false;
try {
  gpu = getBackend('webgpu');
} catch (e) {
  skip = `no WebGPU adapter: ${(e as Error).message}`;
  console.error(`# webgpu tests skipped: ${skip}`);
}
test.after(() => gpu?.dispose());

function randn(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}
function randc(n: number, rng: Rng): Complex {
  return { re: randn(n, rng), im: randn(n, rng) };
}
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** L = <F, G> for Hartley slices, in float64 with its own trilinear sampler (zero outside). */
function hartleyLossF64(H: Float32Array, Dv: number, D: number, step: number, rots: Float64Array, G: Complex): number {
  const cv = Math.floor(Dv / 2), c = Math.floor(D / 2), B = rots.length / 9;
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
    const q = [0, 1, 2].map((j) => step * (rots[9 * b + j]! * kx + rots[9 * b + 3 + j]! * ky));
    const h1 = sample(q.map((v) => cv + v)), h2 = sample(q.map((v) => cv - v));
    const i = b * D * D + y * D + x;
    L += 0.5 * (h1 + h2) * G.re[i]! + 0.5 * (h2 - h1) * G.im[i]!;
  }
  return L;
}

/** Random rotations plus exact axis-aligned ones (samples on grid points and cell faces). */
function testRotations(rng: Rng): Float64Array {
  const out = new Float64Array(9 * 7);
  out.set(randomRotations(4, rng), 0);
  out.set(eulerToMatrix(0, 0, 0), 36);
  out.set(eulerToMatrix(90, 90, 0), 45);
  out.set(eulerToMatrix(30, 0, -30), 54);
  return out;
}

const ts = getBackend('ts');
const cases: Array<{ Dv: number; Di: number; radiusMax?: number }> = [
  { Dv: 16, Di: 16 }, { Dv: 17, Di: 17 }, { Dv: 32, Di: 32 }, { Dv: 32, Di: 16 }, { Dv: 17, Di: 17, radiusMax: 6.5 },
  { Dv: 33, Di: 24 }, { Dv: 34, Di: 34 },
];

test('webgpu slice kernels match the TS reference', { skip }, () => {
  const be = gpu!;
  const rng = new Rng(12);
  for (const { Dv, Di, radiusMax } of cases) {
    const opts = radiusMax !== undefined ? { radiusMax } : undefined;
    const rots = testRotations(rng);
    const B = rots.length / 9;
    const vol = randc(Dv ** 3, rng);
    const tag = `Dv=${Dv} Di=${Di} r=${radiusMax ?? '-'}`;
    const a = { re: new Float32Array(B * Di * Di), im: new Float32Array(B * Di * Di) };
    const b = { re: new Float32Array(B * Di * Di).fill(7), im: new Float32Array(B * Di * Di).fill(7) };
    ts.gatherSlices(vol, Dv, rots, Di, a, opts);
    be.gatherSlices(vol, Dv, rots, Di, b, opts);
    // float32 sample positions (the wasm kernels use float64): |error| <= ulp(position) x |grad v|
    const tolG = 1e-5 * maxAbs(a.re);
    assert.ok(maxDiff(a.re, b.re) <= tolG && maxDiff(a.im, b.im) <= tolG, `gather ${tag}: ${maxDiff(a.re, b.re)}`);
    const ar = new Float32Array(B * Di * Di), br = new Float32Array(B * Di * Di);
    ts.gatherSlicesReal(vol.re, Dv, rots, Di, ar, opts);
    be.gatherSlicesReal(vol.re, Dv, rots, Di, br, opts);
    assert.ok(maxDiff(ar, br) <= tolG, `gatherReal ${tag}`);
    const s = randc(B * Di * Di, rng);
    const base = randc(Dv ** 3, rng);
    const va = { re: base.re.slice(), im: base.im.slice() }, vb = { re: base.re.slice(), im: base.im.slice() };
    ts.scatterSlices(s, Di, rots, Dv, va, opts);
    be.scatterSlices(s, Di, rots, Dv, vb, opts);
    const tolS = 1e-5 * maxAbs(va.re);
    assert.ok(maxDiff(va.re, vb.re) <= tolS && maxDiff(va.im, vb.im) <= tolS, `scatter ${tag}: ${maxDiff(va.re, vb.re)}`);
    const vra = base.re.slice(), vrb = base.re.slice();
    ts.scatterSlicesReal(s.re, Di, rots, Dv, vra, opts);
    be.scatterSlicesReal(s.re, Di, rots, Dv, vrb, opts);
    assert.ok(maxDiff(vra, vrb) <= tolS, `scatterReal ${tag}`);
    // WGSL has no float64: the GPU samples at positions computed in float32 from float32 rows of A.
    // The rotation gradient jumps across cell faces, and the test rotations put samples exactly on
    // them (rounding decides the side), so both backends get the same rotations
    // here, quantised to 2^-12 so that every product and sum is exact in float32 and float64 alike.
    // (Sub-float32 offsets from a cell face, e.g. 6e-17 from cos 90deg, cannot reach a float32 kernel.)
    // Gather and scatter are continuous in the positions: compared with the exact rotations above.
    const rf = rots.map((v) => Math.round(v * 4096) / 4096);
    const ga = ts.sliceRotationGradient(vol, Dv, rf, Di, s, undefined, opts);
    const gb = be.sliceRotationGradient(vol, Dv, rf, Di, s, undefined, opts);
    assert.ok(maxDiff(ga, gb) <= 1e-5 * maxAbs(ga), `rotgrad ${tag}: ${maxDiff(ga, gb)} vs ${maxAbs(ga)}`);
    const gra = ts.sliceRotationGradientReal(vol.re, Dv, rf, Di, s.re, undefined, opts);
    const grb = be.sliceRotationGradientReal(vol.re, Dv, rf, Di, s.re, undefined, opts);
    assert.ok(maxDiff(gra, grb) <= 1e-5 * maxAbs(gra), `rotgradReal ${tag}: ${maxDiff(gra, grb)} vs ${maxAbs(gra)}`);
    for (let k = 0; k < B; k++) assert.deepEqual([...gb.subarray(9 * k + 6, 9 * k + 9)], [0, 0, 0]);
  }
});

test('webgpu gather and scatter are adjoint: <gather(v), s> = <v, scatter(s)>', { skip }, () => {
  const be = gpu!;
  const rng = new Rng(5);
  for (const [Dv, Di] of [[17, 17], [32, 16], [16, 16]] as const) {
    const rots = randomRotations(5, rng);
    const v = randc(Dv ** 3, rng), s = randc(5 * Di * Di, rng);
    const g = { re: new Float32Array(s.re.length), im: new Float32Array(s.re.length) };
    be.gatherSlices(v, Dv, rots, Di, g);
    const adj = { re: new Float32Array(v.re.length), im: new Float32Array(v.re.length) };
    be.scatterSlices(s, Di, rots, Dv, adj);
    const lhs = dot(g.re, s.re) + dot(g.im, s.im), rhs = dot(v.re, adj.re) + dot(v.im, adj.im);
    assert.ok(Math.abs(lhs - rhs) <= 1e-5 * Math.abs(lhs) + 1e-3, `Dv=${Dv} Di=${Di}: ${lhs} vs ${rhs}`);
  }
});

test('webgpu Hartley slices match the TS two-gather route; backward matches float64 finite differences', { skip }, () => {
  const be = gpu!;
  const rng = new Rng(41);
  for (const [D, Dv, scale] of [[16, 17, undefined], [24, 25, undefined], [16, 33, 2]] as const) {
    const B = 5;
    const opts = scale === undefined ? { radiusMax: D / 2 } : { radiusMax: D / 2, scale };
    const H = randn(Dv ** 3, rng);
    const rots = randomRotations(B, rng);
    const Fa = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
    const Fb = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
    ts.gatherHartley(H, Dv, rots, D, Fa, opts);
    be.gatherHartley(H, Dv, rots, D, Fb, opts);
    const tol = 1e-5 * maxAbs(Fa.re);
    assert.ok(maxDiff(Fa.re, Fb.re) <= tol && maxDiff(Fa.im, Fb.im) <= tol, `gatherHartley D=${D}: ${maxDiff(Fa.re, Fb.re)} ${maxDiff(Fa.im, Fb.im)} / ${maxAbs(Fa.re)}`);
    const G = randc(B * D * D, rng);
    const dHa = randn(Dv ** 3, rng), dHb = dHa.slice();
    ts.scatterHartley(G, D, rots, Dv, dHa, opts);
    be.scatterHartley(G, D, rots, Dv, dHb, opts);
    assert.ok(maxDiff(dHa, dHb) <= 1e-5 * maxAbs(dHa), `scatterHartley D=${D}: ${maxDiff(dHa, dHb)}`);
    const ra = ts.hartleyRotationGradient(H, Dv, rots, D, G, undefined, opts);
    const rb = be.hartleyRotationGradient(H, Dv, rots, D, G, undefined, opts);
    assert.ok(maxDiff(ra, rb) <= 1e-5 * maxAbs(ra), `hartleyRotationGradient D=${D}: ${maxDiff(ra, rb)} vs ${maxAbs(ra)}`);
    // dL/dA against central differences (h = 1e-6) of L = <F(A), G> evaluated in float64
    const h = 1e-6, step = scale ?? 1;
    for (const e of [0, 1, 2, 3, 4, 5, 9, 13]) {
      const Rp = rots.slice(), Rm = rots.slice();
      Rp[e] += h; Rm[e] -= h;
      const fd = (hartleyLossF64(H, Dv, D, step, Rp, G) - hartleyLossF64(H, Dv, D, step, Rm, G)) / (2 * h);
      assert.ok(Math.abs(fd - rb[e]!) <= 1e-3 * Math.max(1, Math.abs(fd)), `FD e=${e}: ${rb[e]} vs ${fd}`);
    }
  }
});

test('webgpu fft3 and fft2Batch match the TS reference (forward, inverse, round trip)', { skip }, () => {
  const be = gpu!;
  const rng = new Rng(31);
  for (const D of [8, 16, 32, 9, 12]) {
    const x = randc(D ** 3, rng);
    for (const inverse of [false, true]) {
      const a = { re: x.re.slice(), im: x.im.slice() }, b = { re: x.re.slice(), im: x.im.slice() };
      ts.fft3(a, D, inverse);
      be.fft3(b, D, inverse);
      const m = Math.max(maxAbs(a.re), maxAbs(a.im));
      assert.ok(Math.max(maxDiff(a.re, b.re), maxDiff(a.im, b.im)) <= 2e-6 * m * Math.log2(D) * 2, `fft3 D=${D} inverse=${inverse}`);
    }
    const y = { re: x.re.slice(), im: x.im.slice() };
    be.fft3(y, D, false);
    be.fft3(y, D, true);
    assert.ok(maxDiff(x.re, y.re) <= 1e-5 * maxAbs(x.re), `fft3 round trip D=${D}`);
  }
  for (const D of [16, 64, 12, 65]) {
    const B = 3;
    const x = randc(B * D * D, rng);
    for (const inverse of [false, true]) {
      const a = { re: x.re.slice(), im: x.im.slice() }, b = { re: x.re.slice(), im: x.im.slice() };
      ts.fft2Batch(a, D, B, inverse);
      be.fft2Batch(b, D, B, inverse);
      const m = Math.max(maxAbs(a.re), maxAbs(a.im));
      assert.ok(Math.max(maxDiff(a.re, b.re), maxDiff(a.im, b.im)) <= 4e-6 * m * Math.log2(D), `fft2 D=${D} inverse=${inverse}: ${maxDiff(a.re, b.re)} / ${m}`);
    }
  }
});

test('webgpu size errors are reported as RangeError', { skip }, () => {
  const be = gpu!;
  const v = { re: new Float32Array(8 ** 3), im: new Float32Array(8 ** 3) };
  const out = { re: new Float32Array(64), im: new Float32Array(64) };
  assert.throws(() => be.gatherSlices(v, 8, new Float64Array(8), 8, out), RangeError);
  assert.throws(() => be.gatherSlices(v, 9, new Float64Array(9), 8, out), RangeError);
});
