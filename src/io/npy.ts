/**
 * NumPy `.npy` files (format versions 1, 2 and 3): read plain arrays and structured
 * (record) arrays such as cryoSPARC `.cs` tables; write plain numeric arrays and simple
 * structured arrays.
 *
 * Reading returns column-wise data: a plain array gives one flat typed array in C order
 * (Fortran-ordered files are reordered); a structured array gives one column per field,
 * decoded lazily on first access (`field.values`), with sub-array fields such as
 * `('alignments3D/pose', '<f4', (3,))` flattened row-major (rows x 3). Big-endian data is
 * byte-swapped. 64-bit integers come back as BigInt64Array / BigUint64Array (cryoSPARC
 * `uid` values do not fit a double); `|b1` as Uint8Array (0/1); `f2` as Float32Array;
 * fixed-width byte strings `S<n>` and unicode `U<n>` as string[] with trailing NULs removed.
 * Object (`O`), complex, datetime and nested structured dtypes are rejected with an InputError.
 *
 * Hand-written because the npm readers we checked (npyjs, numpy-parser) handle plain
 * dtypes only: no structured dtypes, no sub-array fields and no writing.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { InputError } from './errors.js';

export type NpyKind = 'f' | 'i' | 'u' | 'b' | 'S' | 'U' | 'V';

/** One scalar NumPy type, e.g. `<f4`: kind, size in bytes and byte order. */
export interface NpyScalarType {
  descr: string;
  kind: NpyKind;
  itemsizeBytes: number;
  littleEndian: boolean;
}

export type NpyNumericArray =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;
export type NpyValues = NpyNumericArray | string[];

export interface NpyField {
  name: string;
  dtype: NpyScalarType;
  /** Sub-array shape of one record's value ([] for a scalar field). */
  shape: number[];
  offsetBytes: number;
  /** Column values, rows x prod(shape), row-major. Decoded on first access. */
  readonly values: NpyValues;
}

export interface NpyPlainArray {
  structured: false;
  dtype: NpyScalarType;
  shape: number[];
  /** prod(shape) values in C (row-major) order. */
  data: NpyValues;
}

export interface NpyStructuredArray {
  structured: true;
  shape: number[];
  rows: number;
  recordBytes: number;
  /** Field names in file order (padding fields omitted). */
  fieldNames: string[];
  fields: Record<string, NpyField>;
}

