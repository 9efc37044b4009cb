/**
 * Minimal Python pickle support for the numpy arrays cryoDRGN keeps in `.pkl` files.
 *
 * Reading: a safe unpickler (it never runs code) for protocols 0-5 that builds plain values
 * (None, bool, int, float, str, bytes, list, tuple, dict) and reconstructs numpy arrays from
 * the three shapes numpy pickles take: `numpy.core.multiarray._reconstruct` (or
 * `numpy._core...`) + BUILD state (version, shape, dtype, fortran flag, raw bytes);
 * `numpy._core.numeric._frombuffer(buffer, dtype, shape, order)` (protocol 5); and Python 2
 * style raw data via `_codecs.encode(str, 'latin1')`. Any other class call becomes an opaque
 * `PyObject`. An unknown opcode raises an InputError naming the file and the byte offset.
 *
 * Writing: `encodeArraysPickle` writes one array or a tuple of arrays as protocol 3, with
 * `numpy.core.multiarray._reconstruct` (what numpy 1.x writes and numpy 2.x still loads).
 *
 * Hand-written because the npm pickle readers we checked (pickleparser 0.2.1, jpickle) only
 * read, and leave numpy reconstruction to the caller; none writes pickles.
 */
import { writeFileAtomic } from './atomic.js';
import { InputError } from './errors.js';
import { decodeArrayBytes, descrOf, readFileBytes, parseScalarDescr, type NpyNumericArray, type NpyValues } from './npy.js';

/** A numpy array read from a pickle, in C order. */
export class NdArray {
  constructor(public descr = '', public shape: number[] = [], public data: NpyValues = new Float64Array(0), public built = false) {}
}
export class PyTuple { constructor(readonly items: PickleValue[]) {} }
export class PyGlobal { constructor(readonly module: string, readonly name: string) {} }
/** Result of calling a class we do not model: kept opaque. */
export class PyObject {
  state: PickleValue = null;
  constructor(readonly callable: PickleValue, readonly args: PickleValue) {}
}
/** A numpy dtype object met inside a pickle (kind like `f4`, byte order). */
export class NpDtype { constructor(public kind: string, public order = '|') {} }
export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PickleValue[] | PyTuple | Map<PickleValue, PickleValue>
  | NdArray | PyGlobal | PyObject | NpDtype;

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

const RECONSTRUCT = /^numpy\.(_?core\.)?multiarray$/;
const FROMBUFFER = /^numpy\.(_?core\.)?numeric$/;

