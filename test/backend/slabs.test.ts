/**
 * The z-slab split of the complex wasm slice kernels (wasm/slab.h, slices_pairs.c): any number of
 * slabs, balanced or equal-thickness cuts, one-plane slabs (every trilinear cell then straddles a
 * slab boundary, so each of its two corner planes is written by a different slab), empty slabs,
 * on 1 and 2 threads. Gather and scatter must give the same bits as one slab, the rotation
 * gradient the same up to float64 summation order, and all of them the TypeScript reference's
 * numbers to float32 tolerance. Also: slabBounds' cuts balance the sample points, and a scatter
 * slab's call writes nothing outside its own planes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/core/backend/index.js';
import { WasmBackend, scatterVoxelRange, slabBounds, uniformSlabBounds } from '../../src/core/backend/wasm/wasmBackend.js';
import { WasmHeap } from '../../src/core/backend/wasm/heap.js';
import { kernelModule } from '../../src/core/backend/wasm/kernels.js';
import type { SlabTuning } from '../../src/core/backend/wasm/wasmBackend.js';
import type { Complex } from '../../src/core/complex.js';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix, randomRotations } from '../../src/core/rotation.js';

const ts = getBackend('ts');

function randc(n: number, rng: Rng): Complex {
  const c = { re: new Float32Array(n), im: new Float32Array(n) };
  for (let i = 0; i < n; i++) { c.re[i] = rng.normal(); c.im[i] = rng.normal(); }
  return c;
}
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Random rotations, exact axis-aligned ones (points on grid planes: z exactly integer, or z
 * constant along rows), and a tilt of 1e-12 rad (z almost constant along a row). */
function rotations(rng: Rng): Float64Array {
  const rs = [randomRotations(5, rng), eulerToMatrix(0, 0, 0), eulerToMatrix(90, 90, 0), eulerToMatrix(0, 90, 0),
    eulerToMatrix(30, 0, -30), eulerToMatrix(0, 1e-10, 0)];
  const out = new Float64Array(rs.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of rs) { out.set(r, o); o += r.length; }
  return out;
}

interface Results { g: Complex; v: Complex; dR: Float64Array }

function run(be: WasmBackend, vol: Complex, base: Complex, s: Complex, rots: Float64Array, Dv: number, Di: number, radiusMax?: number): Results {
  const B = rots.length / 9, opts = radiusMax === undefined ? undefined : { radiusMax };
  const g = { re: new Float32Array(B * Di * Di).fill(7), im: new Float32Array(B * Di * Di).fill(7) };
  be.gatherSlices(vol, Dv, rots, Di, g, opts);
  const v = { re: base.re.slice(), im: base.im.slice() };
  be.scatterSlices(s, Di, rots, Dv, v, opts);
  return { g, v, dR: be.sliceRotationGradient(vol, Dv, rots, Di, s, undefined, opts) };
}

const cases: Array<{ Dv: number; Di: number; radiusMax?: number }> = [
  { Dv: 16, Di: 16 }, { Dv: 17, Di: 17, radiusMax: 6.5 }, { Dv: 24, Di: 16 }, { Dv: 9, Di: 12 },
];

test('slab splits of the complex slice kernels: same bits as one slab (rotation gradient to 1e-12), TS reference to float32 tolerance', () => {
  const rng = new Rng(71);
  for (const { Dv, Di, radiusMax } of cases) {
    const rots = rotations(rng);
    const B = rots.length / 9;
    const vol = randc(Dv ** 3, rng), base = randc(Dv ** 3, rng), s = randc(B * Di * Di, rng);
    const tag = `Dv=${Dv} Di=${Di} r=${radiusMax ?? '-'}`;
    // the TypeScript reference
    const opts = radiusMax === undefined ? undefined : { radiusMax };
    const gT = { re: new Float32Array(B * Di * Di), im: new Float32Array(B * Di * Di) };
    ts.gatherSlices(vol, Dv, rots, Di, gT, opts);
    const vT = { re: base.re.slice(), im: base.im.slice() };
    ts.scatterSlices(s, Di, rots, Dv, vT, opts);
    const dRT = ts.sliceRotationGradient(vol, Dv, rots, Di, s, undefined, opts);
    const one = new WasmBackend({ threads: 1 }, { slabs: 1 });
    const ref = run(one, vol, base, s, rots, Dv, Di, radiusMax);
    one.dispose();
    assert.ok(maxDiff(ref.g.re, gT.re) <= 2e-6 * maxAbs(gT.re) && maxDiff(ref.g.im, gT.im) <= 2e-6 * maxAbs(gT.im), `gather vs TS ${tag}`);
    assert.ok(maxDiff(ref.v.re, vT.re) <= 1e-5 * maxAbs(vT.re) && maxDiff(ref.v.im, vT.im) <= 1e-5 * maxAbs(vT.im), `scatter vs TS ${tag}`);
    assert.ok(maxDiff(ref.dR, dRT) <= 1e-5 * maxAbs(dRT), `rotgrad vs TS ${tag}`);
    const [v0, v1] = scatterVoxelRange(rots, B, Dv, Di, radiusMax === undefined ? Infinity : radiusMax ** 2);
    const planes = (v1 - v0) / (Dv * Dv);
    const tunings: SlabTuning[] = [{}, { slabs: 2 }, { slabs: 3 }, { slabs: planes, uniform: true }, { slabs: planes + 5, uniform: true }, { slabs: 4, uniform: true }];
    for (const threads of [1, 2]) {
      for (const tuning of tunings) {
        const be = new WasmBackend({ threads }, tuning);
        try {
          const r = run(be, vol, base, s, rots, Dv, Di, radiusMax);
          const t = `${tag} threads=${threads} ${JSON.stringify(tuning)}`;
          assert.deepEqual(r.g, ref.g, `gather ${t}`);
          assert.deepEqual(r.v, ref.v, `scatter ${t}`);
          assert.ok(maxDiff(r.dR, ref.dR) <= 1e-12 * maxAbs(ref.dR), `rotgrad ${t}: ${maxDiff(r.dR, ref.dR)}`);
          // a second call on the same backend (scratch volumes reused) gives the same again
          const r2 = run(be, vol, base, s, rots, Dv, Di, radiusMax);
          assert.deepEqual(r2.v, r.v, `scatter repeat ${t}`);
          assert.deepEqual(r2.dR, r.dR, `rotgrad repeat ${t}`);
        } finally {
          be.dispose();
        }
      }
    }
  }
});

