/**
 * The z-slab Hartley gather and rotation gradient of the wasm backend (wasm/hartley.c
 * hgather_slabs + hgather_combine, hrotgrad_slabs: one sample of H per pixel, the -q sample of
 * pixel k read from pixel -k): against the TypeScript reference (two real gathers, float32
 * tolerance) and the older slice-split kernels; the gather gives the same bits for any slab split
 * and thread count, the rotation gradient the same bits on 1 and 2 threads (same split) and agrees
 * across splits to float64 summation order. Odd and even image sizes (even: row 0 and column 0
 * have no mirror pixel), Dv != Di, radius on and off, axis-aligned and random rotations, one-plane
 * slabs. Skipped when kernels.wasm predates these kernels (rebuild: npm run build:wasm).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/core/backend/index.js';
import { WasmBackend, scatterVoxelRange } from '../../src/core/backend/wasm/wasmBackend.js';
import type { SlabTuning } from '../../src/core/backend/wasm/wasmBackend.js';
import type { Complex } from '../../src/core/complex.js';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix, randomRotations } from '../../src/core/rotation.js';

const ts = getBackend('ts');
const probe = new WasmBackend({ threads: 1 });
const available = probe.hartleySlabKernels;
probe.dispose();

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
function randn(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}
function rotations(rng: Rng): Float64Array {
  const rs = [randomRotations(5, rng), eulerToMatrix(0, 0, 0), eulerToMatrix(90, 90, 0), eulerToMatrix(0, 90, 0), eulerToMatrix(30, 0, -30)];
  const out = new Float64Array(rs.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of rs) { out.set(r, o); o += r.length; }
  return out;
}

interface Out { F: Complex; dR: Float64Array }
function run(be: WasmBackend, H: Float32Array, Dv: number, rots: Float64Array, Di: number, g: Complex, radiusMax?: number): Out {
  const B = rots.length / 9, opts = radiusMax === undefined ? undefined : { radiusMax };
  const F = { re: new Float32Array(B * Di * Di).fill(7), im: new Float32Array(B * Di * Di).fill(7) };
  be.gatherHartley(H, Dv, rots, Di, F, opts);
  return { F, dR: be.hartleyRotationGradient(H, Dv, rots, Di, g, undefined, opts) };
}

const cases: Array<{ Dv: number; Di: number; radiusMax?: number }> = [
  { Dv: 16, Di: 16 }, { Dv: 17, Di: 17, radiusMax: 6.5 }, { Dv: 15, Di: 15 }, { Dv: 24, Di: 16, radiusMax: 8 }, { Dv: 12, Di: 9 },
];

test('Hartley gather and rotation gradient by z-slabs: TS reference and the slice-split kernels to float32 tolerance, same bits for 1 and 2 threads', { skip: available ? false : 'kernels.wasm predates hgather_slabs (npm run build:wasm)' }, () => {
  const rng = new Rng(5150);
  for (const { Dv, Di, radiusMax } of cases) {
    const rots = rotations(rng), B = rots.length / 9;
    const H = randn(Dv ** 3, rng), g = { re: randn(B * Di * Di, rng), im: randn(B * Di * Di, rng) };
    const tag = `Dv=${Dv} Di=${Di} r=${radiusMax ?? '-'}`;
    const opts = radiusMax === undefined ? undefined : { radiusMax };
    const FT = { re: new Float32Array(B * Di * Di), im: new Float32Array(B * Di * Di) };
    ts.gatherHartley(H, Dv, rots, Di, FT, opts);
    const dRT = ts.hartleyRotationGradient(H, Dv, rots, Di, g, undefined, opts);
    const old = new WasmBackend({ threads: 1 }, { hartleySplit: 'slices' });
    const ro = run(old, H, Dv, rots, Di, g, radiusMax);
    old.dispose();
    const one = new WasmBackend({ threads: 1 }, { slabs: 1, hartleySplit: 'slabs' });
    assert.ok(one.hartleyBySlabs(Dv) && !new WasmBackend({ threads: 1 }).hartleyBySlabs(Dv), 'small volumes default to the slice split');
    const ref = run(one, H, Dv, rots, Di, g, radiusMax);
    one.dispose();
    for (const [name, other] of [['TS', { F: FT, dR: dRT }], ['slice-split kernels', ro]] as const) {
      assert.ok(maxDiff(ref.F.re, other.F.re) <= 2e-6 * maxAbs(other.F.re) && maxDiff(ref.F.im, other.F.im) <= 2e-6 * maxAbs(other.F.im), `gather vs ${name} ${tag}`);
      assert.ok(maxDiff(ref.dR, other.dR) <= 1e-5 * maxAbs(other.dR), `rotgrad vs ${name} ${tag}: ${maxDiff(ref.dR, other.dR)} of ${maxAbs(other.dR)}`);
    }
    // masked pixels are exactly 0, kept ones were written (the 7s are gone)
    const ci = Math.floor(Di / 2);
    for (let b = 0; b < B; b++) for (let y = 0; y < Di; y++) for (let x = 0; x < Di; x++) {
      const o = (b * Di + y) * Di + x, masked = radiusMax !== undefined && (x - ci) ** 2 + (y - ci) ** 2 > radiusMax ** 2;
      if (masked) assert.ok(ref.F.re[o] === 0 && ref.F.im[o] === 0, `${tag}: masked pixel not 0`);
      else assert.ok(ref.F.re[o] !== 7, `${tag}: pixel (${x},${y}) of slice ${b} not written`);
    }
    const [v0, v1] = scatterVoxelRange(rots, B, Dv, Di, radiusMax === undefined ? Infinity : radiusMax ** 2);
    const planes = (v1 - v0) / (Dv * Dv);
    const tunings: SlabTuning[] = [{}, { slabs: 2 }, { slabs: 3 }, { slabs: planes, uniform: true }, { slabs: planes + 3, uniform: true }];
    for (const tuning of tunings) {
      const rs = [1, 2].map((threads) => {
        const be = new WasmBackend({ threads }, { ...tuning, hartleySplit: 'slabs' });
        try {
          const r = run(be, H, Dv, rots, Di, g, radiusMax);
          const again = run(be, H, Dv, rots, Di, g, radiusMax); // scratch planes reused
          assert.deepEqual(again, r, `${tag} threads=${threads} ${JSON.stringify(tuning)}: repeat`);
          return r;
        } finally {
          be.dispose();
        }
      });
      const t = `${tag} ${JSON.stringify(tuning)}`;
      assert.deepEqual(rs[1]!.dR, rs[0]!.dR, `rotgrad 2 threads vs 1 ${t}`);
      for (const r of rs) {
        assert.deepEqual(r.F, ref.F, `gather ${t}`);
        assert.ok(maxDiff(r.dR, ref.dR) <= 1e-12 * maxAbs(ref.dR), `rotgrad vs one slab ${t}: ${maxDiff(r.dR, ref.dR)}`);
      }
    }
  }
});
