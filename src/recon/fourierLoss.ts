/**
 * The data term of every reconstruction mode: the squared Fourier-space error between a
 * rendered slice (times the particle's CTF and the phase ramp of its shift) and the observed
 * image, averaged over the Nyquist disc, with its gradients.
 *
 *   pred(k) = CTF(k) · exp(+2 pi i k·o / D) · F(k)        (o = RELION origin in px, k in index units)
 *   L      = (1/n) sum_{k in disc} |pred(k) - Y(k)|^2
 *
 * The observed image equals the centred projection translated by minus the origin (RELION), so
 * the shift factor is exp(-2 pi i k·(-o)/D). Squared error is the Gaussian-noise likelihood; the
 * cryoSPIN reference averages |.| instead — we keep the likelihood (and say so in docs).
 *
 * Gradients are returned for real variables: for a complex quantity z, grad = dL/dRe z + i dL/dIm z.
 */
import type { Complex } from '../core/complex.js';
import type { DiscIndex } from '../model/hartleyVolume.js';

export interface LossBatch {
  /** Box size. */
  D: number;
  /** Observed centred Fourier images, B*D*D (scaled by 1/D so white noise of std 1 has unit variance per coefficient). */
  obs: Complex;
  /** CTF per image, B*D*D (real). Null = no CTF. */
  ctf: Float32Array | null;
  /** Number of images. */
  B: number;
}

export interface LossOptions {
  /** Candidates per image (heads); slices are laid out image-major: slice index b*M + m. */
  M: number;
  /** Origins (px) per candidate, 2*B*M: (ox, oy). */
  originsPx: Float32Array;
  /** Write dL/dslice here (same layout as slices) when given. */
  dSlices?: Complex;
  /** Write dL/dorigin (2*B*M) here when given. */
  dOrigins?: Float64Array;
}

/**
 * The disc as row runs (y, x0, x1): consecutive pixels y·D + x0 .. y·D + x1 - 1, in the disc's own
 * order (so sums run in the same order as over disc.pix), cached per disc.
 */
interface DiscRuns { runs: Int32Array; c: number; D: number; n: number }
const runsCache = new WeakMap<DiscIndex, DiscRuns>();

function discRuns(disc: DiscIndex, D: number): DiscRuns {
  let r = runsCache.get(disc);
  if (r !== undefined && r.D === D && r.n === disc.pix.length) return r;
  const c = Math.floor(D / 2);
  const runs: number[] = [];
  for (let i = 0; i < disc.pix.length; i++) {
    const x = disc.kx[i]! + c;
    const y = disc.ky[i]! + c;
    if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || x >= D || y < 0 || y >= D || disc.pix[i] !== y * D + x) {
      throw new RangeError(`fourierLoss: disc pixel ${disc.pix[i]} (${disc.kx[i]}, ${disc.ky[i]}) is not a pixel of the ${D}x${D} grid`);
    }
    const k = runs.length - 3;
    if (k >= 0 && runs[k] === y && runs[k + 2] === x) runs[k + 2] = x + 1;
    else runs.push(y, x, x + 1);
  }
  r = { runs: Int32Array.from(runs), c, D, n: disc.pix.length };
  runsCache.set(disc, r);
  return r;
}

/**
 * exp(i·step·(j - c)) for j = 0..D-1 into re/im (double precision: every entry from its own
 * cos/sin, so the product of a column and a row entry is the 2-D phase factor to ~1e-16).
 */
function rampTable(step: number, c: number, D: number, re: Float64Array, im: Float64Array): void {
  for (let j = 0; j < D; j++) {
    const a = step * (j - c);
    re[j] = Math.cos(a);
    im[j] = Math.sin(a);
  }
}

/** Phase-ramp tables of the current candidate (module-level: the loops below read them as constants). */
let rampD = 0;
let xr = new Float64Array(0);
let xi = new Float64Array(0);
let yr = new Float64Array(0);
let yi = new Float64Array(0);
let ones = new Float32Array(0);
let sink = { re: new Float32Array(0), im: new Float32Array(0) };

/**
 * One candidate over the disc's row runs with the current ramp tables (slice offset sOff, image
 * offset imgOff, CTF plane offset ctfOff): the sum of |pred - Y|^2 to out[0], the origin-gradient
 * sums (before the 2/n · 2pi/D factor) to out[1], out[2], and dL/dslice (times twoInv) written at
 * gOff + pixel of gRe/gIm.
 */