test('one-plane slabs: cells that straddle a slab boundary get both corner planes, each from its own slab', () => {
  // A slice tilted about the y axis: along a row z runs through several planes, and most cells
  // have corners in two different one-plane slabs.
  const Dv = 12, Di = 12, rng = new Rng(72);
  const rots = eulerToMatrix(0, 37, 0);
  const [v0, v1] = scatterVoxelRange(rots, 1, Dv, Di, Infinity);
  const planes = (v1 - v0) / (Dv * Dv);
  // count cells with corners in two slabs (z0 and z0 + 1 both inside the reached planes)
  const sc = Dv / Di, cv = Math.floor(Dv / 2), ci = Math.floor(Di / 2);
  let straddling = 0;
  for (let y = 0; y < Di; y++) for (let x = 0; x < Di; x++) {
    const z0 = Math.floor(rots[2]! * sc * (x - ci) + rots[5]! * sc * (y - ci) + cv);
    if (z0 >= v0 / (Dv * Dv) && z0 + 1 < v1 / (Dv * Dv)) straddling++;
  }
  assert.ok(straddling > Di * Di / 2, `only ${straddling} straddling cells`);
  const s = randc(Di * Di, rng), base = randc(Dv ** 3, rng);
  const vT = { re: base.re.slice(), im: base.im.slice() };
  ts.scatterSlices(s, Di, rots, Dv, vT);
  for (const threads of [1, 2]) {
    const be = new WasmBackend({ threads }, { slabs: planes, uniform: true });
    const v = { re: base.re.slice(), im: base.im.slice() };
    be.scatterSlices(s, Di, rots, Dv, v);
    be.dispose();
    assert.ok(maxDiff(v.re, vT.re) <= 1e-5 * maxAbs(vT.re) && maxDiff(v.im, vT.im) <= 1e-5 * maxAbs(vT.im), `threads=${threads}`);
  }
});

test('slabBounds: ordered cuts inside the reached planes, equal shares of the sample points', () => {
  const rng = new Rng(73);
  for (const [Dv, Di, r] of [[64, 64, Infinity], [33, 33, 12], [32, 16, Infinity]] as const) {
    const B = 64, rots = randomRotations(B, rng), r2max = r * r;
    const [v0, v1] = scatterVoxelRange(rots, B, Dv, Di, r2max);
    // exact cell plane of every unmasked pixel
    const sc = Dv / Di, cv = Math.floor(Dv / 2), ci = Math.floor(Di / 2);
    const z0s: number[] = [];
    for (let b = 0; b < B; b++) for (let y = 0; y < Di; y++) for (let x = 0; x < Di; x++) {
      const kx = x - ci, ky = y - ci;
      if (kx * kx + ky * ky > r2max) continue;
      z0s.push(Math.floor((rots[9 * b + 2]! * sc * kx + rots[9 * b + 5]! * sc * ky) + cv));
    }
    for (const K of [2, 4]) {
      const bd = slabBounds(rots, B, Dv, Di, r2max, K);
      assert.equal(bd[0], v0 / (Dv * Dv));
      assert.equal(bd[K], v1 / (Dv * Dv));
      for (let k = 0; k < K; k++) assert.ok(bd[k]! <= bd[k + 1]!, `order ${[...bd]}`);
      for (let k = 0; k < K; k++) {
        const lo = k === 0 ? -Infinity : bd[k]!, hi = k === K - 1 ? Infinity : bd[k + 1]!;
        const share = z0s.filter((z) => z >= lo && z < hi).length / z0s.length;
        assert.ok(Math.abs(share - 1 / K) <= 0.06 / K * 2, `Dv=${Dv} K=${K} slab ${k}: share ${share.toFixed(3)}`);
      }
    }
  }
});

