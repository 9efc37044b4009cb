/**
 * Pose error between predicted and true particle poses, cryoSPIN's definition
 * (../shared/docs/conventions.md, "Pose error"; also used by cryoAI / cryoFIRE).
 *
 * Rotations are RELION A matrices (volume -> image coordinates). A reconstruction is only
 * defined up to a global rotation S and a hand: if the map is V∘S (S a rotation) its poses are
 * P = G·S^T; if it is mirrored, V∘L with L improper (det -1), its poses are P = M·G·L with
 * M = diag(1, 1, -1), because a projection sums over image z so A and M·A give the same image,
 * and M·G·L is the proper member of that pair. Hence G = P'·Q with
 *     P' = P       and Q proper     (same hand), or
 *     P' = M·P     and Q improper   (mirrored map; det P' = -1 so Q = P'^T G is improper too).
 * We follow the published recipe: candidates Q_i = P'_i^T G_i for a seeded subset of particles,
 * keep the one minimising mean_i ||G_i - P'_i Q||_F^2, for both hands, keep the better hand.
 * Because ||G - P'Q||^2 = 6 - 2 tr(G^T P' Q) for orthogonal matrices, the mean cost is linear in
 * Q, 6 - 2 tr(S Q) with S = mean G_i^T P'_i, so each candidate costs O(1) and the exact
 * minimiser over all of O(3)'s component is the polar projection of S^T (`refine`, default on;
 * the refined Q is kept only if it lowers the mean cost, which it always does up to rounding).
 * Per particle, d_i = ||G_i - P'_i Q||^2 and the angle is 2 asin(sqrt(d_i / 8)).
 *
 * Shifts: RELION origins are image-plane (x, y) offsets of where the box centre projects. A
 * global rotation or mirror of the map about the box centre leaves them unchanged (M only flips
 * image z), so predicted and true origins are compared directly in both hands:
 * `shift_median_px` = median |o_pred - o_true|. If the reconstruction is also translated by a
 * 3D vector s, the predicted origins move by the first two rows of P_i applied to s;
 * `shift_median_recentred_px` removes the least-squares s first (null if the views are too
 * few to determine it).
 *
 * Aligned frame (`opts.alignment`, the preferred shift figure): an ab-initio map's origin is as
 * free as its orientation, so, as for rotations, the predicted origins are compared in the frame
 * of the predicted map after its global alignment onto the true map. With alignMaps' convention
 * (src/eval/align.ts) aligned(x) = B(M·R^T·(x - t)), B the predicted map, the predicted map is
 * B(y) = aligned(R·M·y + t). A particle modelled as image(u) = sum_z B(P^T (u + o, z)) is then
 *     sum_z aligned(R M P^T w + t) = sum_z aligned(Pa^T (w + Pa t)),   Pa = P·M·R^T,
 * so in the aligned frame its pose is Pa and its origin o + (Pa t)_xy (rows 0, 1 of Pa t);
 * `shift_median_aligned_px` = median |o + (Pa t)_xy - o_true|. Unlike the recentred figure,
 * nothing here is fitted to the true origins: t comes from the maps alone.
 */
import { Rng } from '../core/rng.js';
import { nearestRotation, type Mat3 } from '../core/rotation.js';

export interface PoseErrorOptions {
  /** Size of the seeded subset giving candidate Q_i (default 100, or n if smaller). */
  nCandidates?: number;
  seed?: number;
  /** Replace the best candidate by the exact chordal (Frobenius) optimum (default true). */
  refine?: boolean;
  /** Consider the mirrored hand (default true). */
  allowMirror?: boolean;
  /**
   * Global alignment of the predicted map onto the true map, as returned by alignMaps(trueMap,
   * predMap): rotation R (row-major), translation t (px, voxel units about the centre) and hand.
   * With it the shift error is also reported in the aligned frame (`shift_median_aligned_px`).
   */
  alignment?: MapAlignment;
}

/** The global map alignment of src/eval/align.ts: aligned(x) = B(M·R^T·(x - t)). */
export interface MapAlignment {
  rotation: ArrayLike<number>;
  shiftPx: ArrayLike<number>;
  mirrored: boolean;
}

