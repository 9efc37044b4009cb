/**
 * Exhaustive low-resolution pose search against the current volume: for every particle of a
 * batch, the rotation (from a candidate set) and the shift (from a grid) that minimise the
 * Fourier loss inside a disc of radius `radiusPx`.
 *
 * With Z = conj(Y)·CTF and P_j the slice of candidate j, the loss of (j, s) is
 *     L = sum |CTF P_j S_s - Y|^2 = const - 2 Re sum Z S_s P_j + sum CTF^2 |P_j|^2,
 * so all (image, shift) x (rotation) cross terms are ONE real matrix product of size
 * (B·S) x 2n times 2n x J (real and imaginary parts stacked), and the energy term another,
 * (B) x n times n x J. Both run as tfjs matMul on the wasm backend (~25 GFLOP/s on one core),
 * which makes a global search over thousands of rotations affordable at low resolution.
 *
 * Used to initialise the auto-decoding stage when no encoder proposals are available (or when
 * they are worse), and as a coarse global step before local refinement.
 */
import type { Complex } from '../core/complex.js';
import { tf } from '../model/tfjsSetup.js';
import { nyquistDisc, type HartleyGrid } from '../model/hartleyVolume.js';
import { tsSlicer, type Slicer } from './slicer.js';
import type { ParticleBatch } from './types.js';

export interface PoseSearchOptions {
  /** Loss disc radius in Fourier pixels. */
  radiusPx: number;
  /** Shift grid half-width (px) and step (px); origins searched are -range..range. */
  shiftRangePx: number;
  shiftStepPx: number;
}

export interface PoseSearchResult {
  /** Best candidate index per image. */
  best: Int32Array;
  /** Best origin per image (px, RELION sign), 2B. */
  originsPx: Float32Array;
  /** Loss of the best (image, rotation, shift), up to the image's constant term. */
  score: Float64Array;
}

export interface CandidateSlices {
  J: number;
  n: number;
  /** n x J matrices: real and imaginary slice values at the disc pixels. */
  re: Float32Array;
  im: Float32Array;
  /** n x J: |P|^2. */
  pow: Float32Array;
  disc: ReturnType<typeof nyquistDisc>;
}

/** Render the candidate rotations' slices at the disc pixels, laid out pixel-major (n x J). */
export function candidateSlices(grid: HartleyGrid, rots: Float64Array, radiusPx: number, slicer: Slicer = tsSlicer): CandidateSlices {
  const D = grid.D;
  const P = D * D;
  const J = rots.length / 9;
  const disc = nyquistDisc(D, radiusPx);
  const n = disc.pix.length;
  const re = new Float32Array(n * J);
  const im = new Float32Array(n * J);
  const pow = new Float32Array(n * J);
  const chunk = 256;
  const s: Complex = { re: new Float32Array(chunk * P), im: new Float32Array(chunk * P) };
  for (let j0 = 0; j0 < J; j0 += chunk) {
    const c = Math.min(chunk, J - j0);
    slicer.render(grid, rots.subarray(9 * j0, 9 * (j0 + c)), c, s, disc);
    for (let jj = 0; jj < c; jj++) {
      for (let k = 0; k < n; k++) {
        const p = jj * P + disc.pix[k]!;
        const a = s.re[p]!, b = s.im[p]!;
        const o = k * J + j0 + jj;
        re[o] = a; im[o] = b; pow[o] = a * a + b * b;
      }
    }
  }
  return { J, n, re, im, pow, disc };
}

/** Search the batch's particles over the candidates and the shift grid. */
export function searchPoses(batch: ParticleBatch, D: number, cand: CandidateSlices, opts: PoseSearchOptions): PoseSearchResult {
  const { J, n, disc } = cand;
  const B = batch.B;
  const P = D * D;
  const shifts: Array<[number, number]> = [];
  const st = opts.shiftStepPx;
  const m = Math.floor(opts.shiftRangePx / st + 1e-9);
  for (let a = -m; a <= m; a++) for (let b = -m; b <= m; b++) shifts.push([a * st, b * st]);
  const S = shifts.length;
  // rows (b, s): [Re(Z S) | -Im(Z S)] so that row · [Re P ; Im P] = Re(Z S P)
  const A = new Float32Array(B * S * 2 * n);
  const C2 = new Float32Array(B * n);
  const tw = (2 * Math.PI) / D;
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < n; k++) {
      const p = b * P + disc.pix[k]!;
      const c = batch.ctf[p]!;
      C2[b * n + k] = c * c;
      const zr = c * batch.obs.re[p]!;
      const zi = -c * batch.obs.im[p]!;
      for (let si = 0; si < S; si++) {
        const [ox, oy] = shifts[si]!;
        const ph = tw * (disc.kx[k]! * ox + disc.ky[k]! * oy);
        const sr = Math.cos(ph), sim = Math.sin(ph);
        const r = (b * S + si) * 2 * n;
        A[r + k] = zr * sr - zi * sim;
        A[r + n + k] = -(zr * sim + zi * sr);
      }
    }
  }
  const Pm = new Float32Array(2 * n * J);
  Pm.set(cand.re, 0);
  Pm.set(cand.im, n * J);
  // Only the two products run in tfjs; the combination and the arg-min stay in plain loops
  // (a broadcast subtract over B x S x J on the wasm backend was 30x slower than the products).
  // (No tf.tidy here: measured 30x slower for these shapes on the wasm backend; disposed by hand.)
  const tA = tf.tensor2d(A, [B * S, 2 * n]);
  const tP = tf.tensor2d(Pm, [2 * n, J]);
  const tC = tf.tensor2d(C2, [B, n]);
  const tW = tf.tensor2d(cand.pow, [n, J]);
  const tX = tf.matMul(tA, tP); // (B S) x J
  const tE = tf.matMul(tC, tW); // B x J
  const cross = tX.dataSync() as Float32Array;
  const energy = tE.dataSync() as Float32Array;
  tf.dispose([tA, tP, tC, tW, tX, tE]);
  const best = new Int32Array(B);
  const originsPx = new Float32Array(2 * B);
  const score = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let bi = 0;
    let bv = Infinity;
    const eOff = b * J;
    for (let si = 0; si < S; si++) {
      const cOff = (b * S + si) * J;
      for (let j = 0; j < J; j++) {
        const v = energy[eOff + j]! - 2 * cross[cOff + j]!;
        if (v < bv) { bv = v; bi = si * J + j; }
      }
    }
    const si = Math.floor(bi / J);
    best[b] = bi % J;
    originsPx[2 * b] = shifts[si]![0];
    originsPx[2 * b + 1] = shifts[si]![1];
    score[b] = bv;
  }
  return { best, originsPx, score };
}
