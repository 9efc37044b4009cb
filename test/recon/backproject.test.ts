import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backproject, type ParticleSource } from '../../src/recon/backproject.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { ctf2D, type CtfParams } from '../../src/core/ctf.js';
import { fft2Centered, ifft2Centered } from '../../src/core/fft.js';
import { fsc } from '../../src/eval/fsc.js';

/**
 * Ground truth built analytically: a volume that is a sum of isotropic 3D Gaussian blobs. Its
 * projection along any direction is a sum of 2D Gaussians centred at the first two coordinates
 * of A·p (RELION's A maps volume to image coordinates), translated by MINUS the RELION origin.
 * No Fourier-slice code is involved in making the data.
 */
interface Blob { p: [number, number, number]; amp: number }
const SIGMA = 1.3;

function blobs(rng: Rng, n: number, radius: number): Blob[] {
  const out: Blob[] = [];
  while (out.length < n) {
    const p: [number, number, number] = [rng.range(-radius, radius), rng.range(-radius, radius), rng.range(-radius, radius)];
    if (Math.hypot(...p) <= radius) out.push({ p, amp: rng.range(0.5, 1.5) });
  }
  return out;
}

function volumeOf(bs: Blob[], D: number): Float32Array {
  const c = Math.floor(D / 2);
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const b of bs) {
      const r2 = (x - c - b.p[0]) ** 2 + (y - c - b.p[1]) ** 2 + (z - c - b.p[2]) ** 2;
      s += b.amp * Math.exp(-r2 / (2 * SIGMA * SIGMA));
    }
    v[(z * D + y) * D + x] = s;
  }
  return v;
}

function projectionOf(bs: Blob[], D: number, A: Float64Array, ox: number, oy: number): Float32Array {
  const c = Math.floor(D / 2);
  const img = new Float32Array(D * D);
  const norm = Math.sqrt(2 * Math.PI) * SIGMA; // integral of the Gaussian along z
  for (const b of bs) {
    const u = A[0]! * b.p[0] + A[1]! * b.p[1] + A[2]! * b.p[2] - ox;
    const w = A[3]! * b.p[0] + A[4]! * b.p[1] + A[5]! * b.p[2] - oy;
    for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      img[y * D + x] += b.amp * norm * Math.exp(-((x - c - u) ** 2 + (y - c - w) ** 2) / (2 * SIGMA * SIGMA));
    }
  }
  return img;
}

function makeSource(bs: Blob[], D: number, n: number, apix: number, withCtf: boolean, seed: number): ParticleSource {
  const rng = new Rng(seed);
  const rots = randomRotations(n, rng);
  const origins = new Float64Array(2 * n);
  const ctfs: Array<CtfParams | null> = [];
  const images = new Float32Array(n * D * D);
  for (let i = 0; i < n; i++) {
    origins[2 * i] = rng.range(-2, 2);
    origins[2 * i + 1] = rng.range(-2, 2);
    const p: CtfParams | null = withCtf ? { defocusUAngstrom: rng.range(8000, 20000), defocusVAngstrom: 0, defocusAngleDeg: rng.range(0, 180),
      voltageKv: 300, csMm: 2.7, amplitudeContrast: 0.1, phaseShiftDeg: 0, bFactor: 0 } : null;
    if (p) p.defocusVAngstrom = p.defocusUAngstrom * 0.95;
    ctfs.push(p);
    let img = projectionOf(bs, D, rots.subarray(9 * i, 9 * i + 9), origins[2 * i]!, origins[2 * i + 1]!);
    if (p) {
      const F = fft2Centered(img, D);
      const c = ctf2D(p, D, apix);
      for (let k = 0; k < D * D; k++) { F.re[k]! *= c[k]!; F.im[k]! *= c[k]!; }
      img = ifft2Centered(F, D);
    }
    images.set(img, i * D * D);
  }
  return {
    boxPx: D, apixAngstrom: apix, count: n,
    readChunk: (start, count) => ({
      images: images.subarray(start * D * D, (start + count) * D * D),
      rots: rots.subarray(9 * start, 9 * (start + count)),
      originsPx: origins.subarray(2 * start, 2 * (start + count)),
      ctfs: ctfs.slice(start, start + count),
    }),
  };
}

test('backprojection of clean analytic projections recovers the volume (no CTF, with shifts)', () => {
  const D = 24;
  const bs = blobs(new Rng(1), 25, 7);
  const gt = volumeOf(bs, D);
  const src = makeSource(bs, D, 600, 3, false, 2);
  const r = backproject(src, { chunk: 100 });
  const curve = fsc(r.map, gt, D);
  const upTo = Math.floor((3 / 4) * (D / 2));
  for (let j = 0; j < upTo; j++) assert.ok(curve[j]! > 0.97, `shell ${j + 1}: FSC ${curve[j]}`);
  // Amplitude: the reconstruction has the scale of the volume (projection = plain sum along z).
  let dot = 0, nn = 0;
  for (let i = 0; i < gt.length; i++) { dot += r.map[i]! * gt[i]!; nn += gt[i]! * gt[i]!; }
  assert.ok(Math.abs(dot / nn - 1) < 0.02, `scale ${dot / nn}`);
});

test('backprojection with CTF and half maps; box crop', () => {
  const D = 24;
  const bs = blobs(new Rng(3), 25, 7);
  const gt = volumeOf(bs, D);
  const src = makeSource(bs, D, 800, 3, true, 4);
  const r = backproject(src, { halves: true, seed: 5, chunk: 128 });
  const curve = fsc(r.map, gt, D);
  const upTo = Math.floor((3 / 4) * (D / 2));
  for (let j = 0; j < upTo; j++) assert.ok(curve[j]! > 0.97, `shell ${j + 1}: FSC ${curve[j]}`);
  assert.ok(r.halfFsc !== undefined && r.halfFsc.res0143_px < 3, `half-map resolution ${r.halfFsc?.res0143_px}`);
  // Reconstructing at box 16 (Fourier crop, pixel 4.5 A) matches the volume low-passed the same way.
  const small = backproject(src, { boxPx: 16, chunk: 200 });
  assert.equal(small.apixAngstrom, 4.5);
  const gtSmall = volumeOf(bs.map((b) => ({ p: [b.p[0] * 16 / 24, b.p[1] * 16 / 24, b.p[2] * 16 / 24] as [number, number, number], amp: b.amp })), 16);
  const c2 = fsc(small.map, gtSmall, 16);
  for (let j = 0; j < 4; j++) assert.ok(c2[j]! > 0.95, `box 16 shell ${j + 1}: FSC ${c2[j]}`);
});
