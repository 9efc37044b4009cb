/**
 * Closed-form volume for fixed poses, in the loop's own Hartley basis: a Wiener-filtered
 * backprojection computed from the same batches, slicer and loss conventions as the
 * auto-decoding stage (used by the local refinement stage instead of a few SGD passes).
 *
 * For fixed poses the Fourier loss is quadratic in H; with A the render ∘ CTF ∘ shift operator,
 * the normal equations are (A^T A) H = A^T y. Using the diagonal of A^T A (the slicer's adjoint
 * applied to CTF^2, the same "curvature" the volume optimiser uses) gives the gridding estimate
 *     H = num / (den + tau(k)),   num = adjoint(CTF · conj(shift) · Y),   den = adjoint(CTF^2),
 * a CTF-weighted average of the observed coefficients (exact for a noise-free, densely sampled
 * grid). tau(k) is the Wiener term: the particles are split in two halves, each half's map gives
 * a shell FSC, SNR(k) = FSC'/(1 - FSC') with FSC' = 2 FSC/(1 + FSC) for the full set, and
 * tau(k) = mean_shell(den) / SNR(k), so shells without signal go to zero (as RELION does with
 * its FSC-based regularisation). Shell FSCs are computed on the Hartley values directly
 * (the Hartley transform is real and orthogonal: shell sums of H1·H2 equal Re sum F1·conj F2).
 */
import type { Complex } from '../core/complex.js';
import { nyquistDisc, type HartleyGrid } from '../model/hartleyVolume.js';
import type { Slicer } from './slicer.js';
import type { ParticleSource } from './types.js';

export interface WienerOptions {
  /** Particles per batch. */
  batchSize: number;
  /** Shell FSC below this is treated as no signal. */
  minFsc?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface WienerResult {
  /** Half-set FSC per shell (index = radius in Fourier px, rounded). */
  halfFsc: Float64Array;
}

/**
 * Replace grid.values with the Wiener estimate from the particles' poses (rots 9n, origins 2n
 * in working px). Particle i goes to half (i % 2).
 */
export function wienerVolume(grid: HartleyGrid, slicer: Slicer, source: ParticleSource, rotsAll: Float32Array, originsAll: Float32Array, opts: WienerOptions): WienerResult {
  const D = grid.D;
  const P = D * D;
  const nv = grid.values.length;
  const disc = nyquistDisc(D);
  const num = [new Float32Array(nv), new Float32Array(nv)];
  const den = [new Float32Array(nv), new Float32Array(nv)];
  const bs = opts.batchSize;
  const tw = (2 * Math.PI) / D;
  const n = source.n;
  for (let half = 0; half < 2; half++) {
    const idxAll: number[] = [];
    for (let i = half; i < n; i += 2) idxAll.push(i);
    for (let s = 0; s < idxAll.length; s += bs) {
      const idx = Uint32Array.from(idxAll.slice(s, s + bs));
      const batch = source.batch(idx);
      const B = batch.B;
      const rots = new Float64Array(9 * B);
      const g: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      const w: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      for (let b = 0; b < B; b++) {
        const i = idx[b]!;
        for (let k = 0; k < 9; k++) rots[9 * b + k] = rotsAll[9 * i + k]!;
        const ox = originsAll[2 * i]!, oy = originsAll[2 * i + 1]!;
        for (let k = 0; k < disc.pix.length; k++) {
          const p = b * P + disc.pix[k]!;
          const c = batch.ctf[p]!;
          const ph = tw * (disc.kx[k]! * ox + disc.ky[k]! * oy);
          // conj(shift) · Y · CTF
          const cr = Math.cos(ph), ci = -Math.sin(ph);
          const yr = batch.obs.re[p]!, yi = batch.obs.im[p]!;
          g.re[p] = c * (cr * yr - ci * yi);
          g.im[p] = c * (cr * yi + ci * yr);
          w.re[p] = c * c;
        }
      }
      slicer.backward(grid, rots, B, g, num[half]!, null, disc);
      slicer.backward(grid, rots, B, w, den[half]!, null, disc);
      opts.onProgress?.(Math.min(n, half * Math.ceil(n / 2) + s + B), n);
    }
  }
  // half maps (small damping), shell FSC on the Hartley values
  const Dv = grid.Dv;
  const cv = Math.floor(Dv / 2);
  const nShell = Math.floor(D / 2) + 1;
  const shellOf = new Int32Array(nv);
  const denMean = new Float64Array(nShell);
  const cnt = new Float64Array(nShell);
  const cross = new Float64Array(nShell), p1 = new Float64Array(nShell), p2 = new Float64Array(nShell);
  let meanDen = 0;
  for (let v = 0; v < nv; v++) meanDen += den[0]![v]! + den[1]![v]!;
  meanDen /= nv;
  const eps = 1e-3 * meanDen;
  for (let z = 0, v = 0; z < Dv; z++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++, v++) {
    const r = Math.round(Math.sqrt((x - cv) ** 2 + (y - cv) ** 2 + (z - cv) ** 2));
    shellOf[v] = r < nShell ? r : -1;
    if (r >= nShell) continue;
    const h1 = num[0]![v]! / (den[0]![v]! + eps);
    const h2 = num[1]![v]! / (den[1]![v]! + eps);
    cross[r] += h1 * h2; p1[r] += h1 * h1; p2[r] += h2 * h2;
    denMean[r] += den[0]![v]! + den[1]![v]!;
    cnt[r] += 1;
  }
  const minFsc = opts.minFsc ?? 1e-3;
  const halfFsc = new Float64Array(nShell);
  const tau = new Float64Array(nShell);
  for (let r = 0; r < nShell; r++) {
    const f = p1[r]! > 0 && p2[r]! > 0 ? cross[r]! / Math.sqrt(p1[r]! * p2[r]!) : 0;
    halfFsc[r] = f;
    const ff = Math.max(minFsc, (2 * f) / (1 + f));
    const snr = ff / Math.max(1e-6, 1 - ff);
    tau[r] = (cnt[r]! > 0 ? denMean[r]! / cnt[r]! : meanDen) / snr;
  }
  for (let v = 0; v < nv; v++) {
    const r = shellOf[v]!;
    grid.values[v] = r < 0 ? 0 : (num[0]![v]! + num[1]![v]!) / (den[0]![v]! + den[1]![v]! + tau[r]! + eps);
  }
  return { halfFsc };
}
