/**
 * Streaming reader of a RELION particle STAR into typed-array columns (particleTable.ts), for
 * particle files too large to hold as text + parsed rows + one object per particle (10^6 rows:
 * the object route peaks at ~1.4 GiB). The file is read in chunks; the particle loop's rows are
 * turned into numbers as they arrive and never stored as strings; every other line (optics,
 * headers) is kept and parsed by the ordinary STAR parser, and the RELION semantics are those of
 * relionStar.ts (same optics-group fallbacks, image-name resolution, origin conversion).
 *
 * It is a fast path, not a second validator: whenever the file is anything but plain (quotes,
 * `;` text fields, comments inside the particle rows, a ragged row, a value that is not a
 * finite number where a number is read, a missing CTF value, ...) it returns null and the caller
 * reads the file the ordinary way, which gives the usual located error message (or the result).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { InputError } from './errors.js';
import { compactColumn, type CtfColumns, type NumColumn, type ParticleColumns } from './particleTable.js';
import { findParticleBlock, loopOf, readOptics, resolveImageName, type RelionOpticsGroup, type RelionReadOptions } from './relionStar.js';
import { parseStar, type StarLoop } from './star.js';

/** Columns as read, before the particle set's pixel size and box are settled (loadParticles). */
export interface RelionColumnsDraft extends Omit<ParticleColumns, 'originPx'> {
  file: string;
  /** Origins: pixels, or (originInAngstrom) Angstrom still to be divided by the settled pixel size. */
  origin: [NumColumn, NumColumn] | null;
  originInAngstrom: boolean;
  /** Pixel size stated by the file (every stated value agrees to 1e-4), or null. */
  apixAngstrom: number | null;
  /** Box stated by the file (every stated value equal), or null. */
  boxPx: number | null;
}

const FIELDS = {
  group: '_rlnOpticsGroup', apix: '_rlnImagePixelSize', det: '_rlnDetectorPixelSize', mag: '_rlnMagnification',
  box: '_rlnImageSize', dfU: '_rlnDefocusU', dfV: '_rlnDefocusV', dfAng: '_rlnDefocusAngle', kv: '_rlnVoltage',
  cs: '_rlnSphericalAberration', q: '_rlnAmplitudeContrast', phase: '_rlnPhaseShift', bfac: '_rlnCtfBfactor',
  rot: '_rlnAngleRot', tilt: '_rlnAngleTilt', psi: '_rlnAnglePsi', oxA: '_rlnOriginXAngst', oyA: '_rlnOriginYAngst',
  oxP: '_rlnOriginX', oyP: '_rlnOriginY', cls: '_rlnClassNumber', half: '_rlnRandomSubset',
} as const;
type Field = keyof typeof FIELDS;
const INTEGER: Field[] = ['group', 'box', 'cls', 'half'];
const RESERVED = /^(data_|loop_|save_|global_|stop_)/i;

class Bail extends Error {}
const bail = (): never => { throw new Bail(); };

/** Growable float64 column. */
class Grow {
  a: Float64Array;
  constructor(cap: number) { this.a = new Float64Array(cap); }
  set(i: number, v: number): void {
    if (i >= this.a.length) { const b = new Float64Array(Math.ceil(this.a.length * 1.5) + 1024); b.set(this.a); this.a = b; }
    this.a[i] = v;
  }
  /** The first n values (a view when the spare capacity is small: no second copy at the peak). */
  done(n: number): Float64Array { return this.a.length <= 1.1 * n + 1024 ? this.a.subarray(0, n) : this.a.slice(0, n); }
}

interface LoopState { columns: string[]; hasData: boolean; ordinal: number }

/**
 * Read `path` as columns; null when the file is not plain enough for the fast path (then use
 * readRelionParticles, which reports any error with its location).
 */
export function readRelionColumns(path: string, opts: RelionReadOptions = {}): RelionColumnsDraft | null {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return null; }
  try {
    return readColumns(fd, path, opts);
  } catch (e) {
    if (e instanceof Bail || e instanceof InputError) return null;
    throw e;
  } finally {
    closeSync(fd);
  }
}

