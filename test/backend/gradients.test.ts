/**
 * Gradients checked against finite differences of an independent float64 model:
 *   - rotation: L(A) = <slice(V, A), G>; dL/dA from both backends vs central differences of L
 *     evaluated by a float64 trilinear sampler written here (not the kernels under test);
 *   - volume: dL/dV = scatter(G), checked as a directional derivative in a random direction;
 *   - shift: L(t) = <phaseShift(s, t), G>; shiftGradient vs central differences, the shift's
 *     adjoint, and its sign against a real-space translation (RELION: image moves by -origin).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, phaseShiftBatch, shiftGradient } from '../../src/core/backend/index.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { fftnCentered } from '../../src/core/fft.js';

function randn(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** <slice(V, A), G> in float64 for one slice (complex V, G given as planes). */
function lossF64(vre: Float32Array, vim: Float32Array, Dv: number, A: ArrayLike<number>, Di: number, gre: Float32Array, gim: Float32Array, scale = Dv / Di, radiusMax = Infinity): number {
  const cv = Math.floor(Dv / 2), ci = Math.floor(Di / 2), s = scale;
  const at = (v: Float32Array, x: number, y: number, z: number): number =>
    x >= 0 && x < Dv && y >= 0 && y < Dv && z >= 0 && z < Dv ? v[(z * Dv + y) * Dv + x]! : 0;
  let L = 0;
  for (let y = 0; y < Di; y++) {
    for (let x = 0; x < Di; x++) {
      const kx = x - ci, ky = y - ci;
      if (kx * kx + ky * ky > radiusMax * radiusMax) continue;
      const p = [0, 1, 2].map((j) => cv + s * (A[j]! * kx + A[3 + j]! * ky));
      const f = p.map(Math.floor);
      const w = p.map((v, j) => v - f[j]!);
      for (const [v, g] of [[vre, gre], [vim, gim]] as const) {
        let val = 0;
        for (let c = 0; c < 8; c++) {
          const dx = c & 1, dy = (c >> 1) & 1, dz = c >> 2;
          const wt = (dx ? w[0]! : 1 - w[0]!) * (dy ? w[1]! : 1 - w[1]!) * (dz ? w[2]! : 1 - w[2]!);
          val += wt * at(v, f[0]! + dx, f[1]! + dy, f[2]! + dz);
        }
        L += val * g[y * Di + x]!;
      }
    }
  }
  return L;
}

