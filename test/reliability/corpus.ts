/**
 * Malformed-input corpus for the reliability test: starting from a small generated particle set
 * (map, stack, RELION 3.1 and 3.0 STAR, cryoSPARC .cs, cryoDRGN pickles) and, when present, real
 * files from ../shared/data, it writes one folder per case holding a damaged copy of one input
 * (seeded random truncations, lying headers, NaN data, bad STAR rows and paths, wrong dtypes and
 * shapes, inconsistent pixel sizes) and says which CLI command to run on it, which file the error
 * must name and, where it is known, which record/field.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { encodeCsParticles, relionToCsPoses } from '../../src/io/cs.js';
import { ctfFromRows, writeCtfPkl } from '../../src/io/cryodrgnPkl.js';
import { encodeStructuredNpy, encodeNpy } from '../../src/io/npy.js';
import { encodeArraysPickle } from '../../src/io/pickle.js';
import { eulerToMatrix } from '../../src/core/rotation.js';
import { loadParticles, type ParticleSet } from '../../src/io/particles.js';
import { simulateBlobSet } from './fixtures.js';

export interface CorpusCase {
  id: string;
  category: string;
  /** CLI arguments (after `cryospin`). */
  argv: string[];
  /** Text the error line must contain: the damaged file's path. */
  file: string;
  /** Pattern the error line must match when the record/field is known. */
  where?: RegExp;
  /** Folder that must hold no file after the failed command. */
  outDir: string;
  /** Files that must be unchanged afterwards. */
  inputs: string[];
}

const D = 16;
const N = 12;
const APIX = 4;

interface Base {
  dir: string;
  map: string;
  stack: string;
  set: ParticleSet;
}

/** Text of STAR blocks, written without any validation (so rows may be ragged). */
export function starText(blocks: { name: string; columns: string[]; rows: string[][] }[]): string {
  return blocks.map((b) => `data_${b.name}\n\nloop_\n${b.columns.map((c, i) => `${c} #${i + 1}`).join('\n')}\n` +
    b.rows.map((r) => r.join(' ')).join('\n') + '\n').join('\n');
}

type Table = { name: string; columns: string[]; rows: string[][] };

function star31(set: ParticleSet, stackName: string): Table[] {
  const f = (v: number): string => v.toFixed(6);
  return [
    { name: 'optics', columns: ['_rlnOpticsGroup', '_rlnOpticsGroupName', '_rlnAmplitudeContrast', '_rlnSphericalAberration', '_rlnVoltage', '_rlnImagePixelSize', '_rlnImageSize', '_rlnImageDimensionality'],
      rows: [['1', 'og1', '0.1', '2.7', '300', f(APIX), String(D), '2']] },
    { name: 'particles', columns: ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginXAngst', '_rlnOriginYAngst', '_rlnDefocusU', '_rlnDefocusV', '_rlnDefocusAngle', '_rlnPhaseShift', '_rlnOpticsGroup'],
      rows: set.particles.map((p, i) => [`${String(i + 1).padStart(6, '0')}@${stackName}`, ...p.eulerDeg!.map(f),
        f(p.originPx![0] * APIX), f(p.originPx![1] * APIX), f(p.ctf!.defocusUAngstrom), f(p.ctf!.defocusVAngstrom), f(p.ctf!.defocusAngleDeg), '0', '1']) },
  ];
}

function star30(set: ParticleSet, stackName: string): Table[] {
  const f = (v: number): string => v.toFixed(6);
  return [{ name: '', columns: ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginX', '_rlnOriginY', '_rlnDefocusU', '_rlnDefocusV', '_rlnDefocusAngle', '_rlnVoltage', '_rlnSphericalAberration', '_rlnAmplitudeContrast', '_rlnMagnification', '_rlnDetectorPixelSize'],
    rows: set.particles.map((p, i) => [`${i + 1}@${stackName}`, ...p.eulerDeg!.map(f), f(p.originPx![0]), f(p.originPx![1]),
      f(p.ctf!.defocusUAngstrom), f(p.ctf!.defocusVAngstrom), f(p.ctf!.defocusAngleDeg), '300', '2.7', '0.1', '10000.000000', f(APIX)]) }];
}

