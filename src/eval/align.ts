/**
 * Align map B onto a reference map A (same cubic box D): rotation, shift and hand.
 *
 * Result convention (coordinates in voxels about the centre c = floor(D/2), see grid.ts):
 *     aligned(x) = B(M · R^T · (x - t)),   M = diag(1, 1, -1) if mirrored else I,
 * i.e. B is first mirrored (z -> -z about the centre, the slow MRC axis reversed), then rotated
 * actively by R (V'(x) = V(R^T x)), then translated by +t (`shiftPx`). Sampling is trilinear;
 * samples outside the box are 0.
 *
 * Search:
 *  1. Rotation, shift-invariantly: amplitude spectra |F| do not change under translation, so
 *     a uniform grid of rotations (super-Fibonacci, 6000 by default, ~8 deg apart) is scored by the
 *     correlation of shell-normalised low-resolution amplitudes. |F| is also centrosymmetric,
 *     hence blind to the hand: each candidate R serves the unmirrored hand and R·Rz(pi) the
 *     mirrored one.
 *  2. For the best few distinct candidates and both hands: rotate a Fourier-cropped copy of B
 *     (box <= 32), find the shift from the cross-correlation peak (FFT), score by correlation.
 *  3. Local refinement (Nelder-Mead over a 3-vector rotation increment and the shift) of the
 *     best candidate of each hand, first on the cropped maps, then at full size; keep the hand
 *     with the higher real-space correlation.
 * `correlation` is the Pearson correlation of A and `aligned` over the voxels within radius
 * floor(D/2) of the centre.
 *
 * Nelder-Mead is hand-written (40 lines) rather than pulled from npm: the small npm optimisers
 * are unmaintained and we need nothing beyond the textbook method.
 */
import { fft3Centered, ifft3Centered } from '../core/fft.js';
import { fourierCropVolume } from '../core/resample.js';
import { expSO3, geodesicDeg, identity, matMul, quatToMatrix, transpose, type Mat3 } from '../core/rotation.js';

export interface AlignOptions {
  /** Number of rotations in the global grid (default 6000). */
  nRotations?: number;
  /** Distinct rotation candidates kept from the amplitude search (default 8). */
  nCandidates?: number;
  /** Consider the mirrored hand (default true). */
  tryMirror?: boolean;
  /** Progress messages (e.g. to stderr). */
  log?: (msg: string) => void;
  /**
   * Rounds of core refinement (default 0): for maps of two conformations, refine the alignment on
   * the voxels where both aligned maps hold density (above coreThreshold standard deviations
   * within the sphere), so a domain present in only one map (moved, or absent) does not pull the
   * shared core off; each round recomputes that core from the current alignment.
   */
  coreRounds?: number;
  coreThreshold?: number;
}

export interface AlignResult {
  rotation: Mat3;
  shiftPx: [number, number, number];
  mirrored: boolean;
  correlation: number;
  aligned: Float32Array;
}

const MIRROR = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, -1]);
const RZ_PI = new Float64Array([-1, 0, 0, 0, -1, 0, 0, 0, 1]);

/**
 * out(x) = vol(L·(x - t)) by trilinear interpolation, coordinates about the centre floor(D/2);
 * zero outside the box. L is any 3x3 matrix (a rotation, possibly times a mirror). With `sel`,
 * only the flagged output voxels are computed (the others are set to 0).
 */
