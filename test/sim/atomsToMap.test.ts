import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atomsToMap, scatteringFactor, centreOfMass } from '../../src/sim/atomsToMap.js';
import type { Atom } from '../../src/sim/atomicModel.js';

function atom(el: string, x: number, y: number, z: number): Atom {
  return { xAngstrom: x, yAngstrom: y, zAngstrom: z, element: el, chain: 'A', labelChain: 'A', resName: 'ALA', resSeq: 1, atomName: el, hetero: false };
}

/** Direct DFT of the map at one frequency (cycles/voxel) along x, phase origin at the box centre. */
function dftX(vol: Float32Array, D: number, kx: number): [number, number] {
  const c = Math.floor(D / 2);
  let re = 0, im = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const v = vol[(z * D + y) * D + x]!;
    const ph = -2 * Math.PI * kx * (x - c);
    re += v * Math.cos(ph); im += v * Math.sin(ph);
  }
  return [re, im];
}

/** The transform of a voxel-sampled atom: the continuous transform summed over its aliases (Poisson summation). */
function aliasedFactor(el: string, kVox: [number, number, number], apix: number, B: number, offsetVox: [number, number, number]): [number, number] {
  let re = 0, im = 0;
  for (let a = -3; a <= 3; a++) for (let b = -3; b <= 3; b++) for (let c = -3; c <= 3; c++) {
    const k = [kVox[0] + a, kVox[1] + b, kVox[2] + c];
    const f = scatteringFactor(el, Math.hypot(k[0]!, k[1]!, k[2]!) / apix, B);
    const ph = -2 * Math.PI * (k[0]! * offsetVox[0] + k[1]! * offsetVox[1] + k[2]! * offsetVox[2]);
    re += f * Math.cos(ph); im += f * Math.sin(ph);
  }
  return [re, im];
}

test('direct sampling (oversample 1): the map transform is f(s) exp(-B s^2) plus its aliases', () => {
  const D = 32, apix = 1.5;
  for (const offsetVox of [0, 0.37]) {
    const r = atomsToMap([atom('C', offsetVox * apix, 0, 0)], { boxPx: D, apixAngstrom: apix, centreAngstrom: [0, 0, 0], oversample: 1 });
    const B = r.bFactorAngstrom2;
    assert.equal(B, 16 * apix * apix);
    const f0 = 0.0893 + 0.2563 + 0.757 + 1.0487 + 0.3575; // Peng (1996) carbon, sum of a_i
    assert.ok(Math.abs(scatteringFactor('C', 0) - f0) < 1e-12);
    for (const kVox of [0, 0.125, 0.25, 0.375, 0.5]) {
      const [re, im] = dftX(r.data, D, kVox);
      const [eRe, eIm] = aliasedFactor('C', [kVox, 0, 0], apix, B, [offsetVox, 0, 0]);
      assert.ok(Math.hypot(re - eRe, im - eIm) < 1e-4 * f0, `k=${kVox} offset=${offsetVox}: (${re}, ${im}) vs (${eRe}, ${eIm})`);
    }
  }
});

test('default (oversampled, Fourier-cropped): the transform is f(s) exp(-B s^2) without aliases', () => {
  const D = 24, apix = 1.5;
  for (const offsetVox of [0, 0.37]) {
    const r = atomsToMap([atom('N', offsetVox * apix, 0, 0)], { boxPx: D, apixAngstrom: apix, centreAngstrom: [0, 0, 0] });
    const f0 = scatteringFactor('N', 0);
    for (const kVox of [0, 0.125, 0.25, 0.375, 11 / 24]) {
      const [re, im] = dftX(r.data, D, kVox);
      const g = scatteringFactor('N', kVox / apix, r.bFactorAngstrom2);
      const ph = -2 * Math.PI * kVox * offsetVox;
      const err = Math.hypot(re - g * Math.cos(ph), im - g * Math.sin(ph));
      assert.ok(err < 1e-3 * f0, `k=${kVox} offset=${offsetVox}: (${re}, ${im}) vs ${g} at phase ${ph}`);
    }
  }
});

test('the centre of mass lands on the box centre index floor(D/2)', () => {
  const D = 33, apix = 2;
  const atoms = [atom('C', 10, 20, 30), atom('O', 16, 20, 30), atom('N', 10, 26, 24)];
  const com = centreOfMass(atoms);
  const m = [12.011, 15.999, 14.007];
  const ex = (m[0]! * 10 + m[1]! * 16 + m[2]! * 10) / (m[0]! + m[1]! + m[2]!);
  assert.ok(Math.abs(com[0] - ex) < 1e-9);
  const r = atomsToMap(atoms, { boxPx: D, apixAngstrom: apix, bFactorAngstrom2: 200 });
  // Density-weighted centroid of the map = f(0)-weighted mean of the atom positions (voxels).
  const c = Math.floor(D / 2);
  const f0 = atoms.map((a) => scatteringFactor(a.element, 0));
  const pos = atoms.map((a) => [(a.xAngstrom - com[0]) / apix + c, (a.yAngstrom - com[1]) / apix + c, (a.zAngstrom - com[2]) / apix + c]);
  const expCentroid = [0, 1, 2].map((k) => pos.reduce((s, p, i) => s + f0[i]! * p[k]!, 0) / f0.reduce((s, v) => s + v, 0));
  let s = 0; const cen = [0, 0, 0];
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const v = r.data[(z * D + y) * D + x]!;
    s += v; cen[0] += v * x; cen[1] += v * y; cen[2] += v * z;
  }
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(cen[k]! / s - expCentroid[k]!) < 1e-2, `axis ${k}: ${cen[k]! / s} vs ${expCentroid[k]}`);
  assert.equal(r.atomsOutside, 0);
  const far = atomsToMap([atom('C', 0, 0, 0), atom('C', 200, 0, 0)], { boxPx: 16, apixAngstrom: 1 });
  assert.equal(far.atomsOutside, 2);
});

test('unknown elements are rejected; ions are scaled from sulfur', () => {
  assert.throws(() => atomsToMap([atom('Xx', 0, 0, 0)], { boxPx: 8, apixAngstrom: 1 }), /unknown element/);
  assert.ok(Math.abs(scatteringFactor('Fe', 0) / scatteringFactor('S', 0) - 26 / 16) < 1e-12);
});
