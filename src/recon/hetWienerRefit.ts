/**
 * Closed-form refit of the linear heterogeneous decoder (src/model/hetDecoder.ts,
 * H(k; z) = H_0(k) + sum_d z_d H_d(k)) for fixed poses, origins and latents: the multi-volume
 * analogue of the Wiener volume of localRefineVolume.ts, in the same gridding approximation.
 *
 * For fixed poses and z the Fourier loss is quadratic in the zdim+1 grids. With u_i = [1, z_i]
 * and the diagonal (gridding) approximation of the normal equations that wienerVolume uses, each
 * Hartley voxel v has its own small system in the m = zdim+1 coefficients c_v = [H_0..H_zdim](v):
 *     A_v = sum_i K_i(v; CTF_i^2) u_i u_i^T,   b_v = sum_i K_i(v; CTF_i · conj(shift_i) · Y_i) u_i,
 * where K_i(v; s) is the slice adjoint (trilinear insertion, Hartley split of each pixel into p
 * and -p) of image i's per-pixel values s: the weights of hartleyVolume.ts renderSlicesBackward,
 * with wienerVolume's CTF, shift phase and Nyquist disc (with z = 0, A_v reduces to [den, 0; 0, 0]
 * and b_v to [num, 0]: the test checks H_0 against wienerVolume). Since u_i is constant over an
 * image, each image is first inserted as two scalars per voxel (K_i(CTF^2), K_i(data)) into
 * float64 scratch grids, then every voxel it touched (~8k at D = 64) adds K_i(CTF^2)·u u^T and
 * K_i(data)·u. Hand-written (not the slicer's scatter) because the slicer would need m(m+3)/2
 * float32 scatters per batch (54 at zdim 8: 2.4x the CPU). Accumulation is float64 throughout,
 * only over the voxels of the Nyquist sphere (the Wiener volume zeroes the rest), packed
 * symmetric: m(m+1)/2 + m doubles per voxel and half set.
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
 * (m = 9, 54 values): 143.8k voxels -> 124 MB; D = 128: 1.12M voxels -> 0.97 GB (hetRefitMemoryBytes).
 * Cost per image: 2 x 8 corners per disc pixel plus m(m+3)/2 multiply-adds per touched voxel;
 * plus three 9 x 9 Cholesky solves per sphere voxel (fixed, ~0.5 s at D = 64).
 */
import { join } from 'node:path';
import { eulerToMatrix } from '../core/rotation.js';
import { InputError } from '../io/errors.js';
import { readNpyFloat64 } from '../io/npy.js';
import { loadParticles } from '../io/particles.js';
import type { HetDecoder } from '../model/hetDecoder.js';
import { createHartleyGrid, nyquistDisc, type HartleyGrid } from '../model/hartleyVolume.js';
import { DiskSource, type DiskSourceOptions } from './diskSource.js';
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

/** Per-image scatter state: two float64 grids (CTF^2 weight, data) and the list of voxels touched. */
interface ImageScatter { w: Float64Array; g: Float64Array; mark: Int32Array; stamp: number; list: Int32Array; count: number }

/**
 * Trilinear insertion at p (voxel units from the centre) of the weight w and data value g into
 * one image's scratch grids (the weights of hartleyVolume.ts's scatter; corners outside the grid
 * are dropped), recording each voxel touched.
 */
function scatterPoint(sc: ImageScatter, Dv: number, cv: number, px: number, py: number, pz: number, w: number, g: number): void {
  const x = px + cv, y = py + cv, zz = pz + cv;
  const x0 = Math.floor(x), y0 = Math.floor(y), z0 = Math.floor(zz);
  const fx = x - x0, fy = y - y0, fz = zz - z0;
  for (let dz = 0; dz < 2; dz++) {
    const zi = z0 + dz;
    if (zi < 0 || zi >= Dv) continue;
    const wz = dz ? fz : 1 - fz;
    for (let dy = 0; dy < 2; dy++) {
      const yi = y0 + dy;
      if (yi < 0 || yi >= Dv) continue;
      const wzy = wz * (dy ? fy : 1 - fy);
      const row = (zi * Dv + yi) * Dv;
      for (let dx = 0; dx < 2; dx++) {
        const xi = x0 + dx;
        if (xi < 0 || xi >= Dv) continue;
        const wgt = wzy * (dx ? fx : 1 - fx);
        const v = row + xi;
        if (sc.mark[v] !== sc.stamp) { sc.mark[v] = sc.stamp; sc.list[sc.count++] = v; }
        sc.w[v] += wgt * w;
        sc.g[v] += wgt * g;
      }
    }
  }
}

/** Add one image's scratch grids into the accumulators (K_i(CTF^2)·u u^T and K_i(g)·u per touched voxel) and clear them. */
function flushImage(sc: ImageScatter, sIdx: Int32Array, H: Float64Array, K: number, uu: Float64Array, u: Float64Array, diagOut: Float64Array, diagPos: Int32Array): void {
  const nA = uu.length, m = u.length;
  const { w, g, list } = sc;
  for (let l = 0; l < sc.count; l++) {
    const v = list[l]!;
    const wv = w[v]!, gv = g[v]!;
    w[v] = 0; g[v] = 0;
    const sj = sIdx[v]!;
    if (sj < 0) { for (let a = 0; a < m; a++) diagOut[a] += wv * uu[diagPos[a]!]!; continue; }
    const o = sj * K;
    for (let t = 0; t < nA; t++) H[o + t] += wv * uu[t]!;
    const ob = o + nA;
    for (let a = 0; a < m; a++) H[ob + a] += gv * u[a]!;
  }
}

