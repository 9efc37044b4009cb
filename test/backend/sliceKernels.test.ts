/**
 * WebAssembly slice kernels (gather, scatter-add, rotation gradient; complex and real) against
 * the TypeScript reference backend, on random volumes, random and axis-aligned rotations, odd
 * and even boxes, padded volumes (Dv != Di) and a radius mask; plus the adjoint identity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/core/backend/index.js';
import type { Backend } from '../../src/core/backend/index.js';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix, randomRotations } from '../../src/core/rotation.js';
import type { Complex } from '../../src/core/complex.js';

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

/** Random rotations plus exact axis-aligned ones (samples on grid points and cell faces). */
function testRotations(rng: Rng): Float64Array {
  const rnd = randomRotations(4, rng);
  const out = new Float64Array(9 * 7);
  out.set(rnd, 0);
  out.set(eulerToMatrix(0, 0, 0), 36);
  out.set(eulerToMatrix(90, 90, 0), 45);
  out.set(eulerToMatrix(30, 0, -30), 54); // identity by another route: rounding lands near integers
  return out;
}

const ts = getBackend('ts');
const cases: Array<{ Dv: number; Di: number; radiusMax?: number }> = [
  { Dv: 16, Di: 16 }, { Dv: 17, Di: 17 }, { Dv: 32, Di: 32 }, { Dv: 32, Di: 16 }, { Dv: 17, Di: 17, radiusMax: 6.5 },
  { Dv: 33, Di: 24 }, { Dv: 34, Di: 34 },
  // small radii after full-size calls on the same volumes: scatter clears and reduces only the
  // z-slabs the slices reach, so stale private accumulators outside them must never be read
  { Dv: 32, Di: 32, radiusMax: 5 }, { Dv: 33, Di: 24, radiusMax: 7.5 }, { Dv: 34, Di: 34, radiusMax: 0.5 },
];

for (const threads of [1, 2]) {
  test(`wasm slice kernels match the TS reference (threads=${threads})`, () => {
    const wasm: Backend = getBackend('wasm', { threads });
    try {
      const rng = new Rng(11 + threads);
      for (const { Dv, Di, radiusMax } of cases) {
        const opts = radiusMax !== undefined ? { radiusMax } : undefined;
        const rots = testRotations(rng);
        const B = rots.length / 9;
        const vol = randc(Dv ** 3, rng);
        const tag = `Dv=${Dv} Di=${Di} r=${radiusMax ?? '-'}`;
        // gather (complex and real)
        const a = { re: new Float32Array(B * Di * Di), im: new Float32Array(B * Di * Di) };
        const b = { re: new Float32Array(B * Di * Di).fill(7), im: new Float32Array(B * Di * Di).fill(7) };
        ts.gatherSlices(vol, Dv, rots, Di, a, opts);
        wasm.gatherSlices(vol, Dv, rots, Di, b, opts);
        const tolG = 2e-6 * maxAbs(a.re);
        assert.ok(maxDiff(a.re, b.re) <= tolG && maxDiff(a.im, b.im) <= tolG, `gather ${tag}: ${maxDiff(a.re, b.re)}`);
        const ar = new Float32Array(B * Di * Di), br = new Float32Array(B * Di * Di);
        ts.gatherSlicesReal(vol.re, Dv, rots, Di, ar, opts);
        wasm.gatherSlicesReal(vol.re, Dv, rots, Di, br, opts);
        assert.ok(maxDiff(ar, br) <= tolG, `gatherReal ${tag}`);
        assert.ok(maxDiff(ar, a.re) === 0 || maxDiff(ar, a.re) <= tolG, 'real gather = re plane of complex gather');
        // scatter-add into a non-zero volume (it must accumulate)
        const s = randc(B * Di * Di, rng);
        const base = randc(Dv ** 3, rng);
        const va = { re: base.re.slice(), im: base.im.slice() }, vb = { re: base.re.slice(), im: base.im.slice() };
        ts.scatterSlices(s, Di, rots, Dv, va, opts);
        wasm.scatterSlices(s, Di, rots, Dv, vb, opts);
        const tolS = 1e-5 * maxAbs(va.re);
        assert.ok(maxDiff(va.re, vb.re) <= tolS && maxDiff(va.im, vb.im) <= tolS, `scatter ${tag}: ${maxDiff(va.re, vb.re)}`);
        const vra = base.re.slice(), vrb = base.re.slice();
        ts.scatterSlicesReal(s.re, Di, rots, Dv, vra, opts);
        wasm.scatterSlicesReal(s.re, Di, rots, Dv, vrb, opts);
        assert.ok(maxDiff(vra, vrb) <= tolS, `scatterReal ${tag}`);
        // rotation gradient (float64 accumulation in both; float32 volume and slice values)
        const ga = ts.sliceRotationGradient(vol, Dv, rots, Di, s, undefined, opts);
        const gb = wasm.sliceRotationGradient(vol, Dv, rots, Di, s, undefined, opts);
        assert.ok(maxDiff(ga, gb) <= 1e-5 * maxAbs(ga), `rotgrad ${tag}: ${maxDiff(ga, gb)} vs ${maxAbs(ga)}`);
        const gra = ts.sliceRotationGradientReal(vol.re, Dv, rots, Di, s.re, undefined, opts);
        const grb = wasm.sliceRotationGradientReal(vol.re, Dv, rots, Di, s.re, undefined, opts);
        assert.ok(maxDiff(gra, grb) <= 1e-5 * maxAbs(gra), `rotgradReal ${tag}`);
        for (let k = 0; k < B; k++) assert.deepEqual([...gb.subarray(9 * k + 6, 9 * k + 9)], [0, 0, 0]);
      }
    } finally {
      wasm.dispose();
    }
  });
}

