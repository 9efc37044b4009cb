import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fft1dInPlace, fftnCentered, fft2Centered, ifft2Centered, fft3Centered, ifft3Centered,
  fft2CenteredBatch, ifft2CenteredBatch,
} from '../../src/core/fft.js';
import { Rng } from '../../src/core/rng.js';

/** Direct O(n^2) DFT, the independent truth. */
function naiveDft(re: number[], im: number[], inverse: boolean): [number[], number[]] {
  const n = re.length;
  const s = inverse ? 1 : -1;
  const or: number[] = [];
  const oi: number[] = [];
  for (let k = 0; k < n; k++) {
    let ar = 0;
    let ai = 0;
    for (let j = 0; j < n; j++) {
      const a = (s * 2 * Math.PI * ((j * k) % n)) / n;
      ar += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
      ai += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
    }
    or.push(ar);
    oi.push(ai);
  }
  return [or, oi];
}

function randn(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.normal());
}

test('1D FFT matches the direct DFT for power-of-two and other lengths (incl. odd)', () => {
  const rng = new Rng(1);
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 31, 32, 64, 65, 100, 128]) {
    for (const inverse of [false, true]) {
      const re = randn(rng, n);
      const im = randn(rng, n);
      const [er, ei] = naiveDft(re, im, inverse);
      const fr = Float64Array.from(re);
      const fi = Float64Array.from(im);
      fft1dInPlace(fr, fi, inverse);
      let maxErr = 0;
      for (let k = 0; k < n; k++) maxErr = Math.max(maxErr, Math.abs(fr[k]! - er[k]!), Math.abs(fi[k]! - ei[k]!));
      assert.ok(maxErr < 1e-10 * n, `n=${n} inverse=${inverse} maxErr=${maxErr}`);
    }
  }
});

test('centred 2D FFT equals the centred DFT definition (DC at floor(D/2)), non-square too', () => {
  const rng = new Rng(2);
  for (const [ny, nx] of [[4, 4], [5, 5], [6, 5], [7, 8]] as const) {
    const n = ny * nx;
    const re = Float32Array.from(randn(rng, n));
    const im = Float32Array.from(randn(rng, n));
    const F = fftnCentered({ re, im }, [ny, nx], false);
    const cy = Math.floor(ny / 2);
    const cx = Math.floor(nx / 2);
    let maxErr = 0;
    for (let ky = 0; ky < ny; ky++) {
      for (let kx = 0; kx < nx; kx++) {
        let ar = 0;
        let ai = 0;
        for (let y = 0; y < ny; y++) {
          for (let x = 0; x < nx; x++) {
            const a = -2 * Math.PI * (((kx - cx) * (x - cx)) / nx + ((ky - cy) * (y - cy)) / ny);
            const v = y * nx + x;
            ar += re[v]! * Math.cos(a) - im[v]! * Math.sin(a);
            ai += re[v]! * Math.sin(a) + im[v]! * Math.cos(a);
          }
        }
        const k = ky * nx + kx;
        maxErr = Math.max(maxErr, Math.abs(F.re[k]! - ar), Math.abs(F.im[k]! - ai));
      }
    }
    assert.ok(maxErr < 1e-4, `${ny}x${nx}: maxErr=${maxErr}`);
  }
});

test('a delta at the centre transforms to a constant 1; round trips are exact (2D, 3D, batch)', () => {
  for (const D of [8, 9, 64, 65]) {
    const img = new Float32Array(D * D);
    const c = Math.floor(D / 2);
    img[c * D + c] = 1;
    const F = fft2Centered(img, D);
    for (let i = 0; i < D * D; i++) {
      assert.ok(Math.abs(F.re[i]! - 1) < 1e-6 && Math.abs(F.im[i]!) < 1e-6, `D=${D} i=${i}`);
    }
  }
  const rng = new Rng(3);
  for (const D of [16, 17]) {
    const vol = Float32Array.from(randn(rng, D * D * D));
    const back = ifft3Centered(fft3Centered(vol, D), D);
    let maxErr = 0;
    for (let i = 0; i < vol.length; i++) maxErr = Math.max(maxErr, Math.abs(back[i]! - vol[i]!));
    assert.ok(maxErr < 1e-5, `3D D=${D} maxErr=${maxErr}`);
    const B = 3;
    const imgs = Float32Array.from(randn(rng, B * D * D));
    const Fb = fft2CenteredBatch(imgs, D, B);
    const F1 = fft2Centered(imgs.subarray(D * D, 2 * D * D), D);
    for (let i = 0; i < D * D; i++) assert.equal(Fb.re[D * D + i], F1.re[i]);
    const backB = ifft2CenteredBatch(Fb, D, B);
    const back1 = ifft2Centered(F1, D);
    for (let i = 0; i < imgs.length; i++) assert.ok(Math.abs(backB[i]! - imgs[i]!) < 1e-5);
    for (let i = 0; i < D * D; i++) assert.ok(Math.abs(back1[i]! - imgs[D * D + i]!) < 1e-5);
  }
});

test('Parseval holds and a real input gives a Hermitian centred spectrum (odd D)', () => {
  const rng = new Rng(4);
  const D = 65;
  const img = Float32Array.from(randn(rng, D * D));
  const F = fft2Centered(img, D);
  let e1 = 0;
  let e2 = 0;
  for (let i = 0; i < D * D; i++) {
    e1 += img[i]! * img[i]!;
    e2 += F.re[i]! * F.re[i]! + F.im[i]! * F.im[i]!;
  }
  assert.ok(Math.abs(e2 / (D * D) - e1) / e1 < 1e-6);
  const c = Math.floor(D / 2);
  for (let y = 0; y < D; y++) {
    for (let x = 0; x < D; x++) {
      const j = (2 * c - y) * D + (2 * c - x);
      assert.ok(Math.abs(F.re[y * D + x]! - F.re[j]!) < 1e-3 && Math.abs(F.im[y * D + x]! + F.im[j]!) < 1e-3);
    }
  }
});

test('fftnCentered rejects a length that does not match dims', () => {
  assert.throws(() => fftnCentered({ re: new Float32Array(10), im: new Float32Array(10) }, [3, 3], false), RangeError);
});

test('batch transforms (two real images per complex FFT) equal one-by-one transforms, any B', () => {
  const rng = new Rng(5);
  for (const [D, B] of [[8, 4], [9, 5], [16, 1]] as const) {
    const n = D * D;
    const imgs = Float32Array.from(randn(rng, B * n));
    const Fb = fft2CenteredBatch(imgs, D, B);
    // arbitrary (non-Hermitian) spectra: the inverse batch must return each one's real part
    const G = { re: Float32Array.from(randn(rng, B * n)), im: Float32Array.from(randn(rng, B * n)) };
    const gb = ifft2CenteredBatch(G, D, B);
    for (let b = 0; b < B; b++) {
      const img = imgs.subarray(b * n, (b + 1) * n);
      const F1 = fftnCentered({ re: img.slice(), im: new Float32Array(n) }, [D, D], false);
      const g1 = fftnCentered({ re: G.re.slice(b * n, (b + 1) * n), im: G.im.slice(b * n, (b + 1) * n) }, [D, D], true);
      for (let i = 0; i < n; i++) {
        assert.ok(Math.abs(Fb.re[b * n + i]! - F1.re[i]!) < 1e-4 && Math.abs(Fb.im[b * n + i]! - F1.im[i]!) < 1e-4, `D=${D} b=${b}`);
        assert.ok(Math.abs(gb[b * n + i]! - g1.re[i]!) < 1e-6, `inverse D=${D} b=${b}`);
      }
    }
  }
});
