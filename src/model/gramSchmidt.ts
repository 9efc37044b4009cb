/**
 * The 6D rotation representation (Zhou et al. 2019) in tfjs: two 3-vectors a = v[0:3], b = v[3:6]
 * are orthonormalised by Gram-Schmidt and become the first two ROWS of R; the third row is their
 * cross product, so det R = +1. Same convention as `sixdToMatrix` in src/core/rotation.ts.
 * Differentiable (used inside the encoder's training step).
 */
import { tf } from './tfjsSetup.js';

const EPS = 1e-8;

function normalise(v: tf.Tensor2D): tf.Tensor2D {
  const n = tf.sqrt(tf.add(tf.sum(tf.square(v), 1, true), EPS));
  return tf.div(v, n);
}

/** v6 [N, 6] -> rotation matrices [N, 9] (row-major; rows r1, r2, r3). */
export function gramSchmidt6D(v6: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = v6.shape[0];
    const a = tf.slice(v6, [0, 0], [n, 3]);
    const b = tf.slice(v6, [0, 3], [n, 3]);
    const r1 = normalise(a);
    const proj = tf.sum(tf.mul(r1, b), 1, true);
    const r2 = normalise(tf.sub(b, tf.mul(proj, r1)));
    const [x1, y1, z1] = tf.split(r1, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const [x2, y2, z2] = tf.split(r2, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const r3 = tf.concat([
      tf.sub(tf.mul(y1, z2), tf.mul(z1, y2)),
      tf.sub(tf.mul(z1, x2), tf.mul(x1, z2)),
      tf.sub(tf.mul(x1, y2), tf.mul(y1, x2)),
    ], 1);
    return tf.concat([r1, r2, r3], 1) as tf.Tensor2D;
  });
}

/** The same map in plain float64 JavaScript (reference for tests; one 6-vector -> 9). */
export function gramSchmidt6DRef(v: ArrayLike<number>): Float64Array {
  const a = [v[0]!, v[1]!, v[2]!];
  const b = [v[3]!, v[4]!, v[5]!];
  const na = Math.hypot(a[0]!, a[1]!, a[2]!);
  const r1 = a.map((x) => x / na);
  const d = r1[0]! * b[0]! + r1[1]! * b[1]! + r1[2]! * b[2]!;
  const u = b.map((x, i) => x - d * r1[i]!);
  const nu = Math.hypot(u[0]!, u[1]!, u[2]!);
  const r2 = u.map((x) => x / nu);
  const r3 = [
    r1[1]! * r2[2]! - r1[2]! * r2[1]!,
    r1[2]! * r2[0]! - r1[0]! * r2[2]!,
    r1[0]! * r2[1]! - r1[1]! * r2[0]!,
  ];
  return Float64Array.from([...r1, ...r2, ...r3]);
}
