// The pose encoder: surrogate-loss gradients, wasm vs cpu, BatchNorm, toy training, checkpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initTfjs, tf } from '../../src/model/tfjsSetup.js';
import { createEncoder, type EncoderOptions, type LossGradFn } from '../../src/model/encoder.js';
import { bnReluTrain } from '../../src/model/encoder/bnRelu.js';
import { defaultBnEngine, jsBnEngine } from '../../src/model/encoder/bnEngine.js';
import { Rng } from '../../src/core/rng.js';
import { squaredErrorWtaLoss } from '../../src/model/encoder/toyLoss.js';

const D = 16;
const tiny: EncoderOptions = { box: D, heads: 3, widths: [4, 8], convsPerBlock: [1, 2], pools: ['max', 'avg'], headHidden: [16, 8], seed: 5 };

function images(B: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: B * D * D }, () => r.normal());
}

function targets(B: number, seed: number): { R: Float64Array; t: Float64Array } {
  const r = new Rng(seed);
  return { R: Float64Array.from({ length: 9 * B }, () => r.normal() * 0.5), t: Float64Array.from({ length: 2 * B }, () => r.normal()) };
}

/** L = sum_b min_m (|R_bm - Rt_b|^2 + |t_bm - tt_b|^2), winner-take-all, in float64 JS. */
function analyticLoss(B: number, M: number, tg: { R: Float64Array; t: Float64Array }): LossGradFn {
  return squaredErrorWtaLoss(B, M, tg.R, tg.t);
}

/** ||a - b|| / max(||b||, floor): floor guards gradients that are zero in exact arithmetic. */
function relErr(a: Float32Array, b: Float32Array, floor = 1e-30): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), floor);
}

