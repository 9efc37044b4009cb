/**
 * Shift error in the frame of the aligned predicted map (poseError's `alignment` option).
 *
 * Independent truth: a map of Gaussian blobs and a "reconstruction" of it that is rotated,
 * translated and (optionally) mirrored by a hidden global transform, both rendered analytically.
 * Images are projected from the true map with the true poses and origins (src/core/project.ts,
 * RELION's convention). The predicted poses are the true ones carried into the reconstruction's
 * frame, and the predicted origins are MEASURED from the images: the origin with which the
 * reconstruction's projection best matches the observed image (least squares, Nelder-Mead from
 * the centroid difference; an image with origin o is the projection translated by -o). The map alignment comes from alignMaps on the two voxel maps.
 * Corrected origins must then equal the true ones, while the raw origins are off by the
 * projected translation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { geodesicDeg, matMul, randomRotations, expSO3 } from '../../src/core/rotation.js';
import { prepareProjector, projectMany } from '../../src/core/project.js';
import { alignMaps, nelderMead } from '../../src/eval/align.js';
import { alignedOrigins, poseError, type MapAlignment } from '../../src/eval/poseError.js';

const D = 32;
const c = D / 2;
const M = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, -1]);
const BLOBS: Array<[number, number, number, number]> = [
  // centre (px about the box centre) and weight: an asymmetric arrangement
  [4, 0, 0, 1], [-3, 3, 1, 0.8], [0, -4, 2, 1.2], [1, 1, -5, 0.6], [-2, -2, -2, 0.9],
];
const SIGMA = 1.6;

/** Render sum_k w_k exp(-|x - q_k|^2 / (2 sigma^2)) with centres q_k. */
function render(centres: number[][], weights: number[]): Float32Array {
  const v = new Float32Array(D * D * D);
  let i = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
    let s = 0;
    centres.forEach((q, k) => {
      const r2 = (x - c - q[0]!) ** 2 + (y - c - q[1]!) ** 2 + (z - c - q[2]!) ** 2;
      s += weights[k]! * Math.exp(-r2 / (2 * SIGMA * SIGMA));
    });
    v[i] = s;
  }
  return v;
}

function centroid(img: Float32Array): [number, number] {
  let s = 0, sx = 0, sy = 0;
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const w = img[y * D + x]!;
    s += w; sx += w * (x - c); sy += w * (y - c);
  }
  return [sx / s, sy / s];
}

interface Case { G: Float64Array; P: Float64Array; oTrue: Float64Array; oPred: Float64Array; gt: Float32Array; pred: Float32Array; S: Float64Array; t: number[] }

/**
 * Hidden transform: pred(y) = gt(S·Mh·y + t) with Mh = M if mirrored, else I. For isotropic blobs
 * the predicted map's centres are q = Mh·S^T·(p - t). Predicted poses P_i = Mh·G_i·S·Mh (proper; the
 * leading Mh only flips image z, which a projection sums over).
 */
function makeCase(seed: number, mirrored: boolean, t: number[], n: number): Case {
  const rng = new Rng(seed);
  const S = randomRotations(1, rng);
  const G = randomRotations(n, rng);
  const ps = BLOBS.map((b) => b.slice(0, 3));
  const ws = BLOBS.map((b) => b[3]!);
  const qs = ps.map((p) => {
    const d = [p[0]! - t[0]!, p[1]! - t[1]!, p[2]! - t[2]!];
    const q = [0, 1, 2].map((k) => S[k]! * d[0]! + S[3 + k]! * d[1]! + S[6 + k]! * d[2]!); // S^T d
    if (mirrored) q[2] = -q[2]!;
    return q;
  });
  const gt = render(ps, ws), pred = render(qs, ws);
  const prepGt = prepareProjector(gt, D), prepPred = prepareProjector(pred, D);
  const P = new Float64Array(9 * n), oTrue = new Float64Array(2 * n), oPred = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const Gi = G.subarray(9 * i, 9 * i + 9);
    const Pi = P.subarray(9 * i, 9 * i + 9);
    matMul(Pi, Gi, S);
    if (mirrored) { matMul(Pi, Pi, M); matMul(Pi, M, Pi); }
    const o: [number, number] = [rng.range(-3, 3), rng.range(-3, 3)];
    oTrue[2 * i] = o[0]; oTrue[2 * i + 1] = o[1];
    const obs = projectMany(prepGt, Float64Array.from(Gi), { origins: o });
    const mine = projectMany(prepPred, Float64Array.from(Pi));
    const [ax, ay] = centroid(mine), [bx, by] = centroid(obs);
    const Pc = Float64Array.from(Pi);
    const fit = nelderMead((v) => {
      const img = projectMany(prepPred, Pc, { origins: v });
      let e = 0;
      for (let j = 0; j < img.length; j++) e += (img[j]! - obs[j]!) ** 2;
      return e;
    }, [ax - bx, ay - by], [0.3, 0.3], 200, 1e-12);
    oPred[2 * i] = fit[0]!; oPred[2 * i + 1] = fit[1]!;
  }
  return { G, P, oTrue, oPred, gt, pred, S, t };
}

test('synthetic check of the measured origins: with no global transform they equal the true ones', () => {
  const k = makeCase(11, false, [0, 0, 0], 6);
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(k.oPred[i]! - k.oTrue[i]!) < 0.01, `${i}: ${k.oPred[i]} vs ${k.oTrue[i]}`);
});

