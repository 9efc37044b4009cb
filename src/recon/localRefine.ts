/**
 * Coarse-to-fine local pose search around each particle's current pose (the step between the
 * global low-resolution search and auto-decoding).
 *
 * The global search (poseSearch.ts) picks from a few thousand rotations shared by all particles,
 * so its answer is only as good as its grid (~17 deg apart for 3000 rotations). Here each
 * particle gets its own candidates: left perturbations Exp(w)·R of its current rotation with w on
 * a cube {-h..h}^3 · step, combined with origins on a square {-g..g}^2 · shiftStep around its
 * current origin. Levels run one after the other with (typically) halving steps, each starting
 * from the previous level's winner, so three levels of 3^3 rotations cover +-1.75 steps at a
 * quarter-step resolution. Within a level the rotations are scored at the current origin, then the
 * origins with the winning rotation (27 + 8 scores instead of 243: the two are nearly decoupled,
 * and the scoring loops, not the slice rendering, dominated the cost).
 *
 * Score of candidate (j, s), as in poseSearch.ts (Z = conj(Y)·CTF, P_j the slice, S_s the
 * shift phase):   L = sum_k CTF^2 |P_j|^2 - 2 Re(Z S_s P_j)   (up to the image's constant).
 * The slices are rendered by the loop's Slicer (wasm kernels) inside the loss disc only; the
 * scores are plain loops over the disc pixels.
 */
import type { Complex } from '../core/complex.js';
import { expSO3, matMul } from '../core/rotation.js';
import { createHartleyGrid, nyquistDisc, type HartleyGrid } from '../model/hartleyVolume.js';
import type { Slicer } from './slicer.js';
import type { ParticleBatch } from './types.js';

export interface LocalLevel {
  /** Rotation step (deg) and half-width (steps) of the cube of left perturbations. */
  rotStepDeg: number;
  rotHalf: number;
  /** Origin step (px) and half-width (steps) of the square of origin offsets. */
  shiftStepPx: number;
  shiftHalf: number;
}

export interface LocalSearchOptions {
  /** Loss disc radius in Fourier pixels. */
  radiusPx: number;
  levels: LocalLevel[];
  /** Origins are clamped to +-shiftLimitPx on each axis. */
  shiftLimitPx: number;
}

export interface LocalSearchResult {
  /** Best rotation per image (9B) and origin (2B, px, RELION sign). */
  rots: Float64Array;
  originsPx: Float32Array;
  /** Score of the last level's winner (loss up to the image's constant term). */
  score: Float64Array;
}

/**
 * The central sub-cube of a Hartley grid for box Ds = 2·ceil(r) + 4 (<= D): every trilinear
 * corner of a sample at |k| <= r lies inside it, so slices inside the disc of radius r are
 * unchanged (pixel order of nyquistDisc is the same for both boxes: rows of ky, then kx).
 */
export function cropHartleyGrid(grid: HartleyGrid, radiusPx: number): HartleyGrid {
  const Ds = Math.min(grid.D, 2 * Math.ceil(radiusPx) + 4);
  if (Ds === grid.D) return grid;
  const out = createHartleyGrid(Ds);
  const off = Math.floor(grid.D / 2) - Math.floor(Ds / 2);
  const Dv = grid.Dv, Dsv = out.Dv;
  for (let z = 0; z < Dsv; z++) for (let y = 0; y < Dsv; y++) {
    const src = ((z + off) * Dv + (y + off)) * Dv + off;
    out.values.set(grid.values.subarray(src, src + Dsv), (z * Dsv + y) * Dsv);
  }
  return out;
}

/** The unit perturbation vectors of a level (rad), the zero perturbation first. */
function rotationOffsets(level: LocalLevel): Float64Array {
  const h = level.rotHalf;
  const s = (level.rotStepDeg * Math.PI) / 180;
  const out: number[] = [0, 0, 0];
  for (let a = -h; a <= h; a++) for (let b = -h; b <= h; b++) for (let c = -h; c <= h; c++) {
    if (a === 0 && b === 0 && c === 0) continue;
    out.push(a * s, b * s, c * s);
  }
  return Float64Array.from(out);
}

function shiftOffsets(level: LocalLevel): Float64Array {
  const g = level.shiftHalf;
  const out: number[] = [0, 0];
  for (let a = -g; a <= g; a++) for (let b = -g; b <= g; b++) {
    if (a === 0 && b === 0) continue;
    out.push(a * level.shiftStepPx, b * level.shiftStepPx);
  }
  return Float64Array.from(out);
}

/**
 * Local search for the particles of a batch, starting from rots (9B) / originsPx (2B).
 * Images are processed in groups so the rendered slices stay small (group·J·D² floats).
 */
