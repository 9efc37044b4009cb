/**
 * Alignment tests: maps made of Gaussian blobs are evaluated analytically at transformed
 * coordinates (no interpolation in the truth), so the expected rotation, shift and hand are
 * known exactly. Convention under test: aligned(x) = B(M R^T (x - t)).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix, geodesicDeg, matMul, matVec, randomRotations, transpose } from '../../src/core/rotation.js';
import { alignMaps, maskedCorrelation, nelderMead, superFibonacciRotations, transformVolume } from '../../src/eval/align.js';

const MIRROR = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, -1]);

interface Blobs { centres: number[][]; amps: number[]; sigma: number }

function makeBlobs(D: number, seed: number, n = 10): Blobs {
  const rng = new Rng(seed);
  const centres: number[][] = [], amps: number[] = [];
  for (let j = 0; j < n; j++) {
    centres.push([rng.range(-D / 5, D / 5), rng.range(-D / 6, D / 6), rng.range(-D / 8, D / 8)]);
    amps.push(rng.range(0.5, 1.5));
  }
  return { centres, amps, sigma: D / 14 };
}

function render(D: number, b: Blobs): Float32Array {
  const v = new Float32Array(D * D * D), c = Math.floor(D / 2), s2 = 2 * b.sigma * b.sigma;
  let i = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
    let s = 0;
    b.centres.forEach((q, j) => { s += b.amps[j]! * Math.exp(-((x - c - q[0]!) ** 2 + (y - c - q[1]!) ** 2 + (z - c - q[2]!) ** 2) / s2); });
    v[i] = s;
  }
  return v;
}

/** Blobs of B with B(p) = A(L p + u) for orthogonal L: centres L^T (c - u). */
function transformBlobs(b: Blobs, L: Float64Array, u: number[]): Blobs {
  const Lt = transpose(new Float64Array(9), L);
  return { ...b, centres: b.centres.map((c) => Array.from(matVec(new Float64Array(3), Lt, [c[0]! - u[0]!, c[1]! - u[1]!, c[2]! - u[2]!]))) };
}

test('transformVolume: a blob at p moves to R p + t (out(x) = in(R^T (x - t)))', () => {
  const D = 20;
  const blob: Blobs = { centres: [[3, -2, 1]], amps: [1], sigma: 1.5 };
  const R = eulerToMatrix(30, 50, -20), t = [1, 0.5, -2];
  const out = transformVolume(render(D, blob), D, transpose(new Float64Array(9), R), t);
  const p = matVec(new Float64Array(3), R, [3, -2, 1]);
  const truth = render(D, { ...blob, centres: [[p[0]! + t[0]!, p[1]! + t[1]!, p[2]! + t[2]!]] });
  assert.ok(maskedCorrelation(out, truth) > 0.99, `${maskedCorrelation(out, truth)}`);
});

test('superFibonacci rotations are spread out', () => {
  const rots = superFibonacciRotations(500);
  let minSep = 180;
  for (let i = 1; i < 500; i++) minSep = Math.min(minSep, geodesicDeg(rots.subarray(0, 9), rots.subarray(9 * i, 9 * i + 9)));
  assert.ok(minSep > 5, 'points are spread out');
});

test('nelderMead finds the minimum of a shifted quadratic', () => {
  const x = nelderMead((v) => (v[0]! - 1) ** 2 + 3 * (v[1]! + 2) ** 2 + 0.5 * (v[2]! - 0.3) ** 2, [0, 0, 0], [1, 1, 1], 2000, 1e-14);
  assert.ok(Math.abs(x[0]! - 1) < 1e-4 && Math.abs(x[1]! + 2) < 1e-4 && Math.abs(x[2]! - 0.3) < 1e-4, `${x}`);
});

for (const mirrored of [false, true]) {
  test(`alignMaps recovers a known rotation + shift${mirrored ? ' of the mirrored copy (hand detected)' : ''}`, () => {
    const D = 24;
    const blobs = makeBlobs(D, 1);
    const A = render(D, blobs);
    const R = randomRotations(1, new Rng(mirrored ? 12 : 11));
    const t = [1.5, -2.2, 0.7];
    // aligned(x) = B(M R^T (x - t)) = A(x) holds for B(p) = A(R M p + t)
    const L = mirrored ? matMul(new Float64Array(9), R, MIRROR) : R;
    const B = render(D, transformBlobs(blobs, L, t));
    const r = alignMaps(A, B, D, { nRotations: 4000 });
    assert.equal(r.mirrored, mirrored);
    assert.ok(r.correlation > 0.99, `correlation ${r.correlation}`);
    assert.ok(geodesicDeg(r.rotation, R) < 1, `rotation error ${geodesicDeg(r.rotation, R)} deg`);
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(r.shiftPx[k]! - t[k]!) < 0.2, `shift ${r.shiftPx} vs ${t}`);
    assert.ok(maskedCorrelation(r.aligned, A) > 0.99);
  });
}

test('alignMaps on the 70S map at box 64 (real map; CRYOSPIN_SLOW=1)', { skip: !process.env['CRYOSPIN_SLOW'] }, async (t) => {
  const path = '../shared/data/aspire_70S_synthetic/clean70SRibosome_vol_65p.mrc';
  if (!existsSync(path)) { t.skip('shared data absent'); return; }
  const { readMrc } = await import('../../src/io/mrc.js');
  const m = readMrc(path);
  const D = 64, A = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) A[(z * D + y) * D + x] = m.data[(z * 65 + y) * 65 + x]!;
  const R = randomRotations(1, new Rng(5)), sh = [2.5, -1.3, 3.1];
  const L = matMul(new Float64Array(9), R, MIRROR);
  const Linv = transpose(new Float64Array(9), L);
  const s = Array.from(matVec(new Float64Array(3), Linv, sh), (v) => -v);
  const B = transformVolume(A, D, L, s); // B(p) = A(R M p + sh)
  const t0 = Date.now();
  const r = alignMaps(A, B, D);
  const sec = (Date.now() - t0) / 1000;
  assert.ok(sec < 30, `took ${sec} s`);
  assert.equal(r.mirrored, true);
  assert.ok(r.correlation > 0.99 && geodesicDeg(r.rotation, R) < 0.5);
});