/** A bias feeding a BatchNorm: its exact gradient is zero, so only rounding noise is left. */
function biasBeforeBn(name: string, names: Iterable<string>): boolean {
  const m = /^(.*)\/b$/.exec(name);
  return m !== null && [...names].includes(`${m[1]}/bn_gamma`);
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

function globalNorm(g: Record<string, Float32Array>): number {
  let s = 0;
  for (const a of Object.values(g)) for (const v of a) s += v * v;
  return Math.sqrt(s);
}

test('surrogate-loss gradient equals the gradient of the same loss computed fully in tfjs', async () => {
  await initTfjs('wasm');
  const B = 6;
  const M = tiny.heads!;
  const enc = createEncoder(tiny);
  const x = images(B, 1);
  const tg = targets(B, 2);
  const fn = analyticLoss(B, M, tg);
  const sur = enc.gradients(x, B, fn);
  // Full tfjs: the same winner-take-all loss, winners fixed from a forward pass (ties have measure 0).
  const o0 = enc.forwardTensors(tf.tensor4d(x, [B, D, D, 1]));
  const { winnerHead } = fn(Float64Array.from(o0.R.dataSync()), o0.t.dataSync() as Float32Array);
  tf.dispose([o0.R, o0.t]);
  const mask = new Float32Array(B * M);
  for (let b = 0; b < B; b++) mask[b * M + winnerHead[b]!] = 1;
  const vars = [...enc.variables.values()];
  const full = tf.variableGrads(() => {
    const o = enc.forwardTensors(tf.tensor4d(x, [B, D, D, 1]));
    const dR = tf.sum(tf.square(tf.sub(o.R, tf.reshape(tf.tensor(Float32Array.from(tg.R)), [B, 1, 9]))), 2);
    const dt = tf.sum(tf.square(tf.sub(o.t, tf.reshape(tf.tensor(Float32Array.from(tg.t)), [B, 1, 2]))), 2);
    return tf.sum(tf.mul(tf.add(dR, dt), tf.tensor2d(mask, [B, M]))) as tf.Scalar;
  }, vars);
  let checked = 0;
  const scale = globalNorm(sur);
  for (const [name, v] of enc.variables) {
    const g = full.grads[v.name];
    const want = g === undefined ? new Float32Array(v.size) : (g.dataSync() as Float32Array);
    if (biasBeforeBn(name, enc.variables.keys())) {
      assert.ok(maxAbs(sur[name]!) < 1e-5 * scale && maxAbs(want) < 1e-5 * scale, `${name}: should be ~0`);
      continue;
    }
    const e = relErr(sur[name]!, want, 1e-6 * scale);
    assert.ok(e < 1e-4, `${name}: relative error ${e}`);
    checked++;
  }
  assert.ok(checked > 10);
  // Winner-take-all: heads that win no image get exactly zero gradient in their own last layer.
  const wins = new Set(Array.from(winnerHead));
  const wLast = sur['pose2/w']!; // [M, 8, 8]
  for (let m = 0; m < M; m++) {
    const block = wLast.subarray(m * 64, (m + 1) * 64);
    const nz = block.some((q) => q !== 0);
    assert.equal(nz, wins.has(m), `head ${m}: won ${wins.has(m)}, nonzero gradient ${nz}`);
  }
  tf.dispose(Object.values(full.grads));
  full.value.dispose();
  enc.dispose();
});

test('encoder gradients on wasm (registered kernels, SIMD BatchNorm, JS max-pool gradient) match tfjs-cpu', async () => {
  const B = 4;
  const x = images(B, 3);
  const fn = analyticLoss(B, tiny.heads!, targets(B, 4));
  await initTfjs('wasm');
  const ew = createEncoder(tiny);
  const gw = ew.gradients(x, B, fn);
  const pw = ew.predict(x, B);
  ew.dispose();
  await initTfjs('cpu');
  const ec = createEncoder(tiny);
  const gc = ec.gradients(x, B, fn);
  const pc = ec.predict(x, B);
  ec.dispose();
  await initTfjs('wasm');
  const scale = globalNorm(gc);
  for (const k of Object.keys(gc)) {
    if (biasBeforeBn(k, Object.keys(gc))) {
      assert.ok(maxAbs(gw[k]!) < 1e-5 * scale && maxAbs(gc[k]!) < 1e-5 * scale, `${k}: should be ~0`);
      continue;
    }
    const e = relErr(gw[k]!, gc[k]!, 1e-6 * scale);
    assert.ok(e < 1e-4, `${k}: relative error ${e}`);
  }
  for (let i = 0; i < pw.rotations.length; i++) assert.ok(Math.abs(pw.rotations[i]! - pc.rotations[i]!) < 1e-4);
});

test('fused BatchNorm+ReLU (wasm SIMD and JS engines) matches composed tfjs ops, values and gradients', async () => {
  await initTfjs('wasm');
  const r = new Rng(9);
  const shape = [3, 5, 4, 6];
  const xv = Float32Array.from({ length: 360 }, () => 2 + 3 * r.normal());
  const gv = Float32Array.from({ length: 6 }, () => r.normal());
  const bv = Float32Array.from({ length: 6 }, () => r.normal());
  const wv = Float32Array.from({ length: 360 }, () => r.normal());
  const run = (mode: 'wasm' | 'js' | 'composed', relu: boolean): Float32Array[] => tf.tidy(() => {
    const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      let y: tf.Tensor;
      if (mode !== 'composed') y = bnReluTrain(x, g, b, 1e-5, relu, () => {}, mode === 'js' ? jsBnEngine : defaultBnEngine());
      else {
        const { mean, variance } = tf.moments(x, [0, 1, 2], true);
        y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
        if (relu) y = tf.relu(y);
      }
      return tf.sum(tf.mul(y, tf.tensor(wv, shape)));
    };
    const { value, grads } = tf.valueAndGrads(f)([tf.tensor(xv, shape), tf.tensor(gv), tf.tensor(bv)]);
    return [Float32Array.from(value.dataSync()), ...grads.map((q) => Float32Array.from(q.dataSync() as Float32Array))];
  });
  for (const relu of [true, false]) {
    const ref = run('composed', relu);
    for (const mode of ['wasm', 'js'] as const) {
      const a = run(mode, relu);
      for (let i = 0; i < 4; i++) assert.ok(relErr(a[i]!, ref[i]!) < 1e-5, `${mode} relu ${relu} output ${i}: ${relErr(a[i]!, ref[i]!)}`);
    }
  }
});

