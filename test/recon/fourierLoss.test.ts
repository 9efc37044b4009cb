/**
 * fourierLoss (separable phase-ramp tables) against the plain per-pixel formula
 * pred = CTF·exp(+2 pi i k·o/D)·F, L = mean |pred - Y|^2 over the disc, and its gradients
 * (written out here independently, one cos/sin per pixel), and the origin gradient against
 * central finite differences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fourierLoss } from '../../src/recon/fourierLoss.js';
import { nyquistDisc, type DiscIndex } from '../../src/model/hartleyVolume.js';
import { Rng } from '../../src/core/rng.js';
import type { Complex } from '../../src/core/complex.js';

function plainLoss(D: number, B: number, M: number, obs: Complex, ctf: Float32Array | null, slices: Complex, disc: DiscIndex, origins: Float32Array) {
  const P = D * D;
  const n = disc.pix.length;
  const losses = new Float64Array(B * M);
  const dS: Complex = { re: new Float64Array(B * M * P) as unknown as Float32Array, im: new Float64Array(B * M * P) as unknown as Float32Array };
  const dO = new Float64Array(2 * B * M);
  for (let b = 0; b < B; b++) for (let m = 0; m < M; m++) {
    const s = b * M + m;
    let L = 0, gx = 0, gy = 0;
    for (let i = 0; i < n; i++) {
      const p = disc.pix[i]!;
      const kx = disc.kx[i]!, ky = disc.ky[i]!;
      const ph = (2 * Math.PI / D) * (kx * origins[2 * s]! + ky * origins[2 * s + 1]!);
      const c = ctf ? ctf[b * P + p]! : 1;
      const mr = c * Math.cos(ph), mi = c * Math.sin(ph);
      const fr = slices.re[s * P + p]!, fi = slices.im[s * P + p]!;
      const pr = mr * fr - mi * fi, pi = mr * fi + mi * fr;
      const rr = pr - obs.re[b * P + p]!, ri = pi - obs.im[b * P + p]!;
      L += rr * rr + ri * ri;
      dS.re[s * P + p] = (2 / n) * (mr * rr + mi * ri);
      dS.im[s * P + p] = (2 / n) * (mr * ri - mi * rr);
      const t = -rr * pi + ri * pr;
      gx += t * kx;
      gy += t * ky;
    }
    losses[s] = L / n;
    dO[2 * s] = (2 / n) * (2 * Math.PI / D) * gx;
    dO[2 * s + 1] = (2 / n) * (2 * Math.PI / D) * gy;
  }
  return { losses, dS, dO };
}

function data(D: number, B: number, M: number, seed: number) {
  const rng = new Rng(seed);
  const P = D * D;
  const obs: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  const slices: Complex = { re: new Float32Array(B * M * P), im: new Float32Array(B * M * P) };
  const ctf = new Float32Array(B * P);
  for (let i = 0; i < B * P; i++) { obs.re[i] = rng.normal(); obs.im[i] = rng.normal(); ctf[i] = rng.range(-1, 1); }
  for (let i = 0; i < B * M * P; i++) { slices.re[i] = rng.normal(); slices.im[i] = rng.normal(); }
  const origins = new Float32Array(2 * B * M);
  for (let i = 0; i < origins.length; i++) origins[i] = rng.range(-6, 6);
  return { obs, slices, ctf, origins };
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, err = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(b[i]!)); err = Math.max(err, Math.abs(a[i]! - b[i]!)); }
  return err / scale;
}

test('fourierLoss equals the per-pixel formula (losses, slice and origin gradients; CTF or none; even/odd D; M heads; partial disc)', () => {
  const cases = [
    { D: 64, B: 3, M: 1, radius: 32, ctf: true },
    { D: 32, B: 2, M: 3, radius: 9.5, ctf: true },
    { D: 33, B: 2, M: 2, radius: 16, ctf: false },
    { D: 16, B: 1, M: 1, radius: 3, ctf: true },
  ];
  for (const [k, cs] of cases.entries()) {
    const { D, B, M } = cs;
    const { obs, slices, ctf, origins } = data(D, B, M, 10 + k);
    const disc = nyquistDisc(D, cs.radius);
    const ref = plainLoss(D, B, M, obs, cs.ctf ? ctf : null, slices, disc, origins);
    const dS: Complex = { re: new Float32Array(B * M * D * D).fill(7), im: new Float32Array(B * M * D * D).fill(7) };
    const dO = new Float64Array(2 * B * M);
    const l = fourierLoss({ D, obs, ctf: cs.ctf ? ctf : null, B }, slices, disc, { M, originsPx: origins, dSlices: dS, dOrigins: dO });
    const tag = JSON.stringify(cs);
    assert.ok(maxRelErr(l, ref.losses) < 1e-12, `losses ${tag}: ${maxRelErr(l, ref.losses)}`);
    assert.ok(maxRelErr(dO, ref.dO) < 1e-9, `dOrigins ${tag}: ${maxRelErr(dO, ref.dO)}`);
    // float32 storage of the slice gradient: ~6e-8 relative; pixels outside the disc are zeroed
    assert.ok(maxRelErr(dS.re, ref.dS.re) < 1e-6, `dSlices.re ${tag}`);
    assert.ok(maxRelErr(dS.im, ref.dS.im) < 1e-6, `dSlices.im ${tag}`);
    // the loss alone (no gradients requested) is the same number
    const l2 = fourierLoss({ D, obs, ctf: cs.ctf ? ctf : null, B }, slices, disc, { M, originsPx: origins });
    assert.deepEqual(l2, l);
  }
});

test('fourierLoss origin gradient matches central finite differences', () => {
  const D = 24, B = 2, M = 1;
  const { obs, slices, ctf, origins } = data(D, B, M, 3);
  const disc = nyquistDisc(D);
  const dO = new Float64Array(2 * B);
  fourierLoss({ D, obs, ctf, B }, slices, disc, { M, originsPx: origins, dOrigins: dO });
  const h = 1e-2;
  for (let j = 0; j < 2 * B; j++) {
    const o = Float32Array.from(origins);
    o[j] = origins[j]! + h;
    const up = o[j]!; // as stored (float32)
    const lp = fourierLoss({ D, obs, ctf, B }, slices, disc, { M, originsPx: o })[j >> 1]!;
    o[j] = origins[j]! - h;
    const lm = fourierLoss({ D, obs, ctf, B }, slices, disc, { M, originsPx: o })[j >> 1]!;
    const fd = (lp - lm) / (up - o[j]!);
    assert.ok(Math.abs(fd - dO[j]!) < 1e-3 * Math.max(1, Math.abs(dO[j]!)), `origin ${j}: fd ${fd} vs ${dO[j]}`);
  }
});

test('fourierLoss on a disc listed out of row order (reversed) equals the formula; an inconsistent disc is refused', () => {
  const D = 20, B = 2, M = 1;
  const { obs, slices, ctf, origins } = data(D, B, M, 8);
  const d0 = nyquistDisc(D, 7);
  const rev = (a: Float32Array | Int32Array): Float32Array | Int32Array => a.slice().reverse();
  const disc: DiscIndex = { D, pix: rev(d0.pix) as Int32Array, kx: rev(d0.kx) as Float32Array, ky: rev(d0.ky) as Float32Array };
  const ref = plainLoss(D, B, M, obs, ctf, slices, disc, origins);
  const dS: Complex = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
  const dO = new Float64Array(2 * B);
  const l = fourierLoss({ D, obs, ctf, B }, slices, disc, { M, originsPx: origins, dSlices: dS, dOrigins: dO });
  assert.ok(maxRelErr(l, ref.losses) < 1e-12);
  assert.ok(maxRelErr(dO, ref.dO) < 1e-9);
  assert.ok(maxRelErr(dS.re, ref.dS.re) < 1e-6 && maxRelErr(dS.im, ref.dS.im) < 1e-6);
  const bad: DiscIndex = { D, pix: Int32Array.from(d0.pix, (p) => p + 1), kx: d0.kx, ky: d0.ky };
  assert.throws(() => fourierLoss({ D, obs, ctf, B }, slices, bad, { M, originsPx: origins }), RangeError);
});