export interface PoseErrorResult {
  n: number;
  rot_median_deg: number;
  rot_mean_deg: number;
  mirrored: boolean;
  /** Median |origin_pred - origin_true| in px, or null without shifts. */
  shift_median_px: number | null;
  /** The same after removing the best global 3D translation of the map; null if undetermined. */
  shift_median_recentred_px: number | null;
  /**
   * Median |origin_pred - origin_true| (px) with the predicted origins taken into the frame of the
   * aligned predicted map (opts.alignment); null without an alignment or without shifts.
   */
  shift_median_aligned_px: number | null;
  /** Mean of the same (px), null likewise. */
  shift_mean_aligned_px: number | null;
  /** Median squared Frobenius distance (cryoAI's Table 1 statistic). */
  frob_sq_median: number;
  /** Q with G ≈ P'·Q (improper when mirrored). */
  globalQ: Mat3;
  /** Per-particle rotation error (degrees). */
  perParticleDeg: Float64Array;
}

function median(v: ArrayLike<number>): number {
  const s = Float64Array.from(v).sort();
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : 0.5 * (s[n / 2 - 1]! + s[n / 2]!);
}

/** P' = M·P for the mirrored hand (negates the third row of each matrix). */
function handed(P: Float64Array, mirrored: boolean): Float64Array {
  if (!mirrored) return P;
  const out = P.slice();
  for (let i = 0; i < out.length; i += 9) { out[i + 6] = -out[i + 6]!; out[i + 7] = -out[i + 7]!; out[i + 8] = -out[i + 8]!; }
  return out;
}

/** Mean cost 6 - 2 tr(S Q) for S = mean_i G_i^T P'_i. */
function meanCost(S: Float64Array, Q: ArrayLike<number>): number {
  let tr = 0;
  for (let r = 0; r < 3; r++) for (let k = 0; k < 3; k++) tr += S[3 * r + k]! * Q[3 * k + r]!;
  return 6 - 2 * tr;
}

interface HandFit { Q: Float64Array; cost: number; Pp: Float64Array }

function fitHand(P: Float64Array, G: Float64Array, mirrored: boolean, subset: Uint32Array, refine: boolean): HandFit {
  const n = P.length / 9;
  const Pp = handed(P, mirrored);
  // S = mean G_i^T P'_i
  const S = new Float64Array(9);
  for (let i = 0; i < n; i++) {
    const o = 9 * i;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) {
      S[3 * r + c]! += (G[o + r]! * Pp[o + c]! + G[o + 3 + r]! * Pp[o + 3 + c]! + G[o + 6 + r]! * Pp[o + 6 + c]!) / n;
    }
  }
  let best: Float64Array | null = null, bestCost = Infinity;
  const Q = new Float64Array(9);
  for (const i of subset) {
    const o = 9 * i;
    // Q_i = P'_i^T G_i
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) {
      Q[3 * r + c] = Pp[o + r]! * G[o + c]! + Pp[o + 3 + r]! * G[o + 3 + c]! + Pp[o + 6 + r]! * G[o + 6 + c]!;
    }
    const cost = meanCost(S, Q);
    if (cost < bestCost) { bestCost = cost; best = Q.slice(); }
  }
  if (refine) {
    // argmax tr(S Q) = tr(Q^T S^T) over the component with det(Q) = det(P')^-1 · det(G) = ±1
    const St = new Float64Array([S[0]!, S[3]!, S[6]!, S[1]!, S[4]!, S[7]!, S[2]!, S[5]!, S[8]!]);
    let Qr: Float64Array;
    if (!mirrored) Qr = nearestRotation(St);
    else {
      // Q = N·R with N = diag(1,1,-1): maximise tr(R^T (N S^T))
      const NSt = St.slice(); NSt[6] = -NSt[6]!; NSt[7] = -NSt[7]!; NSt[8] = -NSt[8]!;
      Qr = nearestRotation(NSt);
      Qr[6] = -Qr[6]!; Qr[7] = -Qr[7]!; Qr[8] = -Qr[8]!;
    }
    const c = meanCost(S, Qr);
    if (c <= bestCost + 1e-12) { best = Qr; bestCost = c; }
  }
  return { Q: best!, cost: bestCost, Pp };
}

/**
 * Predicted origins (2n, px) in the frame of the aligned predicted map: o_i + rows 0, 1 of
 * P_i·M·R^T·t (see the module comment), for predicted rotations P (9n) and origins o (2n).
 */