/** Unpickle bytes. `file` names the source in error messages. */
export function parsePickle(bytes: Uint8Array, file = '<bytes>'): PickleValue {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let opAt = 0;
  const bad = (msg: string): never => { throw new InputError(file, `${msg} (pickle opcode at byte offset ${opAt})`); };
  const need = (n: number): number => { if (pos + n > bytes.length) bad('truncated pickle'); const p = pos; pos += n; return p; };
  const take = (n: number): Uint8Array => bytes.subarray(need(n), pos);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) bad('truncated pickle (missing newline)');
    const s = Buffer.from(bytes.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    return s;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return bad('pickle stack underflow');
    return v as PickleValue;
  };
  const top = (): PickleValue => { const v = stack[stack.length - 1]; if (v === undefined || v === MARK) bad('pickle stack underflow'); return v as PickleValue; };
  const popMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) bad('pickle MARK missing');
    const items = stack.splice(i) as PickleValue[];
    items.shift();
    return items;
  };
  const u64 = (): number => { const v = dv.getBigUint64(need(8), true); if (v > BigInt(bytes.length)) bad('length out of range'); return Number(v); };
  const str = (b: Uint8Array): string => new TextDecoder('utf-8').decode(b);
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let k = b.length - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[k]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const call = (fn: PickleValue, args: PickleValue): PickleValue => {
    const a = args instanceof PyTuple ? args.items : [];
    if (fn instanceof PyGlobal) {
      if (RECONSTRUCT.test(fn.module) && fn.name === '_reconstruct') return new NdArray();
      if (fn.module === 'numpy' && fn.name === 'dtype') return new NpDtype(asText(a[0], 'dtype'));
      if (fn.module === '_codecs' && fn.name === 'encode') return Uint8Array.from(Buffer.from(asText(a[0], 'data'), 'latin1'));
      if (FROMBUFFER.test(fn.module) && fn.name === '_frombuffer') {
        const [buf, dt, shape, order] = a;
        return makeArray(buf, dt, shape, order === 'F');
      }
      if (RECONSTRUCT.test(fn.module) && fn.name === 'scalar') {
        const arr = makeArray(a[1], a[0], new PyTuple([]), false);
        const v = arr.data[0];
        return v === undefined ? null : v;
      }
    }
    return new PyObject(fn, args);
  };
  const asText = (v: PickleValue | undefined, what: string): string => {
    if (typeof v === 'string') return v;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
    return bad(`expected text for numpy ${what}`);
  };
  const makeArray = (buf: PickleValue | undefined, dt: PickleValue | undefined, shape: PickleValue | undefined, fortran: boolean, into = new NdArray()): NdArray => {
    if (!(dt instanceof NpDtype)) return bad('numpy array without a dtype');
    if (!(shape instanceof PyTuple) || !shape.items.every((d) => typeof d === 'number' && d >= 0)) return bad('numpy array shape is not a tuple of integers');
    if (!(buf instanceof Uint8Array)) return bad(`numpy array data is not raw bytes (object arrays are not supported)`);
    const order = dt.order === '=' ? '<' : dt.order;
    const descr = `${order}${dt.kind}`;
    const type = parseScalarDescr(descr, file);
    into.descr = descr;
    into.shape = shape.items as number[];
    into.data = decodeArrayBytes(buf, type, into.shape, fortran, file);
    into.built = true;
    return into;
  };
  const build = (obj: PickleValue, state: PickleValue): void => {
    if (obj instanceof NpDtype) {
      if (!(state instanceof PyTuple)) bad('bad numpy dtype state');
      const items = (state as PyTuple).items;
      const order = items[1];
      if (typeof order === 'string' || order instanceof Uint8Array) obj.order = asText(order, 'byte order'); // py2 pickles: bytes
      if (items.length > 3 && items[3] !== null) bad('structured numpy dtypes inside pickles are not supported');
      return;
    }
    if (obj instanceof NdArray) {
      if (!(state instanceof PyTuple) || state.items.length < 5) return bad('bad numpy array state');
      const [, shape, dt, fortran, raw] = state.items;
      makeArray(raw, dt, shape, fortran === true || fortran === 1, obj);
      return;
    }
    if (obj instanceof PyObject) { obj.state = state; return; }
    if (obj instanceof Map && state instanceof Map) { for (const [k, v] of state) obj.set(k, v); return; }
    bad('BUILD on an unsupported object');
  };

  for (;;) {
    opAt = pos;
    const op = bytes[need(1)]!;
    switch (op) {
      case 0x80: need(1); break; // PROTO
      case 0x95: need(8); break; // FRAME
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x28: stack.push(MARK); break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: stack.push(dv.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(dv.getUint8(need(1))); break; // BININT1
      case 0x4d: stack.push(dv.getUint16(need(2), true)); break; // BININT2
      case 0x8a: { const n = dv.getUint8(need(1)); stack.push(long(take(n))); break; } // LONG1
      case 0x8b: { const n = dv.getInt32(need(4), true); if (n < 0) bad('negative length'); stack.push(long(take(n))); break; }
      case 0x49: { const s = line(); stack.push(s === '01' ? true : s === '00' ? false : Number(s)); break; } // INT
      case 0x4c: { const s = line().replace(/L$/, ''); const b = BigInt(s); stack.push(Number.isSafeInteger(Number(b)) ? Number(b) : b); break; }
      case 0x47: stack.push(dv.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x46: stack.push(Number(line())); break; // FLOAT
      case 0x58: stack.push(str(take(dv.getUint32(need(4), true)))); break; // BINUNICODE
      case 0x8c: stack.push(str(take(dv.getUint8(need(1))))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(str(take(u64()))); break; // BINUNICODE8
      case 0x56: // UNICODE: raw-unicode-escape text
        stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string | undefined, b: string | undefined) => String.fromCodePoint(parseInt(a ?? b ?? '0', 16))));
        break;
      case 0x42: stack.push(take(dv.getUint32(need(4), true)).slice()); break; // BINBYTES
      case 0x43: stack.push(take(dv.getUint8(need(1))).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x54: { const n = dv.getInt32(need(4), true); if (n < 0) bad('negative length'); stack.push(take(n).slice()); break; } // BINSTRING
      case 0x55: stack.push(take(dv.getUint8(need(1))).slice()); break; // SHORT_BINSTRING
      case 0x98: break; // READONLY_BUFFER: no-op for in-band data
      case 0x29: stack.push(new PyTuple([])); break;
      case 0x74: stack.push(new PyTuple(popMark())); break;
      case 0x85: { const a = pop(); stack.push(new PyTuple([a])); break; }
      case 0x86: { const b = pop(); const a = pop(); stack.push(new PyTuple([a, b])); break; }
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(new PyTuple([a, b, c])); break; }
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) bad('APPEND to a non-list'); (l as PickleValue[]).push(v); break; }
      case 0x65: { const items = popMark(); const l = top(); if (!Array.isArray(l)) bad('APPENDS to a non-list'); (l as PickleValue[]).push(...items); break; }
      case 0x8f: stack.push([]); break; // EMPTY_SET (as a list)
      case 0x90: { const items = popMark(); const l = top(); if (!Array.isArray(l)) bad('ADDITEMS to a non-set'); (l as PickleValue[]).push(...items); break; }
      case 0x91: stack.push(popMark()); break; // FROZENSET
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { const items = popMark(); const m = new Map<PickleValue, PickleValue>(); for (let k = 0; k + 1 < items.length; k += 2) m.set(items[k]!, items[k + 1]!); stack.push(m); break; }
      case 0x73: { const v = pop(); const k = pop(); const m = top(); if (!(m instanceof Map)) bad('SETITEM on a non-dict'); (m as Map<PickleValue, PickleValue>).set(k, v); break; }
      case 0x75: { const items = popMark(); const m = top(); if (!(m instanceof Map)) bad('SETITEMS on a non-dict'); for (let k = 0; k + 1 < items.length; k += 2) (m as Map<PickleValue, PickleValue>).set(items[k]!, items[k + 1]!); break; }
      case 0x63: { const mod = line(); const name = line(); stack.push(new PyGlobal(mod, name)); break; } // GLOBAL
      case 0x93: { const name = pop(); const mod = pop(); if (typeof mod !== 'string' || typeof name !== 'string') bad('STACK_GLOBAL needs two strings'); stack.push(new PyGlobal(mod as string, name as string)); break; }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(new PyObject(cls, args)); break; } // NEWOBJ
      case 0x92: { const kw = pop(); const args = pop(); const cls = pop(); stack.push(new PyObject(cls, new PyTuple([args, kw]))); break; }
      case 0x62: { const state = pop(); build(top(), state); break; } // BUILD
      case 0x70: memo.set(Number(line()), top()); break; // PUT
      case 0x71: memo.set(dv.getUint8(need(1)), top()); break; // BINPUT
      case 0x72: memo.set(dv.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: case 0x68: case 0x6a: { // GET, BINGET, LONG_BINGET
        const key = op === 0x67 ? Number(line()) : op === 0x68 ? dv.getUint8(need(1)) : dv.getUint32(need(4), true);
        if (!memo.has(key)) bad(`memo key ${key} not defined`);
        stack.push(memo.get(key)!);
        break;
      }
      default:
        throw new InputError(file, `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte offset ${opAt}`);
    }
  }
}

