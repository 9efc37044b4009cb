/**
 * Conformation-conditioned decoder of the heterogeneous mode: a linear latent volume model on
 * explicit Hartley grids (the CPU-affordable variant of cryoFIRE's coordinate network).
 *
 *   H(k; z) = H_0(k) + sum_{d=1..zdim} z_d H_d(k)
 *
 * H_0 is the mean (consensus) volume and H_1..H_zdim are basis volumes, all on the Hartley grid
 * of src/model/hartleyVolume.ts, so every rendered slice is Hermitian (Friedel symmetry by
 * construction) and rendering/adjoints reuse the slice kernels (src/recon/slicer.ts).
 * Because a slice is linear in the grid, the slice of H(z) for rotation A is
 * S_0(A) + sum_d z_d S_d(A): the zdim+1 slices of a batch are rendered once per pose, and any
 * number of z updates is then cheap vector algebra on those slices (zGradient / combineSlices).
 *
 * Why not the published coordinate network (random Fourier features + residual MLP 3 x 256 per
 * frequency sample): on 2 shared CPU cores one box-64 batch of 32 images (~100k frequency
 * samples x 3 x 256^2 MACs, forward + backward) costs seconds, i.e. about an hour per epoch of
 * 20k images; the grids cost ~0.3 s per batch. The model is what cryoSPARC's 3D variability
 * analysis fits (a linear subspace of volumes); it represents discrete states (two states = two
 * points on a line) and small continuous motions, not large non-linear ones.
 * The coordinate-network decoder is src/model/hetMlpDecoder.ts (option hetDecoder 'mlp');
 * hetVolumeGrid / hetVolumeMap accept either decoder (matched by shape, ZVolumeModel, so this
 * module does not load tfjs for the commands that only read a linear decoder).
 */
import type { Complex } from '../core/complex.js';
import type { Slicer } from '../recon/slicer.js';
import { createHartleyGrid, hartleyMap, type DiscIndex, type HartleyGrid } from './hartleyVolume.js';

export interface HetDecoder {
  /** Image box D. */
  D: number;
  /** Latent dimension. */
  zdim: number;
  /** zdim + 1 grids: [0] the mean volume, [d] the basis volume of z_d. */
  grids: HartleyGrid[];
}

/** Any decoder that can sample its volume at a latent z on the Hartley grid (e.g. HetMlpDecoder). */
export interface ZVolumeModel {
  readonly D: number;
  readonly zdim: number;
  volumeGrid(z: ArrayLike<number>): HartleyGrid;
}

export function createHetDecoder(D: number, zdim: number, mean?: Float32Array): HetDecoder {
  if (!Number.isInteger(zdim) || zdim < 1) throw new Error(`zdim must be a positive integer, got ${zdim}`);
  const grids: HartleyGrid[] = [];
  for (let d = 0; d <= zdim; d++) grids.push(createHartleyGrid(D, d === 0 && mean ? Float32Array.from(mean) : undefined));
  return { D, zdim, grids };
}

/** Complex planes for the zdim+1 partial slices of B images. */
export function allocParts(dec: HetDecoder, B: number): Complex[] {
  const n = B * dec.D * dec.D;
  return dec.grids.map(() => ({ re: new Float32Array(n), im: new Float32Array(n) }));
}

/** Render each grid's slices for rotations rots (9B): parts[d] holds S_d for every image. */
export function renderParts(dec: HetDecoder, slicer: Slicer, rots: Float64Array, B: number, parts: Complex[], disc: DiscIndex): void {
  for (let d = 0; d <= dec.zdim; d++) slicer.render(dec.grids[d]!, rots, B, parts[d]!, disc);
}

/** out_b = S_0,b + sum_d z_{b,d} S_d,b (only disc pixels are touched; others stay as they are). */
export function combineSlices(parts: Complex[], z: ArrayLike<number>, zdim: number, B: number, D: number, disc: DiscIndex, out: Complex): void {
  const P = D * D;
  const pix = disc.pix;
  for (let b = 0; b < B; b++) {
    const o = b * P;
    const p0 = parts[0]!;
    for (let j = 0; j < pix.length; j++) { const q = o + pix[j]!; out.re[q] = p0.re[q]!; out.im[q] = p0.im[q]!; }
    for (let d = 1; d <= zdim; d++) {
      const c = z[b * zdim + d - 1]!;
      if (c === 0) continue;
      const pd = parts[d]!;
      for (let j = 0; j < pix.length; j++) { const q = o + pix[j]!; out.re[q] += c * pd.re[q]!; out.im[q] += c * pd.im[q]!; }
    }
  }
}

