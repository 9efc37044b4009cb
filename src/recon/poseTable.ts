/**
 * Per-particle pose state of the auto-decoding stage: the only state that grows with the
 * number of particles N. Stored compactly (float32) and checkpointed.
 *
 * Each particle has a base rotation R0 (RELION A matrix, 9 floats), an origin (px, RELION
 * sign), and its own Adam moments for the 3 axis-angle + 2 shift parameters and its own step
 * count. Keeping Adam state per particle fixes the reference code's defect where one
 * optimiser's momentum leaked across batches of different particles.
 * The perturbation w (R = Exp(w)·R0) is folded into R0 after every batch, so w is not stored.
 */
import { expSO3, matMul } from '../core/rotation.js';

export interface PoseTable {
  n: number;
  rot: Float32Array; // 9n
  origin: Float32Array; // 2n
  adamM: Float32Array; // 5n
  adamV: Float32Array; // 5n
  adamT: Uint32Array; // n
}

export function createPoseTable(n: number): PoseTable {
  const rot = new Float32Array(9 * n);
  for (let i = 0; i < n; i++) { rot[9 * i] = 1; rot[9 * i + 4] = 1; rot[9 * i + 8] = 1; }
  return { n, rot, origin: new Float32Array(2 * n), adamM: new Float32Array(5 * n), adamV: new Float32Array(5 * n), adamT: new Uint32Array(n) };
}

/** Re-orthonormalise a 3x3 (row-major) in place by Gram-Schmidt on its rows (removes float32 drift). */
export function orthonormalise(R: Float64Array, off = 0): void {
  let ax = R[off]!, ay = R[off + 1]!, az = R[off + 2]!;
  let n = Math.hypot(ax, ay, az);
  ax /= n; ay /= n; az /= n;
  let bx = R[off + 3]!, by = R[off + 4]!, bz = R[off + 5]!;
  const d = ax * bx + ay * by + az * bz;
  bx -= d * ax; by -= d * ay; bz -= d * az;
  n = Math.hypot(bx, by, bz);
  bx /= n; by /= n; bz /= n;
  R[off] = ax; R[off + 1] = ay; R[off + 2] = az;
  R[off + 3] = bx; R[off + 4] = by; R[off + 5] = bz;
  R[off + 6] = ay * bz - az * by;
  R[off + 7] = az * bx - ax * bz;
  R[off + 8] = ax * by - ay * bx;
}

/**
 * Gradient of L with respect to a left perturbation w of R (R' = Exp(w)·R) at w = 0, given
 * G = dL/dR (row-major 3x3): with M = G·R^T, dL/dw = (M21 - M12, M02 - M20, M10 - M01).
 */
export function leftPerturbationGrad(G: Float64Array, goff: number, R: Float64Array, roff: number, out: Float64Array, ooff: number): void {
  const m = (i: number, j: number): number =>
    G[goff + 3 * i]! * R[roff + 3 * j]! + G[goff + 3 * i + 1]! * R[roff + 3 * j + 1]! + G[goff + 3 * i + 2]! * R[roff + 3 * j + 2]!;
  out[ooff] = m(2, 1) - m(1, 2);
  out[ooff + 1] = m(0, 2) - m(2, 0);
  out[ooff + 2] = m(1, 0) - m(0, 1);
}

/** R <- Exp(w)·R for one 3x3 stored at R[off..off+9] (in place). */
export function applyLeftExp(R: Float64Array, off: number, wx: number, wy: number, wz: number): void {
  const E = expSO3([wx, wy, wz], scratchE);
  matMul(scratchOut, E, R.subarray(off, off + 9));
  R.set(scratchOut, off);
}

const scratchE = new Float64Array(9);
const scratchOut = new Float64Array(9);
