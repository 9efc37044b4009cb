/**
 * `cryospin info FILE [--json]`: says what a file holds.
 *   MRC (.mrc/.mrcs/.map/...): dims, mode, pixel size, origin, header and computed statistics;
 *   STAR: blocks with row and column counts, optics groups;
 *   cryoSPARC .cs: rows and fields; NumPy .npy: dtype and shape (or fields);
 *   pickle .pkl: shapes and dtypes of the numpy arrays inside.
 * JSON keys other tools rely on: MRC {format, nx, ny, nz, mode, apix, ...}; STAR
 * {format, blocks: {name: {rows, columns}}}; .cs {format, rows, fields}; .pkl {format, shapes};
 * .npy {format, dtype, shape}.
 */
import type { Command } from 'commander';
import { closeSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { readCs } from '../../io/cs.js';
import { InputError } from '../../io/errors.js';
import { openMrcStack, readMrc, readMrcHeader } from '../../io/mrc.js';
import { readNpy } from '../../io/npy.js';
import { NdArray, PyTuple, describePickle, readPickle, type PickleValue } from '../../io/pickle.js';
import { readStar } from '../../io/star.js';
import { printResult } from '../output.js';
import { jsonOption } from '../options.js';

export type InfoFormat = 'mrc' | 'star' | 'cs' | 'npy' | 'pkl';

export interface InfoOptions {
  json?: boolean;
  /** Compute min/max/mean/std of MRC data by reading it (default true). */
  stats?: boolean;
}

export type InfoResult = { format: InfoFormat; file: string } & Record<string, unknown>;

const MRC_EXT = new Set(['.mrc', '.mrcs', '.map', '.st', '.ali', '.rec', '.ccp4']);

function sniff(path: string): InfoFormat {
  const ext = extname(path).toLowerCase();
  if (MRC_EXT.has(ext)) return 'mrc';
  if (ext === '.star') return 'star';
  if (ext === '.cs') return 'cs';
  if (ext === '.npy') return 'npy';
  if (ext === '.pkl' || ext === '.pickle') return 'pkl';
  const head = new Uint8Array(8);
  let n = 0;
  try {
    const fd = openSync(path, 'r');
    try { n = readSync(fd, head, 0, 8, 0); } finally { closeSync(fd); }
  } catch (e) {
    throw new InputError(path, `cannot read file: ${(e as Error).message}`);
  }
  if (n >= 6 && head[0] === 0x93 && String.fromCharCode(...head.subarray(1, 6)) === 'NUMPY') return 'npy';
  if (n >= 2 && head[0] === 0x80 && head[1]! <= 5) return 'pkl';
  const text = String.fromCharCode(...head.subarray(0, n));
  if (/^(data_|#|loop_|\s)/.test(text)) return 'star';
  return 'mrc';
}

interface Stats { min: number; max: number; mean: number; std: number; nonFinite: number }

/** Streamed statistics (Chan's merge of per-chunk mean and M2), NaN/Inf counted and skipped. */
function accumulate(s: { n: number; mean: number; m2: number; min: number; max: number; nonFinite: number }, a: Float32Array): void {
  let n = 0, sum = 0;
  for (let i = 0; i < a.length; i++) { const v = a[i]!; if (Number.isFinite(v)) { n++; sum += v; } }
  if (n === 0) { s.nonFinite += a.length; return; }
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!Number.isFinite(v)) continue;
    const d = v - mean; m2 += d * d;
    if (v < s.min) s.min = v;
    if (v > s.max) s.max = v;
  }
  const tot = s.n + n;
  const delta = mean - s.mean;
  s.mean += (delta * n) / tot;
  s.m2 += m2 + (delta * delta * s.n * n) / tot;
  s.n = tot;
  s.nonFinite += a.length - n;
}

function mrcStats(path: string, axesStandard: boolean): Stats {
  const s = { n: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity, nonFinite: 0 };
  if (!axesStandard) accumulate(s, readMrc(path, { rejectNonFinite: false }).data);
  else {
    const st = openMrcStack(path, { allowNonFinite: true });
    try {
      const per = Math.max(1, Math.floor((32 << 20) / Math.max(1, st.nx * st.ny)));
      for (let i = 0; i < st.n; i += per) accumulate(s, st.readRange(i, Math.min(per, st.n - i)));
    } finally { st.close(); }
  }
  return { min: s.n ? s.min : NaN, max: s.n ? s.max : NaN, mean: s.n ? s.mean : NaN, std: s.n ? Math.sqrt(s.m2 / s.n) : NaN, nonFinite: s.nonFinite };
}

function mrcInfo(path: string, stats: boolean): InfoResult {
  const info = readMrcHeader(path);
  const h = info.header;
  const [nx, ny, nz] = info.dimsXyz;
  const axesStandard = info.axes[0] === 0 && info.axes[1] === 1 && info.axes[2] === 2;
  const out: InfoResult = {
    format: 'mrc', file: path, nx, ny, nz, mode: h.mode, apix: info.apix,
    isStack: h.ispg === 0 && nz > 1,
    origin: h.origin,
    start: [h.nxstart, h.nystart, h.nzstart],
    cellA: h.cella,
    axisOrder: [h.mapc, h.mapr, h.maps],
    spaceGroup: h.ispg,
    extendedHeaderBytes: h.nsymbt,
    littleEndian: info.littleEndian,
    headerStats: { min: h.dmin, max: h.dmax, mean: h.dmean, rms: h.rms },
    labels: h.labels,
    warnings: info.warnings,
  };
  if (stats) out['stats'] = mrcStats(path, axesStandard);
  return out;
}

function starInfo(path: string): InfoResult {
  const star = readStar(path);
  const blocks: Record<string, { rows: number; columns: number; loop: boolean; columnNames: string[] }> = {};
  for (const b of star.blocks) {
    let key = b.name;
    for (let k = 2; key in blocks; k++) key = `${b.name}#${k}`;
    const loop = b.loops[0];
    const names = loop ? loop.columns : Object.keys(b.pairs);
    blocks[key] = { rows: loop ? loop.rows.length : 0, columns: names.length, loop: loop !== undefined, columnNames: names };
  }
  const out: InfoResult = { format: 'star', file: path, blocks };
  const optics = star.blocks.find((b) => b.name === 'optics')?.loops[0];
  if (optics) {
    out['opticsGroups'] = optics.rows.map((r) => Object.fromEntries(optics.columns.map((c, j) => [c.replace(/^_rln/, ''), r[j]])));
  }
  return out;
}

function csInfo(path: string): InfoResult {
  const t = readCs(path);
  const dtypes = Object.fromEntries(t.fields.map((f) => {
    const fi = t.field(f);
    return [f, fi.shape.length ? `${fi.dtype.descr}(${fi.shape.join(',')})` : fi.dtype.descr];
  }));
  return { format: 'cs', file: path, rows: t.rows, fields: t.fields, dtypes };
}

function npyInfo(path: string): InfoResult {
  const a = readNpy(path);
  if (!a.structured) return { format: 'npy', file: path, dtype: a.dtype.descr, shape: a.shape };
  return { format: 'npy', file: path, dtype: 'structured', shape: a.shape, rows: a.rows, fields: a.fieldNames };
}

function pklInfo(path: string): InfoResult {
  const v = readPickle(path);
  const arrays: NdArray[] = [];
  const walk = (x: PickleValue): void => {
    if (x instanceof NdArray) arrays.push(x);
    else if (x instanceof PyTuple) x.items.forEach(walk);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x instanceof Map) for (const y of x.values()) walk(y);
  };
  walk(v);
  return { format: 'pkl', file: path, shapes: arrays.map((a) => a.shape), dtypes: arrays.map((a) => a.descr), content: describePickle(v) };
}

