import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extractSlices, insertSlicesAdjoint, insertSlicesWeights, extractSlicesReal, insertSlicesAdjointReal,
} from '../../src/core/fourierSlice.js';
import { fft3Centered } from '../../src/core/fft.js';
import { complexZeros } from '../../src/core/complex.js';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix } from '../../src/core/rotation.js';

function randomEulers(rng: Rng, B: number): Float64Array {
  const rots = new Float64Array(9 * B);
  for (let b = 0; b < B; b++) {
    rots.set(eulerToMatrix(rng.range(0, 360), rng.range(0, 180), rng.range(0, 360)), 9 * b);
  }
  return rots;
}

function randArray(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

test('insertSlicesAdjoint is the exact adjoint of extractSlices (complex and real, padded and not)', () => {
  const rng = new Rng(11);
  for (const [Dv, Di, radiusMax] of [[12, 12, undefined], [13, 13, undefined], [20, 10, undefined], [25, 12, 5.5], [11, 16, undefined]] as const) {
    const B = 4;
    const rots = randomEulers(rng, B);
    const x = { re: randArray(rng, Dv ** 3), im: randArray(rng, Dv ** 3) };
    const y = { re: randArray(rng, B * Di * Di), im: randArray(rng, B * Di * Di) };
    const opts = radiusMax !== undefined ? { radiusMax } : undefined;
    const Ax = extractSlices(x, Dv, rots, Di, complexZeros(B * Di * Di), opts);
    const ATy = insertSlicesAdjoint(y, Di, rots, Dv, complexZeros(Dv ** 3), opts);
    const lhs = dot(Ax.re, y.re) + dot(Ax.im, y.im);
    const rhs = dot(x.re, ATy.re) + dot(x.im, ATy.im);
    assert.ok(Math.abs(lhs - rhs) / Math.abs(lhs) < 1e-5, `Dv=${Dv} Di=${Di}: ${lhs} vs ${rhs}`);

    const Axr = extractSlicesReal(x.re, Dv, rots, Di, new Float32Array(B * Di * Di), opts);
    const ATyr = insertSlicesAdjointReal(y.re, Di, rots, Dv, new Float32Array(Dv ** 3), opts);
    const l2 = dot(Axr, y.re);
    const r2 = dot(x.re, ATyr);
    assert.ok(Math.abs(l2 - r2) / Math.abs(l2) < 1e-5, `real Dv=${Dv}: ${l2} vs ${r2}`);
    assert.deepEqual(Axr, Ax.re);

    // the weights are the adjoint applied to all-ones slices (times pixel weights)
    const pw = randArray(rng, Di * Di).map(Math.abs);
    const tiled = new Float32Array(B * Di * Di);
    for (let b = 0; b < B; b++) tiled.set(pw, b * Di * Di);
    const W = insertSlicesWeights(Di, rots, Dv, new Float32Array(Dv ** 3), { ...opts, pixelWeights: pw });
    const W2 = insertSlicesAdjointReal(tiled, Di, rots, Dv, new Float32Array(Dv ** 3), opts);
    let maxDiff = 0;
    for (let i = 0; i < W.length; i++) maxDiff = Math.max(maxDiff, Math.abs(W[i]! - W2[i]!));
    assert.ok(maxDiff < 1e-5);
  }
});

test('identity rotation: the slice is the central z-plane; outside radiusMax it is zero', () => {
  const rng = new Rng(12);
  const D = 9;
  const vol = { re: randArray(rng, D ** 3), im: randArray(rng, D ** 3) };
  const out = extractSlices(vol, D, eulerToMatrix(0, 0, 0), D, complexZeros(D * D), { radiusMax: 3 });
  const c = 4;
  for (let y = 0; y < D; y++) {
    for (let x = 0; x < D; x++) {
      const inside = (x - c) ** 2 + (y - c) ** 2 <= 9;
      const v = (c * D + y) * D + x;
      assert.ok(Math.abs(out.re[y * D + x]! - (inside ? vol.re[v]! : 0)) < 1e-6);
      assert.ok(Math.abs(out.im[y * D + x]! - (inside ? vol.im[v]! : 0)) < 1e-6);
    }
  }
  // a 90-degree tilt about y puts image x along volume -z (A^T (kx,0,0) = kx * row 0 of A)
  const A = eulerToMatrix(0, 90, 0);
  const o2 = extractSlices(vol, D, A, D, complexZeros(D * D));
  for (let x = 0; x < D; x++) {
    const k = x - c;
    const expect = vol.re[((c - k) * D + c) * D + c]!; // p = (0, 0, -kx)
    assert.ok(Math.abs(o2.re[c * D + x]! - expect) < 1e-5, `x=${x}`);
  }
});

/** Centred 3D Gaussian exp(-r^T S^-1 r / 2) with covariance S (row-major 3x3) on a D^3 grid. */
function gaussianVolume(D: number, S: number[]): Float32Array {
  const [a, b, c, , e, f, , , i] = S as [number, number, number, number, number, number, number, number, number];
  // inverse of the symmetric matrix [[a,b,c],[b,e,f],[c,f,i]]
  const det = a * (e * i - f * f) - b * (b * i - f * c) + c * (b * f - e * c);
  const inv = [
    (e * i - f * f) / det, (c * f - b * i) / det, (b * f - c * e) / det,
    (c * f - b * i) / det, (a * i - c * c) / det, (b * c - a * f) / det,
    (b * f - c * e) / det, (b * c - a * f) / det, (a * e - b * b) / det,
  ];
  const vol = new Float32Array(D ** 3);
  const cc = Math.floor(D / 2);
  for (let z = 0; z < D; z++) {
    for (let y = 0; y < D; y++) {
      for (let x = 0; x < D; x++) {
        const r = [x - cc, y - cc, z - cc];
        let q = 0;
        for (let m = 0; m < 3; m++) for (let n = 0; n < 3; n++) q += r[m]! * inv[3 * m + n]! * r[n]!;
        vol[(z * D + y) * D + x] = Math.exp(-q / 2);
      }
    }
  }
  return vol;
}

/** Zero-pad a centred D^3 volume into a centred P^3 grid. */
function padVolume(vol: Float32Array, D: number, P: number): Float32Array {
  const out = new Float32Array(P ** 3);
  const o = Math.floor(P / 2) - Math.floor(D / 2);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    out[((z + o) * P + y + o) * P + x + o] = vol[(z * D + y) * D + x]!;
  }
  return out;
}

