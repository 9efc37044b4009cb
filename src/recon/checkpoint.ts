/**
 * Checkpoints of a reconstruction run: one JSON file (typed arrays as base64) holding the
 * epoch, stage, volume and its optimiser state, the pose table, the RNG state and the encoder's
 * full state (weights, Adam, BatchNorm statistics). Written atomically each epoch; `--resume`
 * continues from it. prepareRunLog brings the per-epoch metrics log back in step with the
 * checkpoint after a crash (a kill between the log line and the checkpoint leaves one extra line).
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
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

function decode(v: Json): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === 'object') {
    const f = v[TAG];
    if (typeof f === 'string') { const b = Buffer.from(f, 'base64'); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
    const u = v[TAGU];
    if (typeof u === 'string') { const b = Buffer.from(u, 'base64'); return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = decode(x);
    return o;
  }
  return v;
}

export function writeCheckpoint(path: string, state: object): void {
  writeFileAtomic(path, JSON.stringify(encode(state)));
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
