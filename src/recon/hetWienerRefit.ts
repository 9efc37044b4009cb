/**
 * Closed-form refit of the linear heterogeneous decoder (src/model/hetDecoder.ts,
 * H(k; z) = H_0(k) + sum_d z_d H_d(k)) for fixed poses, origins and latents: the multi-volume
 * analogue of the Wiener volume of localRefineVolume.ts, in the same gridding approximation.
 *
 * For fixed poses and z the Fourier loss is quadratic in the zdim+1 grids. With u_i = [1, z_i]
 * and the diagonal (gridding) approximation of the normal equations that wienerVolume uses, each
 * Hartley voxel v has its own small system in the m = zdim+1 coefficients c_v = [H_0..H_zdim](v):
 *     A_v = sum_i K_i(v; CTF_i^2) u_i u_i^T,   b_v = sum_i K_i(v; CTF_i · conj(shift_i) · Y_i) u_i,
 * where K_i(v; s) is the slicer's adjoint (trilinear insertion) of image i's per-pixel values s
 * (the same slicer.backward, CTF, shift phase and disc as wienerVolume; with z = 0 A_v reduces to
 * [den, 0; 0, 0] and b_v to [num, 0]). Accumulation is float64 (one float32 slicer pass per
 * batch and term, added into float64), only over the voxels of the Nyquist sphere (the Wiener
 * volume zeroes the rest), packed symmetric: m(m+1)/2 + m doubles per voxel and half set.
 *
 * Regulariser (the homogeneous Wiener rule applied per grid): the particles are split into two
 * halves (i % 2, as wienerVolume); each half is solved with a small ridge eps_a = 1e-3 ·
 * mean(A_aa) on the diagonal; for each grid a the shell FSC of its two half solutions gives
 * SNR_a(r) = FSC'/(1 - FSC'), FSC' = 2 FSC/(1 + FSC), and its prior precision is
 *     tau_a(r) = mean_shell(A_aa) / SNR_a(r),
 * exactly wienerVolume's tau for the mean volume (a = 0). The final solve per voxel is
 *     (A_v + diag(tau_a(r) + eps_a)) c_v = b_v     (Cholesky, float64).
 * So each basis volume is shrunk by its own measured signal: a latent direction whose basis
 * volume does not reproduce between the halves (a noise dimension of z) is pulled to zero, and
 * the mean volume is regularised as the consensus Wiener volume is.
 *
 * Memory: 2 halves x (m(m+1)/2 + m) float64 per sphere voxel (round(r) <= D/2): D = 64, zdim 8
 * (m = 9, 54 values): 143,8k voxels -> 124 MB; D = 128: 1.12M voxels -> 0.97 GB.
 * Cost: m(m+1)/2 + m slicer scatters per batch (54 at zdim 8), i.e. 27x a Wiener volume.
 */
import { join } from 'node:path';
import type { Complex } from '../core/complex.js';
import { eulerToMatrix } from '../core/rotation.js';
import { InputError } from '../io/errors.js';
import { readNpyFloat64 } from '../io/npy.js';
import { loadParticles } from '../io/particles.js';
import type { HetDecoder } from '../model/hetDecoder.js';
import { createHartleyGrid, nyquistDisc, type HartleyGrid } from '../model/hartleyVolume.js';
import { DiskSource, type DiskSourceOptions } from './diskSource.js';
import { createSlicer, type Slicer } from './slicer.js';
import type { ParticleSource } from './types.js';