/** Read and unpickle a file. */
export function readPickle(source: string | Uint8Array): PickleValue {
  return typeof source === 'string' ? parsePickle(readFileBytes(source), source) : parsePickle(source);
}

/** A human-readable summary of a pickled value: arrays as `float32 (N, 3, 3)`. */
export function describePickle(v: PickleValue): unknown {
  if (v instanceof NdArray) return { dtype: v.descr, shape: v.shape };
  if (v instanceof PyTuple) return v.items.map(describePickle);
  if (Array.isArray(v)) return v.length > 20 ? `list of ${v.length}` : v.map(describePickle);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), describePickle(x)]));
  if (v instanceof Uint8Array) return `bytes (${v.length})`;
  if (v instanceof PyGlobal) return `${v.module}.${v.name}`;
  if (v instanceof PyObject) return `object ${v.callable instanceof PyGlobal ? `${v.callable.module}.${v.callable.name}` : ''}`.trim();
  if (v instanceof NpDtype) return `dtype ${v.order}${v.kind}`;
  return typeof v === 'bigint' ? v.toString() : v;
}

// ---------------------------------------------------------------- writing

/** A C-ordered numeric array to pickle as a numpy ndarray. */
export interface ArrayToPickle { data: NpyNumericArray; shape: readonly number[] }

