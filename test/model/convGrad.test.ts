// The wasm backend's convolution-gradient and matmul kernels registered by cryospin agree with
// tfjs's reference 'cpu' backend (independent implementation: tfjs-core's naive loops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initTfjs, tf } from '../../src/model/tfjsSetup.js';

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** Gradients of sum(conv(x, w) * weights) w.r.t. x and w on the active backend. */
function convGrads(xv: Float32Array, xs: number[], wv: Float32Array, ws: number[], stride: number,
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]]): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, xs as [number, number, number, number]);
    const w = tf.tensor4d(wv, ws as [number, number, number, number]);
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
      return tf.sum(tf.mul(y, tf.sin(tf.reshape(tf.range(0, y.size), y.shape))));
    };
    return tf.grads(f)([x, w]).map((g) => Float32Array.from(g.dataSync() as Float32Array));
  });
}

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

test('wasm conv2d gradients (input and filter) match tfjs-cpu', async () => {
  const cases: Array<[number, 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]], number[], number[]]> = [
    [1, 'same', [2, 9, 8, 3], [3, 3, 3, 4]],
    [1, 'valid', [2, 9, 8, 3], [3, 3, 3, 4]],
    [2, 'same', [2, 9, 8, 3], [3, 3, 3, 4]],
    [2, 'valid', [3, 10, 7, 2], [5, 3, 2, 3]],
    [1, [[0, 0], [2, 1], [0, 2], [0, 0]], [2, 6, 7, 3], [3, 3, 3, 2]],
  ];
  for (const [stride, pad, xs, ws] of cases) {
    const xv = rand(xs.reduce((a, b) => a * b), 7);
    const wv = rand(ws.reduce((a, b) => a * b), 11);
    await initTfjs('wasm');
    const [dxW, dwW] = convGrads(xv, xs, wv, ws, stride, pad);
    await initTfjs('cpu');
    const [dxC, dwC] = convGrads(xv, xs, wv, ws, stride, pad);
    await initTfjs('wasm');
    const ex = maxRelErr(dxW!, dxC!);
    const ew = maxRelErr(dwW!, dwC!);
    assert.ok(ex < 1e-5 && ew < 1e-5, `stride ${stride} pad ${JSON.stringify(pad)}: dx err ${ex}, dw err ${ew}`);
  }
});

test('wasm conv2d filter gradient matches central finite differences', async () => {
  await initTfjs('wasm');
  const xs = [2, 6, 6, 2];
  const ws = [3, 3, 2, 2];
  const xv = rand(72 * 2, 3);
  const wv = rand(36, 5);
  const [, dw] = convGrads(xv, xs, wv, ws, 1, 'same');
  const lossAt = (w: Float32Array): number => tf.tidy(() => {
    const y = tf.conv2d(tf.tensor4d(xv, xs as [number, number, number, number]), tf.tensor4d(w, ws as [number, number, number, number]), 1, 'same');
    return tf.sum(tf.mul(y, tf.sin(tf.reshape(tf.range(0, y.size), y.shape)))).dataSync()[0]!;
  });
  const h = 1e-2;
  for (const i of [0, 7, 19, 35]) {
    const wp = Float32Array.from(wv); wp[i]! += h;
    const wm = Float32Array.from(wv); wm[i]! -= h;
    const fd = (lossAt(wp) - lossAt(wm)) / (2 * h); // loss is linear in w: exact up to rounding
    assert.ok(Math.abs(fd - dw![i]!) < 1e-3 * Math.max(1, Math.abs(fd)), `w[${i}]: fd ${fd} vs ${dw![i]}`);
  }
});

test('wasm BatchMatMul (transposed and batched operands) matches tfjs-cpu', async () => {
  const shapes: Array<[number[], number[], boolean, boolean]> = [
    [[5, 7], [7, 4], false, false], [[7, 5], [7, 4], true, false], [[5, 7], [4, 7], false, true],
    [[7, 5], [4, 7], true, true], [[3, 5, 7], [3, 7, 4], false, false], [[3, 7, 5], [3, 7, 4], true, false],
    [[3, 5, 7], [3, 4, 7], false, true], [[3, 5, 7], [1, 7, 4], false, false],
    [[2, 7], [6, 7], false, true], [[3, 2, 7], [3, 6, 7], false, true], [[3, 7, 2], [3, 6, 7], true, true],
  ];
  for (const [as, bs, ta, tb] of shapes) {
    const av = rand(as.reduce((a, b) => a * b), 1);
    const bv = rand(bs.reduce((a, b) => a * b), 2);
    const run = (): Float32Array => tf.tidy(() => Float32Array.from(tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb).dataSync() as Float32Array));
    await initTfjs('wasm');
    const w = run();
    await initTfjs('cpu');
    const c = run();
    await initTfjs('wasm');
    assert.equal(w.length, c.length);
    assert.ok(maxRelErr(w, c) < 1e-6, `${as} x ${bs} (${ta}, ${tb}): err ${maxRelErr(w, c)}`);
  }
});

test('registered wasm kernels free their temporaries (no backend data left behind)', async () => {
  await initTfjs('wasm');
  const be = tf.engine().backend as unknown as { numDataIds(): number };
  const x = tf.tensor4d(rand(2 * 8 * 8 * 3, 1), [2, 8, 8, 3]);
  const w = tf.tensor4d(rand(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
  const a = tf.tensor3d(rand(3 * 2 * 7, 3), [3, 2, 7]);
  const b = tf.tensor3d(rand(3 * 6 * 7, 4), [3, 6, 7]);
  const once = (): void => tf.tidy(() => {
    tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same')))([x, w]);
    tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.matMul(p as tf.Tensor3D, q as tf.Tensor3D, false, true)))([a, b]);
  });
  once();
  const n0 = be.numDataIds();
  for (let i = 0; i < 3; i++) once();
  assert.equal(be.numDataIds(), n0);
  tf.dispose([x, w, a, b]);
});

test('2x2 max pool with the JS gradient matches tfjs-cpu maxPool gradient', async () => {
  const { maxPool2x2 } = await import('../../src/model/encoder/maxPool2.js');
  const shape: [number, number, number, number] = [2, 6, 4, 3];
  const xv = rand(144, 13);
  const wv = rand(36, 17);
  const run = (mine: boolean): Float32Array[] => tf.tidy(() => {
    const f = (x: tf.Tensor): tf.Scalar => {
      const y = mine ? maxPool2x2(x as tf.Tensor4D) : tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
      return tf.sum(tf.mul(y, tf.tensor(wv, y.shape)));
    };
    const { value, grads } = tf.valueAndGrads(f)([tf.tensor4d(xv, shape)]);
    return [Float32Array.from(value.dataSync()), Float32Array.from(grads[0]!.dataSync() as Float32Array)];
  });
  await initTfjs('wasm');
  const [v1, g1] = run(true);
  await initTfjs('cpu');
  const [v2, g2] = run(false);
  await initTfjs('wasm');
  assert.ok(Math.abs(v1![0]! - v2![0]!) < 1e-5);
  assert.deepEqual(Array.from(g1!), Array.from(g2!));
});
