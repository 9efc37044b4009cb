/**
 * Tests for src/core/rotation.ts against independent truths: scipy's matrices (hard-coded below,
 * from `Rotation.from_euler('ZYZ', e, degrees=True).as_matrix().T` etc., and checked live when
 * python3 + scipy are installed), the written-out RELION formula, round trips, and the Haar
 * measure's known angle distribution.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Rng } from '../../src/core/rng.js';
import {
  det, eulerToMatrix, expSO3, frobeniusDistSq, frobeniusSqToAngleDeg, geodesicDeg, identity, logSO3, matMul,
  matrixToEuler, matrixToQuat, matVec, nearestRotation, quatToMatrix, randomRotations, sixdToMatrix, transpose,
} from '../../src/core/rotation.js';

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, msg = ''): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${msg} [${i}] ${a[i]} vs ${b[i]}`);
}

// scipy 1.17: from_euler('ZYZ', (rot, tilt, psi), degrees=True).as_matrix().T, row-major
const SCIPY_EULER: Array<[[number, number, number], number[]]> = [
  [[10, 20, 30], [0.7146101771427564, 0.633718360861996, -0.29619813272602374, -0.6130920223795969, 0.7712805763691758, 0.17101007166283433, 0.3368240888334651, 0.05939117461388469, 0.9396926207859084]],
  [[-75.5, 123.4, 201.0], [-0.21827828277225067, -0.5872767104101027, 0.7793976242457288, -0.9532373157069556, -0.042758880109386534, -0.2991827169399822, 0.20902921138873348, -0.8082559888931723, -0.5504807400849958]],
  [[170, 5, -60], [-0.34014639791476836, 0.9393622289149881, -0.04357787137382911, -0.9364471985337797, -0.34259239883251086, -0.07547908730517333, -0.08583165117743131, 0.015134435901338623, 0.9961946980917458]],
];

test('eulerToMatrix equals the transpose of scipy active intrinsic ZYZ (hard-coded values)', () => {
  for (const [e, m] of SCIPY_EULER) close(eulerToMatrix(...e), m, 1e-14, `euler ${e}`);
});

test('eulerToMatrix equals Rz(psi)·Ry(tilt)·Rz(rot) built from the passive elementary matrices', () => {
  const rz = (t: number) => { const c = Math.cos(t * Math.PI / 180), s = Math.sin(t * Math.PI / 180); return new Float64Array([c, s, 0, -s, c, 0, 0, 0, 1]); };
  const ry = (t: number) => { const c = Math.cos(t * Math.PI / 180), s = Math.sin(t * Math.PI / 180); return new Float64Array([c, 0, -s, 0, 1, 0, s, 0, c]); };
  const rng = new Rng(3);
  for (let i = 0; i < 50; i++) {
    const a = rng.range(-180, 180), b = rng.range(0, 180), g = rng.range(-180, 180);
    const m = identity();
    matMul(m, rz(g), ry(b));
    matMul(m, m, rz(a));
    close(eulerToMatrix(a, b, g), m, 1e-14);
  }
});

test('eulerToMatrix vs live scipy (skipped without python3+scipy)', (t) => {
  const rng = new Rng(11);
  const eul: number[][] = [];
  for (let i = 0; i < 20; i++) eul.push([rng.range(-180, 180), rng.range(0, 180), rng.range(-180, 180)]);
  const py = `import json,sys\nfrom scipy.spatial.transform import Rotation as R\ne=json.loads(sys.argv[1])\nprint(json.dumps([R.from_euler('ZYZ',x,degrees=True).as_matrix().T.ravel().tolist() for x in e]))`;
  const r = spawnSync('python3', ['-c', py, JSON.stringify(eul)], { encoding: 'utf8' });
  if (r.status !== 0) { t.skip('python3 with scipy not available'); return; }
  const mats = JSON.parse(r.stdout) as number[][];
  eul.forEach((e, i) => close(eulerToMatrix(e[0]!, e[1]!, e[2]!), mats[i]!, 1e-13));
});

test('matrixToEuler round trip (matrix level and angle level) incl. gimbal lock', () => {
  const rng = new Rng(1);
  for (let i = 0; i < 500; i++) {
    const e: [number, number, number] = [rng.range(-179.9, 180), rng.range(0.01, 179.99), rng.range(-179.9, 180)];
    const A = eulerToMatrix(...e);
    const back = matrixToEuler(A);
    close(back, e, 1e-8, `angles ${e}`);
    close(eulerToMatrix(...back), A, 1e-12);
  }
  // gimbal lock: tilt 0 -> everything in psi (rot + psi); tilt 180 -> psi - rot.
  const e0 = matrixToEuler(eulerToMatrix(30, 0, 40));
  close(e0, [0, 0, 70], 1e-9);
  const e180 = matrixToEuler(eulerToMatrix(30, 180, 40));
  close(e180, [0, 180, 10], 1e-9);
  close(eulerToMatrix(...e180), eulerToMatrix(30, 180, 40), 1e-12);
});

test('quaternion: scipy value, round trip, sign canonical', () => {
  // scipy from_quat([x,y,z,w] = [0.3,-0.5,0.2,0.7]).as_matrix()
  const ref = [0.33333333333333326, -0.6666666666666667, -0.6666666666666666, -0.02298850574712641, 0.7011494252873564, -0.7126436781609196, 0.942528735632184, 0.2528735632183908, 0.2183908045977011];
  close(quatToMatrix([0.7, 0.3, -0.5, 0.2]), ref, 1e-14);
  const rng = new Rng(2);
  const Rs = randomRotations(200, rng);
  for (let i = 0; i < 200; i++) {
    const R = Rs.subarray(9 * i, 9 * i + 9);
    const q = matrixToQuat(R);
    assert.ok(q[0] >= 0);
    close(quatToMatrix(q), R, 1e-12);
  }
});

test('expSO3: scipy rotvec value; exp/log inverse incl. tiny and near-pi angles', () => {
  const ref = [0.13497780962977668, -0.6902006908268761, -0.7109177148514804, 0.3907699326217988, 0.6964104812642965, -0.6019230028367296, 0.9105382203215319, -0.19655901904347653, 0.3637096388142107];
  close(expSO3([0.3, -1.2, 0.8]), ref, 1e-14);
  const rng = new Rng(4);
  for (let i = 0; i < 300; i++) {
    const ax = [rng.normal(), rng.normal(), rng.normal()];
    const n = Math.hypot(ax[0]!, ax[1]!, ax[2]!);
    const angles = [1e-9, 1e-5, 3e-4, 0.5, 2, Math.PI - 1e-3, Math.PI - 1e-7];
    const ang = angles[i % angles.length]!;
    const w = ax.map((v) => (v / n) * ang);
    const R = expSO3(w);
    assert.ok(Math.abs(det(R) - 1) < 1e-12);
    const w2 = logSO3(R);
    close(w2, w, ang > 3 ? 2e-7 : 1e-10, `angle ${ang}`);
    close(expSO3(w2), R, 1e-12);
  }
  // exactly pi: log returns an axis with angle pi (sign ambiguous), exp gives R back
  const Rpi = expSO3([0, Math.PI, 0]);
  const wpi = logSO3(Rpi);
  assert.ok(Math.abs(Math.hypot(...wpi) - Math.PI) < 1e-9);
  close(expSO3(wpi), Rpi, 1e-12);
});

test('sixdToMatrix returns an orthonormal input unchanged, orthonormalises generic input', () => {
  const rng = new Rng(5);
  const Rs = randomRotations(50, rng);
  for (let i = 0; i < 50; i++) {
    const R = Rs.subarray(9 * i, 9 * i + 9);
    close(sixdToMatrix(R.subarray(0, 6)), R, 1e-13);
    // scaled and skewed second row: same matrix
    const v = Array.from(R.subarray(0, 6));
    const v2 = [...v.slice(0, 3).map((x) => 2.5 * x), ...v.slice(3).map((x, j) => 0.7 * x + 0.3 * v[j]!)];
    close(sixdToMatrix(v2), R, 1e-13);
  }
  const M = sixdToMatrix([1, 2, 3, -1, 0.5, 2]);
  const MtM = matMul(identity(), transpose(identity(), M), M);
  close(MtM, identity(), 1e-14);
  assert.ok(Math.abs(det(M) - 1) < 1e-14);
});

test('randomRotations is Haar: mean ~ 0, angle CDF (t - sin t)/pi (KS), det 1', () => {
  const n = 20000;
  const Rs = randomRotations(n, new Rng(6));
  const mean = new Float64Array(9);
  const angles: number[] = [];
  const I = identity();
  for (let i = 0; i < n; i++) {
    const R = Rs.subarray(9 * i, 9 * i + 9);
    for (let k = 0; k < 9; k++) mean[k]! += R[k]! / n;
    if (i < 100) assert.ok(Math.abs(det(R) - 1) < 1e-12);
    angles.push((geodesicDeg(I, R) * Math.PI) / 180);
  }
  for (let k = 0; k < 9; k++) assert.ok(Math.abs(mean[k]!) < 0.02, `mean[${k}] = ${mean[k]}`); // SE = 0.0041
  angles.sort((a, b) => a - b);
  let ks = 0;
  for (let i = 0; i < n; i++) {
    const cdf = (angles[i]! - Math.sin(angles[i]!)) / Math.PI;
    ks = Math.max(ks, Math.abs(cdf - i / n), Math.abs(cdf - (i + 1) / n));
  }
  assert.ok(ks < 0.015, `KS statistic ${ks}`); // 95% critical value 0.0096
});

test('geodesicDeg(R, R·exp(theta·axis)) = theta; Frobenius-angle relation', () => {
  const rng = new Rng(7);
  const Rs = randomRotations(100, rng);
  for (let i = 0; i < 100; i++) {
    const R = Rs.subarray(9 * i, 9 * i + 9);
    const ax = [rng.normal(), rng.normal(), rng.normal()];
    const n = Math.hypot(ax[0]!, ax[1]!, ax[2]!);
    const thetaDeg = [1e-6, 0.01, 1, 45, 90, 179, 179.9999][i % 7]!;
    const th = (thetaDeg * Math.PI) / 180;
    const R2 = matMul(new Float64Array(9), R, expSO3(ax.map((v) => (v / n) * th)));
    const g = geodesicDeg(R, R2);
    assert.ok(Math.abs(g - thetaDeg) < 1e-6 * Math.max(1, thetaDeg) + 1e-9, `${g} vs ${thetaDeg}`);
    assert.ok(Math.abs(frobeniusSqToAngleDeg(frobeniusDistSq(R, R2)) - thetaDeg) < 1e-5);
  }
});

test('matVec, transpose and nearestRotation (polar projection)', () => {
  const A = eulerToMatrix(10, 20, 30);
  const v = matVec(new Float64Array(3), A, [1, 2, 3]);
  close(v, [A[0]! + 2 * A[1]! + 3 * A[2]!, A[3]! + 2 * A[4]! + 3 * A[5]!, A[6]! + 2 * A[7]! + 3 * A[8]!], 1e-15);
  const At = transpose(new Float64Array(9), A);
  close(matMul(new Float64Array(9), A, At), identity(), 1e-15);
  // nearestRotation of a rotation times a positive-definite symmetric matrix recovers the rotation
  const S = new Float64Array([3, 0.5, 0.2, 0.5, 2, -0.3, 0.2, -0.3, 1.5]);
  const Rs = randomRotations(30, new Rng(8));
  for (let i = 0; i < 30; i++) {
    const R = Rs.subarray(9 * i, 9 * i + 9);
    close(nearestRotation(matMul(new Float64Array(9), R, S)), R, 1e-10);
    close(nearestRotation(R), R, 1e-12);
  }
});