export type NpyArray = NpyPlainArray | NpyStructuredArray;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parse a scalar type string like `<f4`, `|S64`, `>i8`, `|b1`, `<U10`. */
export function parseScalarDescr(descr: string, file: string, field?: string): NpyScalarType {
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)$/.exec(descr);
  if (!m) throw new InputError(file, `unsupported NumPy dtype '${descr}'`, { field });
  const [, order, kindChar, sizeText] = m as unknown as [string, string, string, string];
  const n = sizeText === '' ? NaN : Number(sizeText);
  const le = order !== '>';
  switch (kindChar) {
    case 'f': if ([2, 4, 8].includes(n)) return { descr, kind: 'f', itemsizeBytes: n, littleEndian: le }; break;
    case 'i': case 'u':
      if ([1, 2, 4, 8].includes(n)) return { descr, kind: kindChar, itemsizeBytes: n, littleEndian: le }; break;
    case 'b': if (n === 1 || Number.isNaN(n)) return { descr, kind: 'b', itemsizeBytes: 1, littleEndian: true }; break;
    case '?': return { descr, kind: 'b', itemsizeBytes: 1, littleEndian: true };
    case 'S': case 'a': if (n >= 0) return { descr, kind: 'S', itemsizeBytes: n, littleEndian: true }; break;
    case 'U': if (n >= 0) return { descr, kind: 'U', itemsizeBytes: 4 * n, littleEndian: le }; break;
    case 'V': if (n >= 0) return { descr, kind: 'V', itemsizeBytes: n, littleEndian: true }; break;
    case 'O': throw new InputError(file, `object dtype '${descr}' holds pickled Python objects; not supported`, { field });
    default: break;
  }
  throw new InputError(file, `unsupported NumPy dtype '${descr}'`, { field });
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function asShape(v: PyLiteral | undefined, file: string, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw new InputError(file, `${what} must be a tuple of non-negative integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

interface RawField { name: string; dtype: NpyScalarType; shape: number[]; offsetBytes: number }

function parseStructuredDescr(list: PyLiteral[], file: string): { fields: RawField[]; recordBytes: number } {
  const fields: RawField[] = [];
  let offset = 0;
  for (const entry of list) {
    if (!Array.isArray(entry) || entry.length < 2 || entry.length > 3) {
      throw new InputError(file, `bad structured dtype entry ${JSON.stringify(entry)}`);
    }
    const rawName = entry[0];
    const name = Array.isArray(rawName) ? rawName[1] : rawName; // (title, name) pairs
    if (typeof name !== 'string') throw new InputError(file, `bad field name ${JSON.stringify(rawName)}`);
    const t = entry[1];
    if (typeof t !== 'string') {
      throw new InputError(file, 'nested structured dtypes are not supported', { field: name });
    }
    const dtype = parseScalarDescr(t, file, name);
    const shape = entry.length === 3 ? asShape(entry[2], file, `shape of field ${name}`) : [];
    if (name !== '' || dtype.kind !== 'V') fields.push({ name, dtype, shape, offsetBytes: offset });
    offset += dtype.itemsizeBytes * product(shape);
  }
  return { fields, recordBytes: offset };
}

interface Header { descr: PyLiteral; fortranOrder: boolean; shape: number[]; dataOffset: number }

function parseHeader(bytes: Uint8Array, file: string): Header {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new InputError(file, 'not a NumPy .npy file (bad magic; expected \\x93NUMPY)');
  }
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) { headerLen = dv.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new InputError(file, 'truncated .npy header');
    headerLen = dv.getUint32(8, true); start = 12;
  } else throw new InputError(file, `unsupported .npy format version ${major}.${bytes[7]}`);
  if (start + headerLen > bytes.length) {
    throw new InputError(file, `truncated .npy header: needs ${start + headerLen} bytes, file has ${bytes.length}`);
  }
  const raw = bytes.subarray(start, start + headerLen);
  const text = major === 3 ? new TextDecoder('utf-8').decode(raw) : Buffer.from(raw).toString('latin1');
  let dict: PyLiteral;
  try { dict = parsePyLiteral(text); } catch (e) {
    throw new InputError(file, `bad .npy header: ${(e as Error).message}`);
  }
  if (!(dict instanceof Map)) throw new InputError(file, 'bad .npy header: not a dict');
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!dict.has(key)) throw new InputError(file, `bad .npy header: missing key '${key}'`);
  }
  const fo = dict.get('fortran_order');
  if (typeof fo !== 'boolean') throw new InputError(file, 'bad .npy header: fortran_order must be True/False');
  return { descr: dict.get('descr')!, fortranOrder: fo, shape: asShape(dict.get('shape'), file, 'shape'), dataOffset: start + headerLen };
}

/** perm[c] = position in file order of the element at C-order index c (Fortran-ordered data). */
function fortranPermutation(shape: number[]): Int32Array {
  const n = product(shape);
  const perm = new Int32Array(n);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  const fStride = new Array<number>(nd);
  let s = 1;
  for (let d = 0; d < nd; d++) { fStride[d] = s; s *= shape[d]!; }
  for (let c = 0; c < n; c++) {
    let f = 0;
    for (let d = 0; d < nd; d++) f += idx[d]! * fStride[d]!;
    perm[c] = f;
    for (let d = nd - 1; d >= 0; d--) { if (++idx[d]! < shape[d]!) break; idx[d] = 0; }
  }
  return perm;
}

function allocNumeric(t: NpyScalarType, n: number): NpyNumericArray {
  const s = t.itemsizeBytes;
  if (t.kind === 'f') return s === 8 ? new Float64Array(n) : new Float32Array(n);
  if (t.kind === 'b') return new Uint8Array(n);
  if (t.kind === 'i') return s === 1 ? new Int8Array(n) : s === 2 ? new Int16Array(n) : s === 4 ? new Int32Array(n) : new BigInt64Array(n);
  return s === 1 ? new Uint8Array(n) : s === 2 ? new Uint16Array(n) : s === 4 ? new Uint32Array(n) : new BigUint64Array(n);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * 2 ** (e - 15) * (1 + f / 1024);
}

const utf8 = new TextDecoder('utf-8');

function readString(bytes: Uint8Array, off: number, t: NpyScalarType): string {
  if (t.kind === 'S') {
    let end = off + t.itemsizeBytes;
    while (end > off && bytes[end - 1] === 0) end--;
    return utf8.decode(bytes.subarray(off, end));
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  for (let k = 0; k < t.itemsizeBytes / 4; k++) {
    const cp = dv.getUint32(off + 4 * k, t.littleEndian);
    if (cp === 0) break;
    out += String.fromCodePoint(cp);
  }
  return out;
}

/**
 * Decode `rows` records of `count` scalars each, scalar k of record r at
 * base + rec(r) * stride + k * itemsize, where rec = perm ?? identity.
 */
function decodeColumn(bytes: Uint8Array, base: number, stride: number, rows: number, count: number,
  t: NpyScalarType, perm: Int32Array | undefined): NpyValues {
  const n = rows * count;
  const s = t.itemsizeBytes;
  if (t.kind === 'S' || t.kind === 'U' || t.kind === 'V') {
    const out = new Array<string>(n);
    let prevAt = -1;
    for (let r = 0; r < rows; r++) {
      const rec = base + (perm ? perm[r]! : r) * stride;
      for (let k = 0; k < count; k++) {
        const at = rec + k * s;
        // cryoSPARC paths repeat row after row: reuse the previous string when the bytes match.
        out[r * count + k] = t.kind === 'V' ? '' : prevAt >= 0 && sameBytes(bytes, at, prevAt, s) ? out[r * count + k - 1]! : readString(bytes, at, t);
        prevAt = at;
      }
    }
    return out;
  }
  // Gather the scalars into a fresh, aligned buffer in little-endian order, then view it.
  const gathered = new Uint8Array(n * s);
  const rowBytes = s * count;
  if (!perm && stride === rowBytes) gathered.set(bytes.subarray(base, base + n * s));
  else {
    for (let r = 0; r < rows; r++) {
      const rec = base + (perm ? perm[r]! : r) * stride;
      const dst = r * rowBytes;
      for (let b = 0; b < rowBytes; b++) gathered[dst + b] = bytes[rec + b]!;
    }
  }
  if (!t.littleEndian && s > 1) {
    for (let i = 0; i < gathered.length; i += s) {
      for (let a = i, b = i + s - 1; a < b; a++, b--) { const x = gathered[a]!; gathered[a] = gathered[b]!; gathered[b] = x; }
    }
  }
  if (t.kind === 'b') { for (let i = 0; i < n; i++) gathered[i] = gathered[i] ? 1 : 0; return gathered; }
  if (t.kind === 'f' && s === 2) {
    const h = new Uint16Array(gathered.buffer);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = halfToFloat(h[i]!);
    return out;
  }
  return new (allocNumeric(t, 0).constructor as new (b: ArrayBuffer) => NpyNumericArray)(gathered.buffer);
}

function sameBytes(bytes: Uint8Array, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/**
 * Decode raw array bytes (as stored by numpy's tobytes) of a plain dtype into C order.
 * Used by the pickle reader for arrays inside cryoDRGN .pkl files.
 */
export function decodeArrayBytes(bytes: Uint8Array, dtype: NpyScalarType, shape: number[], fortranOrder: boolean, file: string): NpyValues {
  const n = product(shape);
  const need = n * dtype.itemsizeBytes;
  if (bytes.length !== need) {
    throw new InputError(file, `array data has ${bytes.length} bytes; shape (${shape.join(', ')}) of ${dtype.descr} needs ${need}`);
  }
  const perm = fortranOrder && shape.length > 1 ? fortranPermutation(shape) : undefined;
  return decodeColumn(bytes, 0, dtype.itemsizeBytes, n, 1, dtype, perm);
}

/** Parse a whole .npy file held in memory. `file` names it in error messages. */
export function parseNpy(bytes: Uint8Array, file = '<bytes>'): NpyArray {
  const h = parseHeader(bytes, file);
  const n = product(h.shape);
  const perm = h.fortranOrder && h.shape.length > 1 ? fortranPermutation(h.shape) : undefined;
  const avail = bytes.length - h.dataOffset;
  if (typeof h.descr === 'string') {
    const dtype = parseScalarDescr(h.descr, file);
    const need = n * dtype.itemsizeBytes;
    if (avail < need) throw new InputError(file, `truncated data: shape (${h.shape.join(', ')}) of ${h.descr} needs ${need} bytes, file has ${avail}`);
    const data = decodeColumn(bytes, h.dataOffset, dtype.itemsizeBytes, n, 1, dtype, perm);
    return { structured: false, dtype, shape: h.shape, data };
  }
  if (!Array.isArray(h.descr)) throw new InputError(file, `bad .npy header: descr ${JSON.stringify(h.descr)}`);
  const { fields: raw, recordBytes } = parseStructuredDescr(h.descr, file);
  const need = n * recordBytes;
  if (avail < need) throw new InputError(file, `truncated data: ${n} records of ${recordBytes} bytes need ${need} bytes, file has ${avail}`);
  const fields: Record<string, NpyField> = {};
  for (const f of raw) {
    let cache: NpyValues | undefined;
    fields[f.name] = {
      ...f,
      get values(): NpyValues {
        cache ??= decodeColumn(bytes, h.dataOffset + f.offsetBytes, recordBytes, n, product(f.shape), f.dtype, perm);
        return cache;
      },
    };
  }
  return { structured: true, shape: h.shape, rows: n, recordBytes, fieldNames: raw.map((f) => f.name), fields };
}

/** Read a .npy file (path) or parse its bytes. */
export function readNpy(source: string | Uint8Array): NpyArray {
  return typeof source === 'string' ? parseNpy(readFileBytes(source), source) : parseNpy(source);
}

/** Read a whole input file; a missing or unreadable file is an InputError naming it. */
export function readFileBytes(path: string): Uint8Array {
  try { return readFileSync(path); } catch (e) {
    throw new InputError(path, `cannot read file: ${(e as Error).message}`);
  }
}

/** Read a plain numeric array as float64 (C order), checking the dimension count if given. */
export function readNpyFloat64(source: string | Uint8Array, ndim?: number): { shape: number[]; data: Float64Array } {
  const file = typeof source === 'string' ? source : '<bytes>';
  const a = readNpy(source);
  if (a.structured) throw new InputError(file, 'expected a plain numeric array, found a structured (record) array');
  if (ndim !== undefined && a.shape.length !== ndim) {
    throw new InputError(file, `expected a ${ndim}-D array, found shape (${a.shape.join(', ')})`);
  }
  return { shape: a.shape, data: toFloat64(a.data, file) };
}

/** Convert numeric values to Float64Array (InputError for strings). */
export function toFloat64(values: NpyValues, file: string, field?: string): Float64Array {
  if (Array.isArray(values)) throw new InputError(file, 'expected numbers, found strings', { field });
  if (values instanceof Float64Array) return values;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Number(values[i]);
  return out;
}

// ---------------------------------------------------------------- header literal

/** A Python literal from a .npy header: tuples and lists become arrays, dicts Maps. */
export type PyLiteral = string | number | boolean | null | PyLiteral[] | Map<string, PyLiteral>;

/** Parse the Python literal subset numpy writes in headers (dict, list, tuple, str, int, bool, None). */
export function parsePyLiteral(text: string): PyLiteral {
  let i = 0;
  const ws = (): void => { while (i < text.length && /\s/.test(text[i]!)) i++; };
  const fail = (what: string): never => { throw new Error(`${what} at character ${i} of header`); };
  const value = (): PyLiteral => {
    ws();
    const c = text[i];
    if (c === undefined) return fail('unexpected end');
    if (c === "'" || c === '"') {
      i++;
      let out = '';
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\') { i++; const e = text[i]; out += e === 'n' ? '\n' : e === 't' ? '\t' : e ?? ''; i++; }
        else out += text[i++];
      }
      if (text[i] !== c) fail('unterminated string');
      i++;
      return out;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyLiteral[] = [];
      for (;;) {
        ws();
        if (text[i] === close) { i++; return items; }
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected ',' or '${close}'`);
      }
    }
    if (c === '{') {
      i++;
      const map = new Map<string, PyLiteral>();
      for (;;) {
        ws();
        if (text[i] === '}') { i++; return map; }
        const k = value();
        if (typeof k !== 'string') fail('dict key must be a string');
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        map.set(k as string, value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail("expected ',' or '}'");
      }
    }
    const m = /^(True|False|None|[-+]?\d+L?)/.exec(text.slice(i, i + 40));
    if (!m) return fail(`unexpected '${c}'`);
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace('L', ''));
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

