/**
 * Pose-error tests: sets related by a known global rotation (and hand) give ~0 error; noise of
 * known size gives the predicted median angle (fixed angle: exactly it; isotropic Gaussian
 * axis-angle noise of std sigma per axis: the Maxwell median 1.5382·sigma); shift errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { expSO3, geodesicDeg, matMul, matVec, randomRotations } from '../../src/core/rotation.js';
import { poseError } from '../../src/eval/poseError.js';

const M = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, -1]);

/** out_i = L · R_i · Rt (any of L/Rt may be null = identity). */
function mapSet(Rs: Float64Array, L: Float64Array | null, Rt: Float64Array | null): Float64Array {
  const out = new Float64Array(Rs.length);
  for (let i = 0; i < Rs.length; i += 9) {
    const o = out.subarray(i, i + 9);
    o.set(Rs.subarray(i, i + 9));
    if (L) matMul(o, L, o);
    if (Rt) matMul(o, o, Rt);
  }
  return out;
}

function randomAxis(rng: Rng): number[] {
  const v = [rng.normal(), rng.normal(), rng.normal()];
  const n = Math.hypot(v[0]!, v[1]!, v[2]!);
  return v.map((x) => x / n);
}

test('a set times a global rotation has ~0 error, same hand, and Q is recovered', () => {
  const n = 2000;
  const G = randomRotations(n, new Rng(1));
  const S = randomRotations(1, new Rng(2));
  const P = mapSet(G, null, Float64Array.from([S[0]!, S[3]!, S[6]!, S[1]!, S[4]!, S[7]!, S[2]!, S[5]!, S[8]!])); // P = G S^T
  const r = poseError(P, G);
  assert.equal(r.n, n);
  assert.equal(r.mirrored, false);
  assert.ok(r.rot_median_deg < 1e-5 && r.rot_mean_deg < 1e-5, `${r.rot_median_deg}`);
  assert.ok(geodesicDeg(r.globalQ, S) < 1e-5);
});

test('a mirrored reconstruction (P = M·G·L, L improper) is detected with ~0 error', () => {
  const n = 1000;
  const G = randomRotations(n, new Rng(3));
  const L = matMul(new Float64Array(9), M, randomRotations(1, new Rng(4))); // improper
  const P = mapSet(mapSet(G, M, null), null, L);
  const r = poseError(P, G);
  assert.equal(r.mirrored, true);
  assert.ok(r.rot_median_deg < 1e-5, `${r.rot_median_deg}`);
  // without the mirror option the best same-hand fit is poor
  assert.ok(poseError(P, G, null, null, { allowMirror: false }).rot_median_deg > 30);
});

test('M·G·L poses project the mirrored map exactly like G projects the map (blob centres)', () => {
  const G = randomRotations(5, new Rng(5));
  const L = matMul(new Float64Array(9), M, randomRotations(1, new Rng(6)));
  const centres = [[3, -1, 2], [-4, 2, 0.5], [1, 5, -3]];
  for (let i = 0; i < 5; i++) {
    const Gi = G.subarray(9 * i, 9 * i + 9);
    const Pi = matMul(new Float64Array(9), matMul(new Float64Array(9), M, Gi), L);
    for (const c of centres) {
      // the map V∘L has its blob at L^T c; a blob at p projects to (A p)_xy under pose A
      const p = matVec(new Float64Array(3), Float64Array.from([L[0]!, L[3]!, L[6]!, L[1]!, L[4]!, L[7]!, L[2]!, L[5]!, L[8]!]), c);
      const a = matVec(new Float64Array(3), Pi, p), b = matVec(new Float64Array(3), Gi, c);
      assert.ok(Math.abs(a[0]! - b[0]!) < 1e-12 && Math.abs(a[1]! - b[1]!) < 1e-12);
    }
  }
});

test('fixed-angle noise of 5 deg gives median and mean 5 deg (both hands)', () => {
  const n = 3000, rng = new Rng(7);
  const G = randomRotations(n, new Rng(8));
  const S = randomRotations(1, new Rng(9));
  for (const mirrored of [false, true]) {
    const P = new Float64Array(9 * n);
    for (let i = 0; i < n; i++) {
      const E = expSO3(randomAxis(rng).map((v) => (v * 5 * Math.PI) / 180));
      const Pi = P.subarray(9 * i, 9 * i + 9);
      matMul(Pi, G.subarray(9 * i, 9 * i + 9), E);
      matMul(Pi, Pi, S);
      if (mirrored) matMul(Pi, M, matMul(Pi, Pi, M)); // M·(G E S)·M: a mirrored map's poses
    }
    const r = poseError(P, G, null, null, { seed: 1 });
    assert.equal(r.mirrored, mirrored);
    assert.ok(Math.abs(r.rot_median_deg - 5) < 0.1, `median ${r.rot_median_deg}`);
    assert.ok(Math.abs(r.rot_mean_deg - 5) < 0.1, `mean ${r.rot_mean_deg}`);
    // cryoAI's statistic: d = 8 sin^2(theta/2)
    assert.ok(Math.abs(r.frob_sq_median - 8 * Math.sin((2.5 * Math.PI) / 180) ** 2) < 2e-3);
  }
});