/**
 * The zdim+1 decoder grids that best explain the particles (source) at rotations rotsAll (9n,
 * RELION A), origins originsAll (2n, working px) and latents z (n x zdim), regularised as in the
 * header. Particle i goes to half (i % 2).
 */
export function hetWienerRefit(
  source: ParticleSource, rotsAll: ArrayLike<number>, originsAll: ArrayLike<number>,
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
  const { vox, shell, Dv } = sphereVoxels(D);
  const nv = Dv ** 3;
  const cv = Math.floor(Dv / 2);
  const nS = vox.length;
  const sIdx = new Int32Array(nv).fill(-1);
  for (let j = 0; j < nS; j++) sIdx[vox[j]!] = j;
  const nShell = Math.floor(D / 2) + 1;
  const acc = [new Float64Array(nS * K), new Float64Array(nS * K)];
  const diagPos = Int32Array.from({ length: m }, (_, a) => a * m - (a * (a - 1)) / 2); // packed index of (a, a)
  /** A_aa scattered outside the sphere (both halves): with the sphere's, wienerVolume's meanDen for a = 0. */
  const diagOut = new Float64Array(m);
  const bs = Math.max(1, opts.batchSize ?? 64);
  const tw = (2 * Math.PI) / D;
  const uu = new Float64Array(nA);
  const u = new Float64Array(m);
  // one image's slice goes into scratch grids first (K_i(CTF^2) and K_i(g) are scalars per
  // voxel), then each touched voxel adds K_i(CTF^2)·u u^T and K_i(g)·u: m(m+3)/2 multiply-adds
  // per touched voxel instead of per trilinear corner
  const sc: ImageScatter = { w: new Float64Array(nv), g: new Float64Array(nv), mark: new Int32Array(nv), stamp: 0, list: new Int32Array(nv), count: 0 };
  let done = 0;
  for (let half = 0; half < 2; half++) {
    const idxAll: number[] = [];
    for (let i = half; i < n; i += 2) idxAll.push(i);
    const H = acc[half]!;
    for (let s = 0; s < idxAll.length; s += bs) {
      const idx = Uint32Array.from(idxAll.slice(s, s + bs));
      const batch = source.batch(idx);
      for (let b = 0; b < batch.B; b++) {
        const i = idx[b]!;
        u[0] = 1;
        for (let d = 0; d < zdim; d++) u[1 + d] = z[i * zdim + d]!;
        for (let a = 0, t = 0; a < m; a++) for (let c = a; c < m; c++, t++) uu[t] = u[a]! * u[c]!;
        const r = 9 * i;
        const a0 = rotsAll[r]!, a1 = rotsAll[r + 1]!, a2 = rotsAll[r + 2]!;
        const b0 = rotsAll[r + 3]!, b1 = rotsAll[r + 4]!, b2 = rotsAll[r + 5]!;
        const ox = originsAll[2 * i]!, oy = originsAll[2 * i + 1]!;
        sc.stamp += 1;
        sc.count = 0;
        for (let k = 0; k < disc.pix.length; k++) {
          const q = b * P + disc.pix[k]!;
          const c = batch.ctf[q]!;
          const kx = disc.kx[k]!, ky = disc.ky[k]!;
          const ph = tw * (kx * ox + ky * oy);
          // g = CTF · conj(shift) · Y (as wienerVolume); the slice adjoint sends (g.re - g.im)/2 to p
          // and (g.re + g.im)/2 to -p (hartleyVolume.ts renderSlicesBackward), CTF^2/2 to both
          const cr = Math.cos(ph), ci = -Math.sin(ph);
          const yr = batch.obs.re[q]!, yi = batch.obs.im[q]!;
          const gr = c * (cr * yr - ci * yi), gi = c * (cr * yi + ci * yr);
          const w = 0.5 * c * c;
          // p = A^T (kx, ky, 0)
          const px = a0 * kx + b0 * ky, py = a1 * kx + b1 * ky, pz = a2 * kx + b2 * ky;
          scatterPoint(sc, Dv, cv, px, py, pz, w, 0.5 * (gr - gi));
          scatterPoint(sc, Dv, cv, -px, -py, -pz, w, 0.5 * (gr + gi));
        }
        flushImage(sc, sIdx, H, K, uu, u, diagOut, diagPos);
      }
      done += batch.B;
      opts.onProgress?.(done, n);
    }
  }
  const diagTotal = Float64Array.from(diagOut);
  for (let j = 0; j < nS; j++) for (let a = 0; a < m; a++) diagTotal[a] += acc[0]![j * K + diagPos[a]!]! + acc[1]![j * K + diagPos[a]!]!;
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
  try {
    const scale = source.D / set.boxPx;
    const rots = new Float64Array(9 * n), origins = new Float64Array(2 * n);
    ps.particles.forEach((p, i) => {
      if (!p.eulerDeg) throw new InputError(posePath, 'particle has no angles', { record: i });
      rots.set(eulerToMatrix(p.eulerDeg[0], p.eulerDeg[1], p.eulerDeg[2]), 9 * i);
      origins[2 * i] = (p.originPx?.[0] ?? 0) * scale;
      origins[2 * i + 1] = (p.originPx?.[1] ?? 0) * scale;
    });
    const r = hetWienerRefit(source, rots, origins, zf.data, zdim, opts);
    return { decoder: { D: source.D, zdim, grids: r.grids }, halfFsc: r.halfFsc };
  } finally {
    source.close();
  }
}
