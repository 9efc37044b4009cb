import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ctf2D, ctf2DBatch, ctfValueAt, electronWavelengthAngstrom, type CtfParams } from '../../src/core/ctf.js';

const base: CtfParams = {
  defocusUAngstrom: 15000, defocusVAngstrom: 15000, defocusAngleDeg: 0, voltageKv: 300,
  csMm: 2.7, amplitudeContrast: 0.1, phaseShiftDeg: 0, bFactor: 0,
};

test('electron wavelength: 0.019687 A at 300 kV, 0.025079 A at 200 kV', () => {
  assert.ok(Math.abs(electronWavelengthAngstrom(300) - 0.019687) < 1e-6);
  assert.ok(Math.abs(electronWavelengthAngstrom(200) - 0.025079) < 1e-6);
});

test('CTF(0) = +Q (RELION sign, no contrast inversion); phase plate adds to the phase', () => {
  assert.ok(Math.abs(ctfValueAt(base, 0, 0) - 0.1) < 1e-12);
  const pp = { ...base, phaseShiftDeg: 90 };
  // sin(asin(0.1) + pi/2) = cos(asin(0.1)) = sqrt(0.99)
  assert.ok(Math.abs(ctfValueAt(pp, 0, 0) - Math.sqrt(0.99)) < 1e-12);
});

test('zeros of a pure-phase CTF (Q=0, Cs=0) sit at k^2 = n / (lambda df)', () => {
  const p = { ...base, csMm: 0, amplitudeContrast: 0 };
  const lambda = electronWavelengthAngstrom(300);
  for (const n of [1, 2, 3]) {
    const k = Math.sqrt(n / (lambda * 15000));
    assert.ok(Math.abs(ctfValueAt(p, k, 0)) < 1e-9, `zero ${n}`);
    assert.ok(Math.abs(ctfValueAt(p, 0, k)) < 1e-9);
  }
  // first maximum at chi = pi/2, underfocus makes the low-frequency CTF positive
  const kMax = Math.sqrt(0.5 / (lambda * 15000));
  assert.ok(Math.abs(ctfValueAt(p, kMax / Math.SQRT2, kMax / Math.SQRT2) - 1) < 1e-9);
});

test('spherical aberration term: -(pi/2) Cs lambda^3 k^4 with Cs in mm', () => {
  const p = { ...base, defocusUAngstrom: 0, defocusVAngstrom: 0, amplitudeContrast: 0 };
  const lambda = electronWavelengthAngstrom(300);
  const k = 0.3;
  const chi = -(Math.PI / 2) * 2.7e7 * lambda ** 3 * k ** 4;
  assert.ok(Math.abs(ctfValueAt(p, k, 0) - Math.sin(chi)) < 1e-12);
});

test('astigmatism: defocus U along defocusAngle, V perpendicular to it', () => {
  const p = { ...base, defocusUAngstrom: 20000, defocusVAngstrom: 12000, defocusAngleDeg: 30 };
  const iso = (df: number, k: number) => ctfValueAt({ ...base, defocusUAngstrom: df, defocusVAngstrom: df }, k, 0);
  const a = (30 * Math.PI) / 180;
  for (const k of [0.05, 0.11, 0.2]) {
    assert.ok(Math.abs(ctfValueAt(p, k * Math.cos(a), k * Math.sin(a)) - iso(20000, k)) < 1e-9);
    assert.ok(Math.abs(ctfValueAt(p, -k * Math.sin(a), k * Math.cos(a)) - iso(12000, k)) < 1e-9);
    // 45 degrees from U: the mean defocus
    const b = a + Math.PI / 4;
    assert.ok(Math.abs(ctfValueAt(p, k * Math.cos(b), k * Math.sin(b)) - iso(16000, k)) < 1e-9);
  }
});

test('B-factor envelope multiplies by exp(-B k^2 / 4)', () => {
  const k = 0.12;
  const ratio = ctfValueAt({ ...base, bFactor: 100 }, k, 0) / ctfValueAt(base, k, 0);
  assert.ok(Math.abs(ratio - Math.exp((-100 * k * k) / 4)) < 1e-12);
});

test('ctf2D samples the centred grid: pixel (c + i, c + j) has k = (i, j) / (D apix), even and odd D', () => {
  const p = { ...base, defocusUAngstrom: 18000, defocusVAngstrom: 14000, defocusAngleDeg: -20 };
  for (const D of [64, 65]) {
    const apix = 1.7;
    const g = ctf2D(p, D, apix);
    const c = Math.floor(D / 2);
    assert.ok(Math.abs(g[c * D + c]! - 0.1) < 1e-6);
    for (const [i, j] of [[3, 0], [0, -5], [-7, 11], [-c, -c]] as const) {
      const expect = ctfValueAt(p, i / (D * apix), j / (D * apix));
      assert.ok(Math.abs(g[(c + j) * D + (c + i)]! - expect) < 1e-6, `D=${D} (${i},${j})`);
    }
    const batch = ctf2DBatch([base, p], D, apix);
    assert.deepEqual(batch.subarray(D * D), g);
  }
  assert.throws(() => ctf2D(base, 8, 0), RangeError);
});

test('ctf2D (cached grid angles) equals ctfValueAt at every pixel: astigmatism, phase plate, B-factor, even/odd D', () => {
  const ps: CtfParams[] = [
    { ...base, defocusUAngstrom: 25000, defocusVAngstrom: 9000, defocusAngleDeg: 73.5, phaseShiftDeg: 35, bFactor: 80 },
    { ...base, defocusUAngstrom: 11000, defocusVAngstrom: 13500, defocusAngleDeg: -140, voltageKv: 200, csMm: 0.01 },
  ];
  for (const p of ps) for (const [D, apix] of [[64, 2.1], [33, 1.05], [8, 4]] as const) {
    const g = ctf2D(p, D, apix);
    const c = Math.floor(D / 2);
    let err = 0;
    for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      err = Math.max(err, Math.abs(g[y * D + x]! - ctfValueAt(p, (x - c) / (D * apix), (y - c) / (D * apix))));
    }
    assert.ok(err < 1e-6, `D=${D}: max |ctf2D - ctfValueAt| = ${err}`); // float32 storage: <= 6e-8
  }
});