test('BatchNorm engines agree on long inputs and odd channel counts (SIMD tails, blocked sums)', () => {
  const r = new Rng(4);
  for (const C of [3, 8, 13]) {
    const n = 1000;
    const x = Float32Array.from({ length: n * C }, () => 1 + r.normal());
    const dy = Float32Array.from({ length: n * C }, () => r.normal());
    const sc = Float32Array.from({ length: C }, () => r.normal());
    const sh = Float32Array.from({ length: C }, () => r.normal());
    const [w, j] = [defaultBnEngine(), jsBnEngine];
    const s1 = w.stats(x, C);
    const s2 = j.stats(x, C);
    for (let c = 0; c < C; c++) assert.ok(Math.abs(s1.s1[c]! - s2.s1[c]!) < 1e-3 && Math.abs(s1.s2[c]! - s2.s2[c]!) < 1e-2);
    assert.ok(relErr(w.apply(x, C, sc, sh, true), j.apply(x, C, sc, sh, true)) < 1e-6);
    const b1 = w.back1(x, dy, C, sc, sh, true);
    const b2 = j.back1(x, dy, C, sc, sh, true);
    for (let c = 0; c < C; c++) assert.ok(Math.abs(b1.sg[c]! - b2.sg[c]!) < 1e-3 && Math.abs(b1.sgx[c]! - b2.sgx[c]!) < 1e-3);
    assert.ok(relErr(w.back2(x, dy, C, sc, sh, true, sc, sh, sc, sh), j.back2(x, dy, C, sc, sh, true, sc, sh, sc, sh)) < 1e-6);
  }
});

/** An asymmetric pattern rotated in-plane by theta (bilinear-free: analytic blobs). */
function rotatedPattern(theta: number, out: Float32Array, off: number): void {
  const blobs: Array<[number, number, number]> = [[4, 0, 1], [-2, 3, 0.7], [0, -3, 0.4]];
  const c = (D - 1) / 2;
  const [co, si] = [Math.cos(theta), Math.sin(theta)];
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let v = 0;
    for (const [bx, by, a] of blobs) {
      const px = co * bx - si * by + c;
      const py = si * bx + co * by + c;
      v += a * Math.exp(-((x - px) ** 2 + (y - py) ** 2) / 3);
    }
    out[off + y * D + x] = v;
  }
}