function readColumns(fd: number, file: string, opts: RelionReadOptions): RelionColumnsDraft {
  const size = fstatSync(fd).size;
  const skeleton: string[] = [];
  // structure (a subset of star.ts's parser: no quotes, no text fields)
  let loop: LoopState | null = null;
  let loops = 0;
  let pendingKey = false;
  let imageLoop: LoopState | null = null;
  // particle rows
  let n = 0;
  let ncol = 0;
  let plan: Array<[number, Grow]> = []; // (column index, storage)
  const raw = new Map<Field, Grow>();
  let imageCol = -1;
  let stackId = new Uint32Array(0);
  let stackIndex = new Uint32Array(0);
  const stackIds = new Map<string, number>();
  const stackPaths: string[] = [];
  const pathCache = new Map<string, string>();

  const feedStructure = (line: string): void => {
    for (const t of line.trim().split(/[ \t\v\f]+/)) {
      if (t === '') continue;
      if (t.startsWith('#')) break;
      const structural = t.startsWith('_') || RESERVED.test(t);
      if (pendingKey) { if (structural) bail(); pendingKey = false; continue; }
      if (loop) {
        if (!loop.hasData && t.startsWith('_')) { loop.columns.push(t); continue; }
        if (!structural) {
          if (loop === imageLoop || loop.columns.includes('_rlnImageName')) bail(); // particle values off the fast path
          loop.hasData = true;
          continue;
        }
        loop = null;
      }
      const lower = t.toLowerCase();
      if (lower.startsWith('data_')) continue;
      if (lower === 'loop_') { loop = { columns: [], hasData: false, ordinal: loops++ }; continue; }
      if (t.startsWith('_')) { pendingKey = true; continue; }
      bail();
    }
  };

  const startParticles = (l: LoopState, firstLine: string): void => {
    if (imageLoop !== null) bail(); // a second particle table: leave it to the ordinary reader
    imageLoop = l;
    ncol = l.columns.length;
    const index = new Map(l.columns.map((c, i) => [c, i]));
    imageCol = index.get('_rlnImageName')!;
    const cap = Math.ceil((1.05 * size) / Math.max(16, firstLine.length + 1)) + 16;
    stackId = new Uint32Array(cap);
    stackIndex = new Uint32Array(cap);
    for (const f of Object.keys(FIELDS) as Field[]) {
      const ci = index.get(FIELDS[f]);
      if (ci === undefined) continue;
      const g = new Grow(cap);
      raw.set(f, g);
      plan.push([ci, g]);
    }
    plan = plan.sort((a, b) => a[0] - b[0]);
  };

  const addRow = (line: string): void => {
    const v = line.split(/[ \t\v\f]+/);
    if (v.length !== ncol) bail();
    for (const [ci, g] of plan) {
      const s = v[ci]!;
      const x = Number(s);
      if (!Number.isFinite(x)) bail();
      g.set(n, x);
    }
    if (n >= stackId.length) {
      const cap = Math.ceil(stackId.length * 1.5) + 1024;
      const a = new Uint32Array(cap); a.set(stackId); stackId = a;
      const b = new Uint32Array(cap); b.set(stackIndex); stackIndex = b;
    }
    const { stackPath, stackIndex: k } = resolveImageName(v[imageCol]!, file, n, opts, pathCache);
    if (k > 0xffffffff) bail();
    let id = stackIds.get(stackPath);
    if (id === undefined) { id = stackPaths.length; stackPaths.push(stackPath); stackIds.set(stackPath, id); }
    stackId[n] = id;
    stackIndex[n] = k;
    n++;
  };

  const onLine = (rawLine: string, first: boolean): void => {
    let line = rawLine;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (first && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.includes('\r') || line.includes("'") || line.includes('"') || line.startsWith(';')) bail();
    const trimmed = line.trim();
    if (trimmed === '') return;
    if (loop !== null && !pendingKey && loop.columns.length > 0 && trimmed[0] !== '_' && !RESERVED.test(trimmed) && !trimmed.includes('#')) {
      const l: LoopState = loop;
      if (l.columns.includes('_rlnImageName')) {
        if (!l.hasData) startParticles(l, trimmed);
        l.hasData = true;
        addRow(trimmed);
        return;
      }
      l.hasData = true;
      skeleton.push(line);
      return;
    }
    skeleton.push(line);
    feedStructure(line);
  };

  // chunked read, split into lines
  const buf = Buffer.allocUnsafe(Math.min(16 << 20, Math.max(1 << 16, size)));
  const dec = new StringDecoder('utf8');
  let carry = '';
  let pos = 0;
  let first = true;
  for (;;) {
    const got = readSync(fd, buf, 0, buf.length, pos);
    const text = carry + (got > 0 ? dec.write(buf.subarray(0, got)) : dec.end());
    pos += got;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      onLine(text.slice(start, nl), first);
      first = false;
      start = nl + 1;
    }
    carry = text.slice(start);
    if (got <= 0) break;
  }
  if (carry !== '') onLine(carry, first);
  const theLoop = imageLoop as LoopState | null; // assigned in startParticles (TS does not follow the closure)
  if (theLoop === null || n === 0) return bail();

  // the ordinary parser on everything but the particle rows: optics, block choice, columns
  const star = parseStar(skeleton.join('\n'), file);
  const optics = readOptics(star, file);
  const flat: StarLoop[] = star.blocks.flatMap((b) => b.loops);
  const chosen = loopOf(findParticleBlock(star, file));
  if (chosen === null || chosen !== flat[theLoop.ordinal] || chosen.rows.length !== 0) bail();
  if (chosen!.columns.length !== ncol || chosen!.columns.some((c, i) => c !== theLoop.columns[i])) bail();

  const col = (f: Field): Float64Array | null => raw.get(f)?.done(n) ?? null;
  const cols = Object.fromEntries((Object.keys(FIELDS) as Field[]).map((f) => [f, col(f)])) as Record<Field, Float64Array | null>;
  for (const f of INTEGER) { const a = cols[f]; if (a) for (let r = 0; r < n; r++) if (!Number.isInteger(a[r])) bail(); }
  const fit = (a: Uint32Array): Uint32Array => (a.length <= 1.1 * n + 1024 ? a.subarray(0, n) : a.slice(0, n));
  return resolveRows(file, n, cols, optics, opts, stackPaths, fit(stackId), fit(stackIndex));
}