for (const name of ['ts', 'wasm'] as const) {
  test(`${name}: rotation gradient matches finite differences (complex and real)`, () => {
    const be = getBackend(name);
    const rng = new Rng(21);
    for (const [Dv, Di] of [[16, 16], [17, 17], [24, 12]] as const) {
      // a smooth-ish volume (sum of a few Gaussian blobs) plus noise
      const vre = randn(Dv ** 3, rng).map((x) => 0.1 * x), vim = randn(Dv ** 3, rng).map((x) => 0.1 * x);
      const c = Math.floor(Dv / 2);
      for (let z = 0; z < Dv; z++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++) {
        const r2 = (x - c - 2) ** 2 + (y - c + 1) ** 2 + (z - c) ** 2;
        vre[(z * Dv + y) * Dv + x] += 3 * Math.exp(-r2 / 20);
        vim[(z * Dv + y) * Dv + x] += 2 * Math.exp(-((x - c) ** 2 + (y - c - 3) ** 2 + (z - c + 2) ** 2) / 12);
      }
      const B = 3;
      const rots = randomRotations(B, rng);
      const G = { re: randn(B * Di * Di, rng), im: randn(B * Di * Di, rng) };
      const dR = be.sliceRotationGradient({ re: vre, im: vim }, Dv, rots, Di, G);
      const dRr = be.sliceRotationGradientReal(vre, Dv, rots, Di, G.re);
      const zeros = new Float32Array(Dv ** 3), gz = new Float32Array(B * Di * Di);
      const h = 1e-6;
      for (let b = 0; b < B; b++) {
        const n = Di * Di;
        const gre = G.re.subarray(b * n, (b + 1) * n), gim = G.im.subarray(b * n, (b + 1) * n);
        for (let e = 0; e < 9; e++) {
          const Ap = Array.from(rots.subarray(9 * b, 9 * b + 9)), Am = Ap.slice();
          Ap[e] += h; Am[e] -= h;
          const fd = (lossF64(vre, vim, Dv, Ap, Di, gre, gim) - lossF64(vre, vim, Dv, Am, Di, gre, gim)) / (2 * h);
          const fdr = (lossF64(vre, zeros, Dv, Ap, Di, gre, gz) - lossF64(vre, zeros, Dv, Am, Di, gre, gz)) / (2 * h);
          const scale = 1e-3 * Math.max(1, Math.abs(fd));
          assert.ok(Math.abs(dR[9 * b + e]! - fd) <= scale, `${name} Dv=${Dv} b=${b} e=${e}: ${dR[9 * b + e]} vs fd ${fd}`);
          assert.ok(Math.abs(dRr[9 * b + e]! - fdr) <= 1e-3 * Math.max(1, Math.abs(fdr)), `${name} real e=${e}: ${dRr[9 * b + e]} vs ${fdr}`);
        }
      }
    }
    be.dispose();
  });

  test(`${name}: volume gradient (scatter of dL/dslice) is the directional derivative of L`, () => {
    const be = getBackend(name);
    const rng = new Rng(22);
    const Dv = 17, Di = 17, B = 4;
    const rots = randomRotations(B, rng);
    const G = { re: randn(B * Di * Di, rng), im: randn(B * Di * Di, rng) };
    const V = { re: randn(Dv ** 3, rng), im: randn(Dv ** 3, rng) };
    const dir = { re: randn(Dv ** 3, rng), im: randn(Dv ** 3, rng) };
    const dV = { re: new Float32Array(Dv ** 3), im: new Float32Array(Dv ** 3) };
    be.scatterSlices(G, Di, rots, Dv, dV);
    let analytic = 0;
    for (let i = 0; i < Dv ** 3; i++) analytic += dV.re[i]! * dir.re[i]! + dV.im[i]! * dir.im[i]!;
    // L is linear in V, so the float64 central difference with step 1 is exact up to rounding
    const L = (t: number): number => {
      let s = 0;
      for (let b = 0; b < B; b++) {
        const n = Di * Di;
        const vre = V.re.map((v, i) => v + t * dir.re[i]!), vim = V.im.map((v, i) => v + t * dir.im[i]!);
        s += lossF64(vre, vim, Dv, rots.subarray(9 * b, 9 * b + 9), Di, G.re.subarray(b * n, (b + 1) * n), G.im.subarray(b * n, (b + 1) * n));
      }
      return s;
    };
    const fd = (L(1) - L(-1)) / 2;
    assert.ok(Math.abs(analytic - fd) <= 1e-4 * Math.abs(fd), `${analytic} vs ${fd}`);
    be.dispose();
  });
}

test('shift gradient matches finite differences; the -t shift is the adjoint', () => {
  const rng = new Rng(23);
  for (const Di of [16, 17]) {
    const B = 3, n = Di * Di;
    const s = { re: randn(B * n, rng), im: randn(B * n, rng) };
    const G = { re: randn(B * n, rng), im: randn(B * n, rng) };
    const t = new Float64Array(2 * B).map(() => 3 * rng.normal());
    const L = (tt: Float64Array): number => {
      const y = phaseShiftBatch(s, Di, tt, { re: new Float32Array(B * n), im: new Float32Array(B * n) });
      let v = 0;
      for (let i = 0; i < B * n; i++) v += y.re[i]! * G.re[i]! + y.im[i]! * G.im[i]!;
      return v;
    };
    const y = phaseShiftBatch(s, Di, t, { re: new Float32Array(B * n), im: new Float32Array(B * n) });
    const g = shiftGradient(y, G, Di, B);
    const h = 1e-3;
    for (let e = 0; e < 2 * B; e++) {
      const tp = t.slice(), tm = t.slice();
      tp[e] += h; tm[e] -= h;
      const fd = (L(tp) - L(tm)) / (2 * h);
      assert.ok(Math.abs(g[e]! - fd) <= 1e-3 * Math.max(1, Math.abs(fd)), `Di=${Di} e=${e}: ${g[e]} vs ${fd}`);
    }
    // adjoint: <shift(s, t), G> = <s, shift(G, -t)>
    const back = phaseShiftBatch(G, Di, t, { re: new Float32Array(B * n), im: new Float32Array(B * n) }, -1);
    let rhs = 0;
    for (let i = 0; i < B * n; i++) rhs += s.re[i]! * back.re[i]! + s.im[i]! * back.im[i]!;
    assert.ok(Math.abs(L(t) - rhs) <= 1e-4 * Math.abs(rhs) + 1e-3);
  }
});

