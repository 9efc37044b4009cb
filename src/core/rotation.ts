/**
 * Rotations in cryospin: 3x3 matrices stored as row-major Float64Array(9), `A[3*r + c]`.
 *
 * Convention (RELION, see ../shared/docs/conventions.md): Euler angles (rot, tilt, psi) in
 * degrees, ZYZ, passive:
 *     A = Rz(psi) · Ry(tilt) · Rz(rot),
 *     Rz(t) = [[cos t, sin t, 0], [-sin t, cos t, 0], [0, 0, 1]],
 *     Ry(t) = [[cos t, 0, -sin t], [0, 1, 0], [sin t, 0, cos t]].
 * A maps volume coordinates to image coordinates (a projection samples the volume at
 * A^T·(x, y, z)). A equals the transpose of the active intrinsic ZYZ rotation (scipy
 * `Rotation.from_euler('ZYZ', [rot, tilt, psi], degrees=True).as_matrix().T`).
 *
 * The other parametrisations are plain maps onto SO(3), with no passive/active meaning of
 * their own: `quatToMatrix` is the standard matrix of a unit quaternion (w, x, y, z) (the one
 * scipy's `from_quat([x, y, z, w]).as_matrix()` gives), `expSO3(w)` the standard matrix
 * exponential of the skew matrix of w (axis-angle, radians; a cryoSPARC pose vector p gives
 * RELION's A as `transpose(expSO3(p))`), `sixdToMatrix` Gram-Schmidt on two ROWS.
 *
 * Functions that sit in hot loops take an `out` matrix first, allocate nothing and return
 * `out`; `out` may alias an input. Hand-written because it is short, exact to the RELION
 * convention, and allocation-free (the npm gl-matrix family is column-major float32).
 */
import type { Rng } from './rng.js';

/** 3x3 rotation (or general) matrix, row-major, 9 doubles. */
export type Mat3 = Float64Array;

const DEG = Math.PI / 180;
const FLT_EPS = 1.1920929e-7;

export function identity(): Mat3 {
  const m = new Float64Array(9);
  m[0] = 1; m[4] = 1; m[8] = 1;
  return m;
}

/** out = a · b (out may alias a or b). */
export function matMul(out: Mat3, a: ArrayLike<number>, b: ArrayLike<number>): Mat3 {
  const a0 = a[0]!, a1 = a[1]!, a2 = a[2]!, a3 = a[3]!, a4 = a[4]!, a5 = a[5]!, a6 = a[6]!, a7 = a[7]!, a8 = a[8]!;
  const b0 = b[0]!, b1 = b[1]!, b2 = b[2]!, b3 = b[3]!, b4 = b[4]!, b5 = b[5]!, b6 = b[6]!, b7 = b[7]!, b8 = b[8]!;
  out[0] = a0 * b0 + a1 * b3 + a2 * b6;
  out[1] = a0 * b1 + a1 * b4 + a2 * b7;
  out[2] = a0 * b2 + a1 * b5 + a2 * b8;
  out[3] = a3 * b0 + a4 * b3 + a5 * b6;
  out[4] = a3 * b1 + a4 * b4 + a5 * b7;
  out[5] = a3 * b2 + a4 * b5 + a5 * b8;
  out[6] = a6 * b0 + a7 * b3 + a8 * b6;
  out[7] = a6 * b1 + a7 * b4 + a8 * b7;
  out[8] = a6 * b2 + a7 * b5 + a8 * b8;
  return out;
}

/** out = a^T (out may alias a). */
export function transpose(out: Mat3, a: ArrayLike<number>): Mat3 {
  const a1 = a[1]!, a2 = a[2]!, a3 = a[3]!, a5 = a[5]!, a6 = a[6]!, a7 = a[7]!;
  out[0] = a[0]!; out[4] = a[4]!; out[8] = a[8]!;
  out[1] = a3; out[3] = a1;
  out[2] = a6; out[6] = a2;
  out[5] = a7; out[7] = a5;
  return out;
}

/** out = A · v (out may alias v). */
export function matVec(out: Float64Array, A: ArrayLike<number>, v: ArrayLike<number>): Float64Array {
  const x = v[0]!, y = v[1]!, z = v[2]!;
  out[0] = A[0]! * x + A[1]! * y + A[2]! * z;
  out[1] = A[3]! * x + A[4]! * y + A[5]! * z;
  out[2] = A[6]! * x + A[7]! * y + A[8]! * z;
  return out;
}