export function alignedOrigins(predRot: Float64Array, predShiftPx: Float64Array, alignment: MapAlignment): Float64Array {
  const n = predRot.length / 9;
  if (predShiftPx.length !== 2 * n) throw new RangeError('alignedOrigins: shifts must have 2n entries');
  const R = alignment.rotation, t = alignment.shiftPx;
  if (R.length !== 9 || t.length !== 3) throw new RangeError('alignedOrigins: alignment needs a 3x3 rotation and a 3-vector shift');
  // v = M·R^T·t (M negates z when mirrored)
  const v = [0, 1, 2].map((k) => R[k]! * t[0]! + R[3 + k]! * t[1]! + R[6 + k]! * t[2]!);
  if (alignment.mirrored) v[2] = -v[2]!;
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const o = 9 * i;
    out[2 * i] = predShiftPx[2 * i]! + predRot[o]! * v[0]! + predRot[o + 1]! * v[1]! + predRot[o + 2]! * v[2]!;
    out[2 * i + 1] = predShiftPx[2 * i + 1]! + predRot[o + 3]! * v[0]! + predRot[o + 4]! * v[1]! + predRot[o + 5]! * v[2]!;
  }
  return out;
}

/**
 * Poses (rotations 9n, origins 2n px) of particles modelled on map B, taken into the frame of the
 * aligned map (see the module comment): rotation P·M·R^T, with M·(P·M·R^T) (the proper member
 * of the pair that gives the same image) when the alignment is mirrored, and origin
 * o + rows 0, 1 of P·M·R^T·t. What a class map aligned onto another class's map (alignMaps)
 * needs to bring its particles' poses into the other class's frame.
 */
export function alignedPoses(predRot: ArrayLike<number>, predShiftPx: ArrayLike<number>, alignment: MapAlignment): { rot: Float32Array; origin: Float32Array } {
  const n = predRot.length / 9;
  if (!Number.isInteger(n) || predShiftPx.length !== 2 * n) throw new RangeError('alignedPoses: need 9n rotation entries and 2n origins');
  const R = alignment.rotation;
  const origin = Float32Array.from(alignedOrigins(Float64Array.from(predRot), Float64Array.from(predShiftPx), alignment));
  const rot = new Float32Array(9 * n);
  const m = alignment.mirrored ? -1 : 1;
  for (let i = 0; i < n; i++) {
    const o = 9 * i;
    for (let r = 0; r < 3; r++) {
      // row r of P·M: (P[r0], P[r1], m·P[r2]); times R^T: entry c = sum_k (P·M)[r,k]·R[c,k]
      const a = predRot[o + 3 * r]!, b = predRot[o + 3 * r + 1]!, d = m * predRot[o + 3 * r + 2]!;
      const sign = r === 2 ? m : 1; // M·(P·M·R^T) when mirrored: negate the third row
      for (let c = 0; c < 3; c++) rot[o + 3 * r + c] = sign * (a * R[3 * c]! + b * R[3 * c + 1]! + d * R[3 * c + 2]!);
    }
  }
  return { rot, origin };
}

/** Solve the 3x3 system A s = b (Cramer); null if nearly singular. */
function solve3(A: Float64Array, b: Float64Array): Float64Array | null {
  const det = (m: ArrayLike<number>) => m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) - m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) + m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!);
  const d = det(A);
  let scale = 0;
  for (const v of A) scale = Math.max(scale, Math.abs(v));
  if (!(Math.abs(d) > 1e-9 * scale ** 3)) return null;
  const out = new Float64Array(3);
  for (let k = 0; k < 3; k++) {
    const M = A.slice();
    for (let r = 0; r < 3; r++) M[3 * r + k] = b[r]!;
    out[k] = det(M) / d;
  }
  return out;
}

/**
 * Pose error of predicted rotations `predRot` against `trueRot` (each 9n, row-major RELION A),
 * with optional origins (2n, px).
 */