/** The per-row semantics of parseRelionParticles + the file-level checks of loadParticles, on columns. */
function resolveRows(file: string, n: number, c: Record<Field, Float64Array | null>, optics: RelionOpticsGroup[] | null, opts: RelionReadOptions,
  stackPaths: string[], stackId: Uint32Array, stackIndex: Uint32Array): RelionColumnsDraft {
  const byId = new Map((optics ?? []).map((g) => [g.opticsGroup, g]));
  const groups: Array<RelionOpticsGroup | null> = new Array<RelionOpticsGroup | null>(n);
  if (optics !== null) {
    const g = c.group;
    if (g === null && optics.length !== 1) bail();
    for (let r = 0; r < n; r++) groups[r] = g === null ? optics[0]! : (byId.get(g[r]!) ?? bail());
  } else groups.fill(null);
  const relClose = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(Math.abs(a), Math.abs(b));
  // pixel size and box per row (checked, not stored)
  let fileApix: number | null = null;
  let fileBox: number | null = null;
  let anyNullApix = false;
  const apixAt = (r: number): number | null => {
    let a = c.apix ? c.apix[r]! : groups[r]?.apixAngstrom ?? null;
    if (a === null && c.det && c.mag && c.mag[r]! > 0) a = (c.det[r]! * 1e4) / c.mag[r]!;
    return a;
  };
  for (let r = 0; r < n; r++) {
    const a = apixAt(r);
    if (a === null) anyNullApix = true;
    else {
      if (!(a > 0) || !Number.isFinite(a)) bail();
      if (fileApix === null) fileApix = a;
      else if (!relClose(fileApix, a)) bail();
    }
    const b = c.box ? c.box[r]! : groups[r]?.boxPx ?? null;
    if (b !== null) {
      if (!(Number.isInteger(b) && b > 0)) bail();
      if (fileBox === null) fileBox = b;
      else if (b !== fileBox) bail();
    }
  }
  // CTF: particle column first, then the optics group
  let ctf: CtfColumns | null = null;
  if (c.dfU) {
    const fromGroup = (col: Float64Array | null, key: 'voltageKv' | 'csMm' | 'amplitudeContrast', extra: number | null = null): Float64Array => {
      if (col) return col;
      const a = new Float64Array(n);
      for (let r = 0; r < n; r++) a[r] = groups[r]?.[key] ?? extra ?? bail();
      return a;
    };
    const kv = fromGroup(c.kv, 'voltageKv');
    for (let r = 0; r < n; r++) if (!(kv[r]! > 0)) bail();
    ctf = {
      defocusUAngstrom: c.dfU, defocusVAngstrom: c.dfV ?? c.dfU, defocusAngleDeg: c.dfAng ?? 0,
      voltageKv: compactColumn(kv), csMm: compactColumn(fromGroup(c.cs, 'csMm')),
      amplitudeContrast: compactColumn(fromGroup(c.q, 'amplitudeContrast', opts.amplitudeContrast ?? null)),
      phaseShiftDeg: c.phase ? compactColumn(c.phase) : 0, bFactor: c.bfac ? compactColumn(c.bfac) : 0,
    };
  }
  const eulerDeg: [NumColumn, NumColumn, NumColumn] | null = c.rot || c.tilt || c.psi ? [c.rot ?? 0, c.tilt ?? 0, c.psi ?? 0] : null;
  let origin: [NumColumn, NumColumn] | null = null;
  let originInAngstrom = false;
  if (c.oxA || c.oyA) {
    if (anyNullApix) {
      if (fileApix !== null) bail(); // some rows state a pixel size, some do not
      originInAngstrom = true;
      origin = [c.oxA ?? 0, c.oyA ?? 0];
    } else {
      // in place: Angstrom -> px with the row's own pixel size (as parseRelionParticles)
      const ox = c.oxA ?? new Float64Array(n), oy = c.oyA ?? new Float64Array(n);
      for (let r = 0; r < n; r++) { const a = apixAt(r)!; ox[r] = ox[r]! / a; oy[r] = oy[r]! / a; }
      origin = [ox, oy];
    }
  } else if (c.oxP || c.oyP) origin = [c.oxP ?? 0, c.oyP ?? 0];
  return {
    file, n, stackPaths, stackId, stackIndex, ctf, eulerDeg, origin, originInAngstrom,
    classNumber: c.cls, apixAngstrom: fileApix, boxPx: fileBox,
  };
}