export interface HetRefitOptions {
  /** Particles per batch (default 64). */
  batchSize?: number;
  /** Shell FSC below this is treated as no signal (default 1e-3, as wienerVolume). */
  minFsc?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface HetRefitResult {
  /** zdim+1 Hartley grids: [0] the mean volume, [d] the basis volume of z_d. */
  grids: HartleyGrid[];
  /** Half-set FSC of each grid per shell (index = radius in Fourier px, rounded). */
  halfFsc: Float64Array[];
  /** Bytes of the float64 accumulators. */
  accumulatorBytes: number;
}

/** Bytes of the refit's accumulators for box D and latent dimension zdim (see the header). */
export function hetRefitMemoryBytes(D: number, zdim: number): number {
  return 2 * sphereVoxels(D).vox.length * termCount(zdim + 1) * 8;
}

function termCount(m: number): number { return (m * (m + 1)) / 2 + m; }

/** Sphere voxels of the Hartley grid (round(r) <= floor(D/2)) and their shell. */
function sphereVoxels(D: number): { vox: Int32Array; shell: Int32Array; Dv: number } {
  const Dv = 2 * Math.floor(D / 2) + 1;
  const cv = Math.floor(Dv / 2);
  const nShell = Math.floor(D / 2) + 1;
  const vox: number[] = [], shell: number[] = [];
  for (let z = 0, v = 0; z < Dv; z++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++, v++) {
    const r = Math.round(Math.sqrt((x - cv) ** 2 + (y - cv) ** 2 + (z - cv) ** 2));
    if (r < nShell) { vox.push(v); shell.push(r); }
  }
  return { vox: Int32Array.from(vox), shell: Int32Array.from(shell), Dv };
}

/**
 * Solve (S + diag(reg)) c = rhs for a symmetric m x m S given packed upper (row-major) at
 * acc[o..], rhs at acc[o + nA..]; writes c into out[oo..]. Returns false (c = 0) if not positive definite.
 */
function solvePacked(acc: Float64Array, o: number, m: number, reg: Float64Array, L: Float64Array, out: Float64Array, oo: number): boolean {
  const nA = (m * (m + 1)) / 2;
  for (let a = 0, k = o; a < m; a++) for (let b = a; b < m; b++, k++) { L[a * m + b] = acc[k]!; L[b * m + a] = acc[k]!; }
  for (let a = 0; a < m; a++) L[a * m + a] += reg[a]!;
  // Cholesky L L^T in the lower triangle
  for (let j = 0; j < m; j++) {
    let d = L[j * m + j]!;
    for (let k = 0; k < j; k++) d -= L[j * m + k]! ** 2;
    if (!(d > 0)) { out.fill(0, oo, oo + m); return false; }
    d = Math.sqrt(d);
    L[j * m + j] = d;
    for (let i = j + 1; i < m; i++) {
      let s = L[i * m + j]!;
      for (let k = 0; k < j; k++) s -= L[i * m + k]! * L[j * m + k]!;
      L[i * m + j] = s / d;
    }
  }
  for (let i = 0; i < m; i++) {
    let s = acc[o + nA + i]!;
    for (let k = 0; k < i; k++) s -= L[i * m + k]! * out[oo + k]!;
    out[oo + i] = s / L[i * m + i]!;
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = out[oo + i]!;
    for (let k = i + 1; k < m; k++) s -= L[k * m + i]! * out[oo + k]!;
    out[oo + i] = s / L[i * m + i]!;
  }
  return true;
}

/**
 * The zdim+1 decoder grids that best explain the particles (source) at rotations rotsAll (9n,
 * RELION A), origins originsAll (2n, working px) and latents z (n x zdim), regularised as in the
 * header. Particle i goes to half (i % 2).
 */
export function hetWienerRefit(
  slicer: Slicer, source: ParticleSource, rotsAll: ArrayLike<number>, originsAll: ArrayLike<number>,
  z: ArrayLike<number>, zdim: number, opts: HetRefitOptions = {},
): HetRefitResult {
  const D = source.D;
  const n = source.n;
  if (!Number.isInteger(zdim) || zdim < 1) throw new RangeError(`zdim must be a positive integer, got ${zdim}`);
  if (z.length !== n * zdim) throw new RangeError(`z has ${z.length} values, expected ${n} x ${zdim}`);
  if (rotsAll.length !== 9 * n || originsAll.length !== 2 * n) throw new RangeError(`poses for ${n} particles expected`);
  const m = zdim + 1;
  const nA = (m * (m + 1)) / 2;
  const K = nA + m;
  const P = D * D;
  const disc = nyquistDisc(D);
  const dummy = createHartleyGrid(D);
  const nv = dummy.values.length;
  const { vox, shell } = sphereVoxels(D);
  const nS = vox.length;
  const nShell = Math.floor(D / 2) + 1;
  const acc = [new Float64Array(nS * K), new Float64Array(nS * K)];
  /** Sum over every grid voxel (inside the sphere or not) of A_aa, both halves (wienerVolume's meanDen for a = 0). */
  const diagTotal = new Float64Array(m);
  const bs = Math.max(1, opts.batchSize ?? 64);
  const tw = (2 * Math.PI) / D;
  const scratch = new Float32Array(nv);
  const pair: Array<[number, number]> = [];
  for (let a = 0; a < m; a++) for (let b = a; b < m; b++) pair.push([a, b]);
  let done = 0;
  for (let half = 0; half < 2; half++) {
    const idxAll: number[] = [];
    for (let i = half; i < n; i += 2) idxAll.push(i);
    const H = acc[half]!;
    for (let s = 0; s < idxAll.length; s += bs) {
      const idx = Uint32Array.from(idxAll.slice(s, s + bs));
      const batch = source.batch(idx);
      const B = batch.B;
      const rots = new Float64Array(9 * B);
      const g: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      const w = new Float32Array(B * P);
      const u = new Float64Array(B * m);
      for (let b = 0; b < B; b++) {
        const i = idx[b]!;
        for (let k = 0; k < 9; k++) rots[9 * b + k] = rotsAll[9 * i + k]!;
        u[b * m] = 1;
        for (let d = 0; d < zdim; d++) u[b * m + 1 + d] = z[i * zdim + d]!;
        const ox = originsAll[2 * i]!, oy = originsAll[2 * i + 1]!;
        for (let k = 0; k < disc.pix.length; k++) {
          const p = b * P + disc.pix[k]!;
          const c = batch.ctf[p]!;
          const ph = tw * (disc.kx[k]! * ox + disc.ky[k]! * oy);
          // conj(shift) · Y · CTF (as wienerVolume)
          const cr = Math.cos(ph), ci = -Math.sin(ph);
          const yr = batch.obs.re[p]!, yi = batch.obs.im[p]!;
          g.re[p] = c * (cr * yr - ci * yi);
          g.im[p] = c * (cr * yi + ci * yr);
          w[p] = c * c;
        }
      }
      const sc: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
      // one scatter per term: K_i(CTF^2) u_a u_b for the matrix, K_i(g) u_a for the right-hand side
      for (let t = 0; t < K; t++) {
        const isRhs = t >= nA;
        const [a, bb] = isRhs ? [t - nA, -1] : pair[t]!;
        let any = false;
        for (let b = 0; b < B; b++) {
          const f = isRhs ? u[b * m + a]! : u[b * m + a]! * u[b * m + bb]!;
          if (f !== 0) any = true;
          const o = b * P;
          if (isRhs) for (const q of disc.pix) { sc.re[o + q] = f * g.re[o + q]!; sc.im[o + q] = f * g.im[o + q]!; }
          else for (const q of disc.pix) sc.re[o + q] = f * w[o + q]!;
        }
        if (!any) continue;
        scratch.fill(0);
        slicer.backward(dummy, rots, B, sc, scratch, null, disc);
        for (let j = 0; j < nS; j++) H[j * K + t] += scratch[vox[j]!]!;
        if (!isRhs && a === bb) { let s2 = 0; for (let v = 0; v < nv; v++) s2 += scratch[v]!; diagTotal[a] += s2; }
      }
      done += B;
      opts.onProgress?.(done, n);
    }
  }
  // half solutions with a small ridge; shell FSC per grid on the Hartley values
  const meanDiag = Float64Array.from(diagTotal, (x) => x / nv);
  const eps = Float64Array.from(meanDiag, (x) => 1e-3 * x + 1e-12 * meanDiag[0]! + 1e-300);
  const L = new Float64Array(m * m);
  const c1 = new Float64Array(m), c2 = new Float64Array(m);
  const cross = new Float64Array(m * nShell), p1 = new Float64Array(m * nShell), p2 = new Float64Array(m * nShell);
  const diagShell = new Float64Array(m * nShell), cnt = new Float64Array(nShell);
  const tot = new Float64Array(K);
  for (let j = 0; j < nS; j++) {
    const r = shell[j]!;
    solvePacked(acc[0]!, j * K, m, eps, L, c1, 0);
    solvePacked(acc[1]!, j * K, m, eps, L, c2, 0);
    cnt[r] += 1;
    for (let a = 0; a < m; a++) {
      const k = a * nShell + r;
      cross[k] += c1[a]! * c2[a]!; p1[k] += c1[a]! ** 2; p2[k] += c2[a]! ** 2;
      const ad = a * m - (a * (a - 1)) / 2; // packed index of (a, a)
      diagShell[k] += acc[0]![j * K + ad]! + acc[1]![j * K + ad]!;
    }
  }
  const minFsc = opts.minFsc ?? 1e-3;
  const halfFsc: Float64Array[] = [];
  const tau = new Float64Array(m * nShell);
  for (let a = 0; a < m; a++) {
    const f = new Float64Array(nShell);
    for (let r = 0; r < nShell; r++) {
      const k = a * nShell + r;
      const fr = p1[k]! > 0 && p2[k]! > 0 ? cross[k]! / Math.sqrt(p1[k]! * p2[k]!) : 0;
      f[r] = fr;
      const ff = Math.max(minFsc, (2 * fr) / (1 + fr));
      const snr = ff / Math.max(1e-6, 1 - ff);
      tau[k] = (cnt[r]! > 0 ? diagShell[k]! / cnt[r]! : meanDiag[a]!) / snr;
    }
    halfFsc.push(f);
  }
  // final solve on both halves with the per-grid Wiener prior
  const grids: HartleyGrid[] = [];
  for (let a = 0; a < m; a++) grids.push(createHartleyGrid(D));
  const reg = new Float64Array(m);
  const c = new Float64Array(m);
  for (let j = 0; j < nS; j++) {
    const r = shell[j]!;
    for (let k = 0; k < K; k++) tot[k] = acc[0]![j * K + k]! + acc[1]![j * K + k]!;
    for (let a = 0; a < m; a++) reg[a] = tau[a * nShell + r]! + eps[a]!;
    solvePacked(tot, 0, m, reg, L, c, 0);
    for (let a = 0; a < m; a++) grids[a]!.values[vox[j]!] = c[a]!;
  }
  return { grids, halfFsc, accumulatorBytes: 2 * nS * K * 8 };
}

export interface FinishedRunRefitOptions extends HetRefitOptions {
  /** The run's image options (as given to reconstruct: working box, invert, mask); defaults as there. */
  source?: Omit<DiskSourceOptions, 'readAhead'>;
  backend?: 'ts' | 'wasm';
}

/**
 * The refit applied to a finished linear heterogeneous run: particles from `input` (the run's
 * input STAR), poses from OUTDIR/poses.star, latents from OUTDIR/z.npy. Returns the refitted
 * decoder (same D and zdim as the run's decoder.json) and the grids' half-set FSCs.
 */
export function refitFinishedRun(input: string, outdir: string, opts: FinishedRunRefitOptions = {}): { decoder: HetDecoder; halfFsc: Float64Array[] } {
  const set = loadParticles(input);
  const n = set.particles.length;
  const zPath = join(outdir, 'z.npy');
  const zf = readNpyFloat64(zPath, 2);
  if (zf.shape[0] !== n) throw new InputError(zPath, `has ${zf.shape[0]} rows, the input has ${n} particles`);
  const zdim = zf.shape[1]!;
  const posePath = join(outdir, 'poses.star');
  const ps = loadParticles(posePath, { checkStacks: false, allowOutside: true });
  if (ps.particles.length !== n) throw new InputError(posePath, `has ${ps.particles.length} particles, the input has ${n}`);
  const source = new DiskSource(set, { seed: 0, ...opts.source, readAhead: false });
  const slicer = createSlicer(opts.backend ?? 'wasm');
  try {
    const scale = source.D / set.boxPx;
    const rots = new Float64Array(9 * n), origins = new Float64Array(2 * n);
    ps.particles.forEach((p, i) => {
      if (!p.eulerDeg) throw new InputError(posePath, 'particle has no angles', { record: i });
      rots.set(eulerToMatrix(p.eulerDeg[0], p.eulerDeg[1], p.eulerDeg[2]), 9 * i);
      origins[2 * i] = (p.originPx?.[0] ?? 0) * scale;
      origins[2 * i + 1] = (p.originPx?.[1] ?? 0) * scale;
    });
    const r = hetWienerRefit(slicer, source, rots, origins, zf.data, zdim, opts);
    return { decoder: { D: source.D, zdim, grids: r.grids }, halfFsc: r.halfFsc };
  } finally {
    slicer.dispose();
    source.close();
  }
}
