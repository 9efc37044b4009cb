/**
 * Checkpoints of a reconstruction run: one JSON file (typed arrays as base64) holding the
 * epoch, stage, volume and its optimiser state, the pose table, the RNG state and the encoder's
 * full state (weights, Adam, BatchNorm statistics). Written atomically each epoch; `--resume`
 * continues from it. prepareRunLog brings the per-epoch metrics log back in step with the
 * checkpoint after a crash (a kill between the log line and the checkpoint leaves one extra line).
 *
 * The writer streams: large Float32/Uint32 arrays (the pose table grows with N: 84 MiB at 10^6
 * particles) are base64-encoded in chunks of CHUNK_BYTES straight into the temporary file, so
 * writing costs a few MiB beyond the state itself instead of the whole JSON text (+ its UTF-8
 * copy + the base64 strings: 816 vs 361 MiB peak RSS at 10^6 particles, bench/results/scale.md).
 * The bytes are exactly JSON.stringify of the encoded state (checkpointText), so files of older
 * versions and of this one are the same format and read the same way.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { commitTempFile, tempNameFor, writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../io/errors.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const TAG = '__f32__';
const TAGU = '__u32__';

function encode(v: unknown): Json {
  if (v instanceof Float32Array) return { [TAG]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof Uint32Array) return { [TAGU]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof Float64Array || v instanceof Int32Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(encode);
  if (v !== null && typeof v === 'object') {
    const o: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = encode(x);
    return o;
  }
  return v as Json;
}

/**
 * The bytes of a base64 string in an ArrayBuffer of their own: a large decode already has one
 * (used as is: no second copy of e.g. an 84 MiB pose table), a small one lives in Node's shared
 * pool and is copied out.
 */
function ownBytes(base64: string): ArrayBuffer {
  const b = Buffer.from(base64, 'base64');
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function decode(v: Json): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === 'object') {
    const f = v[TAG];
    if (typeof f === 'string') return new Float32Array(ownBytes(f));
    const u = v[TAGU];
    if (typeof u === 'string') return new Uint32Array(ownBytes(u));
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = decode(x);
    return o;
  }
  return v;
}

/** The checkpoint file's text for `state` built in memory (what writeCheckpoint streams; small states, tests). */
export function checkpointText(state: object): string {
  return JSON.stringify(encode(state));
}

/**
 * Default: typed arrays at least this large are streamed in chunks; smaller values go through
 * JSON.stringify. CRYOSPIN_CKPT_STREAM_MIN_BYTES overrides it (tests: 0 streams every typed array,
 * e.g. to run the SIGKILL/resume test through the streaming writer).
 */
const STREAM_MIN_BYTES = streamThresholdFromEnv(process.env.CRYOSPIN_CKPT_STREAM_MIN_BYTES);

function streamThresholdFromEnv(v: string | undefined): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : 1 << 20;
}
/**
 * Raw bytes per base64 chunk: a multiple of 3 (the chunks' base64 concatenates to the whole's),
 * small enough that each 64 KiB base64 string is young-generation garbage, not a large object.
 */
const CHUNK_BYTES = 3 << 14;
/** Output buffer: pieces are copied into it and written when it is full. */
const OUT_BYTES = 1 << 20;

let streamMinBytes = STREAM_MIN_BYTES;

function isStreamed(v: unknown): v is Float32Array | Uint32Array {
  return (v instanceof Float32Array || v instanceof Uint32Array) && v.byteLength >= streamMinBytes;
}