export function poseError(
  predRot: Float64Array, trueRot: Float64Array,
  predShiftPx: Float64Array | null = null, trueShiftPx: Float64Array | null = null,
  opts: PoseErrorOptions = {},
): PoseErrorResult {
  const n = predRot.length / 9;
  if (!Number.isInteger(n) || n < 1 || trueRot.length !== predRot.length) {
    throw new RangeError(`poseError: need 9n predicted and true matrix entries (got ${predRot.length}, ${trueRot.length})`);
  }
  const rng = new Rng(opts.seed ?? 0);
  const k = Math.min(n, opts.nCandidates ?? 100);
  const subset = rng.permutation(n).slice(0, k);
  const refine = opts.refine ?? true;
  let fit = fitHand(predRot, trueRot, false, subset, refine);
  let mirrored = false;
  if (opts.allowMirror ?? true) {
    const m = fitHand(predRot, trueRot, true, subset, refine);
    if (m.cost < fit.cost) { fit = m; mirrored = true; }
  }
  const { Q, Pp } = fit;
  const deg = new Float64Array(n);
  const frob = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = 9 * i;
    let d = 0;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) {
      const pq = Pp[o + 3 * r]! * Q[c]! + Pp[o + 3 * r + 1]! * Q[3 + c]! + Pp[o + 3 * r + 2]! * Q[6 + c]!;
      d += (trueRot[o + 3 * r + c]! - pq) ** 2;
    }
    frob[i] = d;
    deg[i] = (2 * Math.asin(Math.min(1, Math.sqrt(d / 8)))) * (180 / Math.PI);
  }
  let mean = 0;
  for (const v of deg) mean += v / n;

  let shiftMedian: number | null = null, shiftRecentred: number | null = null;
  let shiftAligned: number | null = null, shiftAlignedMean: number | null = null;
  if (predShiftPx && trueShiftPx) {
    if (predShiftPx.length !== 2 * n || trueShiftPx.length !== 2 * n) throw new RangeError('poseError: shifts must have 2n entries');
    const err = new Float64Array(n);
    const NtN = new Float64Array(9), Ntb = new Float64Array(3);
    for (let i = 0; i < n; i++) {
      const dx = predShiftPx[2 * i]! - trueShiftPx[2 * i]!, dy = predShiftPx[2 * i + 1]! - trueShiftPx[2 * i + 1]!;
      err[i] = Math.hypot(dx, dy);
      // rows 0, 1 of P_i: o_pred - o_true ≈ C_i s
      const o = 9 * i;
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) NtN[3 * r + c]! += predRot[o + r]! * predRot[o + c]! + predRot[o + 3 + r]! * predRot[o + 3 + c]!;
        Ntb[r]! += predRot[o + r]! * dx + predRot[o + 3 + r]! * dy;
      }
    }
    shiftMedian = median(err);
    const s = n >= 3 ? solve3(NtN, Ntb) : null;
    if (s) {
      for (let i = 0; i < n; i++) {
        const o = 9 * i;
        const rx = predShiftPx[2 * i]! - trueShiftPx[2 * i]! - (predRot[o]! * s[0]! + predRot[o + 1]! * s[1]! + predRot[o + 2]! * s[2]!);
        const ry = predShiftPx[2 * i + 1]! - trueShiftPx[2 * i + 1]! - (predRot[o + 3]! * s[0]! + predRot[o + 4]! * s[1]! + predRot[o + 5]! * s[2]!);
        err[i] = Math.hypot(rx, ry);
      }
      shiftRecentred = median(err);
    }
    if (opts.alignment) {
      const oa = alignedOrigins(predRot, predShiftPx, opts.alignment);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        err[i] = Math.hypot(oa[2 * i]! - trueShiftPx[2 * i]!, oa[2 * i + 1]! - trueShiftPx[2 * i + 1]!);
        sum += err[i]!;
      }
      shiftAligned = median(err);
      shiftAlignedMean = sum / n;
    }
  }
  return {
    n, rot_median_deg: median(deg), rot_mean_deg: mean, mirrored,
    shift_median_px: shiftMedian, shift_median_recentred_px: shiftRecentred,
    shift_median_aligned_px: shiftAligned, shift_mean_aligned_px: shiftAlignedMean,
    frob_sq_median: median(frob), globalQ: Q, perParticleDeg: deg,
  };
}

/**
 * A (pseudo-)symmetry of the TRUE map: V(x) ≈ V(S·x + u), coordinates in voxels about the box
 * centre. Then pose G with origin o and pose G' = G·S^T with origin o + rows 0, 1 of G'·u give the
 * same image (sum_z V(G^T w) = sum_z V(G'^T (w + G' u))).
 */
