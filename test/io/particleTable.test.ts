/**
 * Compact particle tables (particleTable.ts, relionStarColumns.ts): the streamed, columnar route
 * must give exactly what the ordinary route (relionStar.ts + particles.ts, itself checked against
 * cryoDRGN's parses in particles.test.ts) gives — the same records, pixel size and box — or, for a
 * file with an error, the same InputError (message, record, field). Checked on every STAR file in
 * shared/data and on generated files covering RELION 3.0 / 3.1 / 5 layouts, optics groups after the
 * particles, several stacks, Angstrom and pixel origins, missing CTF values, quoting, CRLF, and
 * the error paths. Plus the read-only array view's behaviour.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeMrc } from '../../src/io/mrc.js';
import { loadParticles, ParticleImageReader, type LoadParticlesOptions, type ParticleSet } from '../../src/io/particles.js';
import { columnsBytes, particleCtf, particleStack } from '../../src/io/particleTable.js';
import { readRelionColumns } from '../../src/io/relionStarColumns.js';

const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data');

type Outcome = { set: ParticleSet } | { error: { name: string; message: string; record?: string; field?: string } };
function load(path: string, compact: boolean, opts: LoadParticlesOptions = {}): Outcome {
  try {
    return { set: loadParticles(path, { ...opts, compactTable: compact }) };
  } catch (e) {
    const x = e as { name: string; message: string; record?: string; field?: string };
    return { error: { name: x.name, message: x.message, record: x.record, field: x.field } };
  }
}

/** Both routes agree; returns whether the compact route was taken (columns present). */
function same(path: string, opts: LoadParticlesOptions = {}): boolean {
  const a = load(path, false, opts), b = load(path, true, opts);
  if ('error' in a) {
    assert.ok('error' in b, `${path}: the ordinary route failed (${a.error.message}) but the compact one did not`);
    assert.deepEqual(b.error, a.error);
    return false;
  }
  assert.ok('set' in b, `${path}: ${'error' in b ? b.error.message : ''}`);
  assert.deepStrictEqual(Array.from(b.set.particles), a.set.particles, path);
  assert.equal(b.set.boxPx, a.set.boxPx);
  assert.equal(b.set.apixAngstrom, a.set.apixAngstrom);
  assert.equal(b.set.source, a.set.source);
  return b.set.columns !== undefined;
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-ptable-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

function stack(path: string, n: number, D = 8, apix?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const data = new Float32Array(n * D * D);
  for (let i = 0; i < data.length; i++) data[i] = (i % 97) * 0.01 + Math.floor(i / (D * D));
  writeMrc(path, data, { nx: D, ny: D, nz: n, isStack: true, ...(apix ? { apixAngstrom: apix } : {}) });
}

const OPTICS = `
data_optics
loop_
_rlnOpticsGroup #1
_rlnOpticsGroupName #2
_rlnAmplitudeContrast #3
_rlnSphericalAberration #4
_rlnVoltage #5
_rlnImagePixelSize #6
_rlnImageSize #7
1 og1 0.1 2.7 300 1.5 8
2 og2 0.07 0.01 200 1.5 8
`;

function particles31(rows: string[], extraCols = ''): string {
  return `# version 30001\ndata_particles\nloop_\n_rlnImageName #1\n_rlnAngleRot\n_rlnAngleTilt\n_rlnAnglePsi\n_rlnOriginXAngst\n_rlnOriginYAngst\n` +
    `_rlnDefocusU\n_rlnDefocusV\n_rlnDefocusAngle\n_rlnOpticsGroup\n_rlnClassNumber\n${extraCols}` + rows.join('\n') + '\n';
}

const row = (i: number, stackName: string, group = 1, extra = ''): string =>
  `${String(i).padStart(6, '0')}@${stackName} ${10 * i + 0.5} ${i * 3.25} ${-i * 7.125} ${i % 3 - 1.5} ${0.75 * (i % 5)} ` +
  `${12000 + 123.456 * i} ${11800 + 98.7 * i} ${i * 11.1} ${group} ${1 + (i % 2)}${extra}`;

test('every STAR file in shared/data: the compact route equals the ordinary one (or fails the same way)', (t) => {
  if (!existsSync(DATA)) return t.skip('shared/data absent');
  const stars: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.star')) stars.push(join(d, e.name));
    }
  };
  walk(DATA);
  assert.ok(stars.length >= 10);
  let compact = 0, ordinary = 0;
  for (const s of stars) {
    // as the metadata-only commands read them (the stacks of most files are not shipped); box and
    // pixel size given only when the file lacks them
    const opts: LoadParticlesOptions = { checkStacks: false, amplitudeContrast: 0.1, allowOutside: true };
    for (let k = 0; k < 2; k++) {
      const a = load(s, false, opts);
      if ('error' in a && /image size unknown/.test(a.error.message)) opts.boxPx = 64;
      else if ('error' in a && /pixel size unknown/.test(a.error.message)) opts.apixAngstrom = 1;
    }
    if (same(s, opts)) compact++;
    else ordinary++;
    same(s); // with stack checks: mostly errors, which must be identical
  }
  assert.ok(compact >= 8, `${compact} files took the compact route, ${ordinary} fell back`);
});

