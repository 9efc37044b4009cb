import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareProjector, projectMany, projectVolume, paddedSize } from '../../src/core/project.js';
import { eulerToMatrix } from '../../src/core/rotation.js';
import { ctf2D, type CtfParams } from '../../src/core/ctf.js';
import { fft2Centered, ifft2Centered } from '../../src/core/fft.js';
import { corr, maxRelErr } from '../helpers/compare.js';

interface Blob { m: [number, number, number]; s: number; w: number }

const blobs: Blob[] = [
  { m: [0, 0, 0], s: 2.5, w: 1 },
  { m: [6, -3, 2], s: 1.8, w: 0.8 },
  { m: [-5, 4, -6], s: 2.0, w: -0.5 },
  { m: [2, 7, 5], s: 1.6, w: 0.6 },
];

function blobVolume(D: number): Float32Array {
  const c = Math.floor(D / 2);
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const b of blobs) {
      const r2 = (x - c - b.m[0]) ** 2 + (y - c - b.m[1]) ** 2 + (z - c - b.m[2]) ** 2;
      s += b.w * Math.exp(-r2 / (2 * b.s * b.s));
    }
    v[(z * D + y) * D + x] = s;
  }
  return v;
}

/** Analytic projection sum_z V(A^T (x, y, z)) of the blobs (line integrals of Gaussians). */
function blobProjection(D: number, A: Float64Array, origin: [number, number] = [0, 0]): Float32Array {
  const c = Math.floor(D / 2);
  const img = new Float32Array(D * D);
  for (const b of blobs) {
    // the blob centre in image coordinates is A·m; the image is translated by minus the origin
    const qx = A[0]! * b.m[0] + A[1]! * b.m[1] + A[2]! * b.m[2] - origin[0];
    const qy = A[3]! * b.m[0] + A[4]! * b.m[1] + A[5]! * b.m[2] - origin[1];
    const amp = b.w * Math.sqrt(2 * Math.PI) * b.s;
    for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      img[y * D + x] += amp * Math.exp(-((x - c - qx) ** 2 + (y - c - qy) ** 2) / (2 * b.s * b.s));
    }
  }
  return img;
}


// Generic angles: the gridding pre-correction (on by default, as in RELION) compensates the
// trilinear blur of off-grid samples; for axis-aligned views the slice hits grid points and the
// exact answer needs gridding off (tested separately below).
const angles: [number, number, number][] = [[30, 60, -20], [200, 120, 45], [-75, 95, 160], [10, 33, 250]];

test('projectVolume matches the analytic line integrals sum_z V(A^T (x,y,z)), even and odd D', () => {
  for (const D of [32, 33]) {
    const vol = blobVolume(D);
    const prep = prepareProjector(vol, D, 2);
    assert.equal(prep.Dp, 2 * D + ((2 * D) % 2));
    const rots = new Float64Array(9 * angles.length);
    angles.forEach((a, b) => rots.set(eulerToMatrix(...a), 9 * b));
    const many = projectMany(prep, rots);
    angles.forEach((a, b) => {
      const truth = blobProjection(D, eulerToMatrix(...a));
      const img = many.subarray(b * D * D, (b + 1) * D * D);
      const r = corr(img, truth);
      const e = maxRelErr(img, truth);
      assert.ok(r > 0.9999, `D=${D} angles=${a} corr=${r}`);
      assert.ok(e < 0.01, `D=${D} angles=${a} max rel err=${e}`);
    });
    // using A instead of A^T would give a visibly different image
    const A = eulerToMatrix(30, 60, -20);
    const AT = new Float64Array([A[0]!, A[3]!, A[6]!, A[1]!, A[4]!, A[7]!, A[2]!, A[5]!, A[8]!]);
    assert.ok(corr(projectMany(prep, AT), blobProjection(D, A)) < 0.95);
  }
});

test('axis-aligned view without gridding equals the plain voxel sum along z exactly', () => {
  for (const D of [24, 25]) {
    const vol = blobVolume(D);
    const direct = new Float32Array(D * D);
    for (let z = 0; z < D; z++) for (let i = 0; i < D * D; i++) direct[i] += vol[z * D * D + i]!;
    const img = projectVolume(vol, D, eulerToMatrix(0, 0, 0), { gridding: false });
    // (up to the frequencies beyond the Nyquist circle, which the projector drops like RELION)
    assert.ok(maxRelErr(img, direct) < 2e-4, `D=${D} err=${maxRelErr(img, direct)}`);
  }
});

test('origins translate the projection by MINUS the origin (sub-pixel), as in RELION', () => {
  const D = 32;
  const A = eulerToMatrix(30, 60, -20);
  const origin: [number, number] = [3.5, -2.25];
  const img = projectVolume(blobVolume(D), D, A, { originPx: origin });
  const truth = blobProjection(D, A, origin);
  assert.ok(corr(img, truth) > 0.9999);
  assert.ok(maxRelErr(img, truth) < 0.01);
});

test('with a CTF, the projection equals the clean projection filtered by the CTF (away from the edges)', () => {
  const D = 33;
  const apix = 3;
  const p: CtfParams = {
    defocusUAngstrom: 12000, defocusVAngstrom: 10000, defocusAngleDeg: 25, voltageKv: 300,
    csMm: 2.7, amplitudeContrast: 0.1, phaseShiftDeg: 0, bFactor: 50,
  };
  const A = eulerToMatrix(200, 120, 45);
  const img = projectVolume(blobVolume(D), D, A, { ctf: { params: p, apixAngstrom: apix } });
  // independent route: analytic projection, padded, filtered by the CTF of the padded box
  const Dp = paddedSize(D, 2);
  const truthP = blobProjection(Dp, A);
  const F = fft2Centered(truthP, Dp);
  const c = ctf2D(p, Dp, apix);
  for (let i = 0; i < Dp * Dp; i++) { F.re[i] = F.re[i]! * c[i]!; F.im[i] = F.im[i]! * c[i]!; }
  const filtered = ifft2Centered(F, Dp);
  const o = Math.floor(Dp / 2) - Math.floor(D / 2);
  const truth = new Float32Array(D * D);
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) truth[y * D + x] = filtered[(y + o) * Dp + x + o]!;
  const r = corr(img, truth);
  assert.ok(r > 0.999, `corr=${r}`);
});

test('relionCompatible mode (D-grid slice) agrees with the default for a compact particle, and its shifts wrap', () => {
  const D = 32;
  const prep = prepareProjector(blobVolume(D), D, 2);
  const A = eulerToMatrix(200, 120, 45);
  const compat = projectMany(prep, A, { relionCompatible: true });
  assert.ok(corr(compat, projectMany(prep, A)) > 0.9999);
  assert.ok(corr(compat, blobProjection(D, A)) > 0.999);
  // integer origin on the D grid = circular shift (np.roll by minus the origin)
  const shifted = projectMany(prep, A, { relionCompatible: true, origins: [5, -4] });
  let maxErr = 0;
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const src = ((y + -4 + D) % D) * D + ((x + 5) % D);
    maxErr = Math.max(maxErr, Math.abs(shifted[y * D + x]! - compat[src]!));
  }
  assert.ok(maxErr < 1e-4, `wrap err ${maxErr}`);
});

test('bad inputs throw RangeError', () => {
  assert.throws(() => prepareProjector(new Float32Array(10), 2), RangeError);
  const prep = prepareProjector(new Float32Array(8), 2);
  assert.throws(() => projectMany(prep, new Float64Array(9), { origins: [1] }), RangeError);
  assert.throws(() => projectMany(prep, new Float64Array(8)), RangeError);
});