class Out {
  private parts: Uint8Array[] = [];
  byte(...b: number[]): void { this.parts.push(Uint8Array.from(b)); }
  raw(b: Uint8Array): void { this.parts.push(b); }
  text(s: string): void { this.raw(Buffer.from(s, 'latin1')); }
  int(v: number): void {
    if (v >= 0 && v < 256) this.byte(0x4b, v);
    else if (v >= -0x80000000 && v <= 0x7fffffff) { const b = new Uint8Array(5); b[0] = 0x4a; new DataView(b.buffer).setInt32(1, v, true); this.raw(b); }
    else { // LONG1, little-endian two's complement
      let x = BigInt(v);
      const bs: number[] = [];
      do { bs.push(Number(x & 0xffn)); x >>= 8n; } while (!(x === 0n && (bs[bs.length - 1]! & 0x80) === 0) && !(x === -1n && (bs[bs.length - 1]! & 0x80) !== 0));
      this.byte(0x8a, bs.length, ...bs);
    }
  }
  unicode(s: string): void { const b = Buffer.from(s, 'utf8'); const h = new Uint8Array(5); h[0] = 0x58; new DataView(h.buffer).setUint32(1, b.length, true); this.raw(h); this.raw(b); }
  bytes(b: Uint8Array): void {
    if (b.length > 0xffffffff) throw new Error('pickle: array larger than 4 GiB');
    if (b.length < 256) this.byte(0x43, b.length); else { const h = new Uint8Array(5); h[0] = 0x42; new DataView(h.buffer).setUint32(1, b.length, true); this.raw(h); }
    this.raw(b);
  }
  global(mod: string, name: string): void { this.byte(0x63); this.text(`${mod}\n${name}\n`); }
  concat(): Uint8Array { return Buffer.concat(this.parts); }
}

function writeArray(o: Out, a: ArrayToPickle): void {
  const count = a.shape.reduce((x, y) => x * y, 1);
  if (count !== a.data.length) throw new Error(`pickle: ${a.data.length} values do not fill shape (${a.shape.join(', ')})`);
  const descr = descrOf(a.data);
  o.global('numpy.core.multiarray', '_reconstruct');
  o.global('numpy', 'ndarray');
  o.int(0); o.byte(0x85); // (0,)
  o.bytes(Uint8Array.of(0x62)); // b'b'
  o.byte(0x87, 0x52); // TUPLE3, REDUCE
  o.byte(0x28); // MARK: state (1, shape, dtype, False, data)
  o.int(1);
  o.byte(0x28); for (const d of a.shape) o.int(d); o.byte(0x74);
  o.global('numpy', 'dtype');
  o.unicode(descr.slice(1)); o.byte(0x89, 0x88, 0x87, 0x52); // ('f4', False, True) REDUCE
  o.byte(0x28); o.int(3); o.unicode(descr[0]!); o.byte(0x4e, 0x4e, 0x4e); o.int(-1); o.int(-1); o.int(0); o.byte(0x74, 0x62);
  o.byte(0x89); // not Fortran
  o.bytes(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength).slice());
  o.byte(0x74, 0x62); // TUPLE, BUILD
}

/** Pickle one numpy array, or a tuple of arrays (protocol 3). */
export function encodeArraysPickle(value: ArrayToPickle | readonly ArrayToPickle[]): Uint8Array {
  const o = new Out();
  o.byte(0x80, 3);
  if (Array.isArray(value)) {
    o.byte(0x28);
    for (const a of value as readonly ArrayToPickle[]) writeArray(o, a);
    o.byte(0x74);
  } else writeArray(o, value as ArrayToPickle);
  o.byte(0x2e);
  return o.concat();
}

/** Write one array or a tuple of arrays to a pickle file, atomically. */
export function writeArraysPickle(path: string, value: ArrayToPickle | readonly ArrayToPickle[]): void {
  writeFileAtomic(path, encodeArraysPickle(value));
}