export function det(a: ArrayLike<number>): number {
  return (
    a[0]! * (a[4]! * a[8]! - a[5]! * a[7]!) -
    a[1]! * (a[3]! * a[8]! - a[5]! * a[6]!) +
    a[2]! * (a[3]! * a[7]! - a[4]! * a[6]!)
  );
}

/** RELION's A = Rz(psi)·Ry(tilt)·Rz(rot) from Euler angles in degrees. */
export function eulerToMatrix(rotDeg: number, tiltDeg: number, psiDeg: number, out: Mat3 = new Float64Array(9)): Mat3 {
  const ca = Math.cos(rotDeg * DEG), sa = Math.sin(rotDeg * DEG);
  const cb = Math.cos(tiltDeg * DEG), sb = Math.sin(tiltDeg * DEG);
  const cg = Math.cos(psiDeg * DEG), sg = Math.sin(psiDeg * DEG);
  out[0] = cg * cb * ca - sg * sa;
  out[1] = cg * cb * sa + sg * ca;
  out[2] = -cg * sb;
  out[3] = -sg * cb * ca - cg * sa;
  out[4] = -sg * cb * sa + cg * ca;
  out[5] = sg * sb;
  out[6] = sb * ca;
  out[7] = sb * sa;
  out[8] = cb;
  return out;
}

/**
 * Euler angles [rot, tilt, psi] (degrees) of a rotation matrix, inverting `eulerToMatrix`.
 * tilt is in [0, 180]; rot and psi in (-180, 180]. As in RELION's Euler_matrix2angles, when
 * sin(tilt) is ~0 (gimbal lock: tilt = 0 or 180, only rot+psi resp. psi-rot is defined) we set
 * rot = 0 and put the whole in-plane angle into psi.
 */
export function matrixToEuler(A: ArrayLike<number>): [number, number, number] {
  const a02 = A[2]!, a12 = A[5]!, a22 = A[8]!;
  const absSb = Math.sqrt(a02 * a02 + a12 * a12);
  let rot: number, tilt: number, psi: number;
  if (absSb > 16 * FLT_EPS) {
    psi = Math.atan2(a12, -a02);
    rot = Math.atan2(A[7]!, A[6]!);
    // sin(tilt) >= 0 by choice of the branch above, so tilt = atan2(|sin|, cos) in [0, pi].
    tilt = Math.atan2(absSb, a22);
  } else if (a22 > 0) {
    rot = 0;
    tilt = 0;
    psi = Math.atan2(-A[3]!, A[0]!);
  } else {
    rot = 0;
    tilt = Math.PI;
    psi = Math.atan2(A[3]!, -A[0]!);
  }
  const wrap = (d: number): number => (d <= -180 ? d + 360 : d);
  return [wrap(rot / DEG), tilt / DEG, wrap(psi / DEG)];
}

/** Standard rotation matrix of a quaternion [w, x, y, z] (normalised here). */
export function quatToMatrix(q: ArrayLike<number>, out: Mat3 = new Float64Array(9)): Mat3 {
  let w = q[0]!, x = q[1]!, y = q[2]!, z = q[3]!;
  const n = Math.sqrt(w * w + x * x + y * y + z * z);
  w /= n; x /= n; y /= n; z /= n;
  out[0] = 1 - 2 * (y * y + z * z);
  out[1] = 2 * (x * y - w * z);
  out[2] = 2 * (x * z + w * y);
  out[3] = 2 * (x * y + w * z);
  out[4] = 1 - 2 * (x * x + z * z);
  out[5] = 2 * (y * z - w * x);
  out[6] = 2 * (x * z - w * y);
  out[7] = 2 * (y * z + w * x);
  out[8] = 1 - 2 * (x * x + y * y);
  return out;
}

