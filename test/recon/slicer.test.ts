import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSlicer } from '../../src/recon/slicer.js';
import { createHartleyGrid, nyquistDisc } from '../../src/model/hartleyVolume.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';

test('wasm slicer matches the TypeScript reference (slices, volume and rotation gradients), full and partial discs', () => {
  const D = 24, B = 7;
  const rng = new Rng(4);
  const g = createHartleyGrid(D);
  for (let i = 0; i < g.values.length; i++) g.values[i] = rng.normal();
  const rots = randomRotations(B, rng);
  for (const r of [D / 2, 5]) {
    const disc = nyquistDisc(D, r);
    const out: Record<string, { s: Float32Array; dH: Float32Array; dR: Float64Array }> = {};
    for (const [name, backend, threads] of [['ts', 'ts', 1], ['wasm', 'wasm', 1], ['wasm2', 'wasm', 2]] as const) {
      const sl = createSlicer(backend, threads);
      assert.equal(sl.threads, threads);
      const s = { re: new Float32Array(B * D * D), im: new Float32Array(B * D * D) };
      sl.render(g, rots, B, s, disc);
      const dS = { re: s.re.map((v, i) => v * 0.5 + (i % 7) * 0.01), im: s.im.map((v) => v - 0.2) };
      const dH = new Float32Array(g.values.length);
      const dR = new Float64Array(9 * B);
      sl.backward(g, rots, B, dS, dH, dR, disc);
      sl.dispose();
      out[name] = { s: s.re, dH, dR };
    }
    const rel = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
      let m = 0, s = 0;
      for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(a[i]!)); }
      return m / s;
    };
    assert.ok(rel(out.ts!.s, out.wasm!.s) < 1e-5, `slices r=${r}`);
    assert.ok(rel(out.ts!.dH, out.wasm!.dH) < 1e-5, `dH r=${r}`);
    assert.ok(rel(out.ts!.dR, out.wasm!.dR) < 1e-5, `dR r=${r}`);
    // two kernel threads: gather and rotation gradient split by slices, the volume gradient by
    // z-slabs of the output (each thread adds into its own planes): the same bits as one thread
    assert.deepEqual(out.wasm2!.s, out.wasm!.s, `2-thread slices r=${r}`);
    assert.deepEqual(out.wasm2!.dR, out.wasm!.dR, `2-thread dR r=${r}`);
    assert.deepEqual(out.wasm2!.dH, out.wasm!.dH, `2-thread dH r=${r}`);
  }
  assert.throws(() => createSlicer('wasm', 0), /whole number >= 1/);
});