test('fft3 of a centred Gaussian is the analytic Gaussian (2 pi s^2)^(3/2) exp(-2 pi^2 s^2 f^2)', () => {
  for (const D of [24, 25]) {
    const s = 1.6;
    const F = fft3Centered(gaussianVolume(D, [s * s, 0, 0, 0, s * s, 0, 0, 0, s * s]), D);
    const c = Math.floor(D / 2);
    const amp = (2 * Math.PI * s * s) ** 1.5;
    let maxErr = 0;
    let maxIm = 0;
    for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      const f2 = ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) / (D * D);
      const i = (z * D + y) * D + x;
      maxErr = Math.max(maxErr, Math.abs(F.re[i]! - amp * Math.exp(-2 * Math.PI ** 2 * s * s * f2)));
      maxIm = Math.max(maxIm, Math.abs(F.im[i]!));
    }
    assert.ok(maxErr / amp < 1e-5, `D=${D} rel err ${maxErr / amp}`);
    assert.ok(maxIm / amp < 1e-5);
  }
});

test('slices of a spherically symmetric volume equal its 2D analogue at any rotation', () => {
  const D = 24;
  const P = 48; // padded volume: slice samples every other Fourier voxel
  const s = 1.4;
  const vol = padVolume(gaussianVolume(D, [s * s, 0, 0, 0, s * s, 0, 0, 0, s * s]), D, P);
  const F = fft3Centered(vol, P);
  const rng = new Rng(13);
  const B = 5;
  const rots = randomEulers(rng, B);
  const out = extractSlices(F, P, rots, D, complexZeros(B * D * D));
  const amp = (2 * Math.PI * s * s) ** 1.5;
  const c = D / 2;
  let maxErr = 0;
  for (let b = 0; b < B; b++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const f2 = ((x - c) ** 2 + (y - c) ** 2) / (D * D);
    const i = (b * D + y) * D + x;
    maxErr = Math.max(maxErr, Math.abs(out.re[i]! - amp * Math.exp(-2 * Math.PI ** 2 * s * s * f2)), Math.abs(out.im[i]!));
  }
  // trilinear interpolation of a Gaussian of Fourier width P/(2 pi s) ~ 5.5 voxels: < 1% error
  assert.ok(maxErr / amp < 0.01, `rel err ${maxErr / amp}`);
});

test('slice of a rotated anisotropic Gaussian equals the FT of its analytic projection (A^T, not A)', () => {
  const D = 24;
  const P = 48;
  const sig = [1.0, 1.4, 2.0];
  const S = [sig[0]! ** 2, 0, 0, 0, sig[1]! ** 2, 0, 0, 0, sig[2]! ** 2];
  const F = fft3Centered(padVolume(gaussianVolume(D, S), D, P), P);
  const rng = new Rng(14);
  const B = 4;
  const rots = randomEulers(rng, B);
  const out = extractSlices(F, P, rots, D, complexZeros(B * D * D));
  const amp = (2 * Math.PI) ** 1.5 * sig[0]! * sig[1]! * sig[2]!;
  const c = D / 2;
  const check = (useTranspose: boolean): number => {
    let maxErr = 0;
    for (let b = 0; b < B; b++) {
      const A = rots.subarray(9 * b, 9 * b + 9);
      // projected image = 2D Gaussian with covariance M = top-left 2x2 of A S A^T; its FT at
      // frequency f is amp * exp(-2 pi^2 f^T M f). Using A^T S A instead is the wrong convention.
      const M = new Float64Array(4);
      for (let r = 0; r < 2; r++) for (let q = 0; q < 2; q++) {
        let v = 0;
        for (let m = 0; m < 3; m++) {
          const ar = useTranspose ? A[3 * r + m]! : A[3 * m + r]!;
          const aq = useTranspose ? A[3 * q + m]! : A[3 * m + q]!;
          v += ar * S[4 * m]! * aq;
        }
        M[2 * r + q] = v;
      }
      for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
        const fx = (x - c) / D, fy = (y - c) / D;
        const q = M[0]! * fx * fx + 2 * M[1]! * fx * fy + M[3]! * fy * fy;
        const i = (b * D + y) * D + x;
        maxErr = Math.max(maxErr, Math.abs(out.re[i]! - amp * Math.exp(-2 * Math.PI ** 2 * q)));
      }
    }
    return maxErr / amp;
  };
  const good = check(true);
  const bad = check(false);
  assert.ok(good < 0.015, `rel err ${good} (wrong convention: ${bad})`);
  assert.ok(bad > 0.1, `wrong convention should fail clearly, got ${bad}`);
});

test('size checks throw RangeError', () => {
  assert.throws(() => extractSlices(complexZeros(8), 2, new Float64Array(9), 3, complexZeros(8)), RangeError);
  assert.throws(() => extractSlicesReal(new Float32Array(27), 3, new Float64Array(10), 3, new Float32Array(9)), RangeError);
});