/** Describe a file; the returned object is what `--json` prints. */
export function runInfo(path: string, opts: InfoOptions = {}): InfoResult {
  switch (sniff(path)) {
    case 'mrc': return mrcInfo(path, opts.stats !== false);
    case 'star': return starInfo(path);
    case 'cs': return csInfo(path);
    case 'npy': return npyInfo(path);
    case 'pkl': return pklInfo(path);
  }
}

const fmt = (x: unknown): string => (typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toPrecision(6)) : JSON.stringify(x));

/** Human-readable summary of an InfoResult. */
export function formatInfo(r: InfoResult): string {
  const lines = [`${r.file}: ${r.format}`];
  if (r.format === 'mrc') {
    lines.push(`  size ${r['nx']} x ${r['ny']} x ${r['nz']}${r['isStack'] ? ' (stack)' : ''}, mode ${r['mode']}, pixel ${r['apix'] === null ? 'unset' : fmt(r['apix']) + ' A'}`);
    lines.push(`  origin ${fmt(r['origin'])} A, axis order ${fmt(r['axisOrder'])}, space group ${r['spaceGroup']}`);
    const s = r['stats'] as Stats | undefined;
    if (s) lines.push(`  min ${fmt(s.min)}  max ${fmt(s.max)}  mean ${fmt(s.mean)}  std ${fmt(s.std)}${s.nonFinite ? `  (${s.nonFinite} NaN/Inf)` : ''}`);
    for (const w of r['warnings'] as string[]) lines.push(`  warning: ${w}`);
  } else if (r.format === 'star') {
    for (const [name, b] of Object.entries(r['blocks'] as Record<string, { rows: number; columns: number; loop: boolean }>)) {
      lines.push(`  data_${name}: ${b.loop ? `${b.rows} rows x ${b.columns} columns` : `${b.columns} key/value pairs`}`);
    }
    const og = r['opticsGroups'] as Array<Record<string, string>> | undefined;
    if (og) lines.push(`  optics groups: ${og.length}`);
  } else if (r.format === 'cs' || (r.format === 'npy' && r['dtype'] === 'structured')) {
    lines.push(`  ${r['rows']} rows, ${(r['fields'] as string[]).length} fields`);
    const dt = r['dtypes'] as Record<string, string> | undefined;
    for (const f of r['fields'] as string[]) lines.push(`    ${f}${dt ? `  ${dt[f]}` : ''}`);
  } else if (r.format === 'npy') {
    lines.push(`  ${r['dtype']} shape (${(r['shape'] as number[]).join(', ')})`);
  } else {
    (r['shapes'] as number[][]).forEach((s, k) => lines.push(`  array ${k}: ${(r['dtypes'] as string[])[k]} shape (${s.join(', ')})`));
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('info')
    .description('say what a file holds: MRC map/stack, STAR, cryoSPARC .cs, NumPy .npy, cryoDRGN .pkl')
    .argument('<file>', 'file to describe')
    .addOption(jsonOption())
    .option('--no-stats', 'MRC: skip reading the data for min/max/mean/std')
    .action((file: string, o: { json?: boolean; stats?: boolean }) => {
      const r = runInfo(file, { json: o.json === true, stats: o.stats !== false });
      printResult(o.json === true, r, () => formatInfo(r));
    });
}
