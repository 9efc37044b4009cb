/**
 * cryoSPARC `.cs` particle tables: a `.cs` file is a NumPy `.npy` structured array (see
 * npy.ts). `readCs` gives generic column access; `readCsParticles` pulls out the fields a
 * reconstruction needs, with units in the names:
 *   blob/path (leading '>' stripped), blob/idx (0-based), blob/shape, blob/psize_A;
 *   ctf/df1_A, ctf/df2_A, ctf/df_angle_rad, ctf/phase_shift_rad, ctf/accel_kv, ctf/cs_mm,
 *   ctf/amp_contrast, ctf/bfactor (optional);
 *   alignments3D/pose (axis-angle vector, radians), alignments3D/shift (pixels).
 * `csPosesToRelion` turns axis-angle vectors into RELION A matrices: A = exp(w)^T (checked
 * against cryoDRGN's parse of the same file: max |diff| 4e-7); `relionToCsPoses` inverts it.
 * cryoDRGN stores the shift as shift / D without a sign change, and RELION origin =
 * cryoDRGN t * D (conventions.md), so the cryoSPARC shift in pixels is RELION's origin in pixels.
 * `writeCs` writes a minimal particle table in the NumPy format. cryoSPARC's newer compressed
 * stream format (magic `\x95CSDAT`) is recognised and rejected with a clear message.
 */
import { expSO3, logSO3 } from '../core/rotation.js';
import { writeFileAtomic } from './atomic.js';
import { InputError } from './errors.js';
import { encodeStructuredNpy, parseNpy, readFileBytes, toFloat64, type NpyField, type NpyFieldSpec, type NpyStructuredArray, type NpyValues } from './npy.js';

export interface CsTable {
  file: string;
  rows: number;
  /** Field names in file order. */
  fields: string[];
  has(name: string): boolean;
  /** Field metadata (dtype, sub-array shape); InputError naming the file and field if missing. */
  field(name: string): NpyField;
  /** Raw column values, rows x prod(field shape), row-major. */
  column(name: string): NpyValues;
  /** Numeric column as float64. */
  floats(name: string): Float64Array;
  /** Byte-string column as text. */
  strings(name: string): string[];
}

/** Open a `.cs` file (or .npy structured array bytes). */
export function readCs(source: string | Uint8Array, fileName?: string): CsTable {
  const file = fileName ?? (typeof source === 'string' ? source : '<bytes>');
  const bytes = typeof source === 'string' ? readFileBytes(source) : source;
  if (bytes.length >= 6 && bytes[0] === 0x95 && Buffer.from(bytes.subarray(1, 6)).toString('latin1') === 'CSDAT') {
    throw new InputError(file, "cryoSPARC's compressed .cs stream format (CSDAT) is not supported; save the dataset in NumPy format (cryosparc-tools: Dataset.save(path, format=NUMPY_FORMAT))");
  }
  const a = parseNpy(bytes, file);
  if (!a.structured) {
    throw new InputError(file, `not a cryoSPARC .cs table: plain ${a.dtype.descr} array of shape (${a.shape.join(', ')}), expected a structured array`);
  }
  return tableOf(a, file);
}

function tableOf(a: NpyStructuredArray, file: string): CsTable {
  const field = (name: string): NpyField => {
    const f = a.fields[name];
    if (!f) throw new InputError(file, `required cryoSPARC field is missing (file has ${a.fieldNames.length} fields)`, { field: name });
    return f;
  };
  return {
    file,
    rows: a.rows,
    fields: a.fieldNames,
    has: (name) => name in a.fields,
    field,
    column: (name) => field(name).values,
    floats: (name) => toFloat64(field(name).values, file, name),
    strings: (name) => {
      const v = field(name).values;
      if (!Array.isArray(v)) throw new InputError(file, `expected a byte-string field, found ${field(name).dtype.descr}`, { field: name });
      return v;
    },
  };
}

export interface CsCtf {
  defocusUAngstrom: Float64Array;
  defocusVAngstrom: Float64Array;
  defocusAngleRad: Float64Array;
  phaseShiftRad: Float64Array;
  voltageKv: Float64Array;
  csMm: Float64Array;
  amplitudeContrast: Float64Array;
  /** ctf/bfactor when the file has it (A^2). */
  bFactor?: Float64Array;
}