for (const mirrored of [false, true]) {
  test(`aligned-frame origins equal the truth for a shifted${mirrored ? ', mirrored' : ''} reconstruction`, () => {
    const t = [1.7, -2.3, 1.1];
    const n = 16;
    const k = makeCase(mirrored ? 21 : 12, mirrored, t, n);
    // exact hidden alignment (aligned(x) = pred(M R^T (x - t)) = gt(x) with R = S): exact correction
    const exact: MapAlignment = { rotation: k.S, shiftPx: t, mirrored };
    const oa = alignedOrigins(k.P, k.oPred, exact);
    for (let i = 0; i < 2 * n; i++) assert.ok(Math.abs(oa[i]! - k.oTrue[i]!) < 0.01, `exact alignment, ${i}: ${oa[i]} vs ${k.oTrue[i]}`);
    // the alignment found from the maps alone
    const al = alignMaps(k.gt, k.pred, D);
    assert.equal(al.mirrored, mirrored);
    assert.ok(geodesicDeg(al.rotation, k.S) < 1.5, `rotation off by ${geodesicDeg(al.rotation, k.S)} deg`);
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(al.shiftPx[j]! - t[j]!) < 0.1, `shift ${al.shiftPx} vs ${t}`);
    const r = poseError(k.P, k.G, k.oPred, k.oTrue, { alignment: al });
    assert.equal(r.mirrored, mirrored);
    assert.ok(r.rot_median_deg < 1e-6);
    assert.ok(r.shift_median_px! > 1, `raw shift error ${r.shift_median_px}`);
    assert.ok(r.shift_median_aligned_px! < 0.02, `aligned-frame shift error ${r.shift_median_aligned_px}`);
    assert.ok(r.shift_mean_aligned_px! < 0.03);
    // the opposite sign of the correction would double the error instead
    const wrong = alignedOrigins(k.P, k.oPred, { rotation: al.rotation, shiftPx: al.shiftPx.map((v) => -v), mirrored });
    let e = 0;
    for (let i = 0; i < n; i++) e += Math.hypot(wrong[2 * i]! - k.oTrue[2 * i]!, wrong[2 * i + 1]! - k.oTrue[2 * i + 1]!) / n;
    assert.ok(e > 1.5, `${e}`);
  });
}

test('aligned-frame shift error grows with rotation noise only through the projected translation', () => {
  // exact poses but a wrong global translation estimate by d: error = |rows 0,1 of P M R^T d|
  const rng = new Rng(5);
  const n = 500;
  const P = randomRotations(n, rng);
  const o = new Float64Array(2 * n);
  const d = [0.3, 0, 0];
  const R = expSO3([0.2, -0.1, 0.4]);
  const r = poseError(P, P, o, o, { alignment: { rotation: R, shiftPx: d, mirrored: false } });
  // |(P v)_xy| for a fixed |v| = 0.3 and uniform P: |v| sin(theta), theta uniform on the sphere;
  // median of sin(theta) with cos(theta) ~ U(-1, 1) is sqrt(3)/2
  assert.ok(Math.abs(r.shift_median_aligned_px! - 0.3 * Math.sqrt(3) / 2) < 0.02, `${r.shift_median_aligned_px}`);
  assert.equal(poseError(P, P, o, o).shift_median_aligned_px, null);
});

test('pose-error CLI: --alignment FILE reports the aligned-frame shift error (and rejects a malformed file)', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { matrixToEuler } = await import('../../src/core/rotation.js');
  const { runPoseError } = await import('../../src/cli/commands/poseError.js');
  const dir = mkdtempSync(join(tmpdir(), 'pe-aligned-'));
  const k = makeCase(12, false, [1.7, -2.3, 1.1], 8);
  const star = (rots: Float64Array, o: Float64Array): string => {
    const rows = [];
    for (let i = 0; i < rots.length / 9; i++) {
      const [a, b, g] = matrixToEuler(rots.subarray(9 * i, 9 * i + 9));
      rows.push(`${i + 1}@stack.mrcs ${a} ${b} ${g} ${o[2 * i]} ${o[2 * i + 1]} 10000 10000 0 300 2.7 0.1 1.0 10000`);
    }
    return ['data_', 'loop_', '_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginX', '_rlnOriginY',
      '_rlnDefocusU', '_rlnDefocusV', '_rlnDefocusAngle', '_rlnVoltage', '_rlnSphericalAberration', '_rlnAmplitudeContrast',
      '_rlnDetectorPixelSize', '_rlnMagnification', ...rows, ''].join('\n');
  };
  writeFileSync(join(dir, 'pred.star'), star(k.P, k.oPred));
  writeFileSync(join(dir, 'true.star'), star(k.G, k.oTrue));
  writeFileSync(join(dir, 'align.json'), JSON.stringify({ rotation: Array.from(k.S), shift_px: k.t, mirrored: false }));
  const r = runPoseError({ pred: join(dir, 'pred.star'), truth: join(dir, 'true.star'), boxPx: D, alignmentFile: join(dir, 'align.json') });
  assert.ok(r.shift_median_px! > 1, `${r.shift_median_px}`);
  assert.ok(r.shift_median_aligned_px! < 0.02, `${r.shift_median_aligned_px}`);
  const plain = runPoseError({ pred: join(dir, 'pred.star'), truth: join(dir, 'true.star'), boxPx: D });
  assert.equal(plain.shift_median_aligned_px, null);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ rotation: [1, 0, 0], shift_px: [0, 0, 0], mirrored: false }));
  assert.throws(() => runPoseError({ pred: join(dir, 'pred.star'), truth: join(dir, 'true.star'), boxPx: D, alignmentFile: join(dir, 'bad.json') }), /rotation/);
});