function lossGradRows(runs: Int32Array, D: number, c: number, ctf: Float32Array,
  sRe: Float32Array, sIm: Float32Array, oRe: Float32Array, oIm: Float32Array, gRe: Float32Array, gIm: Float32Array,
  imgOff: number, ctfOff: number, sOff: number, gOff: number, twoInv: number, out: Float64Array): void {
  let L = 0, gox = 0, goy = 0;
  for (let k = 0; k < runs.length; k += 3) {
    const y = runs[k]!, x1 = runs[k + 2]!;
    const br = yr[y]!, bi = yi[y]!;
    const row = y * D;
    const ky = y - c;
    for (let x = runs[k + 1]!; x < x1; x++) {
      const p = row + x;
      const ar = xr[x]!, ai = xi[x]!;
      const cc = ctf[ctfOff + p]!;
      const mRe = cc * (ar * br - ai * bi);
      const mIm = cc * (ar * bi + ai * br);
      const fRe = sRe[sOff + p]!, fIm = sIm[sOff + p]!;
      const pRe = mRe * fRe - mIm * fIm;
      const pIm = mRe * fIm + mIm * fRe;
      const rRe = pRe - oRe[imgOff + p]!;
      const rIm = pIm - oIm[imgOff + p]!;
      L += rRe * rRe + rIm * rIm;
      // g = 2 conj(m) r / n
      gRe[gOff + p] = twoInv * (mRe * rRe + mIm * rIm);
      gIm[gOff + p] = twoInv * (mRe * rIm - mIm * rRe);
      // d pred / d o = i (2 pi k / D) pred ; dL = 2 Re(conj(r) * i * pred) * 2pi k/D
      const t = rRe * -pIm + rIm * pRe; // Re(conj(r) * i * pred)
      gox += t * (x - c);
      goy += t * ky;
    }
  }
  out[0] = L; out[1] = gox; out[2] = goy;
}

const gSums = new Float64Array(3);

/**
 * Per-candidate losses (B*M) for rendered slices (B*M*D*D). Gradients (when requested) are
 * of each candidate's own loss (not yet weighted by winner selection or batch averaging).
 *
 * The shift factor is separable, exp(i·2pi/D·(kx·ox + ky·oy)) = exp(i·2pi/D·kx·ox)·exp(i·2pi/D·ky·oy):
 * each candidate computes two D-long tables (2D cos/sin instead of one per disc pixel) and every
 * pixel takes one complex product of a column and a row entry (same value to ~1e-16 relative;
 * test/recon/fourierLoss.test.ts compares with the per-pixel formula). The disc is walked as row
 * runs of consecutive pixels in its own order (no per-pixel index lookups; sums in the same order).
 * Throws RangeError for a disc whose pixel indices are not y·D + x of its frequencies.
 */
export function fourierLoss(batch: LossBatch, slices: Complex, disc: DiscIndex, opts: LossOptions): Float64Array {
  const { D, obs, B } = batch;
  const { M, originsPx, dSlices, dOrigins } = opts;
  const P = D * D;
  const n = disc.pix.length;
  const inv = 1 / n;
  const twoInv = 2 * inv;
  const twoPiOverD = (2 * Math.PI) / D;
  const losses = new Float64Array(B * M);
  if (dSlices) {
    dSlices.re.fill(0, 0, B * M * P);
    dSlices.im.fill(0, 0, B * M * P);
  }
  const { runs, c } = discRuns(disc, D);
  if (rampD !== D) { rampD = D; xr = new Float64Array(D); xi = new Float64Array(D); yr = new Float64Array(D); yi = new Float64Array(D); }
  let ctf = batch.ctf;
  if (!ctf) {
    if (ones.length < P) ones = new Float32Array(P).fill(1);
    ctf = ones;
  }
  // without slice gradients requested they go to a scratch plane
  if (!dSlices && sink.re.length < P) sink = { re: new Float32Array(P), im: new Float32Array(P) };
  const g = dSlices ?? sink;
  for (let b = 0; b < B; b++) {
    const imgOff = b * P;
    // the CTF plane of image b, or the shared plane of ones without CTF
    const ctfOff = batch.ctf ? imgOff : 0;
    for (let m = 0; m < M; m++) {
      const s = b * M + m;
      const sOff = s * P;
      rampTable(twoPiOverD * originsPx[2 * s]!, c, D, xr, xi);
      rampTable(twoPiOverD * originsPx[2 * s + 1]!, c, D, yr, yi);
      const gOff = dSlices ? sOff : 0;
      lossGradRows(runs, D, c, ctf, slices.re, slices.im, obs.re, obs.im, g.re, g.im, imgOff, ctfOff, sOff, gOff, twoInv, gSums);
      losses[s] = gSums[0]! * inv;
      if (dOrigins) {
        dOrigins[2 * s] = twoInv * twoPiOverD * gSums[1]!;
        dOrigins[2 * s + 1] = twoInv * twoPiOverD * gSums[2]!;
      }
    }
  }
  return losses;
}