export interface CsPose {
  /** alignments3D/pose: 3 per particle, axis-angle vector in radians. */
  axisAngleRad: Float64Array;
  /** alignments3D/shift: 2 per particle (x, y), pixels. */
  shiftPx: Float64Array;
  /** alignments3D/psize_A when present (pixel size the alignment was done at). */
  alignApixAngstrom?: Float64Array;
}

export interface CsParticles {
  file: string;
  rows: number;
  /** blob/path with any leading '>' removed (cryoSPARC's "relative to project" marker). */
  blobPath: string[];
  /** blob/idx: 0-based index of the image in its stack. */
  blobIdx: Int32Array;
  /** blob/shape: 2 per particle (ny, nx) in pixels. */
  blobShapePx: Int32Array;
  /** blob/psize_A. */
  apixAngstrom: Float64Array;
  ctf?: CsCtf;
  pose?: CsPose;
}

export interface ReadCsParticlesOptions {
  /** Throw if CTF fields are missing (default true). */
  requireCtf?: boolean;
  /** Throw if alignments3D/pose or /shift are missing (default false: pose is then undefined). */
  requirePose?: boolean;
}

const CTF_FIELDS = ['ctf/df1_A', 'ctf/df2_A', 'ctf/df_angle_rad', 'ctf/phase_shift_rad', 'ctf/accel_kv', 'ctf/cs_mm', 'ctf/amp_contrast'];
const POSE_FIELDS = ['alignments3D/pose', 'alignments3D/shift'];

function checkShape(t: CsTable, name: string, shape: number[]): void {
  const s = t.field(name).shape;
  if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) {
    throw new InputError(t.file, `expected per-row shape (${shape.join(', ')}), found (${s.join(', ')})`, { field: name });
  }
}

function toInt32(t: CsTable, field: string): Int32Array {
  const f = t.field(field);
  const v = f.values;
  if (Array.isArray(v) || (f.dtype.kind !== 'i' && f.dtype.kind !== 'u')) {
    throw new InputError(t.file, `expected an integer field, found dtype ${f.dtype.descr}`, { field });
  }
  const out = new Int32Array(v.length);
  const per = Math.max(1, f.shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) {
    const x = Number(v[i]);
    if (!(x >= 0 && x <= 0x7fffffff)) throw new InputError(t.file, `value ${x} out of range (0..2^31-1)`, { record: Math.floor(i / per), field });
    out[i] = x;
  }
  return out;
}

/** Read the particle fields of a `.cs` file. Missing required fields -> InputError naming file and field. */
export function readCsParticles(source: string | Uint8Array, opts: ReadCsParticlesOptions = {}, fileName?: string): CsParticles {
  const t = readCs(source, fileName);
  for (const name of ['blob/path', 'blob/idx', 'blob/shape', 'blob/psize_A']) t.field(name);
  checkShape(t, 'blob/shape', [2]);
  const out: CsParticles = {
    file: t.file,
    rows: t.rows,
    blobPath: t.strings('blob/path').map((p) => (p.startsWith('>') ? p.slice(1) : p)),
    blobIdx: toInt32(t, 'blob/idx'),
    blobShapePx: toInt32(t, 'blob/shape'),
    apixAngstrom: t.floats('blob/psize_A'),
  };
  const hasCtf = CTF_FIELDS.every((n) => t.has(n));
  if (hasCtf || opts.requireCtf !== false) {
    for (const n of CTF_FIELDS) { t.field(n); checkShape(t, n, []); }
    out.ctf = {
      defocusUAngstrom: t.floats('ctf/df1_A'),
      defocusVAngstrom: t.floats('ctf/df2_A'),
      defocusAngleRad: t.floats('ctf/df_angle_rad'),
      phaseShiftRad: t.floats('ctf/phase_shift_rad'),
      voltageKv: t.floats('ctf/accel_kv'),
      csMm: t.floats('ctf/cs_mm'),
      amplitudeContrast: t.floats('ctf/amp_contrast'),
      ...(t.has('ctf/bfactor') ? { bFactor: t.floats('ctf/bfactor') } : {}),
    };
  }
  const hasPose = POSE_FIELDS.every((n) => t.has(n));
  if (hasPose || opts.requirePose) {
    for (const n of POSE_FIELDS) t.field(n);
    checkShape(t, 'alignments3D/pose', [3]);
    checkShape(t, 'alignments3D/shift', [2]);
    out.pose = {
      axisAngleRad: t.floats('alignments3D/pose'),
      shiftPx: t.floats('alignments3D/shift'),
      ...(t.has('alignments3D/psize_A') ? { alignApixAngstrom: t.floats('alignments3D/psize_A') } : {}),
    };
  }
  return out;
}

