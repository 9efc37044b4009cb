import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyShift, applyShiftBatch, shiftPhaseFactors } from '../../src/core/shift.js';
import { fft2Centered, ifft2Centered, fft2CenteredBatch, ifft2CenteredBatch } from '../../src/core/fft.js';
import { Rng } from '../../src/core/rng.js';

function randImage(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** np.roll(img, (sy, sx), axis=(0, 1)): out[y][x] = img[y - sy][x - sx] (circular). */
function roll(img: Float32Array, D: number, sx: number, sy: number): Float32Array {
  const out = new Float32Array(D * D);
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    out[y * D + x] = img[(((y - sy) % D) + D) % D * D + ((((x - sx) % D) + D) % D)]!;
  }
  return out;
}

test('integer origins are circular shifts by MINUS the origin (np.roll), even and odd D', () => {
  const rng = new Rng(21);
  for (const D of [16, 17]) {
    const img = randImage(rng, D * D);
    for (const [ox, oy] of [[3, 0], [-3, 0], [0, 3], [0, -3], [3, -2], [-5, 4]] as const) {
      const F = fft2Centered(img, D);
      const shifted = ifft2Centered(applyShift(F, D, ox, oy), D);
      const expect = roll(img, D, -ox, -oy);
      let maxErr = 0;
      for (let i = 0; i < D * D; i++) maxErr = Math.max(maxErr, Math.abs(shifted[i]! - expect[i]!));
      assert.ok(maxErr < 1e-5, `D=${D} origin=(${ox},${oy}) err=${maxErr}`);
    }
  }
});

test('a fractional origin moves a Gaussian blob from the centre c to c - origin', () => {
  const D = 33;
  const c = 16;
  const s = 2.0;
  const blob = (x0: number, y0: number): Float32Array => {
    const img = new Float32Array(D * D);
    for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      img[y * D + x] = Math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s * s));
    }
    return img;
  };
  const [ox, oy] = [2.3, -1.6];
  const out = ifft2Centered(applyShift(fft2Centered(blob(c, c), D), D, ox, oy), D);
  const expect = blob(c - ox, c - oy);
  let maxErr = 0;
  for (let i = 0; i < D * D; i++) maxErr = Math.max(maxErr, Math.abs(out[i]! - expect[i]!));
  assert.ok(maxErr < 1e-4, `err=${maxErr}`);
});

test('shift then unshift is the identity; phase factors equal applyShift on ones; batch = per image', () => {
  const rng = new Rng(22);
  const D = 12;
  const F = fft2Centered(randImage(rng, D * D), D);
  const G = { re: F.re.slice(), im: F.im.slice() };
  applyShift(applyShift(G, D, 1.37, -0.42), D, -1.37, 0.42);
  for (let i = 0; i < D * D; i++) assert.ok(Math.abs(G.re[i]! - F.re[i]!) < 1e-3 && Math.abs(G.im[i]! - F.im[i]!) < 1e-3);

  const P = shiftPhaseFactors(D, 0.7, 2.2);
  const ones = { re: new Float32Array(D * D).fill(1), im: new Float32Array(D * D) };
  applyShift(ones, D, 0.7, 2.2);
  for (let i = 0; i < D * D; i++) {
    assert.ok(Math.abs(P.re[i]! - ones.re[i]!) < 1e-6 && Math.abs(P.im[i]! - ones.im[i]!) < 1e-6);
    assert.ok(Math.abs(P.re[i]! ** 2 + P.im[i]! ** 2 - 1) < 1e-6);
  }

  const B = 3;
  const imgs = randImage(rng, B * D * D);
  const origins = [1, 2, -3, 0, 0.5, -0.5];
  const out = ifft2CenteredBatch(applyShiftBatch(fft2CenteredBatch(imgs, D, B), D, origins), D, B);
  for (let b = 0; b < B; b++) {
    const one = ifft2Centered(applyShift(fft2Centered(imgs.subarray(b * D * D, (b + 1) * D * D), D), D, origins[2 * b]!, origins[2 * b + 1]!), D);
    for (let i = 0; i < D * D; i++) assert.ok(Math.abs(out[b * D * D + i]! - one[i]!) < 1e-6);
  }
  assert.throws(() => applyShiftBatch(F, D, [1, 2, 3, 4]), RangeError);
});