test('training on a toy problem (regress the in-plane rotation of a pattern) lowers the loss', async () => {
  await initTfjs('wasm');
  const B = 32;
  const M = 2;
  const r = new Rng(11);
  const x = new Float32Array(B * D * D);
  const tg = { R: new Float64Array(9 * B), t: new Float64Array(2 * B) };
  for (let b = 0; b < B; b++) {
    const th = r.range(-Math.PI, Math.PI);
    rotatedPattern(th, x, b * D * D);
    tg.R.set([Math.cos(th), -Math.sin(th), 0, Math.sin(th), Math.cos(th), 0, 0, 0, 1], 9 * b);
    tg.t.set([Math.cos(th), Math.sin(th)], 2 * b);
  }
  const enc = createEncoder({ ...tiny, heads: M, widths: [8, 16], learningRate: 3e-3, seed: 2 });
  const fn = analyticLoss(B, M, tg);
  const losses: number[] = [];
  for (let s = 0; s < 40; s++) losses.push(enc.trainStep(x, B, fn).loss / B);
  const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
  assert.ok(last < 0.4 * first, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  // Inference mode (running BatchNorm statistics) also improved over the untrained network.
  const p = enc.predict(x, B);
  const fresh = createEncoder({ ...tiny, heads: M, widths: [8, 16], seed: 2 });
  const p0 = fresh.predict(x, B);
  const lInfer = fn(p.rotations, p.shiftsPx).loss / B;
  const lInit = fn(p0.rotations, p0.shiftsPx).loss / B;
  assert.ok(lInfer < 0.75 * lInit, `inference loss ${lInit.toFixed(3)} -> ${lInfer.toFixed(3)}`);
  enc.dispose();
  fresh.dispose();
});

test('state round trip (weights, Adam moments, BatchNorm statistics) reproduces predictions and training exactly', async () => {
  await initTfjs('wasm');
  const B = 5;
  const opts: EncoderOptions = { ...tiny, zdim: 3, learningRate: 1e-2 };
  const x = images(B, 21);
  const fn = analyticLoss(B, tiny.heads!, targets(B, 22));
  const a = createEncoder(opts);
  for (let s = 0; s < 3; s++) a.trainStep(x, B, fn);
  const st = a.getState();
  const b = createEncoder({ ...opts, seed: 999 });
  assert.notDeepEqual(b.predict(x, B).rotations, a.predict(x, B).rotations);
  b.setState(st);
  const pa = a.predict(x, B);
  const pb = b.predict(x, B);
  assert.deepEqual(pb.rotations, pa.rotations);
  assert.deepEqual(pb.shiftsPx, pa.shiftsPx);
  assert.deepEqual(pb.z, pa.z);
  assert.equal(pa.z!.length, 3 * B);
  // One more identical step on each: identical only if Adam's moments and step count were restored.
  a.trainStep(x, B, fn);
  b.trainStep(x, B, fn);
  assert.deepEqual(b.predict(x, B).rotations, a.predict(x, B).rotations);
  // A configuration mismatch is refused.
  const c = createEncoder({ ...opts, heads: 2 });
  assert.throws(() => c.setState(st), /configuration differs/);
  for (const e of [a, b, c]) e.dispose();
});

test('bad inputs are refused with clear messages', async () => {
  await initTfjs('wasm');
  const enc = createEncoder(tiny);
  assert.throws(() => enc.predict(new Float32Array(10), 1), /expected 1 images of 16x16/);
  const fn: LossGradFn = () => ({ loss: 0, winnerHead: [7, 0], dLdR: new Float64Array(18), dLdShift: new Float64Array(4) });
  assert.throws(() => enc.trainStep(images(2, 1), 2, fn), /winnerHead\[0\] = 7/);
  assert.throws(() => createEncoder({ ...tiny, box: 18, widths: [4], convsPerBlock: [1], pools: ['max'] }), /even side/);
  enc.dispose();
});

test('trainStep and predict leave no tensors or backend buffers behind', async () => {
  await initTfjs('wasm');
  const B = 3;
  const enc = createEncoder({ ...tiny, zdim: 2 });
  const x = images(B, 31);
  const fn = analyticLoss(B, tiny.heads!, targets(B, 32));
  const be = tf.engine().backend as unknown as { numDataIds(): number };
  enc.trainStep(x, B, fn);
  enc.predict(x, B);
  const [t0, d0] = [tf.memory().numTensors, be.numDataIds()];
  for (let i = 0; i < 3; i++) { enc.trainStep(x, B, fn); enc.predict(x, B); enc.gradients(x, B, fn); }
  assert.equal(tf.memory().numTensors, t0);
  assert.equal(be.numDataIds(), d0);
  enc.dispose();
});

test("'paper' trunk: 5 pools at 128 px, 4 at 64 px, latent 256 x 2 x 2 = 1024 in both", async () => {
  const { trunkPlan, latentSize } = await import('../../src/model/encoder/network.js');
  const { ENCODER_PRESETS } = await import('../../src/model/encoder.js');
  const p = ENCODER_PRESETS.paper;
  const cfg = (box: number) => ({ box, heads: 1, widths: p.widths, convsPerBlock: p.convsPerBlock, pools: p.pools, headHidden: [512, 256], zdim: 0, zHidden: [] });
  assert.deepEqual(trunkPlan(cfg(128)), { pools: [true, true, true, true, true], finalSide: 4 });
  assert.deepEqual(trunkPlan(cfg(64)), { pools: [true, true, true, true, false], finalSide: 4 });
  assert.equal(latentSize(cfg(128)), 1024);
  await initTfjs('wasm');
  const enc = createEncoder({ box: 64, heads: 2, preset: 'paper', seed: 1 });
  assert.equal(enc.variables.get('pose0/w')!.shape[0], 1024);
  const out = enc.predict(Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i)), 1);
  assert.equal(out.rotations.length, 18);
  enc.dispose();
});

