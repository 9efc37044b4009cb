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
    for (const name of ['ts', 'wasm'] as const) {
      const sl = createSlicer(name);
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
  }
});