/** Axis-angle vectors (3N, radians) -> RELION A matrices (9N, row-major): A = exp(w)^T. */
export function csPosesToRelion(axisAngleRad: ArrayLike<number>): Float64Array {
  const n = Math.floor(axisAngleRad.length / 3);
  const out = new Float64Array(9 * n);
  const R = new Float64Array(9);
  const w = new Float64Array(3);
  for (let i = 0; i < n; i++) {
    w[0] = axisAngleRad[3 * i]!; w[1] = axisAngleRad[3 * i + 1]!; w[2] = axisAngleRad[3 * i + 2]!;
    expSO3(w, R);
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) out[9 * i + 3 * r + c] = R[3 * c + r]!;
  }
  return out;
}

/** RELION A matrices (9N) -> cryoSPARC axis-angle vectors (3N, radians): w = log(A^T). */
export function relionToCsPoses(rotations: ArrayLike<number>): Float64Array {
  const n = Math.floor(rotations.length / 9);
  const out = new Float64Array(3 * n);
  const Rt = new Float64Array(9);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) Rt[3 * r + c] = rotations[9 * i + 3 * c + r]!;
    out.set(logSO3(Rt), 3 * i);
  }
  return out;
}

/**
 * Encode particles as a cryoSPARC-style `.cs` table (uid, blob/*, ctf/*, alignments3D/pose,
 * shift, psize_A), float32 values as cryoSPARC stores them. uid = row number.
 */
export function encodeCsParticles(p: Omit<CsParticles, 'file'>): Uint8Array {
  const n = p.rows;
  const f32 = (name: string, values: ArrayLike<number>, shape?: number[]): NpyFieldSpec =>
    ({ name, descr: '<f4', values: Float32Array.from(values), ...(shape ? { shape } : {}) });
  const pathBytes = Math.max(1, ...p.blobPath.map((s) => Buffer.byteLength(s, 'utf8')));
  const specs: NpyFieldSpec[] = [
    { name: 'uid', descr: '<u8', values: BigUint64Array.from({ length: n }, (_, i) => BigInt(i)) },
    { name: 'blob/path', descr: `|S${pathBytes}`, values: p.blobPath },
    { name: 'blob/idx', descr: '<u4', values: Uint32Array.from(p.blobIdx) },
    { name: 'blob/shape', descr: '<u4', shape: [2], values: Uint32Array.from(p.blobShapePx) },
    f32('blob/psize_A', p.apixAngstrom),
  ];
  if (p.ctf) {
    const c = p.ctf;
    specs.push(
      { name: 'ctf/type', descr: '|S9', values: new Array<string>(n).fill('spline') },
      f32('ctf/accel_kv', c.voltageKv), f32('ctf/cs_mm', c.csMm), f32('ctf/amp_contrast', c.amplitudeContrast),
      f32('ctf/df1_A', c.defocusUAngstrom), f32('ctf/df2_A', c.defocusVAngstrom), f32('ctf/df_angle_rad', c.defocusAngleRad),
      f32('ctf/phase_shift_rad', c.phaseShiftRad), f32('ctf/bfactor', c.bFactor ?? new Float64Array(n)),
    );
  }
  if (p.pose) {
    specs.push(
      f32('alignments3D/shift', p.pose.shiftPx, [2]),
      f32('alignments3D/pose', p.pose.axisAngleRad, [3]),
      f32('alignments3D/psize_A', p.pose.alignApixAngstrom ?? p.apixAngstrom),
    );
  }
  return encodeStructuredNpy(specs, n);
}

/** Write particles as a `.cs` file, atomically. */
export function writeCs(path: string, p: Omit<CsParticles, 'file'>): void {
  writeFileAtomic(path, encodeCsParticles(p));
}