export function transformVolume(vol: Float32Array, D: number, L: ArrayLike<number>, t: ArrayLike<number> = [0, 0, 0], out = new Float32Array(D * D * D), sel?: Uint8Array): Float32Array {
  const c = Math.floor(D / 2);
  const l0 = L[0]!, l1 = L[1]!, l2 = L[2]!, l3 = L[3]!, l4 = L[4]!, l5 = L[5]!, l6 = L[6]!, l7 = L[7]!, l8 = L[8]!;
  const D2 = D * D;
  let i = 0;
  for (let z = 0; z < D; z++) {
    const zz = z - c - t[2]!;
    for (let y = 0; y < D; y++) {
      const yy = y - c - t[1]!;
      const bx = l1 * yy + l2 * zz + c, by = l4 * yy + l5 * zz + c, bz = l7 * yy + l8 * zz + c;
      for (let x = 0; x < D; x++, i++) {
        if (sel && !sel[i]) { out[i] = 0; continue; }
        const xx = x - c - t[0]!;
        const px = l0 * xx + bx, py = l3 * xx + by, pz = l6 * xx + bz;
        const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
        if (x0 < -1 || y0 < -1 || z0 < -1 || x0 >= D || y0 >= D || z0 >= D) { out[i] = 0; continue; }
        const fx = px - x0, fy = py - y0, fz = pz - z0;
        let s = 0;
        for (let dz = 0; dz < 2; dz++) {
          const zi = z0 + dz;
          if (zi < 0 || zi >= D) continue;
          const wz = dz ? fz : 1 - fz;
          for (let dy = 0; dy < 2; dy++) {
            const yi = y0 + dy;
            if (yi < 0 || yi >= D) continue;
            const wzy = wz * (dy ? fy : 1 - fy);
            const base = zi * D2 + yi * D;
            if (x0 >= 0) s += wzy * (1 - fx) * vol[base + x0]!;
            if (x0 + 1 < D) s += wzy * fx * vol[base + x0 + 1]!;
          }
        }
        out[i] = s;
      }
    }
  }
  return out;
}

/** Uniform deterministic rotations: super-Fibonacci spiral quaternions (Alexa, CVPR 2022). */
export function superFibonacciRotations(n: number): Float64Array {
  const phi = Math.SQRT2, psi = 1.533751168755204288118041;
  const out = new Float64Array(9 * n);
  for (let i = 0; i < n; i++) {
    const s = i + 0.5;
    const r = Math.sqrt(s / n), R = Math.sqrt(1 - s / n);
    const a = (2 * Math.PI * s) / phi, b = (2 * Math.PI * s) / psi;
    quatToMatrix([r * Math.sin(a), r * Math.cos(a), R * Math.sin(b), R * Math.cos(b)], out.subarray(9 * i, 9 * i + 9));
  }
  return out;
}

/** Pearson correlation of a and b over the voxels flagged in `sel` (all if undefined). */
export function maskedCorrelation(a: Float32Array, b: Float32Array, sel?: Uint8Array): number {
  let n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (let i = 0; i < a.length; i++) {
    if (sel && !sel[i]) continue;
    const x = a[i]!, y = b[i]!;
    n++; sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
  }
  const cov = sab - (sa * sb) / n, va = saa - (sa * sa) / n, vb = sbb - (sb * sb) / n;
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0;
}

function sphereSelection(D: number): Uint8Array {
  const c = Math.floor(D / 2), r2max = c * c;
  const sel = new Uint8Array(D * D * D);
  let i = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
    if ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2 <= r2max) sel[i] = 1;
  }
  return sel;
}

/** Voxels of `sel` where both maps exceed `threshold` standard deviations above their mean (within sel), dilated by one voxel. */
function coreSelection(a: Float32Array, b: Float32Array, sel: Uint8Array, threshold: number): Uint8Array {
  const stats = (v: Float32Array) => {
    let n = 0, s = 0, ss = 0;
    for (let i = 0; i < v.length; i++) if (sel[i]) { n++; s += v[i]!; ss += v[i]! * v[i]!; }
    const m = s / n;
    return { m, sd: Math.sqrt(Math.max(0, ss / n - m * m)) };
  };
  const sa = stats(a), sb = stats(b);
  const D = Math.round(Math.cbrt(a.length));
  const both = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) both[i] = sel[i] && a[i]! > sa.m + threshold * sa.sd && b[i]! > sb.m + threshold * sb.sd ? 1 : 0;
  const out = new Uint8Array(a.length);
  for (let z = 1; z < D - 1; z++) for (let y = 1; y < D - 1; y++) for (let x = 1; x < D - 1; x++) {
    const i = (z * D + y) * D + x;
    if (!sel[i]) continue;
    if (both[i] || both[i - 1] || both[i + 1] || both[i - D] || both[i + D] || both[i - D * D] || both[i + D * D]) out[i] = 1;
  }
  return out;
}

