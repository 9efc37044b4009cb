import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fourierCropImage, fourierCropImages, fourierCropVolume, resizeCenteredSpectrum } from '../../src/core/resample.js';
import { Rng } from '../../src/core/rng.js';

function gaussImage(D: number, s: number, dx = 0, dy = 0): Float32Array {
  const c = Math.floor(D / 2);
  const img = new Float32Array(D * D);
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    img[y * D + x] = Math.exp(-((x - c - dx) ** 2 + (y - c - dy) ** 2) / (2 * s * s));
  }
  return img;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function mean(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}

test('downsampling a Gaussian gives the Gaussian at the coarser pixel, same height, centre kept', () => {
  for (const [D, Dnew] of [[64, 32], [65, 33], [65, 64], [64, 48], [33, 66], [32, 45]] as const) {
    const s = 3;
    const out = fourierCropImage(gaussImage(D, s, 1.5, -2), D, Dnew);
    const f = Dnew / D;
    const expect = gaussImage(Dnew, s * f, 1.5 * f, -2 * f);
    assert.ok(maxAbsDiff(out, expect) < 1e-4, `${D}->${Dnew}: ${maxAbsDiff(out, expect)}`);
  }
});

test('the mean is preserved exactly, for random images, both directions', () => {
  const rng = new Rng(31);
  for (const [D, Dnew] of [[32, 16], [33, 20], [20, 33], [16, 32]] as const) {
    const img = new Float32Array(D * D).map(() => rng.normal() + 0.3);
    const out = fourierCropImage(img, D, Dnew);
    assert.ok(Math.abs(mean(out) - mean(img)) < 1e-5, `${D}->${Dnew}`);
  }
});

test('upsample then downsample is the identity (odd D exactly; even D for content below Nyquist)', () => {
  const rng = new Rng(32);
  const D = 17;
  const img = new Float32Array(D * D).map(() => rng.normal());
  const back = fourierCropImage(fourierCropImage(img, D, 40), 40, D);
  assert.ok(maxAbsDiff(back, img) < 1e-5);
  const g = gaussImage(32, 2.5, 0.7, 0.2);
  assert.ok(maxAbsDiff(fourierCropImage(fourierCropImage(g, 32, 64), 64, 32), g) < 1e-5);
  // batch helper = one by one
  const two = new Float32Array(2 * D * D);
  two.set(img);
  two.set(img.map((v) => -v), D * D);
  const b = fourierCropImages(two, D, 2, 9);
  const one = fourierCropImage(img, D, 9);
  assert.ok(maxAbsDiff(b.subarray(0, 81), one) < 1e-7);
  assert.ok(maxAbsDiff(b.subarray(81), one.map((v) => -v)) < 1e-6);
});

test('volumes: a 3D Gaussian downsampled keeps height and scales its width', () => {
  for (const [D, Dnew] of [[32, 24], [25, 32]] as const) {
    const s = 3;
    const gauss = (n: number, sg: number) => {
      const c = Math.floor(n / 2);
      const v = new Float32Array(n ** 3);
      for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
        v[(z * n + y) * n + x] = Math.exp(-((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) / (2 * sg * sg));
      }
      return v;
    };
    const out = fourierCropVolume(gauss(D, s), D, Dnew);
    assert.ok(maxAbsDiff(out, gauss(Dnew, (s * Dnew) / D)) < 1e-4, `${D}->${Dnew}`);
  }
  assert.throws(() => fourierCropVolume(new Float32Array(10), 2, 1), RangeError);
  assert.throws(() => fourierCropImage(new Float32Array(4), 2, 0), RangeError);
});

test('resizeCenteredSpectrum keeps the DC term at the centre index', () => {
  const F = { re: new Float32Array(25), im: new Float32Array(25) };
  F.re[2 * 5 + 2] = 7;
  const G = resizeCenteredSpectrum(F, 5, 8, 2);
  assert.equal(G.re[4 * 8 + 4], 7);
  const H = resizeCenteredSpectrum(G, 8, 3, 2);
  assert.equal(H.re[1 * 3 + 1], 7);
});