test('isotropic Gaussian axis-angle noise (sigma 3 deg) gives the Maxwell median 1.5382·sigma', () => {
  const n = 20000, rng = new Rng(10), sigma = (3 * Math.PI) / 180;
  const G = randomRotations(n, new Rng(11));
  const P = new Float64Array(9 * n);
  for (let i = 0; i < n; i++) matMul(P.subarray(9 * i, 9 * i + 9), G.subarray(9 * i, 9 * i + 9), expSO3([rng.normal() * sigma, rng.normal() * sigma, rng.normal() * sigma]));
  const r = poseError(P, G);
  const expected = 1.5382 * 3; // median of a chi(3) variable = 1.5382
  assert.ok(Math.abs(r.rot_median_deg - expected) < 0.08, `${r.rot_median_deg} vs ${expected}`);
  assert.ok(Math.abs(r.rot_mean_deg - 3 * Math.sqrt(8 / Math.PI)) < 0.08, `mean ${r.rot_mean_deg}`);
});

test('refine=false (candidates only) stays close; shift errors raw and recentred', () => {
  const n = 500, rng = new Rng(12);
  const G = randomRotations(n, new Rng(13));
  const P = G.slice();
  const tTrue = new Float64Array(2 * n), tPred = new Float64Array(2 * n), tOff = new Float64Array(2 * n);
  const s = [1.5, -2, 0.5];
  for (let i = 0; i < n; i++) {
    tTrue[2 * i] = rng.range(-3, 3); tTrue[2 * i + 1] = rng.range(-3, 3);
    const ang = rng.uniform() * 2 * Math.PI;
    tPred[2 * i] = tTrue[2 * i]! + 0.7 * Math.cos(ang); tPred[2 * i + 1] = tTrue[2 * i + 1]! + 0.7 * Math.sin(ang);
    const o = 9 * i, Pi = P.subarray(o, o + 9);
    tOff[2 * i] = tTrue[2 * i]! + Pi[0]! * s[0]! + Pi[1]! * s[1]! + Pi[2]! * s[2]!;
    tOff[2 * i + 1] = tTrue[2 * i + 1]! + Pi[3]! * s[0]! + Pi[4]! * s[1]! + Pi[5]! * s[2]!;
  }
  const r = poseError(P, G, tPred, tTrue, { refine: false });
  assert.ok(r.rot_median_deg < 1e-6);
  assert.ok(Math.abs(r.shift_median_px! - 0.7) < 1e-9);
  const r2 = poseError(P, G, tOff, tTrue);
  assert.ok(r2.shift_median_px! > 1, 'a translated map shows raw shift errors');
  assert.ok(r2.shift_median_recentred_px! < 1e-9, `${r2.shift_median_recentred_px}`);
  assert.equal(poseError(P, G).shift_median_px, null);
});

test('pose-error CLI: RELION 3.0 STAR vs cryoDRGN pose.pkl of the same file (real data) agree exactly', async (t) => {
  const { existsSync } = await import('node:fs');
  const dir = '../shared/data/star_and_cs_formats/';
  const star = dir + 'FinalRefinement-OriginalParticles-PfCRT.star', pkl = dir + 'pose.star.pkl';
  if (!existsSync(star) || !existsSync(pkl)) { t.skip('shared data absent'); return; }
  const { readPoseSet, runPoseError } = await import('../../src/cli/commands/poseError.js');
  // cryoDRGN's R_from_relion matrices equal our eulerToMatrix entry by entry (no global Q needed)
  const a = readPoseSet(star, 300), b = readPoseSet(pkl, 300);
  assert.equal(a.n, 5);
  for (let i = 0; i < 45; i++) assert.ok(Math.abs(a.rotations[i]! - b.rotations[i]!) < 1e-6, `entry ${i}`);
  for (let i = 0; i < 10; i++) assert.ok(Math.abs(a.originsPx![i]! - b.originsPx![i]!) < 1e-4, `origin ${i}`);
  assert.ok(Math.abs(a.originsPx![0]! - -0.14063) < 1e-9);
  const r = runPoseError({ pred: star, truth: pkl, boxPx: 300 });
  assert.equal(r.n, 5);
  assert.equal(r.mirrored, false);
  assert.ok(r.rot_median_deg < 1e-4 && r.shift_median_px! < 1e-4);
  // the pickle's box comes from the STAR file when --box is absent and the STAR knows it: here it
  // does not (no stacks, no optics block), so the reader asks for it
  assert.throws(() => runPoseError({ pred: pkl, truth: star }), /box|size/i);
});
