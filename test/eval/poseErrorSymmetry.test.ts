/**
 * Pose error modulo a (pseudo-)symmetry of the true map (poseErrorModSymmetry).
 * Independent truths: (1) for a blob map with an exact 2-fold about an axis off the box centre,
 * V(x) = V(S x + u), the projection at pose G with origin o equals, pixel for pixel
 * (src/core/project.ts, up to its ~1% interpolation error; the opposite origin change is off by
 * 30-65%), the projection at the mate G S^T with origin o + rows 0,1 of (G S^T u);
 * (2) predicted poses built as mates for a known subset give zero error modulo the symmetry and
 * the known mate fraction, while the plain error puts that subset at 180 degrees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { matMul, randomRotations, transpose } from '../../src/core/rotation.js';
import { prepareProjector, projectMany } from '../../src/core/project.js';
import { poseError, poseErrorModSymmetry } from '../../src/eval/poseError.js';

/** 180 degrees about the unit axis a: 2 a a^T - I. */
function twofold(a: number[]): Float64Array {
  const n = Math.hypot(a[0]!, a[1]!, a[2]!);
  const v = a.map((x) => x / n);
  const R = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) R[3 * i + j] = 2 * v[i]! * v[j]! - (i === j ? 1 : 0);
  return R;
}

const S = twofold([1, 0.3, -0.2]);
// u perpendicular to the axis, so that x -> S x + u is an involution (a 2-fold off the centre)
const u = (() => { const a = [1, 0.3, -0.2]; const w = [0.4, 1.1, 0.9]; const d = (w[0]! * a[0]! + w[1]! * a[1]! + w[2]! * a[2]!) / (a[0]! ** 2 + a[1]! ** 2 + a[2]! ** 2); return w.map((x, i) => x - d * a[i]!); })();

function mate(G: Float64Array, o: [number, number]): { R: Float64Array; o: [number, number] } {
  const R = matMul(new Float64Array(9), G, transpose(new Float64Array(9), S));
  return { R, o: [o[0] + R[0]! * u[0]! + R[1]! * u[1]! + R[2]! * u[2]!, o[1] + R[3]! * u[0]! + R[4]! * u[1]! + R[5]! * u[2]!] };
}

test('a symmetric map projects identically at a pose and at its mate (origin moved by rows 0,1 of G S^T u)', () => {
  const D = 32, c = D / 2;
  // blob centres closed under x -> S^T (x - u) (= S (x - u) for a 2-fold): V(x) = V(S x + u)
  const base = [[4, 1, -2], [-3, 4, 2], [1, -5, 3]];
  const centres: number[][] = [];
  for (const p of base) {
    centres.push(p);
    const d = [p[0]! - u[0]!, p[1]! - u[1]!, p[2]! - u[2]!];
    centres.push([0, 1, 2].map((r) => S[3 * r]! * d[0]! + S[3 * r + 1]! * d[1]! + S[3 * r + 2]! * d[2]!));
  }
  const V = new Float32Array(D * D * D);
  let i = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
    let s = 0;
    centres.forEach((q, k) => { s += (1 + 0.2 * (k >> 1)) * Math.exp(-((x - c - q[0]!) ** 2 + (y - c - q[1]!) ** 2 + (z - c - q[2]!) ** 2) / (2 * 2 ** 2)); });
    V[i] = s;
  }
  const prep = prepareProjector(V, D);
  const Gs = randomRotations(4, new Rng(3));
  for (let k = 0; k < 4; k++) {
    const G = Gs.slice(9 * k, 9 * k + 9);
    const o: [number, number] = [0.7 * k - 1, 1.3 - 0.5 * k];
    const m = mate(G, o);
    const a = projectMany(prep, G, { origins: o }), b = projectMany(prep, m.R, { origins: m.o });
    let maxA = 0, maxD = 0;
    for (let j = 0; j < a.length; j++) { maxA = Math.max(maxA, Math.abs(a[j]!)); maxD = Math.max(maxD, Math.abs(a[j]! - b[j]!)); }
    // the opposite origin change (a sign error) must be far worse than the interpolation error
    const w: [number, number] = [2 * o[0] - m.o[0], 2 * o[1] - m.o[1]];
    const c2 = projectMany(prep, m.R, { origins: w });
    let maxC = 0;
    for (let j = 0; j < a.length; j++) maxC = Math.max(maxC, Math.abs(a[j]! - c2[j]!));
    assert.ok(maxD < 1.5e-2 * maxA, `pose ${k}: max difference ${maxD} of ${maxA}`);
    assert.ok(maxC > 20 * maxD, `sign error gives ${maxC}`);
  }
});

test('mates for a known 40% subset: zero error modulo the symmetry, 180 deg for them without it', () => {
  const n = 1000, rng = new Rng(8);
  const G = randomRotations(n, rng);
  const Qg = randomRotations(1, rng); // global rotation of the reconstruction
  const P = new Float64Array(9 * n), Po = new Float64Array(2 * n), To = new Float64Array(2 * n);
  const isMate: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const Gi = G.slice(9 * i, 9 * i + 9);
    const o: [number, number] = [rng.range(-3, 3), rng.range(-3, 3)];
    To[2 * i] = o[0]; To[2 * i + 1] = o[1];
    const mt = rng.uniform() < 0.4;
    isMate.push(mt);
    const m = mt ? mate(Gi, o) : { R: Gi, o };
    P.set(matMul(new Float64Array(9), m.R, Qg), 9 * i);
    Po[2 * i] = m.o[0]; Po[2 * i + 1] = m.o[1];
  }
  const plain = poseError(P, G, Po, To);
  assert.ok(plain.rot_mean_deg > 0.35 * 180, `plain mean ${plain.rot_mean_deg}`);
  const sym = poseErrorModSymmetry(P, G, Po, To, [{ rotation: S, shiftPx: u }]);
  const expected = isMate.filter((x) => x).length / n;
  assert.ok(Math.abs(sym.mate_fraction - expected) < 1e-9, `${sym.mate_fraction} vs ${expected}`);
  assert.ok(sym.rot_median_deg < 1e-5 && sym.rot_mean_deg < 1e-5, `${sym.rot_mean_deg}`);
  assert.ok(sym.shift_median_px! < 1e-9, `${sym.shift_median_px}`);
  assert.ok(plain.shift_median_px! > 1e-3 || plain.rot_mean_deg > 60);
  // majority of mates: still zero, and the fraction counted against the identity
  const sym2 = poseErrorModSymmetry(P, G, Po, To, [{ rotation: S, shiftPx: u }], { seed: 4 });
  assert.ok(sym2.rot_mean_deg < 1e-5);
});