/** |F| normalised per integer shell (zero mean, unit variance) for radii <= rMax + 1. */
function normalisedAmplitudes(vol: Float32Array, D: number, rMax: number): Float32Array {
  const F = fft3Centered(vol, D);
  const c = Math.floor(D / 2), n = D * D * D, nS = rMax + 3;
  const amp = new Float32Array(n), shell = new Int32Array(n).fill(-1);
  const s1 = new Float64Array(nS), s2 = new Float64Array(nS), cnt = new Float64Array(nS);
  let i = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
    const r = Math.round(Math.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2));
    if (r >= nS) continue;
    const a = Math.hypot(F.re[i]!, F.im[i]!);
    amp[i] = a; shell[i] = r; s1[r]! += a; s2[r]! += a * a; cnt[r]! += 1;
  }
  for (let j = 0; j < n; j++) {
    const r = shell[j]!;
    if (r < 0) continue;
    const m = s1[r]! / cnt[r]!, v = s2[r]! / cnt[r]! - m * m;
    amp[j] = v > 0 ? (amp[j]! - m) / Math.sqrt(v) : 0;
  }
  return amp;
}

function trilinearAt(vol: Float32Array, D: number, px: number, py: number, pz: number): number {
  const x0 = Math.floor(px), y0 = Math.floor(py), z0 = Math.floor(pz);
  if (x0 < 0 || y0 < 0 || z0 < 0 || x0 + 1 >= D || y0 + 1 >= D || z0 + 1 >= D) return 0;
  const fx = px - x0, fy = py - y0, fz = pz - z0;
  const i = (z0 * D + y0) * D + x0, D2 = D * D;
  const c00 = vol[i]! + fx * (vol[i + 1]! - vol[i]!);
  const c01 = vol[i + D]! + fx * (vol[i + D + 1]! - vol[i + D]!);
  const c10 = vol[i + D2]! + fx * (vol[i + D2 + 1]! - vol[i + D2]!);
  const c11 = vol[i + D2 + D]! + fx * (vol[i + D2 + D + 1]! - vol[i + D2 + D]!);
  const c0 = c00 + fy * (c01 - c00), c1 = c10 + fy * (c11 - c10);
  return c0 + fz * (c1 - c0);
}

/**
 * Step 1: rotations R (best first, pairwise > minSepDeg apart) maximising the correlation of
 * normalised |F_A|(R k) with |F_B|(k) over low-resolution k (half space).
 */
function amplitudeCandidates(A: Float32Array, B: Float32Array, D: number, nRot: number, nKeep: number, minSepDeg: number): Mat3[] {
  const rMax = Math.max(4, Math.min(Math.floor(D / 2) - 2, 8));
  const aA = normalisedAmplitudes(A, D, rMax), aB = normalisedAmplitudes(B, D, rMax);
  const c = Math.floor(D / 2);
  const kx: number[] = [], ky: number[] = [], kz: number[] = [], wb: number[] = [];
  for (let z = 0; z <= c; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const X = x - c, Y = y - c, Z = z - c; // half space Z <= 0
    const r = Math.sqrt(X * X + Y * Y + Z * Z);
    if (r < 1.5 || r > rMax) continue;
    kx.push(X); ky.push(Y); kz.push(Z); wb.push(aB[(z * D + y) * D + x]!);
  }
  const rots = superFibonacciRotations(nRot);
  const scores = new Float64Array(nRot);
  const np = kx.length;
  for (let r = 0; r < nRot; r++) {
    const R = rots.subarray(9 * r, 9 * r + 9);
    let s = 0;
    for (let p = 0; p < np; p++) {
      const X = kx[p]!, Y = ky[p]!, Z = kz[p]!;
      s += wb[p]! * trilinearAt(aA, D, R[0]! * X + R[1]! * Y + R[2]! * Z + c, R[3]! * X + R[4]! * Y + R[5]! * Z + c, R[6]! * X + R[7]! * Y + R[8]! * Z + c);
    }
    scores[r] = s;
  }
  const order = Array.from(scores.keys()).sort((p, q) => scores[q]! - scores[p]!);
  const kept: Mat3[] = [];
  for (const r of order) {
    const R = rots.slice(9 * r, 9 * r + 9);
    if (kept.every((K) => geodesicDeg(K, R) > minSepDeg)) kept.push(R);
    if (kept.length >= nKeep) break;
  }
  return kept;
}

