// The fixed input filter bank: kernels, reflect padding and the per-channel standardisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FILTER_BANK_MEAN, FILTER_BANK_STD, FILTER_BANK_VARIANCES_PX2, filterBankFeatures, gaussianKernels,
} from '../../src/model/filterBank.js';

const S = 11;
const C = FILTER_BANK_VARIANCES_PX2.length;

test('kernels: sum 1, isotropic Gaussian ratios exp(-r^2 / 2v), variance 1 px^2 reproduced', () => {
  const k = gaussianKernels();
  for (let c = 0; c < C; c++) {
    const v = FILTER_BANK_VARIANCES_PX2[c]!;
    const at = (y: number, x: number): number => k[c * S * S + (y + 5) * S + (x + 5)]!;
    let s = 0;
    let m2 = 0;
    for (let y = -5; y <= 5; y++) for (let x = -5; x <= 5; x++) {
      s += at(y, x);
      m2 += at(y, x) * x * x;
    }
    assert.ok(Math.abs(s - 1) < 1e-6, `sum ${s}`);
    for (const [y, x] of [[0, 1], [1, 1], [2, -3], [-5, 4]] as const) {
      const want = Math.exp(-(y * y + x * x) / (2 * v));
      if (want < 1e-30) continue;
      const got = at(y, x) / at(0, 0);
      assert.ok(Math.abs(got - want) < 1e-5 * want + 1e-12, `c ${c} (${y},${x}): ${got} vs ${want}`);
    }
    if (v === 1) assert.ok(Math.abs(m2 - 1) < 1e-6, `variance ${m2}`);
  }
  assert.ok(k[5 * S + 5]! > 0.999999, 'the 0.01 px^2 kernel is a delta');
});

test('filter bank of a centred delta image equals the Gaussian kernels', () => {
  const D = 24;
  const img = new Float32Array(D * D);
  img[12 * D + 12] = 1;
  for (const engine of ['wasm', 'js'] as const) {
    const f = filterBankFeatures(img, 1, D, { standardise: false, engine });
    const k = gaussianKernels();
    let err = 0;
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
        const dy = y - 12 + 5;
        const dx = x - 12 + 5;
        const want = dy >= 0 && dy < S && dx >= 0 && dx < S ? k[c * S * S + dy * S + dx]! : 0;
        err = Math.max(err, Math.abs(f[(y * D + x) * C + c]! - want));
      }
    }
    assert.ok(err < 1e-7, `${engine}: max error ${err}`);
  }
});

test('reflect padding: matches a direct 2D convolution with mirrored indices', () => {
  const D = 13;
  const B = 2;
  const img = Float32Array.from({ length: B * D * D }, (_, i) => Math.sin(0.37 * i) + 0.01 * i);
  for (const engine of ['wasm', 'js'] as const) {
    const f = filterBankFeatures(img, B, D, { standardise: false, engine });
    const k = gaussianKernels();
    const refl = (i: number): number => (i < 0 ? -i : i >= D ? 2 * (D - 1) - i : i);
    let err = 0;
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      let s = 0;
      for (let u = 0; u < S; u++) for (let v = 0; v < S; v++) {
        s += k[c * S * S + u * S + v]! * img[b * D * D + refl(y + u - 5) * D + refl(x + v - 5)]!;
      }
      err = Math.max(err, Math.abs(s - f[((b * D + y) * D + x) * C + c]!));
    }
    assert.ok(err < 1e-5, `${engine}: max error ${err}`);
  }
});

test('standardised channels have mean 0.45 and std 0.226 per image', () => {
  const D = 16;
  const B = 3;
  const img = Float32Array.from({ length: B * D * D }, (_, i) => 5 + 3 * Math.cos(0.11 * i * i));
  for (const engine of ['wasm', 'js'] as const) {
    const f = filterBankFeatures(img, B, D, { engine });
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < D * D; i++) {
        const v = f[(b * D * D + i) * C + c]!;
        s1 += v;
        s2 += v * v;
      }
      const mean = s1 / (D * D);
      const std = Math.sqrt(s2 / (D * D) - mean * mean);
      assert.ok(Math.abs(mean - FILTER_BANK_MEAN) < 1e-5, `mean ${mean}`);
      assert.ok(Math.abs(std - FILTER_BANK_STD) < 1e-4, `${engine}: std ${std}`);
    }
  }
});