/** A plain array or object (no toJSON) holding a streamed typed array somewhere inside. */
function holdsStreamed(v: unknown): boolean {
  if (isStreamed(v)) return true;
  if (ArrayBuffer.isView(v) || v === null || typeof v !== 'object') return false;
  if (!Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (holdsStreamed(x)) return true;
  return false;
}

export interface WriteCheckpointOptions {
  /** Stream Float32/Uint32 arrays of at least this many bytes (default 1 MiB; 0 streams them all). */
  streamMinBytes?: number;
}

/**
 * Write JSON.stringify(encode(v)) to `put` piece by piece. Returns false (nothing written) where
 * JSON.stringify would omit the value (undefined, functions, symbols).
 */
function streamValue(v: unknown, put: (s: string) => void): boolean {
  if (isStreamed(v)) {
    put(`{"${v instanceof Float32Array ? TAG : TAGU}":"`);
    for (let off = 0; off < v.byteLength; off += CHUNK_BYTES) {
      put(Buffer.from(v.buffer, v.byteOffset + off, Math.min(CHUNK_BYTES, v.byteLength - off)).toString('base64'));
    }
    put('"}');
    return true;
  }
  if (!holdsStreamed(v)) {
    const text = JSON.stringify(encode(v)) as string | undefined;
    if (text === undefined) return false;
    put(text);
    return true;
  }
  if (Array.isArray(v)) {
    put('[');
    v.forEach((x, i) => {
      if (i > 0) put(',');
      if (!streamValue(x, put)) put('null');
    });
    put(']');
    return true;
  }
  put('{');
  let first = true;
  for (const [k, x] of Object.entries(v as object)) {
    if (x === undefined) continue;
    const key = (first ? '' : ',') + JSON.stringify(k) + ':';
    // JSON.stringify drops keys whose value it cannot write: test before writing the key
    if (!holdsStreamed(x) && JSON.stringify(encode(x)) === undefined) continue;
    put(key);
    streamValue(x, put);
    first = false;
  }
  put('}');
  return true;
}

/**
 * Write a checkpoint atomically (temporary file in the same folder, fsync, rename, folder fsync),
 * streaming large typed arrays in chunks (see the module comment).
 */
export function writeCheckpoint(path: string, state: object, opts: WriteCheckpointOptions = {}): void {
  streamMinBytes = opts.streamMinBytes ?? STREAM_MIN_BYTES;
  try {
    writeStreamed(path, state);
  } finally {
    streamMinBytes = STREAM_MIN_BYTES;
  }
}

function writeStreamed(path: string, state: object): void {
  if (!holdsStreamed(state)) {
    writeFileAtomic(path, checkpointText(state));
    return;
  }
  const tmp = tempNameFor(path);
  const fd = openSync(tmp, 'w');
  let written = false;
  try {
    // pieces are copied into one reused buffer (UTF-8 needs at most 3 bytes per UTF-16 unit)
    const out = Buffer.allocUnsafe(OUT_BYTES);
    let pos = 0;
    const writeAll = (buf: Buffer, end: number): void => {
      let off = 0;
      while (off < end) off += writeSync(fd, buf, off, end - off);
    };
    streamValue(state, (s) => {
      if (3 * s.length > OUT_BYTES - pos) { writeAll(out, pos); pos = 0; }
      if (3 * s.length > OUT_BYTES) { const b = Buffer.from(s, 'utf8'); writeAll(b, b.length); return; }
      pos += out.write(s, pos, 'utf8');
    });
    writeAll(out, pos);
    fsyncSync(fd);
    written = true;
  } finally {
    closeSync(fd);
    if (!written) removeQuietly(tmp);
  }
  // the rename makes the new checkpoint visible at once (and survives a crash: atomic.ts)
  let committed = false;
  try {
    commitTempFile(tmp, path);
    committed = true;
  } finally {
    if (!committed) removeQuietly(tmp);
  }
}

function removeQuietly(file: string): void {
  try { unlinkSync(file); } catch { /* already gone */ }
}

export function readCheckpoint<T>(path: string): T {
  if (!existsSync(path)) throw new InputError(path, 'no checkpoint to resume from');
  try {
    return decode(JSON.parse(readFileSync(path, 'utf8')) as Json) as T;
  } catch (e) {
    throw new InputError(path, `unreadable checkpoint: ${(e as Error).message}`);
  }
}

/**
 * Make the JSON-lines log at `path` hold exactly the lines of epochs 0..epochs-1 (the epochs the
 * checkpoint has): lines of later epochs (written before a crash, redone on resume) and a torn
 * last line are dropped; epochs = 0 empties it. Rewritten atomically.
 */
export function prepareRunLog(path: string, epochs: number): void {
  const keep: string[] = [];
  if (epochs > 0 && existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      try {
        const m = JSON.parse(line) as { epoch?: unknown };
        if (typeof m.epoch === 'number' && m.epoch < epochs) keep.push(line);
      } catch { /* torn or empty line */ }
    }
  }
  writeFileAtomic(path, keep.map((l) => l + '\n').join(''));
}

/**
 * Refuse to resume from a checkpoint written by a run with different settings (box, seed, heads,
 * particle count ...): continuing it would not give the result of either run. `saved` is what the
 * checkpoint recorded, `current` what this run uses; only keys present in both are compared.
 */
export function checkResumeCompatible(path: string, saved: Record<string, unknown> | undefined, current: Record<string, unknown>): void {
  if (!saved) return;
  for (const [k, v] of Object.entries(current)) {
    if (k in saved && saved[k] !== v) {
      throw new InputError(path, `the checkpoint was written with ${k} = ${JSON.stringify(saved[k])}, this run has ${JSON.stringify(v)}; ` +
        'resume with the same settings or start a new output folder', { field: k });
    }
  }
}