// ---------------------------------------------------------------- writing

/** The little-endian descr of a typed array (`<f4` for Float32Array, ...). */
export function descrOf(a: NpyNumericArray): string {
  if (a instanceof Float32Array) return '<f4';
  if (a instanceof Float64Array) return '<f8';
  if (a instanceof Int8Array) return '|i1';
  if (a instanceof Int16Array) return '<i2';
  if (a instanceof Int32Array) return '<i4';
  if (a instanceof BigInt64Array) return '<i8';
  if (a instanceof Uint16Array) return '<u2';
  if (a instanceof Uint32Array) return '<u4';
  if (a instanceof BigUint64Array) return '<u8';
  return '|u1';
}

function pyTuple(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function pyString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function npyPreamble(descrText: string, shape: readonly number[]): Uint8Array {
  let dict = `{'descr': ${descrText}, 'fortran_order': False, 'shape': ${pyTuple(shape)}, }`;
  const v1 = dict.length + 11 < 65536;
  const pre = v1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (v1) dv.setUint16(8, dict.length, true); else dv.setUint32(8, dict.length, true);
  out.set(Buffer.from(dict, 'latin1'), pre);
  return out;
}

function checkShape(count: number, shape: readonly number[]): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`npy: bad shape (${shape.join(', ')})`);
  if (product(shape) !== count) throw new Error(`npy: ${count} values do not fill shape (${shape.join(', ')})`);
}