/** dL/dz_{b,d} = <dL/dslice_b, S_d,b> (real-variable gradient convention of fourierLoss). */
export function zGradient(parts: Complex[], dSlices: Complex, zdim: number, B: number, D: number, disc: DiscIndex, out: Float64Array): void {
  const P = D * D;
  const pix = disc.pix;
  for (let b = 0; b < B; b++) {
    const o = b * P;
    for (let d = 1; d <= zdim; d++) {
      const pd = parts[d]!;
      let s = 0;
      for (let j = 0; j < pix.length; j++) { const q = o + pix[j]!; s += dSlices.re[q]! * pd.re[q]! + dSlices.im[q]! * pd.im[q]!; }
      out[b * zdim + d - 1] = s;
    }
  }
}

/**
 * Backward through the decoder for slice gradients dSlices (B images): adds dL/dH_d into
 * dGrids[d] (when dGrids is given) and writes dL/dA (9 per image) into dRots (when given).
 * Grid d sees the image's dSlices scaled by its coefficient (1 for the mean, z_d otherwise).
 */
export function decoderBackward(
  dec: HetDecoder, slicer: Slicer, rots: Float64Array, z: ArrayLike<number>, B: number, dSlices: Complex,
  dGrids: Float32Array[] | null, dRots: Float64Array | null, disc: DiscIndex,
): void {
  const P = dec.D * dec.D;
  const zdim = dec.zdim;
  const scaled: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  const tmpR = dRots ? new Float64Array(9 * B) : null;
  if (dRots) dRots.fill(0, 0, 9 * B);
  for (let d = 0; d <= zdim; d++) {
    let src = dSlices;
    if (d > 0) {
      let any = false;
      for (let b = 0; b < B; b++) {
        const c = z[b * zdim + d - 1]!;
        if (c !== 0) any = true;
        for (let q = b * P; q < (b + 1) * P; q++) { scaled.re[q] = c * dSlices.re[q]!; scaled.im[q] = c * dSlices.im[q]!; }
      }
      if (!any) continue;
      src = scaled;
    }
    slicer.backward(dec.grids[d]!, rots, B, src, dGrids ? dGrids[d]! : null, tmpR, disc);
    if (dRots && tmpR) for (let i = 0; i < 9 * B; i++) dRots[i] += tmpR[i]!;
  }
}

/** The Hartley grid of the volume at latent z (length zdim). */
export function hetVolumeGrid(dec: HetDecoder | ZVolumeModel, z: ArrayLike<number>): HartleyGrid {
  if ('volumeGrid' in dec) return dec.volumeGrid(z);
  if (z.length !== dec.zdim) throw new Error(`z has ${z.length} values, the decoder has zdim ${dec.zdim}`);
  const v = Float32Array.from(dec.grids[0]!.values);
  for (let d = 1; d <= dec.zdim; d++) {
    const c = z[d - 1]!;
    if (c === 0) continue;
    const g = dec.grids[d]!.values;
    for (let i = 0; i < v.length; i++) v[i] += c * g[i]!;
  }
  return createHartleyGrid(dec.D, v);
}

/** Real-space map (D^3, same scaling as reconstructJob's decoderMap) of the volume at latent z. */
export function hetVolumeMap(dec: HetDecoder | ZVolumeModel, z: ArrayLike<number>): Float32Array {
  return hartleyMap(hetVolumeGrid(dec, z));
}

/**
 * Re-centre the latents without changing any volume: z <- z - mu, H_0 <- H_0 + sum_d mu_d H_d.
 * Returns mu.
 */
export function centreLatents(dec: HetDecoder, z: Float32Array, n: number): Float64Array {
  const zdim = dec.zdim;
  const mu = new Float64Array(zdim);
  for (let i = 0; i < n; i++) for (let d = 0; d < zdim; d++) mu[d] += z[i * zdim + d]!;
  for (let d = 0; d < zdim; d++) mu[d] /= n;
  for (let i = 0; i < n; i++) for (let d = 0; d < zdim; d++) z[i * zdim + d] -= mu[d]!;
  const h0 = dec.grids[0]!.values;
  for (let d = 1; d <= zdim; d++) {
    const g = dec.grids[d]!.values;
    const c = mu[d - 1]!;
    for (let i = 0; i < h0.length; i++) h0[i] += c * g[i]!;
  }
  return mu;
}

/**
 * Rescale the latents to a total variance (sum over dimensions) of 1 without changing any
 * volume: z <- z / s, H_d <- s H_d (d >= 1). Returns s. Assumes centred latents.
 */
export function rescaleLatents(dec: HetDecoder, z: Float32Array, n: number): number {
  let ss = 0;
  for (let i = 0; i < n * dec.zdim; i++) ss += z[i]! ** 2;
  const s = Math.sqrt(ss / n);
  if (!(s > 0) || !Number.isFinite(s)) return 1;
  for (let i = 0; i < n * dec.zdim; i++) z[i] /= s;
  for (let d = 1; d <= dec.zdim; d++) { const g = dec.grids[d]!.values; for (let i = 0; i < g.length; i++) g[i] *= s; }
  return s;
}