/** Unit quaternion [w, x, y, z] with w >= 0 of a rotation matrix (Shepperd's method). */
export function matrixToQuat(R: ArrayLike<number>): [number, number, number, number] {
  const m00 = R[0]!, m01 = R[1]!, m02 = R[2]!, m10 = R[3]!, m11 = R[4]!, m12 = R[5]!, m20 = R[6]!, m21 = R[7]!, m22 = R[8]!;
  const tr = m00 + m11 + m22;
  let w: number, x: number, y: number, z: number;
  if (tr >= m00 && tr >= m11 && tr >= m22) {
    const s = 2 * Math.sqrt(Math.max(0, 1 + tr));
    w = s / 4; x = (m21 - m12) / s; y = (m02 - m20) / s; z = (m10 - m01) / s;
  } else if (m00 >= m11 && m00 >= m22) {
    const s = 2 * Math.sqrt(Math.max(0, 1 + m00 - m11 - m22));
    w = (m21 - m12) / s; x = s / 4; y = (m01 + m10) / s; z = (m02 + m20) / s;
  } else if (m11 >= m22) {
    const s = 2 * Math.sqrt(Math.max(0, 1 + m11 - m00 - m22));
    w = (m02 - m20) / s; x = (m01 + m10) / s; y = s / 4; z = (m12 + m21) / s;
  } else {
    const s = 2 * Math.sqrt(Math.max(0, 1 + m22 - m00 - m11));
    w = (m10 - m01) / s; x = (m02 + m20) / s; y = (m12 + m21) / s; z = s / 4;
  }
  if (w < 0) { w = -w; x = -x; y = -y; z = -z; }
  const n = Math.sqrt(w * w + x * x + y * y + z * z);
  return [w / n, x / n, y / n, z / n];
}

/**
 * exp of the skew matrix of w (axis-angle vector, radians): Rodrigues' formula
 * R = I + (sin t / t) K + ((1 - cos t) / t^2) K^2, with Taylor series for small t.
 */
export function expSO3(w: ArrayLike<number>, out: Mat3 = new Float64Array(9)): Mat3 {
  const wx = w[0]!, wy = w[1]!, wz = w[2]!;
  const t2 = wx * wx + wy * wy + wz * wz;
  const t = Math.sqrt(t2);
  let a: number, b: number;
  if (t < 1e-4) {
    a = 1 - t2 / 6 + (t2 * t2) / 120;
    b = 0.5 - t2 / 24 + (t2 * t2) / 720;
  } else {
    a = Math.sin(t) / t;
    b = (1 - Math.cos(t)) / t2;
  }
  // K = [[0, -wz, wy], [wz, 0, -wx], [-wy, wx, 0]]; K^2 = w w^T - t2 I.
  out[0] = 1 + b * (wx * wx - t2);
  out[1] = -a * wz + b * wx * wy;
  out[2] = a * wy + b * wx * wz;
  out[3] = a * wz + b * wx * wy;
  out[4] = 1 + b * (wy * wy - t2);
  out[5] = -a * wx + b * wy * wz;
  out[6] = -a * wy + b * wx * wz;
  out[7] = a * wx + b * wy * wz;
  out[8] = 1 + b * (wz * wz - t2);
  return out;
}

/**
 * Axis-angle vector (radians, angle in [0, pi]) with expSO3(logSO3(R)) = R. Computed through
 * the quaternion, which stays accurate near angle 0 and near pi (where the usual
 * (R - R^T)/(2 sin t) formula breaks down).
 */
export function logSO3(R: ArrayLike<number>): Float64Array {
  const [w, x, y, z] = matrixToQuat(R);
  const n = Math.sqrt(x * x + y * y + z * z);
  const out = new Float64Array(3);
  // angle = 2 atan2(n, w); w >= 0 so angle <= pi. Small n: angle/n -> 2/w.
  const f = n < 1e-12 ? 2 / w : (2 * Math.atan2(n, w)) / n;
  out[0] = f * x; out[1] = f * y; out[2] = f * z;
  return out;
}

/**
 * 6D representation (Zhou et al. 2019) to a rotation: v6 = (a1, a2), Gram-Schmidt gives
 * b1 = a1/|a1|, b2 = normalised a2 - (b1·a2) b1, b3 = b1 x b2; these are the ROWS of R.
 */
export function sixdToMatrix(v6: ArrayLike<number>, out: Mat3 = new Float64Array(9)): Mat3 {
  let x1 = v6[0]!, y1 = v6[1]!, z1 = v6[2]!;
  const n1 = Math.sqrt(x1 * x1 + y1 * y1 + z1 * z1);
  x1 /= n1; y1 /= n1; z1 /= n1;
  const d = x1 * v6[3]! + y1 * v6[4]! + z1 * v6[5]!;
  let x2 = v6[3]! - d * x1, y2 = v6[4]! - d * y1, z2 = v6[5]! - d * z1;
  const n2 = Math.sqrt(x2 * x2 + y2 * y2 + z2 * z2);
  x2 /= n2; y2 /= n2; z2 /= n2;
  out[0] = x1; out[1] = y1; out[2] = z1;
  out[3] = x2; out[4] = y2; out[5] = z2;
  out[6] = y1 * z2 - z1 * y2;
  out[7] = z1 * x2 - x1 * z2;
  out[8] = x1 * y2 - y1 * x2;
  return out;
}

