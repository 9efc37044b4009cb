/**
 * Compact particle table: a particle set's per-particle values as typed-array columns instead of
 * one JS object per particle (a 10^6-particle set: ~100 MiB instead of ~370 MiB of heap, and no
 * garbage-collector walk over millions of objects).
 *
 * `ParticleSet.particles` stays the public `ParticleRecord[]`: for a compact set it is a read-only
 * array view (a Proxy) that builds the record of particle i when it is read. Every array method
 * that reads (indexing, length, map, forEach, slice, findIndex, iteration, Array.from, JSON) works;
 * writing into the array throws; a record is a fresh object at each read (mutating it changes
 * nothing). Hot loops read the columns directly through `particleStack` / `particleCtf`.
 */
import type { CtfParams } from '../core/ctf.js';
import type { ParticleRecord, ParticleSet } from './particles.js';

/** A numeric column: one value per particle, or one value for all. */
export type NumColumn = Float64Array | number;

export const colAt = (c: NumColumn, i: number): number => (typeof c === 'number' ? c : c[i]!);

/** The column as a single number when all its values are equal (saves the array). */
export function compactColumn(a: Float64Array): NumColumn {
  const v = a[0];
  if (v === undefined) return a;
  for (let i = 1; i < a.length; i++) if (!Object.is(a[i], v)) return a;
  return v;
}

export interface CtfColumns {
  defocusUAngstrom: NumColumn;
  defocusVAngstrom: NumColumn;
  defocusAngleDeg: NumColumn;
  voltageKv: NumColumn;
  csMm: NumColumn;
  amplitudeContrast: NumColumn;
  phaseShiftDeg: NumColumn;
  bFactor: NumColumn;
}

export interface ParticleColumns {
  n: number;
  /** Distinct absolute stack paths; particle i's stack is stackPaths[stackId[i]]. */
  stackPaths: string[];
  stackId: Uint32Array;
  /** 0-based image index in the stack. */
  stackIndex: Uint32Array;
  /** CTF per particle, or null when no particle has one. */
  ctf: CtfColumns | null;
  /** [rot, tilt, psi] columns (degrees); null when no particle has angles. */
  eulerDeg: [NumColumn, NumColumn, NumColumn] | null;
  /** Origin (x, y) columns in pixels; null when no particle has one. */
  originPx: [NumColumn, NumColumn] | null;
  classNumber: NumColumn | null;
}

const CTF_KEYS: (keyof CtfParams)[] = ['defocusUAngstrom', 'defocusVAngstrom', 'defocusAngleDeg', 'voltageKv', 'csMm', 'amplitudeContrast', 'phaseShiftDeg', 'bFactor'];

export function ctfAt(c: CtfColumns, i: number): CtfParams {
  const o = {} as CtfParams;
  for (const k of CTF_KEYS) o[k] = colAt(c[k], i);
  return o;
}

/** Particle i as a ParticleRecord (a fresh object). */
export function recordAt(c: ParticleColumns, i: number): ParticleRecord {
  const e = c.eulerDeg, o = c.originPx;
  const r: ParticleRecord = {
    stackPath: c.stackPaths[c.stackId[i]!]!, stackIndex: c.stackIndex[i]!,
    ctf: c.ctf ? ctfAt(c.ctf, i) : null,
    eulerDeg: e ? [colAt(e[0], i), colAt(e[1], i), colAt(e[2], i)] : null,
    originPx: o ? [colAt(o[0], i), colAt(o[1], i)] : null,
  };
  if (c.classNumber !== null) r.classNumber = colAt(c.classNumber, i);
  return r;
}

function indexOf(p: string | symbol, n: number): number {
  if (typeof p !== 'string') return -1;
  const c = p.charCodeAt(0);
  if (!(c >= 48 && c <= 57)) return -1;
  const i = Number(p);
  return Number.isInteger(i) && i < n && String(i) === p ? i : -1;
}

/** The read-only `ParticleRecord[]` view of the columns. */
export function recordsView(c: ParticleColumns): ParticleRecord[] {
  const target: ParticleRecord[] = [];
  target.length = c.n;
  return new Proxy(target, {
    get(t, p, recv) {
      const i = indexOf(p, c.n);
      return i >= 0 ? recordAt(c, i) : Reflect.get(t, p, recv);
    },
    has(t, p) {
      return indexOf(p, c.n) >= 0 || Reflect.has(t, p);
    },
    ownKeys(t) {
      const keys: (string | symbol)[] = [];
      for (let i = 0; i < c.n; i++) keys.push(String(i));
      return [...keys, ...Reflect.ownKeys(t)];
    },
    getOwnPropertyDescriptor(t, p) {
      const i = indexOf(p, c.n);
      if (i >= 0) return { value: recordAt(c, i), writable: false, enumerable: true, configurable: true };
      return Reflect.getOwnPropertyDescriptor(t, p);
    },
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
}

/** Stack path and 0-based image index of particle i (columns when the set has them). */
export function particleStack(set: ParticleSet, i: number): { stackPath: string; stackIndex: number } | undefined {
  const c = set.columns;
  if (!c) return set.particles[i];
  if (!(i >= 0 && i < c.n)) return undefined;
  return { stackPath: c.stackPaths[c.stackId[i]!]!, stackIndex: c.stackIndex[i]! };
}

/** CTF of particle i (columns when the set has them). */
export function particleCtf(set: ParticleSet, i: number): CtfParams | null {
  const c = set.columns;
  if (!c) return set.particles[i]!.ctf;
  return c.ctf ? ctfAt(c.ctf, i) : null;
}

/** Index of the first particle without a CTF, -1 if all have one. */
export function firstWithoutCtf(set: ParticleSet): number {
  const c = set.columns;
  if (!c) return set.particles.findIndex((p) => p.ctf === null);
  return c.ctf || c.n === 0 ? -1 : 0;
}

/** Bytes held by the columns (their typed arrays' whole buffers, spare capacity included). */
export function columnsBytes(c: ParticleColumns): number {
  const cols: NumColumn[] = [...(c.ctf ? CTF_KEYS.map((k) => c.ctf![k]) : []), ...(c.eulerDeg ?? []), ...(c.originPx ?? [])];
  if (c.classNumber !== null) cols.push(c.classNumber);
  let b = c.stackId.buffer.byteLength + c.stackIndex.buffer.byteLength;
  for (const v of cols) if (typeof v !== 'number') b += v.buffer.byteLength;
  return b;
}