test('shift sign: the spectrum times phase(t) is the image translated by -t (RELION origin)', () => {
  const D = 16, c = 8;
  const img = new Float32Array(D * D);
  img[(c + 2) * D + (c + 3)] = 1; // a point at (+3, +2) from the centre
  const F = fftnCentered({ re: img, im: new Float32Array(D * D) }, [D, D], false);
  phaseShiftBatch(F, D, new Float64Array([3, 2]));
  const back = fftnCentered(F, [D, D], true);
  assert.ok(Math.abs(back.re[c * D + c]! - 1) < 1e-5, 'point moved to the centre');
});

for (const name of ['ts', 'wasm'] as const) {
  test(`${name}: scale option (Hartley grid Dv = D+1, step 1) with a radius mask: gather, adjoint and rotation gradient`, () => {
    const be = getBackend(name, { threads: 2 });
    const rng = new Rng(24);
    const D = 16, Dv = 17, B = 3, opts = { scale: 1, radiusMax: D / 2 };
    const v = randn(Dv ** 3, rng);
    const rots = randomRotations(B, rng);
    const neg = rots.map((x) => -x); // samples of H(-k)
    const G = randn(B * D * D, rng);
    const zeros = new Float32Array(Dv ** 3), gz = new Float32Array(D * D);
    for (const R of [rots, neg]) {
      const sl = new Float32Array(B * D * D);
      be.gatherSlicesReal(v, Dv, R, D, sl, opts);
      let lhs = 0, ref = 0;
      for (let i = 0; i < sl.length; i++) lhs += sl[i]! * G[i]!;
      for (let b = 0; b < B; b++) ref += lossF64(v, zeros, Dv, R.subarray(9 * b, 9 * b + 9), D, G.subarray(b * D * D, (b + 1) * D * D), gz, 1, D / 2);
      assert.ok(Math.abs(lhs - ref) <= 1e-5 * Math.abs(ref) + 1e-3, `gather <slice, G>: ${lhs} vs ${ref}`);
      const adj = new Float32Array(Dv ** 3);
      be.scatterSlicesReal(G, D, R, Dv, adj, opts);
      let rhs = 0;
      for (let i = 0; i < adj.length; i++) rhs += adj[i]! * v[i]!;
      assert.ok(Math.abs(rhs - ref) <= 1e-5 * Math.abs(ref) + 1e-3, `adjoint: ${rhs} vs ${ref}`);
      const dR = be.sliceRotationGradientReal(v, Dv, R, D, G, undefined, opts);
      const h = 1e-6;
      for (let b = 0; b < B; b++) {
        for (let e = 0; e < 6; e++) {
          const Ap = Array.from(R.subarray(9 * b, 9 * b + 9)), Am = Ap.slice();
          Ap[e] += h; Am[e] -= h;
          const g = G.subarray(b * D * D, (b + 1) * D * D);
          const fd = (lossF64(v, zeros, Dv, Ap, D, g, gz, 1, D / 2) - lossF64(v, zeros, Dv, Am, D, g, gz, 1, D / 2)) / (2 * h);
          assert.ok(Math.abs(dR[9 * b + e]! - fd) <= 1e-3 * Math.max(1, Math.abs(fd)), `b=${b} e=${e}: ${dR[9 * b + e]} vs ${fd}`);
        }
      }
    }
    be.dispose();
  });
}
