/**
 * cryoDRGN pickles: poses and CTF tables (the `.pkl` files cryoDRGN's parse_pose_* and
 * parse_ctf_* commands write), on top of pickle.ts.
 *   pose.pkl: tuple (R float N x 3 x 3, t float N x 2), or R alone. R is RELION's A matrix
 *             (volume -> image coordinates, conventions.md); t = RELION origin (px) / D.
 *   ctf.pkl:  float32 N x 9, columns [D, Apix, dfU (A), dfV (A), dfAngle (deg), kV, Cs (mm),
 *             w (amplitude contrast), phaseShift (deg)].
 * Shapes are validated; errors are InputErrors naming the file.
 */
import type { CtfParams } from '../core/ctf.js';
import { InputError } from './errors.js';
import { toFloat64 } from './npy.js';
import { NdArray, PyTuple, parsePickle, readPickle, writeArraysPickle, type PickleValue } from './pickle.js';

export interface CryodrgnPoses {
  n: number;
  /** 9 per particle, row-major RELION A matrices. */
  rotations: Float64Array;
  /** 2 per particle: RELION origin (x, y) in pixels divided by the box size D. Absent if the pickle holds R only. */
  translationsFrac?: Float64Array;
}

/** cryoDRGN CTF table, one typed column per quantity. */
export interface CryodrgnCtf {
  n: number;
  boxPx: Float64Array;
  apixAngstrom: Float64Array;
  defocusUAngstrom: Float64Array;
  defocusVAngstrom: Float64Array;
  defocusAngleDeg: Float64Array;
  voltageKv: Float64Array;
  csMm: Float64Array;
  amplitudeContrast: Float64Array;
  phaseShiftDeg: Float64Array;
}

/** Column order of a cryoDRGN ctf.pkl row. */
export const CTF_PKL_COLUMNS = ['boxPx', 'apixAngstrom', 'defocusUAngstrom', 'defocusVAngstrom', 'defocusAngleDeg',
  'voltageKv', 'csMm', 'amplitudeContrast', 'phaseShiftDeg'] as const;

function shapeText(s: readonly number[]): string {
  return `(${s.join(', ')})`;
}

function expectArray(v: PickleValue | undefined, file: string, what: string, shapeTail: number[]): NdArray {
  if (!(v instanceof NdArray)) throw new InputError(file, `${what}: expected a numpy array`);
  const s = v.shape;
  const ok = s.length === shapeTail.length + 1 && shapeTail.every((d, i) => s[i + 1] === d);
  if (!ok) throw new InputError(file, `${what}: expected shape (N, ${shapeTail.join(', ')}), found ${shapeText(s)}`);
  return v;
}

/** Read a cryoDRGN pose pickle: (R, t) tuple or R alone. */
export function readPosePkl(source: string | Uint8Array, fileName?: string): CryodrgnPoses {
  const file = fileName ?? (typeof source === 'string' ? source : '<bytes>');
  const v = typeof source === 'string' ? readPickle(source) : parsePickle(source, file);
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : [v];
  if (items.length < 1 || items.length > 2) throw new InputError(file, `pose pickle: expected (rotations, translations), found ${items.length} items`);
  const R = expectArray(items[0], file, 'pose rotations', [3, 3]);
  const n = R.shape[0]!;
  const out: CryodrgnPoses = { n, rotations: toFloat64(R.data, file) };
  if (items.length === 2) {
    const t = expectArray(items[1], file, 'pose translations', [2]);
    if (t.shape[0] !== n) throw new InputError(file, `pose pickle: ${n} rotations but ${t.shape[0]} translations`);
    out.translationsFrac = toFloat64(t.data, file);
  }
  return out;
}

export interface WritePklOptions {
  /** Element type of the written arrays (default float32, as cryoDRGN writes). */
  dtype?: 'float32' | 'float64';
}

function cast(a: ArrayLike<number>, dtype: 'float32' | 'float64' | undefined): Float32Array | Float64Array {
  return dtype === 'float64' ? Float64Array.from(a) : Float32Array.from(a);
}

/** Write a cryoDRGN pose pickle (R N x 3 x 3, t N x 2); t defaults to zeros. */
export function writePosePkl(path: string, rotations: ArrayLike<number>, translationsFrac?: ArrayLike<number>, opts: WritePklOptions = {}): void {
  if (rotations.length % 9 !== 0) throw new Error(`writePosePkl: ${rotations.length} rotation values is not a multiple of 9`);
  const n = rotations.length / 9;
  const t = translationsFrac ?? new Float64Array(2 * n);
  if (t.length !== 2 * n) throw new Error(`writePosePkl: ${n} rotations but ${t.length / 2} translations`);
  writeArraysPickle(path, [
    { data: cast(rotations, opts.dtype), shape: [n, 3, 3] },
    { data: cast(t, opts.dtype), shape: [n, 2] },
  ]);
}

/** Read a cryoDRGN CTF pickle (N x 9). */
export function readCtfPkl(source: string | Uint8Array, fileName?: string): CryodrgnCtf {
  const file = fileName ?? (typeof source === 'string' ? source : '<bytes>');
  const v = typeof source === 'string' ? readPickle(source) : parsePickle(source, file);
  const a = expectArray(v, file, 'ctf table', [9]);
  return ctfFromRows(toFloat64(a.data, file), a.shape[0]!);
}

/** Split N x 9 row-major values into named columns. */
export function ctfFromRows(rows: ArrayLike<number>, n: number): CryodrgnCtf {
  const col = (j: number): Float64Array => {
    const c = new Float64Array(n);
    for (let i = 0; i < n; i++) c[i] = rows[9 * i + j]!;
    return c;
  };
  const out = { n } as CryodrgnCtf;
  CTF_PKL_COLUMNS.forEach((name, j) => { out[name] = col(j); });
  return out;
}

/** Write a cryoDRGN CTF pickle (float32 N x 9 unless opts.dtype says float64). */
export function writeCtfPkl(path: string, ctf: CryodrgnCtf, opts: WritePklOptions = {}): void {
  const rows = new Float64Array(9 * ctf.n);
  CTF_PKL_COLUMNS.forEach((name, j) => {
    const c = ctf[name];
    if (c.length !== ctf.n) throw new Error(`writeCtfPkl: column ${name} has ${c.length} values, expected ${ctf.n}`);
    for (let i = 0; i < ctf.n; i++) rows[9 * i + j] = c[i]!;
  });
  writeArraysPickle(path, { data: cast(rows, opts.dtype), shape: [ctf.n, 9] });
}

/** CTF parameters of particle i (B-factor 0: cryoDRGN's table has none). */
export function ctfParamsAt(ctf: CryodrgnCtf, i: number): CtfParams {
  return {
    defocusUAngstrom: ctf.defocusUAngstrom[i]!,
    defocusVAngstrom: ctf.defocusVAngstrom[i]!,
    defocusAngleDeg: ctf.defocusAngleDeg[i]!,
    voltageKv: ctf.voltageKv[i]!,
    csMm: ctf.csMm[i]!,
    amplitudeContrast: ctf.amplitudeContrast[i]!,
    phaseShiftDeg: ctf.phaseShiftDeg[i]!,
    bFactor: 0,
  };
}
