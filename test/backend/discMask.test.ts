/**
 * The radius mask of the wasm slice kernels (disc_row in wasm/simd4.h: each row's unmasked pixel
 * interval, found from sqrt(r^2 - ky^2) and corrected with the exact test kx^2 + ky^2 > r^2) against
 * the mask computed here, including radii whose square is a sum of two squares (pixels exactly on
 * the circle are kept), zero, sub-pixel and larger-than-image radii, odd and even sizes, 1 and 2
 * threads. Truths: masked pixels gather exactly 0 (identity and random rotations), every kept
 * pixel of the identity slice (samples on grid points) gathers its voxel exactly, and a scatter of
 * an all-ones identity slice adds exactly one unit per kept pixel (a grid point's weights sum to 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WasmBackend } from '../../src/core/backend/wasm/wasmBackend.js';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix, randomRotations } from '../../src/core/rotation.js';

/** radiusMax values; r^2 = 25 = 3^2 + 4^2 and 50 = 5^2 + 5^2 = 7^2 + 1^2 put pixels exactly on the circle */
const RADII = [0, 0.5, 1, 3, 5, Math.sqrt(50), 6.99, 100];

function kept(Di: number, r: number): Uint8Array {
  const ci = Math.floor(Di / 2), m = new Uint8Array(Di * Di);
  for (let y = 0; y < Di; y++) for (let x = 0; x < Di; x++) m[y * Di + x] = (x - ci) ** 2 + (y - ci) ** 2 > r * r ? 0 : 1;
  return m;
}

test('radius mask of the wasm slice kernels: exactly the pixels with kx^2 + ky^2 <= r^2 (gather, Hartley gather, scatter; 1 and 2 threads)', () => {
  for (const threads of [1, 2]) {
    const be = new WasmBackend({ threads });
    try {
      for (const D of [8, 9, 16, 17]) {
        // positive volume with distinct values
        const vol = { re: new Float32Array(D ** 3), im: new Float32Array(D ** 3) };
        for (let i = 0; i < D ** 3; i++) { vol.re[i] = 1 + i / D ** 3; vol.im[i] = 2; }
        const ident = eulerToMatrix(0, 0, 0);
        const rots = new Float64Array([...ident, ...randomRotations(3, new Rng(D))]);
        const B = 4, ci = Math.floor(D / 2);
        for (const r of RADII) {
          const tag = `threads=${threads} D=${D} r=${r}`;
          const m = kept(D, r);
          const g = { re: new Float32Array(B * D * D).fill(7), im: new Float32Array(B * D * D).fill(7) };
          be.gatherSlices(vol, D, rots, D, g, { radiusMax: r });
          const gh = { re: new Float32Array(B * D * D).fill(7), im: new Float32Array(B * D * D).fill(7) };
          be.gatherHartley(vol.re, D, rots, D, gh, { radiusMax: r });
          for (let b = 0; b < B; b++) {
            for (let p = 0; p < D * D; p++) {
              const o = b * D * D + p;
              if (!m[p]) {
                assert.ok(g.re[o] === 0 && g.im[o] === 0 && gh.re[o] === 0 && gh.im[o] === 0, `${tag}: masked pixel ${p} of slice ${b} not 0`);
              } else if (b === 0) {
                assert.equal(g.im[o], 2, `${tag}: kept pixel ${p} (im) gathered ${g.im[o]}`);
              }
            }
          }
          // identity rotation: pixel (x, y) samples voxel (x, y, cv) exactly
          for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
            if (m[y * D + x]) assert.equal(g.re[y * D + x], vol.re[(ci * D + y) * D + x], `${tag}: pixel (${x},${y})`);
          }
          const ones = { re: new Float32Array(D * D).fill(1), im: new Float32Array(D * D).fill(1) };
          const acc = { re: new Float32Array(D ** 3), im: new Float32Array(D ** 3) };
          be.scatterSlices(ones, D, ident, D, acc, { radiusMax: r });
          const nKept = m.reduce((s, v) => s + v, 0);
          let sum = 0;
          for (let i = 0; i < D ** 3; i++) sum += acc.re[i]!;
          assert.equal(sum, nKept, `${tag}: scatter of ones adds ${sum}, expected ${nKept}`);
        }
      }
    } finally {
      be.dispose();
    }
  }
});