test('generated RELION 3.1 / 5 files: several stacks and optics groups, optics after the particles, CRLF', () => withDir((dir) => {
  stack(join(dir, 'a.mrcs'), 7);
  stack(join(dir, 'sub/b.mrcs'), 5);
  const rows = [1, 2, 3, 4, 5, 6, 7].map((i) => row(i, 'a.mrcs', 1 + (i % 2))).concat([1, 2, 3, 4, 5].map((i) => row(i, 'sub/b.mrcs:mrcs', 2)));
  writeFileSync(join(dir, 'p31.star'), OPTICS + particles31(rows));
  assert.ok(same(join(dir, 'p31.star')));
  writeFileSync(join(dir, 'p5.star'), particles31(rows) + OPTICS);
  assert.ok(same(join(dir, 'p5.star')));
  writeFileSync(join(dir, 'crlf.star'), (OPTICS + particles31(rows)).replace(/\n/g, '\r\n'));
  assert.ok(same(join(dir, 'crlf.star')));
  // per-particle CTF columns override the optics group; B-factor and phase shift columns
  const ctfCols = '_rlnVoltage\n_rlnSphericalAberration\n_rlnCtfBfactor\n_rlnPhaseShift\n';
  writeFileSync(join(dir, 'ctfcols.star'), OPTICS + particles31(rows.map((r, i) => `${r} ${200 + i} 2.${i} ${i * 5} ${i}`), ctfCols));
  assert.ok(same(join(dir, 'ctfcols.star')));
  // images read through the columns equal images read through the records
  const set = loadParticles(join(dir, 'p31.star'), { compactTable: true });
  const plain = loadParticles(join(dir, 'p31.star'), { compactTable: false });
  assert.ok(set.columns && columnsBytes(set.columns) > 0);
  const ids = [0, 1, 2, 8, 9, 3];
  assert.deepEqual(new ParticleImageReader(set).read(ids), new ParticleImageReader(plain).read(ids));
  for (const i of ids) {
    assert.deepEqual(particleStack(set, i), { stackPath: plain.particles[i]!.stackPath, stackIndex: plain.particles[i]!.stackIndex });
    assert.deepEqual(particleCtf(set, i), plain.particles[i]!.ctf);
  }
}));

test('generated RELION 3.0 file: Magnification / DetectorPixelSize, origins in pixels, amplitude contrast from the options', () => withDir((dir) => {
  stack(join(dir, 's.mrcs'), 4, 8, 2.5);
  const text = 'data_\nloop_\n_rlnImageName\n_rlnDefocusU\n_rlnDefocusV\n_rlnDefocusAngle\n_rlnVoltage\n_rlnSphericalAberration\n' +
    '_rlnMagnification\n_rlnDetectorPixelSize\n_rlnOriginX\n_rlnOriginY\n_rlnAngleTilt\n' +
    [1, 2, 3, 4].map((i) => `${i}@s.mrcs ${15000 + i} ${14000 + i} ${i} 300 2.7 10000 ${1.4 + 0.000001 * i} ${i - 2} ${0.5 * i} ${i * 10}`).join('\n') + '\n';
  writeFileSync(join(dir, 'r30.star'), text);
  assert.ok(same(join(dir, 'r30.star'), { amplitudeContrast: 0.07 }));
  // without Q anywhere both routes fail with the same message
  assert.equal(same(join(dir, 'r30.star')), false);
  // no pixel size in the file: the stack header's (2.5 A) is used; origins stay in pixels
  writeFileSync(join(dir, 'noapix.star'), text.replace('_rlnMagnification\n_rlnDetectorPixelSize\n', '').replace(/ 10000 1\.40*\d+/g, ''));
  assert.ok(same(join(dir, 'noapix.star'), { amplitudeContrast: 0.07 }));
}));

