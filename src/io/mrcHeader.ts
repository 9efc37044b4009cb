/**
 * MRC2014 header logic: decode the 1024-byte header with the file's own byte order, validate
 * it against the file size, and encode a header for writing. Types live in mrcSchema.ts.
 * Byte order is decided per file (machine stamp, else whichever order makes MODE and the
 * dimensions sensible) and returned with the header, never kept as shared state.
 * Hand-written: the format is a fixed table of 256 words and the npm MRC readers we know of do
 * not validate files or stream ranges the way cryospin needs.
 */
import { InputError } from './errors.js';
import {
  MRC_HEADER_BYTES, MRC_MODES, MRC_NVERSION_2014, MRC_UNSUPPORTED_MODES,
  type MrcHeader, type MrcHeaderInfo,
} from './mrcSchema.js';

/** Largest accepted NX or NY (pixels); larger values are taken as a corrupt header. */
const MAX_XY = 1 << 20;
/** Largest accepted NZ (sections or images). */
const MAX_Z = 0x7fffffff;

const ascii = (bytes: Uint8Array): string => {
  let s = '';
  for (const b of bytes) s += b >= 32 && b < 127 ? String.fromCharCode(b) : b === 0 ? '\0' : '?';
  return s;
};

function supportedModesText(): string {
  return [...MRC_MODES.keys()].join(', ');
}

/** Score how plausible the header words look in one byte order (higher is better). */
function plausibility(view: DataView, le: boolean): number {
  let score = 0;
  const mode = view.getInt32(12, le);
  if (MRC_MODES.has(mode) || MRC_UNSUPPORTED_MODES.has(mode)) score += 2;
  for (const [off, max] of [[0, MAX_XY], [4, MAX_XY], [8, 1 << 24]] as const) {
    const n = view.getInt32(off, le);
    if (n >= 1 && n <= max) score += 1;
  }
  return score;
}

/** Byte order from the machine stamp (word 54), else from the plausibility of MODE and NX/NY/NZ. */
function detectByteOrder(view: DataView, warnings: string[]): boolean {
  const s0 = view.getUint8(212);
  const s1 = view.getUint8(213);
  const scoreLe = plausibility(view, true);
  const scoreBe = plausibility(view, false);
  const stamped = s0 === 0x44 && (s1 === 0x44 || s1 === 0x41) ? true : s0 === 0x11 && s1 === 0x11 ? false : null;
  if (stamped !== null) {
    // Trust the stamp unless the other byte order is clearly the only one that makes sense.
    const [mine, other] = stamped ? [scoreLe, scoreBe] : [scoreBe, scoreLe];
    if (mine >= other) return stamped;
    warnings.push(`machine stamp says ${stamped ? 'little' : 'big'}-endian but MODE and NX/NY/NZ only make ` +
      `sense ${stamped ? 'big' : 'little'}-endian; using the latter`);
    return !stamped;
  }
  const little = scoreLe >= scoreBe;
  const stamp = [0, 1, 2, 3].map((i) => view.getUint8(212 + i).toString(16).padStart(2, '0')).join(' ');
  warnings.push(`machine stamp ${stamp} is not a known byte-order stamp; ` +
    `assuming ${little ? 'little' : 'big'}-endian because MODE and NX/NY/NZ make sense that way`);
  return little;
}

function axisOrder(h: MrcHeader, warnings: string[]): [number, number, number] {
  const a = [h.mapc, h.mapr, h.maps];
  const isPerm = a.every((v) => v >= 1 && v <= 3) && new Set(a).size === 3;
  if (isPerm) return [h.mapc - 1, h.mapr - 1, h.maps - 1];
  warnings.push(`MAPC/MAPR/MAPS = ${a.join(',')} is not a permutation of 1,2,3; assuming 1,2,3`);
  return [0, 1, 2];
}

