/**
 * Malformed MRC files: each is a valid file written by writeMrc with one header word or the data
 * corrupted by hand, and each must fail with an InputError whose message names the file and the
 * field (truncated data, lying NX, NX <= 0, unknown/complex MODE, negative and huge NSYMBT, NaN
 * in a particle, empty and short files, missing file, out-of-range particle index).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/io/errors.js';
import { openMrcStack, readMrc, readMrcHeader, writeMrc } from '../../src/io/mrc.js';

const tmp = mkdtempSync(join(tmpdir(), 'cryospin-mrcbad-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const NX = 4, NY = 4, NZ = 3;

/** A valid 4x4x3 float32 stack (values 0..47), as bytes we can then damage. */
function validBytes(): Uint8Array {
  const p = join(tmp, 'valid.mrcs');
  writeMrc(p, Float32Array.from({ length: NX * NY * NZ }, (_, i) => i), { nx: NX, ny: NY, nz: NZ, apix: 2, isStack: true });
  return new Uint8Array(readFileSync(p));
}

let n = 0;
function damaged(edit: (b: Uint8Array, v: DataView) => Uint8Array | void): string {
  const b = validBytes();
  const out = edit(b, new DataView(b.buffer)) ?? b;
  n += 1;
  const p = join(tmp, `bad${n}.mrcs`);
  writeFileSync(p, out);
  return p;
}

/** Assert fn throws an InputError for `file` naming `field`, with a message matching `msg`. */
function throwsInput(fn: () => unknown, file: string, field: string, msg?: RegExp): InputError {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
  assert.equal(err.file, file);
  assert.equal(err.field, field);
  assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
  assert.ok(err.message.includes(`field ${field}`), `message names the field: ${err.message}`);
  if (msg) assert.match(err.message, msg);
  return err;
}

test('the undamaged fixture reads (control)', () => {
  const p = damaged(() => undefined);
  const v = readMrc(p);
  assert.equal(v.data[47], 47);
});

test('truncated data section', () => {
  const p = damaged((b) => b.subarray(0, b.length - 10));
  for (const f of [() => readMrc(p), () => openMrcStack(p), () => readMrcHeader(p)]) {
    throwsInput(f, p, 'nx/ny/nz', /needs NX\*NY\*NZ\*4 = 4\*4\*3\*4 = 192 bytes.*only 1206 bytes/);
  }
});

test('NX larger than the data (lying NX)', () => {
  const p = damaged((_, v) => v.setInt32(0, 1000, true));
  throwsInput(() => readMrc(p), p, 'nx/ny/nz', /1000\*4\*3\*4/);
});

test('NX, NY or NZ zero, negative or absurd', () => {
  for (const [off, field, value] of [[0, 'nx', 0], [4, 'ny', -5], [8, 'nz', -1], [0, 'nx', 2 ** 30]] as const) {
    const p = damaged((_, v) => v.setInt32(off, value, true));
    throwsInput(() => readMrc(p), p, field, new RegExp(`${field.toUpperCase()} = ${value} is not a plausible size`));
  }
});

test('unknown and complex modes are rejected with the list of supported modes', () => {
  const p3 = damaged((_, v) => v.setInt32(12, 3, true));
  throwsInput(() => readMrc(p3), p3, 'mode', /MODE 3 \(complex int16\) unsupported; supported: 0, 1, 2, 6, 12$/);
  const p4 = damaged((_, v) => v.setInt32(12, 4, true));
  throwsInput(() => openMrcStack(p4), p4, 'mode', /MODE 4 \(complex float32\) unsupported/);
  const p7 = damaged((_, v) => v.setInt32(12, 7, true));
  throwsInput(() => readMrc(p7), p7, 'mode', /MODE 7 \(unknown\) unsupported; supported: 0, 1, 2, 6, 12/);
});

test('negative NSYMBT', () => {
  const p = damaged((_, v) => v.setInt32(92, -4, true));
  throwsInput(() => readMrc(p), p, 'nsymbt', /NSYMBT = -4/);
});

test('NSYMBT larger than the file', () => {
  const p = damaged((_, v) => v.setInt32(92, 2 ** 30, true));
  throwsInput(() => openMrcStack(p), p, 'nsymbt', /NSYMBT = 1073741824 .* 0\.\.192/);
  // An extended header that fits but leaves too little data is a truncation error.
  const q = damaged((_, v) => v.setInt32(92, 100, true));
  throwsInput(() => readMrc(q), q, 'nx/ny/nz', /after 1124 header bytes/);
});

test('NaN / Inf in a particle: the stack read names the particle; readMrc counts or rejects', () => {
  // Particle 2 (0-based), pixel (x,y) = (1,3): voxel 2*16 + 3*4 + 1 = 45.
  const p = damaged((_, v) => v.setFloat32(1024 + 4 * 45, NaN, true));
  const s = openMrcStack(p);
  assert.equal(s.readRange(0, 2).length, 32, 'particles 0-1 are clean');
  const e = throwsInput(() => s.readRange(1, 2), p, 'data', /particle 2 \(0-based\) contains NaN at pixel \(x,y\) = \(1,3\)/);
  assert.equal(e.record, '2');
  throwsInput(() => s.readOne(2), p, 'data');
  s.close();
  const lenient = openMrcStack(p, { allowNonFinite: true });
  assert.ok(Number.isNaN(lenient.readOne(2)[13]));
  lenient.close();
  const v = readMrc(p, { rejectNonFinite: false });
  assert.equal(v.nonFiniteCount, 1);
  throwsInput(() => readMrc(p), p, 'data', /1 NaN\/Inf values.*\(x,y,z\) = \(1,3,2\)/);
  const q = damaged((_, v) => v.setFloat32(1024 + 4 * 5, -Infinity, true));
  throwsInput(() => openMrcStack(q).readRange(0, 3), q, 'data', /particle 0 \(0-based\) contains -Infinity/);
});

test('empty file and a file shorter than the header', () => {
  const empty = join(tmp, 'empty.mrc');
  writeFileSync(empty, new Uint8Array(0));
  throwsInput(() => readMrc(empty), empty, 'header', /empty/);
  throwsInput(() => openMrcStack(empty), empty, 'header', /empty/);
  const short = damaged((b) => b.subarray(0, 100));
  throwsInput(() => readMrc(short), short, 'header', /100 bytes, shorter than the 1024-byte/);
});

test('missing file and out-of-range particle indices', () => {
  const missing = join(tmp, 'nope.mrcs');
  let err: unknown;
  try { readMrc(missing); } catch (e) { err = e; }
  assert.ok(err instanceof InputError && err.message.includes(missing) && /ENOENT/.test(err.message));
  const p = damaged(() => undefined);
  const s = openMrcStack(p);
  throwsInput(() => s.readRange(2, 2), p, 'nz', /images 2\.\.3 requested.*0\.\.2/);
  throwsInput(() => s.readOne(-1), p, 'nz');
  throwsInput(() => s.readRange(0.5, 1), p, 'nz');
  s.close();
  assert.throws(() => s.readOne(0), /after close/);
});

test('a stack whose columns do not run along X is refused by openMrcStack', () => {
  const p = damaged((_, v) => { v.setInt32(64, 2, true); v.setInt32(68, 1, true); });
  throwsInput(() => openMrcStack(p), p, 'mapc/mapr/maps', /2,1,3/);
  assert.equal(readMrc(p).nx, NY, 'readMrc still reads it, transposed');
});