export function localSearch(grid: HartleyGrid, slicer: Slicer, batch: ParticleBatch, rots: Float64Array, originsPx: Float32Array, opts: LocalSearchOptions): LocalSearchResult {
  const D = grid.D;
  const P = D * D;
  const B = batch.B;
  const disc = nyquistDisc(D, opts.radiusPx);
  const n = disc.pix.length;
  // Render from the central sub-cube: same samples inside the disc, 2-4x fewer pixels per slice
  const small = cropHartleyGrid(grid, opts.radiusPx);
  const Ds = small.D;
  const Ps = Ds * Ds;
  const discS = nyquistDisc(Ds, opts.radiusPx);
  if (discS.pix.length !== n) throw new Error('localSearch: cropped disc mismatch');
  const R = Float64Array.from(rots.subarray(0, 9 * B));
  const O = Float32Array.from(originsPx.subarray(0, 2 * B));
  const score = new Float64Array(B);
  const tw = (2 * Math.PI) / D;
  const E = new Float64Array(9);
  const lim = opts.shiftLimitPx;
  for (const level of opts.levels) {
    const wOff = rotationOffsets(level);
    const sOff = shiftOffsets(level);
    const J = wOff.length / 3;
    const S = sOff.length / 2;
    const group = Math.max(1, Math.floor(1024 / J));
    const slices: Complex = { re: new Float32Array(group * J * Ps), im: new Float32Array(group * J * Ps) };
    const cand = new Float64Array(9 * group * J);
    // per image scratch: Z·S_s at the disc pixels (S x n complex), CTF^2 (n)
    const Wr = new Float64Array(S * n);
    const Wi = new Float64Array(S * n);
    const C2 = new Float64Array(n);
    for (let g0 = 0; g0 < B; g0 += group) {
      const G = Math.min(group, B - g0);
      for (let b = 0; b < G; b++) {
        for (let j = 0; j < J; j++) {
          expSO3([wOff[3 * j]!, wOff[3 * j + 1]!, wOff[3 * j + 2]!], E);
          matMul(cand.subarray(9 * (b * J + j), 9 * (b * J + j) + 9), E, R.subarray(9 * (g0 + b), 9 * (g0 + b) + 9));
        }
      }
      slicer.render(small, cand, G * J, slices, discS);
      for (let b = 0; b < G; b++) {
        const gb = g0 + b;
        const imgOff = gb * P;
        const ox0 = O[2 * gb]!, oy0 = O[2 * gb + 1]!;
        for (let si = 0; si < S; si++) {
          const ox = Math.max(-lim, Math.min(lim, ox0 + sOff[2 * si]!));
          const oy = Math.max(-lim, Math.min(lim, oy0 + sOff[2 * si + 1]!));
          for (let k = 0; k < n; k++) {
            const p = imgOff + disc.pix[k]!;
            const c = batch.ctf[p]!;
            const zr = c * batch.obs.re[p]!;
            const zi = -c * batch.obs.im[p]!;
            const ph = tw * (disc.kx[k]! * ox + disc.ky[k]! * oy);
            const sr = Math.cos(ph), sim = Math.sin(ph);
            Wr[si * n + k] = zr * sr - zi * sim;
            Wi[si * n + k] = zr * sim + zi * sr;
            if (si === 0) C2[k] = c * c;
          }
        }
        // rotations at the current origin (shift 0 of the grid), then origins with the best rotation
        let bestV = Infinity, bestJ = 0, bestS = 0;
        for (let j = 0; j < J; j++) {
          const off = (b * J + j) * Ps;
          let e = 0, x = 0;
          for (let k = 0; k < n; k++) {
            const p = off + discS.pix[k]!;
            const a = slices.re[p]!, q = slices.im[p]!;
            e += C2[k]! * (a * a + q * q);
            x += Wr[k]! * a - Wi[k]! * q;
          }
          const v = e - 2 * x;
          if (v < bestV) { bestV = v; bestJ = j; }
        }
        {
          const off = (b * J + bestJ) * Ps;
          let e = 0;
          for (let k = 0; k < n; k++) {
            const p = off + discS.pix[k]!;
            const a = slices.re[p]!, q = slices.im[p]!;
            e += C2[k]! * (a * a + q * q);
          }
          for (let si = 1; si < S; si++) {
            let x = 0;
            const wo = si * n;
            for (let k = 0; k < n; k++) {
              const p = off + discS.pix[k]!;
              x += Wr[wo + k]! * slices.re[p]! - Wi[wo + k]! * slices.im[p]!;
            }
            const v = e - 2 * x;
            if (v < bestV) { bestV = v; bestS = si; }
          }
        }
        R.set(cand.subarray(9 * (b * J + bestJ), 9 * (b * J + bestJ) + 9), 9 * gb);
        O[2 * gb] = Math.max(-lim, Math.min(lim, ox0 + sOff[2 * bestS]!));
        O[2 * gb + 1] = Math.max(-lim, Math.min(lim, oy0 + sOff[2 * bestS + 1]!));
        score[gb] = bestV / n;
      }
    }
  }
  return { rots: R, originsPx: O, score };
}

/**
 * The levels of local iteration `it` (0-based): three levels of 3^3 rotations x 3^2 origins,
 * steps halving from rotStepDeg·2^-it and shiftStepPx·2^-it.
 */
export function localLevels(rotStepDeg: number, shiftStepPx: number, it: number, count = 3): LocalLevel[] {
  const out: LocalLevel[] = [];
  for (let l = 0; l < count; l++) {
    const f = Math.pow(2, -(it + l));
    out.push({ rotStepDeg: rotStepDeg * f, rotHalf: 1, shiftStepPx: shiftStepPx * f, shiftHalf: 1 });
  }
  return out;
}