/** Step 2: shift by the cross-correlation peak of A and the rotated B; returns shift and score. */
function translationSearch(Fa: { re: Float32Array; im: Float32Array }, Brot: Float32Array, d: number): [number, number, number] {
  const Fb = fft3Centered(Brot, d);
  const n = d * d * d;
  const P = { re: new Float32Array(n), im: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    // F_A · conj(F_B): peak at index c + t when A(x) = B(x - t)
    P.re[i] = Fa.re[i]! * Fb.re[i]! + Fa.im[i]! * Fb.im[i]!;
    P.im[i] = Fa.im[i]! * Fb.re[i]! - Fa.re[i]! * Fb.im[i]!;
  }
  const cc = ifft3Centered(P, d);
  let best = 0;
  for (let i = 1; i < n; i++) if (cc[i]! > cc[best]!) best = i;
  const c = Math.floor(d / 2);
  return [(best % d) - c, (Math.floor(best / d) % d) - c, Math.floor(best / (d * d)) - c];
}

/** Minimise f from x0 with initial simplex steps `step` (textbook Nelder-Mead). */
export function nelderMead(f: (x: number[]) => number, x0: number[], step: number[], maxEval = 400, tol = 1e-6): number[] {
  const n = x0.length;
  let simplex = [x0.slice()];
  for (let i = 0; i < n; i++) { const v = x0.slice(); v[i]! += step[i]!; simplex.push(v); }
  let vals = simplex.map(f);
  let evals = n + 1;
  while (evals < maxEval) {
    const idx = vals.map((_, i) => i).sort((a, b) => vals[a]! - vals[b]!);
    simplex = idx.map((i) => simplex[i]!); vals = idx.map((i) => vals[i]!);
    if (Math.abs(vals[n]! - vals[0]!) < tol) break;
    const cen = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cen[j]! += simplex[i]![j]! / n;
    const along = (t: number) => cen.map((c, j) => c + t * (simplex[n]![j]! - c));
    const xr = along(-1), fr = f(xr); evals++;
    if (fr < vals[0]!) {
      const xe = along(-2), fe = f(xe); evals++;
      if (fe < fr) { simplex[n] = xe; vals[n] = fe; } else { simplex[n] = xr; vals[n] = fr; }
    } else if (fr < vals[n - 1]!) {
      simplex[n] = xr; vals[n] = fr;
    } else {
      const xc = along(fr < vals[n]! ? -0.5 : 0.5), fc = f(xc); evals++;
      if (fc < Math.min(fr, vals[n]!)) { simplex[n] = xc; vals[n] = fc; }
      else {
        for (let i = 1; i <= n; i++) { simplex[i] = simplex[i]!.map((v, j) => simplex[0]![j]! + 0.5 * (v - simplex[0]![j]!)); vals[i] = f(simplex[i]!); }
        evals += n;
      }
    }
  }
  let b = 0;
  for (let i = 1; i <= n; i++) if (vals[i]! < vals[b]!) b = i;
  return simplex[b]!;
}

interface Pose { R: Mat3; t: [number, number, number]; mirrored: boolean; score: number }

function linearMap(R: Mat3, mirrored: boolean): Mat3 {
  const Rt = transpose(new Float64Array(9), R);
  return mirrored ? matMul(Rt, MIRROR, Rt) : Rt;
}

/** Step 3: Nelder-Mead over (rotation increment in degrees, shift in px) on one grid. */
function refine(A: Float32Array, B: Float32Array, D: number, p: Pose, stepDeg: number, stepPx: number, maxEval: number, sel = sphereSelection(D)): Pose {
  const buf = new Float32Array(D * D * D);
  const Rw = identity();
  const poseOf = (v: number[]): [Mat3, [number, number, number]] => {
    matMul(Rw, expSO3([v[0]! * Math.PI / 180, v[1]! * Math.PI / 180, v[2]! * Math.PI / 180]), p.R);
    return [Rw, [p.t[0] + v[3]!, p.t[1] + v[4]!, p.t[2] + v[5]!]];
  };
  const cost = (v: number[]): number => {
    const [R, t] = poseOf(v);
    transformVolume(B, D, linearMap(R, p.mirrored), t, buf, sel);
    return -maskedCorrelation(A, buf, sel);
  };
  const v = nelderMead(cost, [0, 0, 0, 0, 0, 0], [stepDeg, stepDeg, stepDeg, stepPx, stepPx, stepPx], maxEval, 1e-7);
  const score = -cost(v);
  const [R, t] = poseOf(v);
  return { R: R.slice(), t, mirrored: p.mirrored, score };
}