/** Decode the raw header words (no validation). `bytes` must hold at least 1024 bytes. */
export function decodeMrcHeader(bytes: Uint8Array, le: boolean): MrcHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, MRC_HEADER_BYTES);
  const i32 = (word: number): number => v.getInt32(4 * (word - 1), le);
  const f32 = (word: number): number => v.getFloat32(4 * (word - 1), le);
  const nlabl = i32(56);
  const labels: string[] = [];
  for (let k = 0; k < Math.min(Math.max(nlabl, 0), 10); k++) {
    const off = 224 + 80 * k;
    labels.push(ascii(bytes.subarray(off, off + 80)).replace(/\0/g, ' ').trimEnd());
  }
  return {
    nx: i32(1), ny: i32(2), nz: i32(3), mode: i32(4),
    nxstart: i32(5), nystart: i32(6), nzstart: i32(7),
    mx: i32(8), my: i32(9), mz: i32(10),
    cella: [f32(11), f32(12), f32(13)],
    cellb: [f32(14), f32(15), f32(16)],
    mapc: i32(17), mapr: i32(18), maps: i32(19),
    dmin: f32(20), dmax: f32(21), dmean: f32(22),
    ispg: i32(23), nsymbt: i32(24),
    exttyp: ascii(bytes.subarray(104, 108)).replace(/\0/g, ''),
    nversion: i32(28),
    origin: [f32(50), f32(51), f32(52)],
    map: ascii(bytes.subarray(208, 212)),
    machst: [bytes[212]!, bytes[213]!, bytes[214]!, bytes[215]!],
    rms: f32(55),
    nlabl,
    labels,
  };
}

/**
 * Decode and validate the header of `file`. `bytes` holds the first min(1024, size) bytes of the
 * file and `fileSizeBytes` its total size. Throws InputError naming the file and the field.
 */
export function parseMrcHeader(bytes: Uint8Array, fileSizeBytes: number, file: string): MrcHeaderInfo {
  if (fileSizeBytes === 0) throw new InputError(file, 'file is empty (0 bytes), not an MRC file', { field: 'header' });
  if (fileSizeBytes < MRC_HEADER_BYTES || bytes.length < MRC_HEADER_BYTES) {
    throw new InputError(file, `file is ${fileSizeBytes} bytes, shorter than the ${MRC_HEADER_BYTES}-byte MRC header`,
      { field: 'header' });
  }
  const warnings: string[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, MRC_HEADER_BYTES);
  const littleEndian = detectByteOrder(view, warnings);
  const header = decodeMrcHeader(bytes, littleEndian);

  for (const [field, n, max] of [['nx', header.nx, MAX_XY], ['ny', header.ny, MAX_XY], ['nz', header.nz, MAX_Z]] as const) {
    if (!(n >= 1 && n <= max)) {
      throw new InputError(file, `${field.toUpperCase()} = ${n} is not a plausible size (expected 1..${max})`, { field });
    }
  }
  const modeInfo = MRC_MODES.get(header.mode);
  if (!modeInfo) {
    const known = MRC_UNSUPPORTED_MODES.get(header.mode);
    throw new InputError(file, `MODE ${header.mode}${known ? ` (${known})` : ' (unknown)'} unsupported; ` +
      `supported: ${supportedModesText()}`, { field: 'mode' });
  }
  const maxExt = fileSizeBytes - MRC_HEADER_BYTES;
  if (header.nsymbt < 0 || header.nsymbt > maxExt) {
    throw new InputError(file, `NSYMBT = ${header.nsymbt} bytes of extended header is impossible ` +
      `(must be 0..${maxExt}, the bytes after the 1024-byte header)`, { field: 'nsymbt' });
  }
  const dataOffsetBytes = MRC_HEADER_BYTES + header.nsymbt;
  const dataBytes = header.nx * header.ny * header.nz * modeInfo.bytes;
  if (dataOffsetBytes + dataBytes > fileSizeBytes) {
    throw new InputError(file, `data needs NX*NY*NZ*${modeInfo.bytes} = ${header.nx}*${header.ny}*${header.nz}*` +
      `${modeInfo.bytes} = ${dataBytes} bytes after ${dataOffsetBytes} header bytes, but the file is only ` +
      `${fileSizeBytes} bytes: truncated file, or wrong NX/NY/NZ/MODE/NSYMBT`, { field: 'nx/ny/nz' });
  }
  if (dataOffsetBytes + dataBytes < fileSizeBytes) {
    warnings.push(`${fileSizeBytes - dataOffsetBytes - dataBytes} bytes after the data are ignored`);
  }
  const axes = axisOrder(header, warnings);
  const dimsXyz: [number, number, number] = [0, 0, 0];
  dimsXyz[axes[0]] = header.nx;
  dimsXyz[axes[1]] = header.ny;
  dimsXyz[axes[2]] = header.nz;
  const apix = pixelSize(header, dimsXyz[0], warnings);
  return {
    header, littleEndian, warnings, dataOffsetBytes, bytesPerVoxel: modeInfo.bytes, fileSizeBytes, axes, dimsXyz, apix,
  };
}