test('Hartley scatter by z-slabs: same bits for any split and thread count, TS reference to float32 tolerance', () => {
  const rng = new Rng(74);
  for (const [D, radiusMax] of [[16, undefined], [12, 4.5], [9, undefined]] as const) {
    const Dv = D + 1, rots = rotations(rng), B = rots.length / 9;
    const base = randc(Dv ** 3, rng).re, G = randc(B * D * D, rng);
    const opts = radiusMax === undefined ? undefined : { radiusMax };
    const ref = base.slice();
    ts.scatterHartley(G, D, rots, Dv, ref, opts);
    const one = new WasmBackend({ threads: 1 }, { slabs: 1 });
    const v1 = base.slice();
    one.scatterHartley(G, D, rots, Dv, v1, opts);
    one.dispose();
    assert.ok(maxDiff(v1, ref) <= 1e-5 * maxAbs(ref), `D=${D} vs TS: ${maxDiff(v1, ref)}`);
    const [v0, vEnd] = scatterVoxelRange(rots, B, Dv, D, radiusMax === undefined ? Infinity : radiusMax ** 2);
    const planes = (vEnd - v0) / (Dv * Dv);
    for (const threads of [1, 2]) {
      for (const tuning of [{}, { slabs: 3 }, { slabs: planes, uniform: true }, { slabs: planes + 3, uniform: true }] as SlabTuning[]) {
        const be = new WasmBackend({ threads }, tuning);
        const v = base.slice();
        be.scatterHartley(G, D, rots, Dv, v, opts);
        be.dispose();
        assert.deepEqual(v, v1, `D=${D} threads=${threads} ${JSON.stringify(tuning)}`);
      }
    }
  }
});

test('a scatter slab writes only its own planes (raw kernels, one slab per call, sentinel-filled buffers)', () => {
  // Two threads run neighbouring slabs at the same time, so a slab's call must not touch any
  // float of another slab's planes, not even for a moment: on an idle machine an odd Dv (a
  // plane of (re, im) pairs is 2 Dv^2 = 2 mod 4 floats) let the 4-wide clear of the pair
  // accumulator run 2 floats into the next slab, which the other thread was accumulating.
  const heap = new WasmHeap();
  const k = new WebAssembly.Instance(kernelModule(), { env: { memory: heap.memory } }).exports as Record<string, (...a: number[]) => void>;
  const rng = new Rng(75), SENT = 12345.5;
  for (const [Dv, Di] of [[9, 12], [17, 17], [16, 16]] as const) {
    const rots = rotations(rng), B = rots.length / 9, nv = Dv ** 3, plane = Dv * Dv;
    const [v0, v1] = scatterVoxelRange(rots, B, Dv, Di, Infinity);
    const K = (v1 - v0) / plane, bounds = uniformSlabBounds(rots, B, Dv, Di, Infinity, K);
    const put64 = (a: Float64Array): number => { const o = heap.alloc(8 * a.length); heap.f64(o, a.length).set(a); return o; };
    const put32 = (a: Float32Array): number => { const o = heap.alloc(4 * a.length); heap.f32(o, a.length).set(a); return o; };
    const s = randc(B * Di * Di, rng);
    const sr = put32(s.re), si = put32(s.im), R = put64(rots), bd = put64(bounds);
    const acc = heap.alloc(8 * nv), vr = heap.alloc(4 * nv), vi = heap.alloc(4 * nv), h = heap.alloc(4 * nv);
    for (let j = 0; j < K; j++) {
      const p0 = bounds[j]!, p1 = bounds[j + 1]!;
      for (const [o, n] of [[acc, 2 * nv], [vr, nv], [vi, nv], [h, nv]] as const) heap.f32(o, n).fill(SENT);
      k.scatter_slabs!(sr, si, Di, R, B, Dv, acc, vr, vi, Infinity, bd, K, j, j + 1);
      k.scatter_h_slabs!(sr, si, Di, R, B, Dv, h, Infinity, bd, K, j, j + 1);
      const outside = (o: number, n: number, per: number): number => {
        const a = heap.f32(o, n);
        let bad = 0;
        for (let i = 0; i < n; i++) if ((i < per * p0 * plane || i >= per * p1 * plane) && a[i] !== SENT) bad++;
        return bad;
      };
      const tag = `Dv=${Dv} Di=${Di} slab ${j} [${p0}, ${p1})`;
      assert.equal(outside(acc, 2 * nv, 2), 0, `scatter_slabs accumulator outside ${tag}`);
      assert.equal(outside(vr, nv, 1) + outside(vi, nv, 1), 0, `scatter_slabs volume outside ${tag}`);
      assert.equal(outside(h, nv, 1), 0, `scatter_h_slabs volume outside ${tag}`);
    }
  }
});