function csBytes(set: ParticleSet, stackName: string, edit: (p: Parameters<typeof encodeCsParticles>[0]) => void = () => {}): Uint8Array {
  const n = set.particles.length;
  const rots = new Float64Array(9 * n);
  set.particles.forEach((p, i) => rots.set(eulerToMatrix(p.eulerDeg![0], p.eulerDeg![1], p.eulerDeg![2]), 9 * i));
  const c = (k: 'defocusUAngstrom' | 'defocusVAngstrom'): Float64Array => Float64Array.from(set.particles, (p) => p.ctf![k]);
  const p = {
    rows: n, blobPath: new Array<string>(n).fill(stackName), blobIdx: Int32Array.from({ length: n }, (_, i) => i),
    blobShapePx: new Int32Array(2 * n).fill(D), apixAngstrom: new Float64Array(n).fill(APIX),
    ctf: { defocusUAngstrom: c('defocusUAngstrom'), defocusVAngstrom: c('defocusVAngstrom'),
      defocusAngleRad: Float64Array.from(set.particles, (q) => (q.ctf!.defocusAngleDeg * Math.PI) / 180),
      phaseShiftRad: new Float64Array(n), voltageKv: new Float64Array(n).fill(300), csMm: new Float64Array(n).fill(2.7),
      amplitudeContrast: new Float64Array(n).fill(0.1) },
    pose: { axisAngleRad: relionToCsPoses(rots), shiftPx: Float64Array.from(set.particles.flatMap((q) => [q.originPx![0], q.originPx![1]])) },
  };
  edit(p);
  return encodeCsParticles(p);
}

function ctfRows(set: ParticleSet): Float64Array {
  const rows = new Float64Array(9 * set.particles.length);
  set.particles.forEach((p, i) => rows.set([D, APIX, p.ctf!.defocusUAngstrom, p.ctf!.defocusVAngstrom, p.ctf!.defocusAngleDeg, 300, 2.7, 0.1, 0], 9 * i));
  return rows;
}

/** The undamaged inputs every case starts from. */
export function makeBase(root: string): Base {
  const dir = join(root, 'base');
  simulateBlobSet(dir, { D, n: N, apix: APIX, snr: 2, seed: 4 });
  const set = loadParticles(join(dir, 'particles.star'));
  return { dir, map: join(dir, 'gt.mrc'), stack: join(dir, 'particles.mrcs'), set };
}

function mrcEdit(src: Uint8Array, f: (v: DataView, b: Uint8Array) => Uint8Array | void): Uint8Array {
  const b = Uint8Array.from(src);
  return f(new DataView(b.buffer), b) ?? b;
}