/**
 * Pixel size in Angstrom = CELLA.x / MX, or null when the header does not really carry one:
 * CELLA.x or MX not positive or not finite, CELLA.x equal to MX or to the X size (the common
 * "unset" conventions, which give exactly 1 A/px or X/MX), or a value outside 0.01..1000 A.
 * A genuine 1.000 A/px map is therefore reported as null too; callers with a STAR/.cs pixel
 * size use theirs. Anisotropic voxels give the X value and a warning. The value is rounded to 7
 * significant digits (the precision of the float32 CELLA it comes from).
 */
function pixelSize(h: MrcHeader, dimX: number, warnings: string[]): number | null {
  const cx = h.cella[0];
  if (!(cx > 0) || !Number.isFinite(cx) || !(h.mx > 0)) {
    warnings.push('no pixel size in header (CELLA.x or MX not positive)');
    return null;
  }
  if (cx === h.mx || cx === dimX) {
    warnings.push(`CELLA.x = ${cx} equals ${cx === h.mx ? 'MX' : 'the X size'}: pixel size treated as unset`);
    return null;
  }
  // CELLA is float32: keep 7 significant digits so 281.6/64 gives 4.4, not 4.400000095.
  const apix = Number((cx / h.mx).toPrecision(7));
  if (!(apix >= 0.01 && apix <= 1000)) {
    warnings.push(`pixel size CELLA.x/MX = ${apix} A is implausible: treated as unset`);
    return null;
  }
  const ay = h.cella[1] / h.my;
  const az = h.cella[2] / h.mz;
  const differs = (a: number): boolean => Number.isFinite(a) && a > 0 && Math.abs(a - apix) > 1e-3 * apix;
  if (differs(ay) || (h.ispg !== 0 && differs(az))) {
    warnings.push(`voxels are not cubic (CELLA/M = ${apix}, ${ay}, ${az} A); using the X value`);
  }
  return apix;
}

/** Fields needed to encode a float32 MRC2014 header. */
export interface MrcHeaderFields {
  nx: number; ny: number; nz: number;
  mode: number;
  mx: number; my: number; mz: number;
  cella: [number, number, number];
  ispg: number;
  dmin: number; dmax: number; dmean: number; rms: number;
  origin: [number, number, number];
  labels: string[];
}

/** Encode a little-endian MRC2014 header (MAP stamp, machine stamp 0x44 0x44 0 0, axes 1,2,3). */
export function encodeMrcHeader(f: MrcHeaderFields): Uint8Array {
  const bytes = new Uint8Array(MRC_HEADER_BYTES);
  const v = new DataView(bytes.buffer);
  const i32 = (word: number, x: number): void => v.setInt32(4 * (word - 1), x, true);
  const f32 = (word: number, x: number): void => v.setFloat32(4 * (word - 1), x, true);
  i32(1, f.nx); i32(2, f.ny); i32(3, f.nz); i32(4, f.mode);
  i32(8, f.mx); i32(9, f.my); i32(10, f.mz);
  f32(11, f.cella[0]); f32(12, f.cella[1]); f32(13, f.cella[2]);
  f32(14, 90); f32(15, 90); f32(16, 90);
  i32(17, 1); i32(18, 2); i32(19, 3);
  f32(20, f.dmin); f32(21, f.dmax); f32(22, f.dmean);
  i32(23, f.ispg); i32(24, 0);
  i32(28, MRC_NVERSION_2014);
  f32(50, f.origin[0]); f32(51, f.origin[1]); f32(52, f.origin[2]);
  bytes.set([0x4d, 0x41, 0x50, 0x20], 208); // "MAP "
  bytes.set([0x44, 0x44, 0, 0], 212);
  f32(55, f.rms);
  const labels = f.labels.slice(0, 10);
  i32(56, labels.length);
  labels.forEach((label, k) => {
    const text = label.replace(/[^\x20-\x7e]/g, '?').slice(0, 80).padEnd(80, ' ');
    for (let c = 0; c < 80; c++) bytes[224 + 80 * k + c] = text.charCodeAt(c);
  });
  return bytes;
}