test('files off the fast path or with errors: the same result or the same InputError', () => withDir((dir) => {
  stack(join(dir, 'a.mrcs'), 3);
  const rows = [1, 2, 3].map((i) => row(i, 'a.mrcs'));
  const cases: Record<string, string> = {
    quoted: OPTICS + particles31(rows).replace('000002@a.mrcs', "'000002@a.mrcs'"),
    comment: OPTICS + particles31(rows).replace(/(000002@a\.mrcs.*)/, '$1 # note'),
    ragged: OPTICS + particles31(rows).replace(/ 1 2$/m, ' 1'),
    nan: OPTICS + particles31(rows).replace(/^(000003@a\.mrcs \S+)/m, '$1x'),
    pastEnd: OPTICS + particles31([...rows, row(9, 'a.mrcs')]),
    unknownGroup: OPTICS + particles31(rows.map((r) => r.replace(/ 1 (\d)$/, ' 7 $1'))),
    missingStack: OPTICS + particles31([...rows, row(1, 'nothere.mrcs')]),
    outside: OPTICS + particles31([...rows, row(1, '../x.mrcs')]),
    zeroIndex: OPTICS + particles31([...rows, row(0, 'a.mrcs')]),
    boxMismatch: OPTICS.replace('1.5 8\n2', '1.5 10\n2') + particles31(rows),
    twoGroupsNoColumn: OPTICS + particles31(rows).replace('_rlnOpticsGroup\n', '').replace(/ 1 (\d)$/gm, ' $1'),
    textField: OPTICS + particles31(rows) + 'data_notes\n_rlnNote\n;\nfree text\n;\n',
    empty: OPTICS + particles31([]),
  };
  let sameErrors = 0;
  for (const [name, text] of Object.entries(cases)) {
    const p = join(dir, `${name}.star`);
    writeFileSync(p, text);
    const a = load(p, false);
    same(p);
    if ('error' in a) sameErrors++;
    if (name === 'textField' || name === 'quoted' || name === 'comment') {
      assert.ok('set' in a, name); // valid files the fast path leaves to the ordinary reader
      assert.equal(readRelionColumns(p), null, name);
    }
  }
  assert.ok(sameErrors >= 9, `${sameErrors} error cases`);
  // an apix option that disagrees with the file, and one that agrees
  writeFileSync(join(dir, 'ok.star'), OPTICS + particles31(rows));
  assert.equal(same(join(dir, 'ok.star'), { apixAngstrom: 2 }), false);
  assert.ok(same(join(dir, 'ok.star'), { apixAngstrom: 1.5 }));
}));

test('the records view: a read-only ParticleRecord[]', () => withDir((dir) => {
  stack(join(dir, 'a.mrcs'), 4);
  writeFileSync(join(dir, 'p.star'), OPTICS + particles31([1, 2, 3, 4].map((i) => row(i, 'a.mrcs'))));
  const set = loadParticles(join(dir, 'p.star'), { compactTable: true });
  const plain = loadParticles(join(dir, 'p.star'), { compactTable: false });
  const v = set.particles;
  assert.ok(Array.isArray(v));
  assert.equal(v.length, 4);
  assert.equal(v[4], undefined);
  assert.ok(2 in v && !(4 in v));
  assert.deepEqual(Object.keys(v), ['0', '1', '2', '3']);
  assert.deepEqual(v.map((p) => p.stackIndex), [0, 1, 2, 3]);
  assert.deepEqual(v.slice(1, 3), plain.particles.slice(1, 3));
  assert.deepEqual([...v], plain.particles);
  assert.equal(v.findIndex((p) => p.classNumber === 1), 1);
  assert.equal(JSON.stringify(v), JSON.stringify(plain.particles));
  assert.deepStrictEqual(v, plain.particles);
  assert.throws(() => { (v as unknown as unknown[])[0] = null; }, TypeError);
  assert.throws(() => { v.push(plain.particles[0]!); }, TypeError);
  // a large file takes the compact route by default, a small one the ordinary route
  assert.equal(loadParticles(join(dir, 'p.star')).columns, undefined);
}));
