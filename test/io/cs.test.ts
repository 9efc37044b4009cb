/**
 * cryoSPARC .cs reader. Independent truth: cryoDRGN's own parse of the same .cs file
 * (pose.cs.rot.npy / pose.cs.trans.npy / ctf2.npy in shared/data, made by cryoDRGN), which
 * fixes the relations A = exp(w)^T, t = shift / D and the CTF unit conversions; plus
 * fixtures built in memory for missing fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csPosesToRelion, readCs, readCsParticles, relionToCsPoses, writeCs } from '../../src/io/cs.js';
import { InputError } from '../../src/io/errors.js';
import { encodeStructuredNpy, readNpyFloat64, type NpyFieldSpec } from '../../src/io/npy.js';

const DIR = join(import.meta.dirname, '../../../shared/data/cryodrgn_cryosparc_cs');
const P12 = join(DIR, 'cryosparc_P12_J24_001_particles.cs');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('P12 .cs: fields, blob columns and CTF match cryoDRGN ctf2.npy', (t) => {
  if (!existsSync(P12)) return t.skip('shared/data absent');
  const table = readCs(P12);
  assert.equal(table.rows, 2019);
  assert.equal(table.fields.length, 34);
  assert.equal(table.field('alignments3D/pose').dtype.descr, '<f4');
  const p = readCsParticles(P12, { requirePose: true });
  assert.equal(p.rows, 2019);
  assert.equal(p.blobPath[0], 'J19/extract/20150917_05196_DNA-TET-25k-DE20_raw.region_000.sum-all_003-072_particles.mrc');
  assert.equal(p.blobIdx[0], 0);
  assert.ok(p.blobIdx.every((i) => i >= 0));
  const ref = readNpyFloat64(join(DIR, 'ctf2.npy'), 2);
  assert.deepEqual(ref.shape, [2019, 9]);
  const col = (j: number): Float64Array => Float64Array.from({ length: 2019 }, (_, i) => ref.data[9 * i + j]!);
  const ctf = p.ctf!;
  const deg = (a: Float64Array): Float64Array => a.map((x) => (x * 180) / Math.PI);
  const D = Float64Array.from({ length: 2019 }, (_, i) => p.blobShapePx[2 * i]!);
  // ctf2.npy is float32: compare within float32 rounding of each quantity.
  assert.equal(maxAbsDiff(D, col(0)), 0);
  assert.ok(maxAbsDiff(p.apixAngstrom, col(1)) < 1e-6);
  assert.ok(maxAbsDiff(ctf.defocusUAngstrom, col(2)) < 4e-3); // ~45000 A in float32
  assert.ok(maxAbsDiff(ctf.defocusVAngstrom, col(3)) < 4e-3);
  assert.ok(maxAbsDiff(deg(ctf.defocusAngleRad), col(4)) < 1e-4);
  assert.ok(maxAbsDiff(ctf.voltageKv, col(5)) === 0);
  assert.ok(maxAbsDiff(ctf.csMm, col(6)) === 0);
  assert.ok(maxAbsDiff(ctf.amplitudeContrast, col(7)) < 1e-7);
  assert.ok(maxAbsDiff(deg(ctf.phaseShiftRad), col(8)) < 1e-6);
  assert.equal(ctf.bFactor, undefined);
});

test('P12 .cs: RELION A = exp(axis-angle)^T and t = shift / D match cryoDRGN pose.cs', (t) => {
  if (!existsSync(P12)) return t.skip('shared/data absent');
  const p = readCsParticles(P12);
  const pose = p.pose!;
  const rotRef = readNpyFloat64(join(DIR, 'pose.cs.rot.npy'), 3);
  const transRef = readNpyFloat64(join(DIR, 'pose.cs.trans.npy'), 2);
  const A = csPosesToRelion(pose.axisAngleRad);
  const dRot = maxAbsDiff(A, rotRef.data);
  assert.ok(dRot < 2e-6, `max |A - cryoDRGN R| = ${dRot}`);
  // The untransposed exponential is clearly different (checks the transpose is needed).
  const notT = csPosesToRelion(pose.axisAngleRad.map((x) => -x)); // exp(-w)^T = exp(w)
  assert.ok(maxAbsDiff(notT, rotRef.data) > 0.5);
  const D = p.blobShapePx[0]!;
  assert.equal(D, 180);
  const frac = pose.shiftPx.map((s) => s / D);
  assert.ok(maxAbsDiff(frac, transRef.data) < 1e-7, 'no sign change');
  // Each A is a proper rotation.
  for (let i = 0; i < 2019; i += 101) {
    const m = A.subarray(9 * i, 9 * i + 9);
    const det = m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) - m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) + m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!);
    assert.ok(Math.abs(det - 1) < 1e-6);
  }
  assert.ok(pose.alignApixAngstrom !== undefined);
});

test('J2 (2D alignments, extended CTF) and 0-row 4k_dataset .cs', (t) => {
  if (!existsSync(DIR)) return t.skip('shared/data absent');
  const j2 = join(DIR, 'cryosparc_J2_particles_exported.cs');
  const p = readCsParticles(j2);
  assert.equal(p.rows, 22);
  assert.equal(p.pose, undefined);
  assert.ok(p.blobPath.every((s) => !s.startsWith('>')), 'leading > stripped');
  assert.equal(readCs(j2).strings('blob/path')[0]!.startsWith('>'), true);
  assert.equal(p.ctf!.bFactor!.length, 22);
  assert.equal(p.blobShapePx[0], 300);
  assert.ok(Math.abs(p.apixAngstrom[0]! - 1.345) < 1e-6);
  assert.throws(() => readCsParticles(j2, { requirePose: true }),
    (e: unknown) => e instanceof InputError && e.file === j2 && e.field === 'alignments3D/pose');
  const empty = readCs(join(DIR, '4k_dataset.cs'));
  assert.equal(empty.rows, 0);
  assert.equal(empty.fields.length, 106);
  assert.equal(empty.floats('alignments3D/pose').length, 0);
  assert.deepEqual(empty.field('location/micrograph_shape').shape, [2]);
});

function fixture(omit: string[] = []): Uint8Array {
  const n = 2;
  const f = (name: string, descr: string, values: number[], shape?: number[]): NpyFieldSpec => ({ name, descr, values: Float64Array.from(values), ...(shape ? { shape } : {}) });
  const specs: NpyFieldSpec[] = [
    { name: 'uid', descr: '<u8', values: BigUint64Array.from([1n, 2n]) },
    { name: 'blob/path', descr: '|S16', values: ['>J1/a.mrcs', 'b.mrcs'] },
    { name: 'blob/idx', descr: '<u4', values: Uint32Array.from([7, 0]) },
    f('blob/shape', '<u4', [64, 64, 64, 64], [2]),
    f('blob/psize_A', '<f4', [1.5, 1.5]),
    f('ctf/df1_A', '<f4', [10000, 20000]),
    f('ctf/df2_A', '<f4', [9000, 19000]),
    f('ctf/df_angle_rad', '<f4', [0.5, -0.5]),
    f('ctf/phase_shift_rad', '<f4', [0, Math.PI / 2]),
    f('ctf/accel_kv', '<f4', [300, 300]),
    f('ctf/cs_mm', '<f4', [2.7, 2.7]),
    f('ctf/amp_contrast', '<f4', [0.1, 0.1]),
    f('alignments3D/pose', '<f4', [0, 0, Math.PI / 2, 0, 0, 0], [3]),
    f('alignments3D/shift', '<f4', [1, -2, 0.5, 0], [2]),
  ];
  return encodeStructuredNpy(specs.filter((s) => !omit.includes(s.name)), n);
}

test('in-memory .cs fixture: values, units and A for a 90 degree rotation about z', () => {
  const p = readCsParticles(fixture(), { requirePose: true }, 'fix.cs');
  assert.deepEqual(p.blobPath, ['J1/a.mrcs', 'b.mrcs']);
  assert.deepEqual(Array.from(p.blobIdx), [7, 0]);
  assert.deepEqual(Array.from(p.pose!.shiftPx), [1, -2, 0.5, 0]);
  const A = csPosesToRelion(p.pose!.axisAngleRad);
  // exp(w) for w = (0, 0, pi/2) maps x -> y: [[0,-1,0],[1,0,0],[0,0,1]]; A is its transpose.
  const expected = [0, 1, 0, -1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1];
  assert.ok(maxAbsDiff(A, expected) < 1e-7);
  assert.ok(Math.abs(p.ctf!.phaseShiftRad[1]! - Math.PI / 2) < 1e-6);
});

test('missing or malformed .cs fields give InputErrors naming file and field', () => {
  for (const field of ['blob/path', 'blob/idx', 'ctf/df1_A', 'ctf/cs_mm']) {
    assert.throws(() => readCsParticles(fixture([field]), {}, 'fix.cs'),
      (e: unknown) => e instanceof InputError && e.file === 'fix.cs' && e.field === field && /missing/.test(e.message));
  }
  // CTF optional when asked; pose absent -> undefined.
  const noCtf = readCsParticles(fixture(['ctf/df1_A']), { requireCtf: false }, 'fix.cs');
  assert.equal(noCtf.ctf, undefined);
  assert.equal(readCsParticles(fixture(['alignments3D/shift']), {}, 'fix.cs').pose, undefined);
  // A plain array is not a .cs table.
  const plain = encodeStructuredNpy([{ name: 'x', descr: '<f4', values: Float32Array.from([1]) }], 1);
  assert.throws(() => readCsParticles(plain, {}, 'p.cs'), (e: unknown) => e instanceof InputError && e.field === 'blob/path');
  assert.throws(() => readCs(Uint8Array.from([1, 2, 3]), 'junk.cs'), (e: unknown) => e instanceof InputError && e.file === 'junk.cs');
  // Wrong sub-array shape for the pose.
  const bad = encodeStructuredNpy([
    { name: 'blob/path', descr: '|S4', values: ['a'] }, { name: 'blob/idx', descr: '<u4', values: Uint32Array.from([0]) },
    { name: 'blob/shape', descr: '<u4', shape: [2], values: Uint32Array.from([8, 8]) }, { name: 'blob/psize_A', descr: '<f4', values: Float32Array.from([1]) },
    { name: 'alignments3D/pose', descr: '<f4', shape: [4], values: new Float32Array(4) }, { name: 'alignments3D/shift', descr: '<f4', shape: [2], values: new Float32Array(2) },
  ], 1);
  assert.throws(() => readCsParticles(bad, { requireCtf: false }, 'b.cs'), (e: unknown) => e instanceof InputError && e.field === 'alignments3D/pose' && /\(3\)/.test(e.message));
});

test('writeCs round trip; numpy reads it; relionToCsPoses inverts csPosesToRelion', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-'));
  try {
    const p = readCsParticles(fixture(), { requirePose: true }, 'fix.cs');
    const path = join(dir, 'out.cs');
    writeCs(path, p);
    const q = readCsParticles(path, { requirePose: true });
    assert.deepEqual(q.blobPath, p.blobPath);
    assert.deepEqual(q.blobIdx, p.blobIdx);
    assert.deepEqual(q.blobShapePx, p.blobShapePx);
    assert.deepEqual(q.ctf!.defocusUAngstrom, p.ctf!.defocusUAngstrom);
    assert.deepEqual(q.pose!.axisAngleRad, p.pose!.axisAngleRad);
    assert.deepEqual(q.pose!.shiftPx, p.pose!.shiftPx);
    // Random rotations: A -> w -> A.
    const A = csPosesToRelion(Float64Array.from({ length: 30 }, (_, i) => Math.sin(1.7 * i) * 2.5));
    const back = csPosesToRelion(relionToCsPoses(A));
    assert.ok(maxAbsDiff(A, back) < 1e-12);
    let out: string;
    try {
      out = execFileSync('python3', ['-c', `
import sys, numpy as np
a = np.load(sys.argv[1])
assert a.shape == (2,) and a['blob/path'][0] == b'J1/a.mrcs' and list(a['blob/idx']) == [7, 0]
assert a['alignments3D/pose'].shape == (2, 3) and abs(a['alignments3D/pose'][0, 2] - np.pi / 2) < 1e-6
assert a.dtype['ctf/df1_A'] == np.float32 and a['ctf/df1_A'][1] == 20000
print('ok')
`, path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      if (String((e as { stderr?: string }).stderr ?? '').includes('No module named') || (e as NodeJS.ErrnoException).code === 'ENOENT') return t.skip('python3 with numpy not available');
      throw e;
    }
    assert.equal(out.trim(), 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("cryoSPARC's compressed CSDAT .cs format is rejected with a clear InputError", () => {
  const bytes = Buffer.concat([Buffer.from([0x95]), Buffer.from('CSDAT'), Buffer.alloc(32)]);
  assert.throws(() => readCs(bytes, 'new.cs'), (e: unknown) => e instanceof InputError && e.file === 'new.cs' && /CSDAT/.test(e.message));
});