/** Align map B onto reference A (both D^3, same grid). See the module comment for conventions. */
export function alignMaps(A: Float32Array, B: Float32Array, D: number, opts: AlignOptions = {}): AlignResult {
  const n = D * D * D;
  if (A.length !== n || B.length !== n) throw new RangeError(`alignMaps: maps must have ${n} voxels (got ${A.length}, ${B.length})`);
  const log = opts.log ?? (() => {});
  const tryMirror = opts.tryMirror ?? true;
  const t0 = Date.now();
  const cands = amplitudeCandidates(A, B, D, opts.nRotations ?? 6000, opts.nCandidates ?? 8, 20);
  log(`align: ${cands.length} rotation candidates from the amplitude search (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const d = Math.min(D, 32), scale = d / D;
  const a = d === D ? A : fourierCropVolume(A, D, d), b = d === D ? B : fourierCropVolume(B, D, d);
  const Fa = fft3Centered(a, d);
  const selD = sphereSelection(d);
  const buf = new Float32Array(d * d * d);
  const best: Array<Pose | null> = [null, null];
  for (const mirrored of tryMirror ? [false, true] : [false]) {
    for (const Ra of cands) {
      const R = mirrored ? matMul(new Float64Array(9), Ra, RZ_PI) : Ra;
      const L = linearMap(R, mirrored);
      transformVolume(b, d, L, [0, 0, 0], buf);
      const t = translationSearch(Fa, buf, d);
      transformVolume(b, d, L, t, buf);
      const score = maskedCorrelation(a, buf, selD);
      const h = mirrored ? 1 : 0;
      if (!best[h] || score > best[h]!.score) best[h] = { R, t, mirrored, score };
    }
  }
  // Refine each hand on the cropped maps; at full size only the hands that are still close.
  const coarse = best.filter((p): p is Pose => p !== null).map((p) => {
    const q = refine(a, b, d, p, 5, 1, 300);
    log(`align: hand ${q.mirrored ? 'mirrored' : 'as given'}: correlation ${q.score.toFixed(4)} (box ${d})`);
    return { ...q, t: [q.t[0] / scale, q.t[1] / scale, q.t[2] / scale] as [number, number, number] };
  });
  const top = Math.max(...coarse.map((q) => q.score));
  let result: Pose | null = null;
  for (let q of coarse) {
    if (q.score < top - 0.02) continue;
    if (d !== D) {
      q = refine(A, B, D, q, 1, 0.5 / scale, 200);
      log(`align: hand ${q.mirrored ? 'mirrored' : 'as given'}: correlation ${q.score.toFixed(4)} (box ${D})`);
    }
    if (!result || q.score > result.score) result = q;
  }
  let r = result!;
  const sphere = sphereSelection(D);
  for (let round = 0; round < (opts.coreRounds ?? 0); round++) {
    const cur = transformVolume(B, D, linearMap(r.R, r.mirrored), r.t);
    const core = coreSelection(A, cur, sphere, opts.coreThreshold ?? 1);
    const q = refine(A, B, D, r, 1, 0.5, 300, core);
    log(`align: core round ${round + 1}: ${core.reduce((c, v) => c + v, 0)} voxels, rotation change ${geodesicDeg(q.R, r.R).toFixed(2)} deg`);
    r = q;
  }
  const aligned = transformVolume(B, D, linearMap(r.R, r.mirrored), r.t);
  return { rotation: r.R, shiftPx: r.t, mirrored: r.mirrored, correlation: maskedCorrelation(A, aligned, sphereSelection(D)), aligned };
}
