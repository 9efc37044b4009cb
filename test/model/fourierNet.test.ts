/**
 * FourierNet decoder: Friedel symmetry of rendered slices (exact, by construction), agreement with
 * the explicit Hartley-grid convention (a slice at the identity equals the central plane of the
 * sampled grid's Fourier volume), and gradients (parameters and rotation) against central finite
 * differences of L = <w, slice>.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { FourierNet, discMirror, fourierNetFromState, symmetricDisc } from '../../src/model/fourierNet.js';
import { fourierFromHartley } from '../../src/model/hartleyVolume.js';
import { initTfjs, tf } from '../../src/model/tfjsSetup.js';

const D = 12;
const P = D * D;

function smallNet(seed = 3): FourierNet {
  return new FourierNet({ box: D, seed, envelopeHidden: [16, 16], modulantHidden: [16, 16], envelopeW0: 10, modulantW0: 10, envelopeBias: 0.5 });
}

test('FourierNet slices are Hermitian (Friedel) exactly and match the sampled Hartley grid', async () => {
  await initTfjs('wasm');
  const net = smallNet();
  const disc = symmetricDisc(D);
  const mir = discMirror(disc);
  const rots = randomRotations(3, new Rng(1));
  const out = { re: new Float32Array(3 * P), im: new Float32Array(3 * P) };
  net.render(rots, 3, out, disc);
  let maxAbs = 0;
  for (let b = 0; b < 3; b++) {
    for (let i = 0; i < disc.pix.length; i++) {
      const p = b * P + disc.pix[i]!;
      const q = b * P + disc.pix[mir[i]!]!;
      assert.equal(out.re[p], out.re[q], 'Re F(k) = Re F(-k)');
      assert.equal(out.im[p]! + out.im[q]!, 0, 'Im F(k) = -Im F(-k)');
      maxAbs = Math.max(maxAbs, Math.abs(out.re[p]!));
    }
  }
  assert.ok(maxAbs > 1e-3, 'non-trivial slice');
  // identity rotation: pixel (kx, ky) samples the grid point (kx, ky, 0)
  const id = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const s = { re: new Float32Array(P), im: new Float32Array(P) };
  net.render(id, 1, s, disc);
  const F = fourierFromHartley(net.toGrid());
  const c = D / 2;
  let err = 0;
  for (let i = 0; i < disc.pix.length; i++) {
    const v = (c * D + c + disc.ky[i]!) * D + c + disc.kx[i]!;
    err = Math.max(err, Math.abs(F.re[v]! - s.re[disc.pix[i]!]!), Math.abs(F.im[v]! - s.im[disc.pix[i]!]!));
  }
  assert.ok(err < 1e-5 * maxAbs + 1e-6, `slice vs grid plane ${err}`);
  // state round trip
  const copy = fourierNetFromState(net.getState());
  const s2 = { re: new Float32Array(P), im: new Float32Array(P) };
  copy.render(id, 1, s2, disc);
  assert.deepEqual(s2.re, s.re);
  copy.dispose();
  net.dispose();
});

test('FourierNet parameter and rotation gradients match finite differences', async () => {
  await initTfjs('wasm');
  const net = smallNet(5);
  const disc = symmetricDisc(D);
  const rng = new Rng(2);
  const B = 2;
  const rots = randomRotations(B, rng);
  const w = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
  for (let i = 0; i < B * P; i++) { w.re[i] = rng.normal(); w.im[i] = rng.normal(); }
  const loss = (R: Float64Array): number => {
    const s = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    net.render(R, B, s, disc);
    let L = 0;
    for (let i = 0; i < B * P; i++) L += w.re[i]! * s.re[i]! + w.im[i]! * s.im[i]!;
    return L;
  };
  const dR = new Float64Array(9 * B);
  const grads = net.backward(rots, B, w, disc, dR);
  // rotation: the slice is a function of the matrix entries (p = A^T k), any entry can be perturbed
  const h = 1e-3;
  for (const k of [0, 1, 4, 5, 9 + 2, 9 + 3]) {
    const rp = Float64Array.from(rots); rp[k] += h;
    const rm = Float64Array.from(rots); rm[k] -= h;
    const fd = (loss(rp) - loss(rm)) / (2 * h);
    assert.ok(Math.abs(fd - dR[k]!) < 0.02 * Math.abs(fd) + 0.02, `dL/dA[${k}] ${dR[k]} vs fd ${fd}`);
  }
  // parameters: a few entries of the first and last layers of both SIRENs
  let checked = 0;
  for (const v of net.variables) {
    const g = grads.get(v.name)!.dataSync() as Float32Array;
    const orig = Float32Array.from(v.dataSync() as Float32Array);
    for (const j of [0, orig.length - 1]) {
      const eps = 1e-3;
      const set = (d: number) => { const a = Float32Array.from(orig); a[j] = orig[j]! + d; v.assign(tf.tensor(a, v.shape)); };
      set(eps); const lp = loss(rots);
      set(-eps); const lm = loss(rots);
      set(0);
      const fd = (lp - lm) / (2 * eps);
      assert.ok(Math.abs(fd - g[j]!) < 0.03 * Math.abs(fd) + 0.03, `${v.name}[${j}]: ${g[j]} vs fd ${fd}`);
      checked++;
    }
  }
  assert.ok(checked >= 16);
  for (const g of grads.values()) g.dispose();
  net.dispose();
});
