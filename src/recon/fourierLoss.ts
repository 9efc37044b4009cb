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
 * Per-candidate losses (B*M) for rendered slices (B*M*D*D). Gradients (when requested) are
 * of each candidate's own loss (not yet weighted by winner selection or batch averaging).
 */
export function fourierLoss(batch: LossBatch, slices: Complex, disc: DiscIndex, opts: LossOptions): Float64Array {
  const { D, obs, ctf, B } = batch;
  const { M, originsPx, dSlices, dOrigins } = opts;
  const P = D * D;
  const n = disc.pix.length;
  const inv = 1 / n;
  const twoPiOverD = (2 * Math.PI) / D;
  const losses = new Float64Array(B * M);
  if (dSlices) {
    dSlices.re.fill(0, 0, B * M * P);
    dSlices.im.fill(0, 0, B * M * P);
  }
  for (let b = 0; b < B; b++) {
    const imgOff = b * P;
    for (let m = 0; m < M; m++) {
      const s = b * M + m;
      const sOff = s * P;
      const ox = originsPx[2 * s]!;
      const oy = originsPx[2 * s + 1]!;
      let L = 0;
      let gox = 0;
      let goy = 0;
      for (let i = 0; i < n; i++) {
        const p = disc.pix[i]!;
        const kx = disc.kx[i]!;
        const ky = disc.ky[i]!;
        const ph = twoPiOverD * (kx * ox + ky * oy);
        const c = ctf ? ctf[imgOff + p]! : 1;
        const mRe = c * Math.cos(ph);
        const mIm = c * Math.sin(ph);
        const fRe = slices.re[sOff + p]!;
        const fIm = slices.im[sOff + p]!;
        const pRe = mRe * fRe - mIm * fIm;
        const pIm = mRe * fIm + mIm * fRe;
        const rRe = pRe - obs.re[imgOff + p]!;
        const rIm = pIm - obs.im[imgOff + p]!;
        L += rRe * rRe + rIm * rIm;
        if (dSlices) {
          // g = 2 conj(m) r / n
          dSlices.re[sOff + p] = 2 * inv * (mRe * rRe + mIm * rIm);
          dSlices.im[sOff + p] = 2 * inv * (mRe * rIm - mIm * rRe);
        }
        if (dOrigins) {
          // d pred / d o = i (2 pi k / D) pred ; dL = 2 Re(conj(r) * i * pred) * 2pi k/D
          const t = rRe * -pIm + rIm * pRe; // Re(conj(r) * i * pred)
          gox += t * kx;
          goy += t * ky;
        }
      }
      losses[s] = L * inv;
      if (dOrigins) {
        dOrigins[2 * s] = 2 * inv * twoPiOverD * gox;
        dOrigins[2 * s + 1] = 2 * inv * twoPiOverD * goy;
      }
    }
  }
  return losses;
}