/** Build every case under `root` (which must be empty). `shared` is ../shared/data when present. */
export function buildCorpus(root: string, shared: string | null): { cases: CorpusCase[]; controls: CorpusCase[] } {
  const base = makeBase(root);
  const rng = new Rng(20261122);
  const cases: CorpusCase[] = [];
  const controls: CorpusCase[] = [];
  let serial = 0;
  const mapBytes = readFileSync(base.map);
  const stackBytes = readFileSync(base.stack);

  /** A fresh case folder with an out/ subfolder. */
  const folder = (category: string): { dir: string; out: string; id: string } => {
    const id = `${String(serial++).padStart(3, '0')}-${category}`;
    const dir = join(root, 'cases', id);
    mkdirSync(join(dir, 'out'), { recursive: true });
    return { dir, out: join(dir, 'out'), id };
  };
  const write = (path: string, data: Uint8Array | string): string => { writeFileSync(path, data); return path; };

  const cmd = {
    info: (f: string): string[] => ['info', f],
    fsc: (f: string): string[] => ['fsc', base.map, f],
    backproject: (f: string, out: string): string[] => ['backproject', f, '-o', join(out, 'map.mrc')],
    downsample: (f: string, out: string, extra: string[] = []): string[] => ['downsample', f, '-D', '8', '-o', join(out, f.endsWith('.star') ? 'ds.star' : 'ds.mrcs'), ...extra],
    reconstruct: (f: string, out: string, extra: string[] = []): string[] => ['reconstruct', f, '-o', out, '--epochs', '1', '--search-iterations', '1',
      '--search-rotations', '20', '--batch-size', '8', ...extra],
  };
  type Cmd = 'info' | 'fsc' | 'backproject' | 'downsample' | 'reconstruct';
  const add = (category: string, cmds: Cmd[], make: (dir: string, c: Cmd) => { input: string; damaged: string; where?: RegExp; extra?: string[] }, isControl = false): void => {
    for (const c of cmds) {
      const { dir, out, id } = folder(category);
      const { input, damaged, where, extra } = make(dir, c);
      const argv = c === 'info' ? cmd.info(input) : c === 'fsc' ? cmd.fsc(input) : c === 'backproject' ? [...cmd.backproject(input, out), ...(extra ?? [])]
        : c === 'downsample' ? cmd.downsample(input, out, extra) : cmd.reconstruct(input, out, extra);
      const inputs = [input, damaged, base.map, base.stack].filter((x, i, a) => a.indexOf(x) === i && existsSync(x));
      (isControl ? controls : cases).push({ id: `${id}-${c}`, category, argv, file: damaged, ...(where ? { where } : {}), outDir: out, inputs });
    }
  };

  // ------------------------------------------------------------------ MRC maps (info, fsc)
  const mapCase = (category: string, cmds: Cmd[], f: (v: DataView, b: Uint8Array) => Uint8Array | void, where?: RegExp): void =>
    add(category, cmds, (dir) => { const p = write(join(dir, 'map.mrc'), mrcEdit(mapBytes, f)); return { input: p, damaged: p, where }; });
  add('control', ['info', 'fsc'], (dir) => { const p = write(join(dir, 'map.mrc'), mapBytes); return { input: p, damaged: p }; }, true);
  for (let k = 0; k < 8; k++) {
    const cut = rng.int(mapBytes.length - 1);
    mapCase('mrc truncated', ['info', 'fsc'], (_v, b) => b.subarray(0, cut));
  }
  for (const [w, v] of [[0, 17], [4, 40], [8, 1000], [0, 1 << 21], [8, 0x7fffffff]] as const) {
    mapCase('mrc lying nx/ny/nz', ['info', 'fsc'], (dv) => dv.setInt32(w, v, true), /field n[xyz]/);
  }
  for (const [w, v] of [[0, 0], [4, -3], [8, 0], [0, -1]] as const) mapCase('mrc zero/negative size', ['info', 'fsc'], (dv) => dv.setInt32(w, v, true), /field n[xyz]/);
  for (const mode of [3, 4, 5, 7, 8, 13, 101, -1, 99, 1000]) mapCase('mrc unknown mode', ['info', 'fsc'], (dv) => dv.setInt32(12, mode, true), /field mode/);
  for (const ns of [-1, -1024, 17000, 0x7fffffff, 100]) mapCase('mrc bad nsymbt', ['info', 'fsc'], (dv) => dv.setInt32(92, ns, true), /field (nsymbt|nx\/ny\/nz)/);
  for (const bad of [NaN, Infinity, -Infinity, NaN, Infinity, NaN]) {
    const voxel = rng.int(D * D * D);
    mapCase('mrc NaN/Inf data', ['fsc'], (dv) => dv.setFloat32(1024 + 4 * voxel, bad, true), /field data/);
  }
  for (let k = 0; k < 4; k++) {
    const noise = new Uint8Array(1024);
    for (let i = 0; i < 1024; i++) noise[i] = rng.int(256);
    mapCase('mrc garbage header', ['info'], (_v, b) => { b.set(noise, 0); });
  }
  add('mrc empty/short/text', ['info', 'fsc'], (dir) => { const p = write(join(dir, 'map.mrc'), new Uint8Array(0)); return { input: p, damaged: p }; });
  add('mrc empty/short/text', ['info'], (dir) => { const p = write(join(dir, 'map.mrc'), mapBytes.subarray(0, 100)); return { input: p, damaged: p }; });
  add('mrc empty/short/text', ['info', 'fsc'], (dir) => { const p = write(join(dir, 'map.mrc'), 'this is not an MRC file\n'.repeat(60)); return { input: p, damaged: p }; });
  mapCase('mrc not cubic / wrong box', ['fsc'], (dv) => { dv.setInt32(0, 32, true); dv.setInt32(4, 8, true); }, /field n[xyz]/);

  // --------------------------------------------------------- particle stacks behind a STAR
  const star31Text = starText(star31(base.set, 'particles.mrcs'));
  const stackCase = (category: string, f: (v: DataView, b: Uint8Array) => Uint8Array | void, where?: RegExp): void =>
    add(category, ['backproject', 'downsample'], (dir) => {
      const s = write(join(dir, 'particles.mrcs'), mrcEdit(stackBytes, f));
      return { input: write(join(dir, 'particles.star'), star31Text), damaged: s, where };
    });
  add('control', ['backproject', 'downsample', 'reconstruct'], (dir) => {
    write(join(dir, 'particles.mrcs'), stackBytes);
    const p = write(join(dir, 'particles.star'), star31Text);
    return { input: p, damaged: p };
  }, true);
  for (let k = 0; k < 6; k++) {
    const cut = rng.int(stackBytes.length - 1);
    stackCase('stack truncated', (_v, b) => b.subarray(0, cut));
  }
  stackCase('stack lying nx/ny/nz', (dv) => dv.setInt32(8, N + 1, true), /field nx\/ny\/nz/);
  stackCase('stack lying nx/ny/nz', (dv) => dv.setInt32(0, D + 1, true), /field nx\/ny\/nz/);
  for (const mode of [3, 4, 101]) stackCase('stack unknown mode', (dv) => dv.setInt32(12, mode, true), /field mode/);
  for (const ns of [-8, 1 << 30]) stackCase('stack bad nsymbt', (dv) => dv.setInt32(92, ns, true), /field nsymbt/);
  for (const bad of [NaN, Infinity, -Infinity, NaN]) {
    const k = rng.int(N), px = rng.int(D * D);
    stackCase('stack NaN/Inf image', (dv) => dv.setFloat32(1024 + 4 * (k * D * D + px), bad, true), new RegExp(`record ${k}, field data`));
  }
  stackCase('stack axis order', (dv) => { dv.setInt32(64, 2, true); dv.setInt32(68, 1, true); }, /field mapc/);
  stackCase('stack not square', (dv) => { dv.setInt32(0, 2 * D, true); dv.setInt32(4, D / 2, true); });

  // ---------------------------------------------------------------------- RELION 3.1 STAR
  const t31 = (): Table[] => JSON.parse(JSON.stringify(star31(base.set, 'particles.mrcs'))) as Table[];
  const starCase = (category: string, cmds: Cmd[], text: (dir: string) => string, where?: RegExp, extra?: string[]): void =>
    add(category, cmds, (dir) => {
      copyFileSync(base.stack, join(dir, 'particles.mrcs'));
      const p = write(join(dir, 'particles.star'), text(dir));
      return { input: p, damaged: p, where, ...(extra ? { extra } : {}) };
    });
  const all3: Cmd[] = ['backproject', 'downsample', 'reconstruct'];
  const setCell = (t: Table[], block: number, row: number, col: string, v: string): Table[] => {
    const ci = t[block]!.columns.indexOf(col);
    t[block]!.rows[row]![ci] = v;
    return t;
  };
  const dropCol = (t: Table[], block: number, col: string): Table[] => {
    const ci = t[block]!.columns.indexOf(col);
    t[block]!.columns.splice(ci, 1);
    for (const r of t[block]!.rows) r.splice(ci, 1);
    return t;
  };
  starCase('star missing column', all3, () => starText(dropCol(t31(), 1, '_rlnImageName')), /field _rlnImageName/);
  starCase('star missing column', all3, () => starText(dropCol(t31(), 0, '_rlnVoltage')), /record 0, field _rlnVoltage/);
  starCase('star missing column', all3, () => starText(dropCol(t31(), 0, '_rlnOpticsGroup')), /field _rlnOpticsGroup/);
  for (let k = 0; k < 3; k++) {
    const row = rng.int(N);
    starCase('star ragged row', all3, () => { const t = t31(); t[1]!.rows[row]!.pop(); return starText(t); }, /ragged row/);
  }
  starCase('star ragged row', all3, () => { const t = t31(); t[1]!.rows[rng.int(N)]!.push('7.5'); return starText(t); }, /ragged row/);
  for (const g of ['7', '0']) {
    const row = rng.int(N);
    starCase('star unknown optics group', all3, () => starText(setCell(t31(), 1, row, '_rlnOpticsGroup', g)), new RegExp(`record ${row}, field _rlnOpticsGroup`));
  }
  for (const idx of [N + 1, 1000]) {
    const row = rng.int(N);
    starCase('star idx beyond stack', all3, () => starText(setCell(t31(), 1, row, '_rlnImageName', `${idx}@particles.mrcs`)), new RegExp(`record ${row}, field _rlnImageName`));
  }
  for (const idx of ['0', '-1', 'abc', '1.5']) {
    const row = rng.int(N);
    starCase('star bad idx', all3, () => starText(setCell(t31(), 1, row, '_rlnImageName', `${idx}@particles.mrcs`)), new RegExp(`record ${row}, field _rlnImageName`));
  }
  starCase('star path outside folder', all3, () => starText(setCell(t31(), 1, 3, '_rlnImageName', '4@../particles.mrcs')), /record 3, field _rlnImageName.*allow-outside/);
  starCase('star path outside folder', all3, () => starText(setCell(t31(), 1, 5, '_rlnImageName', `6@${resolve(base.stack)}`)), /record 5, field _rlnImageName.*allow-outside/);
  starCase('star path outside folder', all3, () => starText(setCell(t31(), 1, 2, '_rlnImageName', '3@sub/../../base/particles.mrcs')), /record 2, field _rlnImageName/);
  // the same outside paths are accepted with --allow-outside (control: the refusal is the rule, not a read failure)
  add('control', ['reconstruct'], (dir) => {
    const p = write(join(dir, 'particles.star'), starText(setCell(t31(), 1, 5, '_rlnImageName', `6@${resolve(base.stack)}`)));
    copyFileSync(base.stack, join(dir, 'particles.mrcs'));
    return { input: p, damaged: p, extra: ['--allow-outside'] };
  }, true);
  starCase('star stack is a folder', all3, (dir) => { mkdirSync(join(dir, 'sub.mrcs')); return starText(setCell(t31(), 1, 8, '_rlnImageName', '1@sub.mrcs')); }, /record 8, field _rlnImageName: image stack is not a regular file/);
  starCase('star missing stack', all3, () => starText(setCell(t31(), 1, 4, '_rlnImageName', '5@nonexistent.mrcs')), /record 4, field _rlnImageName/);
  for (const [col, v] of [['_rlnDefocusU', 'abc'], ['_rlnDefocusV', 'nan'], ['_rlnAngleRot', 'inf'], ['_rlnOriginXAngst', '1e400'], ['_rlnDefocusAngle', '"']] as const) {
    const row = rng.int(N);
    // an unterminated quote is a syntax error: the parser names the line instead of the record
    starCase('star non-numeric field', all3, () => starText(setCell(t31(), 1, row, col, v)), v === '"' ? /line \d+: unterminated/ : new RegExp(`record ${row}, field ${col}`));
  }
  starCase('star non-numeric field', all3, () => starText(setCell(t31(), 0, 0, '_rlnImagePixelSize', 'x')), /field _rlnImagePixelSize/);
  starCase('pixel size inconsistent', all3, () => {
    const t = t31();
    t[0]!.rows.push(['2', 'og2', '0.1', '2.7', '300', '3.000000', String(D), '2']);
    return starText(setCell(t, 1, 7, '_rlnOpticsGroup', '2'));
  }, /record 7/);
  starCase('pixel size inconsistent', ['backproject', 'downsample'], () => star31Text, /pixel size/, ['--apix', '2.5']);
  starCase('pixel size inconsistent', all3, () => starText(setCell(t31(), 0, 0, '_rlnImagePixelSize', '-4')), /pixel size/);
  starCase('box inconsistent', all3, () => starText(setCell(t31(), 0, 0, '_rlnImageSize', '20')), /field _rlnImageName/);
  for (let k = 0; k < 2; k++) {
    starCase('star truncated mid-row', all3, () => {
      const full = star31Text;
      const lines = full.trimEnd().split('\n');
      const last = lines.length - 1 - rng.int(3);
      const line = lines[last]!;
      const spaces = [...line.matchAll(/ /g)].map((m) => m.index!);
      const cut = spaces[1 + rng.int(spaces.length - 2)]!;
      return lines.slice(0, last).join('\n') + '\n' + line.slice(0, cut + 1);
    }, /ragged row/);
  }
  starCase('star empty/garbage', all3, () => '');
  starCase('star empty/garbage', all3, () => 'data_\nloop_\n_rlnImageName #1\n_rlnDefocusU #2\n'); // no rows
  starCase('star empty/garbage', all3, () => '\u0000\u0001binary\u00ff garbage not a star file\n');

  // ---------------------------------------------------------------------- RELION 3.0 STAR
  const t30 = (): Table[] => JSON.parse(JSON.stringify(star30(base.set, 'particles.mrcs'))) as Table[];
  const bd: Cmd[] = ['backproject', 'downsample'];
  starCase('control', bd, () => starText(t30()));
  controls.push(...cases.splice(cases.length - 2, 2));
  starCase('star missing column', bd, () => starText(dropCol(t30(), 0, '_rlnVoltage')), /field _rlnVoltage/);
  starCase('star ragged row', bd, () => { const t = t30(); t[0]!.rows[6]!.splice(2, 1); return starText(t); }, /ragged row/);
  starCase('star idx beyond stack', bd, () => starText(setCell(t30(), 0, 9, '_rlnImageName', `${N + 3}@particles.mrcs`)), /record 9, field _rlnImageName/);
  starCase('star path outside folder', bd, () => starText(setCell(t30(), 0, 1, '_rlnImageName', '2@../../base/particles.mrcs')), /record 1, field _rlnImageName/);
  starCase('star non-numeric field', bd, () => starText(setCell(t30(), 0, 8, '_rlnMagnification', 'x10000')), /record 8, field _rlnMagnification/);
  starCase('pixel size inconsistent', bd, () => starText(setCell(t30(), 0, 10, '_rlnDetectorPixelSize', '5.000000')), /record 10/);
  starCase('pixel size inconsistent', bd, () => starText(setCell(t30(), 0, 10, '_rlnMagnification', '12000.000000')), /record 10/);

  // ----------------------------------------------------------------------- cryoSPARC .cs
  const csCase = (category: string, bytes: (dir: string) => Uint8Array, where?: RegExp, cmds: Cmd[] = ['backproject', 'downsample']): void =>
    add(category, cmds, (dir) => {
      copyFileSync(base.stack, join(dir, 'particles.mrcs'));
      const p = write(join(dir, 'particles.cs'), bytes(dir));
      return { input: p, damaged: p, where };
    });
  const goodCs = csBytes(base.set, 'particles.mrcs');
  csCase('control', () => goodCs);
  controls.push(...cases.splice(cases.length - 2, 2));
  for (let k = 0; k < 5; k++) {
    const cut = rng.int(goodCs.length - 1);
    csCase('cs truncated', () => goodCs.subarray(0, cut), undefined, ['backproject', 'info']);
  }
  csCase('cs bad magic', () => { const b = Uint8Array.from(goodCs); b[1] = 0x4f; return b; }, undefined, ['backproject', 'info']);
  csCase('cs bad header', () => { const b = Uint8Array.from(goodCs); b[8] = 0xff; b[9] = 0x7f; return b; }, undefined, ['backproject', 'info']);
  csCase('cs bad header', () => {
    const b = Buffer.from(goodCs);
    const h = b.toString('latin1', 10, 10 + b.readUInt16LE(8));
    return Buffer.from(b.toString('latin1').replace(h, h.replace(/'shape': \((\d+),\)/, (_, n) => `'shape': (${Number(n) + 5},)`)), 'latin1');
  }, undefined, ['backproject', 'info']);
  csCase('cs idx beyond stack', () => csBytes(base.set, 'particles.mrcs', (p) => { p.blobIdx[7] = N + 4; }), /record 7, field blob\/path/);
  csCase('cs wrong dtype', (dir) => {
    void dir;
    const n = N;
    return encodeStructuredNpy([
      { name: 'uid', descr: '<u8', values: BigUint64Array.from({ length: n }, (_, i) => BigInt(i)) },
      { name: 'blob/path', descr: '|S14', values: new Array<string>(n).fill('particles.mrcs') },
      { name: 'blob/idx', descr: '<f4', values: Float32Array.from({ length: n }, (_, i) => i + 0.5) },
      { name: 'blob/shape', descr: '<u4', shape: [2], values: new Uint32Array(2 * n).fill(D) },
      { name: 'blob/psize_A', descr: '<f4', values: new Float32Array(n).fill(APIX) },
    ], n);
  }, /field blob\/idx/);
  csCase('cs wrong dtype', () => {
    const n = N;
    return encodeStructuredNpy([
      { name: 'blob/path', descr: '<f8', values: new Float64Array(n) },
      { name: 'blob/idx', descr: '<u4', values: Uint32Array.from({ length: n }, (_, i) => i) },
      { name: 'blob/shape', descr: '<u4', shape: [2], values: new Uint32Array(2 * n).fill(D) },
      { name: 'blob/psize_A', descr: '<f4', values: new Float32Array(n).fill(APIX) },
    ], n);
  }, /field blob\/path/);
  csCase('cs wrong shape', () => {
    const n = N;
    return encodeStructuredNpy([
      { name: 'blob/path', descr: '|S14', values: new Array<string>(n).fill('particles.mrcs') },
      { name: 'blob/idx', descr: '<u4', values: Uint32Array.from({ length: n }, (_, i) => i) },
      { name: 'blob/shape', descr: '<u4', shape: [3], values: new Uint32Array(3 * n).fill(D) },
      { name: 'blob/psize_A', descr: '<f4', values: new Float32Array(n).fill(APIX) },
    ], n);
  }, /field blob\/shape/);
  csCase('cs shape vs stack', () => csBytes(base.set, 'particles.mrcs', (p) => { p.blobShapePx.fill(20); }), /field blob\/path/);
  csCase('cs shape vs stack', () => csBytes(base.set, 'particles.mrcs', (p) => { p.blobShapePx[2 * 5] = 12; }), /record 5, field blob\/shape/);
  csCase('cs path outside folder', () => csBytes(base.set, 'particles.mrcs', (p) => { p.blobPath[2] = '../particles.mrcs'; }), /record 2, field blob\/path/);
  csCase('cs path outside folder', () => csBytes(base.set, 'particles.mrcs', (p) => { p.blobPath[0] = resolve(base.stack); }), /record 0, field blob\/path/);
  csCase('cs path outside folder', () => csBytes(base.set, 'particles.mrcs', (p) => { p.blobPath[4] = ''; }), /record 4, field blob\/path: empty image path/);
  csCase('cs missing field', () => {
    const n = N;
    return encodeStructuredNpy([
      { name: 'blob/path', descr: '|S14', values: new Array<string>(n).fill('particles.mrcs') },
      { name: 'blob/shape', descr: '<u4', shape: [2], values: new Uint32Array(2 * n).fill(D) },
      { name: 'blob/psize_A', descr: '<f4', values: new Float32Array(n).fill(APIX) },
    ], n);
  }, /field blob\/idx/);
  csCase('pixel size inconsistent', () => csBytes(base.set, 'particles.mrcs', (p) => { p.apixAngstrom[9] = 3.1; }), /record 9/);
  csCase('cs NaN/Inf value', () => csBytes(base.set, 'particles.mrcs', (p) => { p.ctf!.defocusUAngstrom[3] = NaN; }), /record 3, field ctf\/df1_A/);
  csCase('cs NaN/Inf value', () => csBytes(base.set, 'particles.mrcs', (p) => { p.ctf!.voltageKv[6] = Infinity; }), /record 6, field ctf\/accel_kv/);
  csCase('cs NaN/Inf value', () => csBytes(base.set, 'particles.mrcs', (p) => { p.pose!.axisAngleRad[3 * 4 + 1] = NaN; }), /record 4, field alignments3D\/pose/);
  csCase('cs NaN/Inf value', () => csBytes(base.set, 'particles.mrcs', (p) => { p.apixAngstrom.fill(NaN); }), /blob\/psize_A|pixel size/);
  csCase('cs not a table', () => encodeNpy(new Float32Array(12), [3, 4]), undefined, ['backproject', 'info']);

  // ----------------------------------------------------------------- cryoDRGN pickles / npy
  const rows = ctfRows(base.set);
  const pklCase = (category: string, bytes: () => Uint8Array, where?: RegExp, cmds: Cmd[] = ['downsample', 'reconstruct']): void =>
    add(category, cmds, (dir, c) => {
      const s = join(dir, 'particles.mrcs');
      copyFileSync(base.stack, s);
      const p = write(join(dir, 'ctf.pkl'), bytes());
      return c === 'info' ? { input: p, damaged: p } : { input: s, damaged: p, where, extra: ['--ctf', p] };
    });
  const goodPkl = encodeArraysPickle({ data: Float32Array.from(rows), shape: [N, 9] });
  pklCase('control', () => goodPkl);
  controls.push(...cases.splice(cases.length - 2, 2));
  for (let k = 0; k < 5; k++) {
    const cut = rng.int(goodPkl.length - 1);
    pklCase('pkl truncated', () => goodPkl.subarray(0, cut), undefined, k < 3 ? ['downsample', 'info'] : ['reconstruct']);
  }
  pklCase('pkl wrong shape', () => encodeArraysPickle({ data: Float32Array.from(rows.subarray(0, 9 * (N - 1))), shape: [N - 1, 9] }), /CTF rows/);
  pklCase('pkl wrong shape', () => encodeArraysPickle({ data: Float32Array.from(rows.subarray(0, 8 * N)), shape: [N, 8] }), /ctf table/);
  pklCase('pkl wrong shape', () => encodeArraysPickle({ data: Float32Array.from(rows), shape: [N * 9] }), /ctf table/);
  pklCase('pkl wrong dtype', () => encodeArraysPickle([{ data: Float32Array.from(rows), shape: [N, 9] }, { data: new Float32Array(2), shape: [2] }]), /ctf table/);
  pklCase('pkl wrong dtype', () => Buffer.from('80049506000000000000008c0161942e', 'hex'), /ctf table/); // pickle of the string 'a'
  pklCase('pkl box vs stack', () => { const r = Float32Array.from(rows); for (let i = 0; i < N; i++) r[9 * i] = 20; return encodeArraysPickle({ data: r, shape: [N, 9] }); }, /image size|stack/);
  pklCase('pixel size inconsistent', () => { const r = Float32Array.from(rows); r[9 * 5 + 1] = 2; return encodeArraysPickle({ data: r, shape: [N, 9] }); }, /record 5/);
  pklCase('pkl NaN/Inf value', () => { const r = Float32Array.from(rows); r[9 * 2 + 2] = NaN; return encodeArraysPickle({ data: r, shape: [N, 9] }); }, /record 2/);
  pklCase('pkl NaN/Inf value', () => { const r = Float32Array.from(rows); r[9 * 8 + 5] = Infinity; return encodeArraysPickle({ data: r, shape: [N, 9] }); }, /record 8/);
  pklCase('pkl garbage', () => new Uint8Array(0), undefined, ['downsample', 'info']);
  pklCase('pkl garbage', () => Buffer.from('\x80\x04\x95garbage bytes that are no pickle', 'latin1'), undefined, ['downsample', 'info']);
  add('pixel size inconsistent', ['downsample'], (dir) => {
    const s = join(dir, 'particles.mrcs');
    copyFileSync(base.stack, s);
    const p = join(dir, 'ctf.pkl');
    writeCtfPkl(p, ctfFromRows(rows, N));
    return { input: s, damaged: p, extra: ['--ctf', p, '--apix', '3'] };
  });
  void writeCtfPkl;
  const goodNpy = encodeNpy(Float32Array.from(rows), [N, 9]);
  for (let k = 0; k < 3; k++) {
    const cut = 10 + rng.int(100);
    add('npy truncated', ['info'], (dir) => { const p = write(join(dir, 'ctf.npy'), goodNpy.subarray(0, cut)); return { input: p, damaged: p }; });
  }
  add('npy bad header', ['info'], (dir) => {
    const b = Buffer.from(goodNpy);
    const p = write(join(dir, 'ctf.npy'), Buffer.from(b.toString('latin1').replace("'descr': '<f4'", "'descr': '<q9'"), 'latin1'));
    return { input: p, damaged: p };
  });

  // ------------------------------------------------------- real files from ../shared/data
  if (shared !== null) {
    const real = [
      'emdb_maps_small/EMD-3197.map', 'emdb_maps_small/EMD-3001.map', 'aspire_70S_synthetic/clean70SRibosome_vol_65p.mrc',
    ].map((p) => join(shared, p)).filter(existsSync);
    for (const r of real) {
      const bytes = readFileSync(r);
      const name = r.split('/').pop()!;
      for (let k = 0; k < 3; k++) {
        const cut = rng.int(bytes.length - 1);
        add('real mrc truncated', ['info'], (dir) => { const p = write(join(dir, name), bytes.subarray(0, cut)); return { input: p, damaged: p }; });
      }
      add('real mrc unknown mode', ['info'], (dir) => { const p = write(join(dir, name), mrcEdit(bytes, (dv) => dv.setInt32(12, 9, true))); return { input: p, damaged: p, where: /field mode/ }; });
      add('real mrc lying nx/ny/nz', ['info'], (dir) => { const p = write(join(dir, name), mrcEdit(bytes, (dv) => dv.setInt32(8, dv.getInt32(8, true) + 7, true))); return { input: p, damaged: p, where: /field nx\/ny\/nz/ }; });
    }
    const realStar = join(shared, 'cryodrgn_relion31_real');
    if (existsSync(realStar)) {
      // the 5-particle real RELION 3.1 set: mutate its STAR next to a copy of its stack
      const starFiles = ['relion31.star', 'relion31.v2.star'].map((f) => join(realStar, f)).filter(existsSync);
      for (const sf of starFiles) {
        const text = readFileSync(sf, 'utf8');
        const stackName = 'relion31.mrcs';
        if (!existsSync(join(realStar, stackName))) continue;
        const mut = (category: string, f: (s: string) => string, where?: RegExp): void => add(category, ['backproject'], (dir) => {
          copyFileSync(join(realStar, stackName), join(dir, stackName));
          const p = write(join(dir, 'real.star'), f(text));
          return { input: p, damaged: p, where };
        });
        mut('real star idx beyond stack', (s) => s.replace(/\d+@relion31\.mrcs/, '000999@relion31.mrcs'), /field _rlnImageName/);
        mut('real star path outside folder', (s) => s.replace(/@relion31\.mrcs/, '@../../relion31.mrcs'), /field _rlnImageName/);
        mut('real star missing column', (s) => s.replace(/_rlnVoltage/, '_rlnVoltageX'), /_rlnVoltage/);
      }
    }
  }
  return { cases, controls };
}