/** Encode a C-ordered numeric array as .npy bytes (little-endian). */
export function encodeNpy(data: NpyNumericArray, shape: readonly number[]): Uint8Array {
  checkShape(data.length, shape);
  const pre = npyPreamble(pyString(descrOf(data)), shape);
  const out = new Uint8Array(pre.length + data.byteLength);
  out.set(pre, 0);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pre.length);
  return out;
}

/** Write a C-ordered numeric array (e.g. float32 N x zdim) to a .npy file, atomically. */
export function writeNpy(path: string, data: NpyNumericArray, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}

export interface NpyFieldSpec {
  name: string;
  /** Scalar descr, little-endian numeric (`<f4`, `<u4`, `<u8`, ...) or `|S<n>`. */
  descr: string;
  shape?: number[];
  values: NpyValues;
}

/** Encode a 1-D structured array of `rows` records. */
export function encodeStructuredNpy(fields: readonly NpyFieldSpec[], rows: number): Uint8Array {
  const types = fields.map((f) => parseScalarDescr(f.descr, '<encode>', f.name));
  const counts = fields.map((f) => product(f.shape ?? []));
  const recordBytes = types.reduce((a, t, i) => a + t.itemsizeBytes * counts[i]!, 0);
  const descrText = '[' + fields.map((f) => `(${pyString(f.name)}, ${pyString(f.descr)}${f.shape && f.shape.length ? ', ' + pyTuple(f.shape) : ''})`).join(', ') + ']';
  const pre = npyPreamble(descrText, [rows]);
  const out = new Uint8Array(pre.length + rows * recordBytes);
  out.set(pre, 0);
  const dv = new DataView(out.buffer);
  let offset = pre.length;
  fields.forEach((f, i) => {
    const t = types[i]!;
    const c = counts[i]!;
    if (f.values.length !== rows * c) throw new Error(`npy: field ${f.name} has ${f.values.length} values, expected ${rows * c}`);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < c; k++) {
        const at = offset + r * recordBytes + k * t.itemsizeBytes;
        const v = f.values[r * c + k]!;
        if (t.kind === 'S') out.set(Buffer.from(String(v), 'utf8').subarray(0, t.itemsizeBytes), at);
        else writeScalar(dv, at, t, v as number | bigint);
      }
    }
    offset += t.itemsizeBytes * c;
  });
  return out;
}

function writeScalar(dv: DataView, off: number, t: NpyScalarType, v: number | bigint): void {
  const le = t.littleEndian;
  const s = t.itemsizeBytes;
  if (t.kind === 'f') { if (s === 8) dv.setFloat64(off, Number(v), le); else if (s === 4) dv.setFloat32(off, Number(v), le); else throw new Error('npy: float16 writing not supported'); return; }
  if (t.kind === 'b') { dv.setUint8(off, Number(v) ? 1 : 0); return; }
  if (s === 8) { if (t.kind === 'i') dv.setBigInt64(off, BigInt(v), le); else dv.setBigUint64(off, BigInt(v), le); return; }
  const x = Number(v);
  if (s === 1) { if (t.kind === 'i') dv.setInt8(off, x); else dv.setUint8(off, x); }
  else if (s === 2) { if (t.kind === 'i') dv.setInt16(off, x, le); else dv.setUint16(off, x, le); }
  else if (t.kind === 'i') dv.setInt32(off, x, le); else dv.setUint32(off, x, le);
}