/** n rotations uniform (Haar) on SO(3): normalised 4D Gaussian quaternions. Float64Array(9n). */
export function randomRotations(n: number, rng: Rng): Float64Array {
  const out = new Float64Array(9 * n);
  const q = new Float64Array(4);
  for (let i = 0; i < n; i++) {
    let s = 0;
    do {
      q[0] = rng.normal(); q[1] = rng.normal(); q[2] = rng.normal(); q[3] = rng.normal();
      s = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3];
    } while (s < 1e-12);
    quatToMatrix(q, out.subarray(9 * i, 9 * i + 9));
  }
  return out;
}

/** Squared Frobenius distance ||a - b||_F^2 (= 8 sin^2(theta/2) for rotations theta apart). */
export function frobeniusDistSq(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < 9; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s;
}

/** Rotation angle (degrees) of a squared Frobenius distance d between two rotations. */
export function frobeniusSqToAngleDeg(d: number): number {
  return (2 * Math.asin(Math.min(1, Math.sqrt(Math.max(0, d) / 8)))) / DEG;
}

/**
 * Geodesic distance (degrees, in [0, 180]) between two rotations: the angle of R1^T R2.
 * Uses 2 atan2(sin(t/2), cos(t/2)), accurate at both ends of the range.
 */
export function geodesicDeg(R1: ArrayLike<number>, R2: ArrayLike<number>): number {
  const d = frobeniusDistSq(R1, R2);
  let tr = 0; // trace(R1^T R2) = sum of elementwise products
  for (let i = 0; i < 9; i++) tr += R1[i]! * R2[i]!;
  const s = Math.sqrt(Math.max(0, d / 8));
  const c = Math.sqrt(Math.max(0, (1 + tr) / 4));
  return (2 * Math.atan2(s, c)) / DEG;
}

/**
 * Nearest rotation (Frobenius norm) to a general 3x3 matrix M, i.e. argmax_R tr(R^T M): the
 * polar/SVD projection onto SO(3), computed as the top eigenvector of Horn's symmetric 4x4
 * quaternion matrix (Jacobi sweeps). Used for chordal L2 means of rotations.
 */
export function nearestRotation(M: ArrayLike<number>, out: Mat3 = new Float64Array(9)): Mat3 {
  const [sxx, sxy, sxz, syx, syy, syz, szx, szy, szz] = [M[0]!, M[1]!, M[2]!, M[3]!, M[4]!, M[5]!, M[6]!, M[7]!, M[8]!];
  // tr(R(q)^T M) = q^T N q for the matrix below (R(q) as in quatToMatrix).
  const N = new Float64Array([
    sxx + syy + szz, szy - syz, sxz - szx, syx - sxy,
    szy - syz, sxx - syy - szz, sxy + syx, szx + sxz,
    sxz - szx, sxy + syx, -sxx + syy - szz, syz + szy,
    syx - sxy, szx + sxz, syz + szy, -sxx - syy + szz,
  ]);
  const V = new Float64Array(16);
  V[0] = V[5] = V[10] = V[15] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < 4; p++) for (let q = p + 1; q < 4; q++) off += N[4 * p + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < 4; p++) {
      for (let q = p + 1; q < 4; q++) {
        const apq = N[4 * p + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (N[4 * q + q]! - N[4 * p + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < 4; k++) {
          const akp = N[4 * k + p]!, akq = N[4 * k + q]!;
          N[4 * k + p] = c * akp - s * akq;
          N[4 * k + q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k++) {
          const apk = N[4 * p + k]!, aqk = N[4 * q + k]!;
          N[4 * p + k] = c * apk - s * aqk;
          N[4 * q + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k++) {
          const vkp = V[4 * k + p]!, vkq = V[4 * k + q]!;
          V[4 * k + p] = c * vkp - s * vkq;
          V[4 * k + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let k = 1; k < 4; k++) if (N[5 * k]! > N[5 * best]!) best = k;
  return quatToMatrix([V[best]!, V[4 + best]!, V[8 + best]!, V[12 + best]!], out);
}