test('fused Adam follows PyTorch\'s update rule (float64 reference, bias correction, eps after the root, with and without clipping)', async () => {
  await initTfjs('wasm');
  const { Adam } = await import('../../src/model/encoder/adam.js');
  for (const clipGradNorm of [2, 0]) {
    const rng = new Rng(11);
    const n = 37;
    const p0 = Float32Array.from({ length: n }, () => rng.normal());
    const params = new Map([['w', tf.variable(tf.tensor1d(p0))]]);
    const o = { learningRate: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-3, clipGradNorm };
    const adam = new Adam(params, o);
    // Reference in float64: torch.optim.Adam's formulas, written out independently.
    const p = Float64Array.from(p0), m = new Float64Array(n), v = new Float64Array(n);
    for (let t = 1; t <= 4; t++) {
      const g = Float32Array.from({ length: n }, () => rng.normal() * (t === 2 ? 5 : 0.3));
      const gt = tf.tensor1d(g);
      const norm = adam.apply(new Map([['w', gt]]));
      gt.dispose();
      const nrm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - nrm) < 1e-5 * nrm);
      const clip = o.clipGradNorm > 0 && nrm > o.clipGradNorm ? o.clipGradNorm / (nrm + 1e-6) : 1;
      for (let i = 0; i < n; i++) {
        const gi = g[i]! * clip;
        m[i] = o.beta1 * m[i]! + (1 - o.beta1) * gi;
        v[i] = o.beta2 * v[i]! + (1 - o.beta2) * gi * gi;
        const mh = m[i]! / (1 - o.beta1 ** t);
        p[i] = p[i]! - o.learningRate * mh / (Math.sqrt(v[i]!) / Math.sqrt(1 - o.beta2 ** t) + o.eps);
      }
    }
    const got = params.get('w')!.dataSync();
    for (let i = 0; i < n; i++) assert.ok(Math.abs(got[i]! - p[i]!) < 1e-5, `param ${i}: ${got[i]} vs ${p[i]}`);
    const st = adam.getState();
    assert.equal(st.step, 4);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(st.m['w']![i]! - m[i]!) < 1e-6);
    params.get('w')!.dispose();
  }
});

test('2x2 max-pool gradient (SIMD kernel and TS reference) equals tfjs-cpu\'s own MaxPoolGrad', async () => {
  const { maxPool2GradJs } = await import('../../src/model/encoder/maxPool2.js');
  const { wasmMaxPool2Grad } = await import('../../src/model/encoder/bnEngine.js');
  await initTfjs('cpu');
  try {
    for (const [B, H, W, C] of [[2, 6, 8, 5], [3, 4, 4, 8], [1, 2, 2, 13]] as const) {
      const r = new Rng(B * 100 + C);
      const x = Float32Array.from({ length: B * H * W * C }, () => r.normal());
      const dy = Float32Array.from({ length: (B * H * W * C) / 4 }, () => r.normal());
      const ref = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid'))(
        tf.tensor4d(x, [B, H, W, C]), tf.tensor4d(dy, [B, H / 2, W / 2, C])).dataSync() as Float32Array);
      const js = maxPool2GradJs(x, dy, B, H, W, C);
      const simd = wasmMaxPool2Grad(x, dy, B, H, W, C);
      assert.deepEqual(Array.from(js), Array.from(ref));
      assert.deepEqual(Array.from(simd), Array.from(ref));
    }
  } finally {
    await initTfjs('wasm');
  }
});