export interface MapSymmetryOp {
  rotation: ArrayLike<number>;
  shiftPx?: ArrayLike<number>;
}

export interface SymmetricPoseErrorResult extends PoseErrorResult {
  /** Fraction of particles scored against a symmetry mate of their true pose (not the identity). */
  mate_fraction: number;
}

/**
 * Pose error modulo a (pseudo-)symmetry of the true map: each particle is scored against the
 * member of {G_i} ∪ {G_i·S_k^T} (origins moved accordingly) closest to its predicted rotation in
 * the globally aligned frame. The global rotation/hand and the per-particle choice are
 * alternated until the choice is stable (<= 10 rounds). For a map that is only pseudo-symmetric
 * this is a diagnostic beside the plain figure, not a replacement for it.
 */
export function poseErrorModSymmetry(
  predRot: Float64Array, trueRot: Float64Array,
  predShiftPx: Float64Array | null, trueShiftPx: Float64Array | null,
  symmetry: readonly MapSymmetryOp[], opts: PoseErrorOptions = {},
): SymmetricPoseErrorResult {
  const n = predRot.length / 9;
  const ops = symmetry.map((s) => {
    if (s.rotation.length !== 9) throw new RangeError('poseErrorModSymmetry: a symmetry rotation needs 9 entries');
    return { St: [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => s.rotation[3 * c + r]!)), u: s.shiftPx ? Array.from(s.shiftPx) : [0, 0, 0] };
  });
  const choice = new Int32Array(n); // 0 = identity, k + 1 = ops[k]
  const G = trueRot.slice();
  const O = trueShiftPx ? trueShiftPx.slice() : null;
  let r = poseError(predRot, G, predShiftPx, O, opts);
  const PQ = new Float64Array(9);
  for (let round = 0; round < 10; round++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const o = 9 * i;
      for (let a = 0; a < 3; a++) for (let c = 0; c < 3; c++) {
        const sgn = r.mirrored && a === 2 ? -1 : 1;
        PQ[3 * a + c] = sgn * (predRot[o + 3 * a]! * r.globalQ[c]! + predRot[o + 3 * a + 1]! * r.globalQ[3 + c]! + predRot[o + 3 * a + 2]! * r.globalQ[6 + c]!);
      }
      let best = 0, bestD = Infinity;
      for (let k = 0; k <= ops.length; k++) {
        let d = 0;
        for (let a = 0; a < 3; a++) for (let c = 0; c < 3; c++) {
          const g = k === 0 ? trueRot[o + 3 * a + c]!
            : trueRot[o + 3 * a]! * ops[k - 1]!.St[c]! + trueRot[o + 3 * a + 1]! * ops[k - 1]!.St[3 + c]! + trueRot[o + 3 * a + 2]! * ops[k - 1]!.St[6 + c]!;
          d += (g - PQ[3 * a + c]!) ** 2;
        }
        if (d < bestD) { bestD = d; best = k; }
      }
      if (best !== choice[i]) changed++;
      choice[i] = best;
      if (best === 0) { G.set(trueRot.subarray(o, o + 9), o); if (O) { O[2 * i] = trueShiftPx![2 * i]!; O[2 * i + 1] = trueShiftPx![2 * i + 1]!; } continue; }
      const { St, u } = ops[best - 1]!;
      for (let a = 0; a < 3; a++) for (let c = 0; c < 3; c++) {
        G[o + 3 * a + c] = trueRot[o + 3 * a]! * St[c]! + trueRot[o + 3 * a + 1]! * St[3 + c]! + trueRot[o + 3 * a + 2]! * St[6 + c]!;
      }
      if (O) {
        O[2 * i] = trueShiftPx![2 * i]! + G[o]! * u[0]! + G[o + 1]! * u[1]! + G[o + 2]! * u[2]!;
        O[2 * i + 1] = trueShiftPx![2 * i + 1]! + G[o + 3]! * u[0]! + G[o + 4]! * u[1]! + G[o + 5]! * u[2]!;
      }
    }
    r = poseError(predRot, G, predShiftPx, O, opts);
    if (changed === 0) break;
  }
  let mates = 0;
  for (const c of choice) if (c !== 0) mates++;
  return { ...r, mate_fraction: mates / n };
}