test('wasm gather and scatter are adjoint: <gather(v), s> = <v, scatter(s)>', () => {
  const wasm = getBackend('wasm');
  const rng = new Rng(5);
  for (const [Dv, Di] of [[17, 17], [32, 16], [16, 16]] as const) {
    const rots = randomRotations(5, rng);
    const v = randc(Dv ** 3, rng), s = randc(5 * Di * Di, rng);
    const g = { re: new Float32Array(s.re.length), im: new Float32Array(s.re.length) };
    wasm.gatherSlices(v, Dv, rots, Di, g);
    const adj = { re: new Float32Array(v.re.length), im: new Float32Array(v.re.length) };
    wasm.scatterSlices(s, Di, rots, Dv, adj);
    const lhs = dot(g.re, s.re) + dot(g.im, s.im), rhs = dot(v.re, adj.re) + dot(v.im, adj.im);
    assert.ok(Math.abs(lhs - rhs) <= 1e-5 * Math.abs(lhs) + 1e-3, `Dv=${Dv} Di=${Di}: ${lhs} vs ${rhs}`);
  }
  wasm.dispose();
});

test('buffers from allocFloat32 (in wasm memory, no copies) give the same results', () => {
  const wasm = getBackend('wasm', { threads: 2 });
  const rng = new Rng(9);
  const D = 16, B = 6, rots = randomRotations(B, rng);
  const v = randc(D ** 3, rng);
  const vIn = { re: wasm.allocFloat32(D ** 3), im: wasm.allocFloat32(D ** 3) };
  vIn.re.set(v.re); vIn.im.set(v.im);
  const out1 = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
  const out2 = { re: wasm.allocFloat32(B * D * D), im: wasm.allocFloat32(B * D * D) };
  wasm.gatherSlices(v, D, rots, D, out1);
  wasm.gatherSlices(vIn, D, rots, D, out2);
  assert.deepEqual(out2.re, out1.re);
  const acc = { re: wasm.allocFloat32(D ** 3), im: wasm.allocFloat32(D ** 3) };
  const accPlain = { re: new Float32Array(D ** 3), im: new Float32Array(D ** 3) };
  wasm.scatterSlices(out2, D, rots, D, acc);
  wasm.scatterSlices(out1, D, rots, D, accPlain);
  assert.deepEqual(acc.re, accPlain.re);
  for (const a of [vIn.re, vIn.im, out2.re, out2.im, acc.re, acc.im]) wasm.release(a);
  wasm.dispose();
});

test('size errors are reported', () => {
  const wasm = getBackend('wasm');
  const v = { re: new Float32Array(8 ** 3), im: new Float32Array(8 ** 3) };
  const out = { re: new Float32Array(64), im: new Float32Array(64) };
  assert.throws(() => wasm.gatherSlices(v, 8, new Float64Array(8), 8, out), RangeError);
  assert.throws(() => wasm.gatherSlices(v, 9, new Float64Array(9), 8, out), RangeError);
  assert.throws(() => ts.scatterSlices(out, 8, new Float64Array(18), 8, v), RangeError);
  wasm.dispose();
});

test('scatterVoxelRange covers every voxel a scatter writes (TS reference, with and without radius limits)', async () => {
  const { scatterVoxelRange } = await import('../../src/core/backend/wasm/wasmBackend.js');
  const rng = new Rng(21);
  for (const [Dv, Di, radiusMax] of [[32, 32, 5], [33, 24, 7.5], [17, 17, Infinity], [32, 16, 3]] as const) {
    const rots = randomRotations(6, rng);
    const s = randc(6 * Di * Di, rng);
    const v = { re: new Float32Array(Dv ** 3), im: new Float32Array(Dv ** 3) };
    ts.scatterSlices(s, Di, rots, Dv, v, { radiusMax });
    const [v0, v1] = scatterVoxelRange(rots, 6, Dv, Di, radiusMax * radiusMax);
    assert.equal(v0 % (Dv * Dv), 0);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < Dv ** 3; i++) if (v.re[i] !== 0 || v.im[i] !== 0) { lo = Math.min(lo, i); hi = Math.max(hi, i); }
    assert.ok(lo >= v0 && hi < v1, `Dv=${Dv} r=${radiusMax}: written [${lo}, ${hi}] outside [${v0}, ${v1})`);
    if (Number.isFinite(radiusMax)) assert.ok(v1 - v0 <= (2 * Math.ceil(radiusMax * Dv / Di) + 3) * Dv * Dv, 'range is tight');
  }
});
