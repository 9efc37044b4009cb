// 6D -> rotation (Gram-Schmidt, rows convention) in tfjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initTfjs, tf } from '../../src/model/tfjsSetup.js';
import { gramSchmidt6D, gramSchmidt6DRef } from '../../src/model/gramSchmidt.js';
import { Rng } from '../../src/core/rng.js';
import { sixdToMatrix } from '../../src/core/rotation.js';

const N = 50;
function inputs(): Float32Array {
  const r = new Rng(3);
  return Float32Array.from({ length: 6 * N }, () => r.normal());
}

test('Gram-Schmidt output is orthonormal with det +1; first row = a/|a|, second row in span(a, b)', async () => {
  await initTfjs('wasm');
  const v = inputs();
  const R = tf.tidy(() => gramSchmidt6D(tf.tensor2d(v, [N, 6])).dataSync());
  for (let n = 0; n < N; n++) {
    const m = Array.from(R.subarray(9 * n, 9 * n + 9));
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let d = 0;
      for (let k = 0; k < 3; k++) d += m[3 * i + k]! * m[3 * j + k]!;
      assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-5, `R R^T [${i},${j}] = ${d}`);
    }
    const det = m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) - m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) + m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!);
    assert.ok(Math.abs(det - 1) < 1e-5);
    const a = Array.from(v.subarray(6 * n, 6 * n + 3));
    const b = Array.from(v.subarray(6 * n + 3, 6 * n + 6));
    const na = Math.hypot(...a);
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(m[k]! - a[k]! / na) < 1e-5);
    // Row 3 is orthogonal to both a and b, i.e. row 2 lies in span(a, b) and b . row2 > 0.
    assert.ok(Math.abs(m[6]! * b[0]! + m[7]! * b[1]! + m[8]! * b[2]!) < 1e-4);
    assert.ok(m[3]! * b[0]! + m[4]! * b[1]! + m[5]! * b[2]! > 0);
    const ref = gramSchmidt6DRef(v.subarray(6 * n, 6 * n + 6));
    for (let k = 0; k < 9; k++) assert.ok(Math.abs(ref[k]! - m[k]!) < 1e-5);
  }
});

test('tfjs Gram-Schmidt agrees with sixdToMatrix of src/core/rotation.ts', async () => {
  await initTfjs('wasm');
  const v = inputs();
  const R = tf.tidy(() => gramSchmidt6D(tf.tensor2d(v, [N, 6])).dataSync());
  for (let n = 0; n < N; n++) {
    const ref = sixdToMatrix(Array.from(v.subarray(6 * n, 6 * n + 6)));
    for (let k = 0; k < 9; k++) assert.ok(Math.abs(ref[k]! - R[9 * n + k]!) < 1e-5, `n ${n} k ${k}: ${ref[k]} vs ${R[9 * n + k]}`);
  }
});
