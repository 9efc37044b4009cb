/**
 * MRC/MRCS maps and particle stacks (MRC2014): read whole maps (axis order undone to x,y,z),
 * stream any range of particles from a stack of any size with positioned reads, and write
 * float32 maps and stacks (atomic; stacks streamed in chunks and renamed into place on close).
 * Every mode cryospin reads (0 int8, 1 int16, 2 float32, 6 uint16, 12 float16) becomes float32.
 * Header decoding and validation: mrcHeader.ts; field documentation: mrcSchema.ts.
 * Hand-written: a small fixed binary format, and we need streaming, validation with clear
 * errors and NaN checks that no maintained npm package offers together.
 */
import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { commitTempFile, tempNameFor, writeFileAtomic } from './atomic.js';
import { InputError } from './errors.js';
import { ReadOnlyFile, MAX_READ_CHUNK_BYTES } from './fileHandle.js';
import { encodeMrcHeader, parseMrcHeader } from './mrcHeader.js';
import { MRC_HEADER_BYTES, type MrcHeader, type MrcHeaderInfo } from './mrcSchema.js';

export type { MrcHeader, MrcHeaderInfo } from './mrcSchema.js';

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let halfTable: Float32Array | null = null;
/** IEEE 754 binary16 -> float32 for all 65536 bit patterns (built once, 256 KiB). */
function float16Table(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = sign * m * 2 ** -24; // zero and subnormals: m/1024 * 2^-14
    else if (e === 31) t[h] = m ? NaN : sign * Infinity;
    else t[h] = sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  halfTable = t;
  return t;
}

/** Decode `count` stored voxels of `mode` from `raw` into out[outOffset...]. */
function decodeVoxels(raw: Uint8Array, mode: number, le: boolean, out: Float32Array, outOffset: number, count: number): void {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const native = le === HOST_LE;
  switch (mode) {
    case 0: {
      out.set(new Int8Array(raw.buffer, raw.byteOffset, count), outOffset); // signed: see MRC_MODES
      return;
    }
    case 1:
      if (native && raw.byteOffset % 2 === 0) out.set(new Int16Array(raw.buffer, raw.byteOffset, count), outOffset);
      else for (let i = 0; i < count; i++) out[outOffset + i] = v.getInt16(2 * i, le);
      return;
    case 2:
      if (native && raw.byteOffset % 4 === 0) out.set(new Float32Array(raw.buffer, raw.byteOffset, count), outOffset);
      else for (let i = 0; i < count; i++) out[outOffset + i] = v.getFloat32(4 * i, le);
      return;
    case 6:
      if (native && raw.byteOffset % 2 === 0) out.set(new Uint16Array(raw.buffer, raw.byteOffset, count), outOffset);
      else for (let i = 0; i < count; i++) out[outOffset + i] = v.getUint16(2 * i, le);
      return;
    case 12: {
      const t = float16Table();
      for (let i = 0; i < count; i++) out[outOffset + i] = t[v.getUint16(2 * i, le)]!;
      return;
    }
    default:
      throw new Error(`decodeVoxels: mode ${mode} not supported`); // unreachable: parseMrcHeader rejects it
  }
}

/** Read `count` voxels starting at voxel `startVoxel` of the data section into out[outOffset...]. */
function readVoxels(f: ReadOnlyFile, info: MrcHeaderInfo, startVoxel: number, count: number,
  out: Float32Array, outOffset: number, chunkBytes = MAX_READ_CHUNK_BYTES): void {
  const bpv = info.bytesPerVoxel;
  const mode = info.header.mode;
  const pos0 = info.dataOffsetBytes + startVoxel * bpv;
  if (mode === 2 && info.littleEndian === HOST_LE) {
    // Read straight into the output's memory: no copy, no decode.
    f.readAt(new Uint8Array(out.buffer, out.byteOffset + 4 * outOffset, 4 * count), pos0, 'data', chunkBytes);
    return;
  }
  const chunkVoxels = Math.max(1, Math.floor(chunkBytes / bpv));
  const scratch = new Uint8Array(Math.min(count, chunkVoxels) * bpv);
  for (let done = 0; done < count; done += chunkVoxels) {
    const n = Math.min(chunkVoxels, count - done);
    const raw = scratch.subarray(0, n * bpv);
    f.readAt(raw, pos0 + done * bpv);
    decodeVoxels(raw, mode, info.littleEndian, out, outOffset + done, n);
  }
}

function firstNonFinite(a: Float32Array, from = 0, to = a.length): number {
  for (let i = from; i < to; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

function countNonFinite(a: Float32Array): number {
  let c = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) c++;
  return c;
}

/** Read and validate the header of an MRC file (byte order, warnings and layout included). */
export function readMrcHeader(path: string): MrcHeaderInfo {
  const f = ReadOnlyFile.open(path);
  try {
    return headerOf(f);
  } finally {
    f.close();
  }
}

function headerOf(f: ReadOnlyFile): MrcHeaderInfo {
  const bytes = new Uint8Array(Math.min(MRC_HEADER_BYTES, f.sizeBytes));
  f.readAt(bytes, 0, 'header');
  return parseMrcHeader(bytes, f.sizeBytes, f.path);
}

/** A whole map, x fastest, then y, then z (axis permutation of the file undone). */
export interface MrcVolume {
  header: MrcHeader;
  data: Float32Array;
  nx: number;
  ny: number;
  nz: number;
  /** Pixel size in Angstrom (CELLA.x/MX), null when the header does not carry one. */
  apix: number | null;
  /** First voxel's position along x, y, z in Angstrom: ORIGIN, else N*START x voxel size (see originXyz). */
  origin: [number, number, number];
  littleEndian: boolean;
  warnings: string[];
  /** Number of NaN/Inf values in data (0 for a sound map). */
  nonFiniteCount: number;
}

export interface ReadMrcOptions {
  /**
   * Throw an InputError naming the first NaN/Inf voxel (default true, so no command computes on a
   * damaged map by accident); false only counts them in nonFiniteCount (e.g. to describe a file).
   */
  rejectNonFinite?: boolean;
}

/** Largest map readMrc loads at once (voxels); bigger files must be streamed with openMrcStack. */
const MAX_WHOLE_READ_VOXELS = 2 ** 31 - 1;

/** Read a whole MRC map or stack into memory as float32. */
export function readMrc(path: string, opts: ReadMrcOptions = {}): MrcVolume {
  const f = ReadOnlyFile.open(path);
  try {
    const info = headerOf(f);
    const h = info.header;
    const total = h.nx * h.ny * h.nz;
    if (total > MAX_WHOLE_READ_VOXELS) {
      throw new InputError(path, `${total} voxels is too large to read at once; stream it with openMrcStack`,
        { field: 'nx/ny/nz' });
    }
    const fileOrder = new Float32Array(total);
    readVoxels(f, info, 0, total, fileOrder, 0);
    const [X, Y, Z] = info.dimsXyz;
    const data = permuteToXyz(fileOrder, h.nx, h.ny, h.nz, info.axes, X, Y);
    const nonFiniteCount = countNonFinite(data);
    if (nonFiniteCount > 0 && opts.rejectNonFinite !== false) {
      const i = firstNonFinite(data);
      const x = i % X, y = Math.floor(i / X) % Y, z = Math.floor(i / (X * Y));
      throw new InputError(path, `${nonFiniteCount} NaN/Inf values in the data, first ${data[i]} at voxel ` +
        `(x,y,z) = (${x},${y},${z})`, { field: 'data' });
    }
    const origin = originXyz(info);
    return {
      header: h, data, nx: X, ny: Y, nz: Z, apix: info.apix, origin,
      littleEndian: info.littleEndian, warnings: info.warnings, nonFiniteCount,
    };
  } finally {
    f.close();
  }
}

/**
 * Position of the first voxel along x, y, z in Angstrom: ORIGIN (words 50-52) when any is non-zero,
 * else NXSTART/NYSTART/NZSTART (permuted to x,y,z) times the voxel size CELLA/M per axis, as EMDB
 * maps store it (the same rule as UCSF Chimera and Mol*); [0,0,0] when neither is usable.
 */
function originXyz(info: MrcHeaderInfo): [number, number, number] {
  const h = info.header;
  if (!h.origin.every(Number.isFinite)) {
    info.warnings.push(`ORIGIN = ${h.origin.join(',')} is not finite; using 0,0,0`);
    return [0, 0, 0];
  }
  if (h.origin.some((o) => o !== 0)) return [h.origin[0], h.origin[1], h.origin[2]];
  const start = [0, 0, 0];
  start[info.axes[0]] = h.nxstart;
  start[info.axes[1]] = h.nystart;
  start[info.axes[2]] = h.nzstart;
  if (start.every((s) => s === 0)) return [0, 0, 0];
  const m = [h.mx, h.my, h.mz];
  const voxel = h.cella.map((c, k) => (c > 0 && m[k]! > 0 ? c / m[k]! : NaN));
  if (info.apix === null || !voxel.every(Number.isFinite)) {
    info.warnings.push(`NXSTART/NYSTART/NZSTART = ${h.nxstart},${h.nystart},${h.nzstart} but no voxel size; origin 0,0,0`);
    return [0, 0, 0];
  }
  return [start[0]! * voxel[0]!, start[1]! * voxel[1]!, start[2]! * voxel[2]!];
}

/** Reorder data stored as (sections, rows, columns) with the given axis order into x,y,z order. */
function permuteToXyz(src: Float32Array, nc: number, nr: number, ns: number, axes: [number, number, number],
  X: number, Y: number): Float32Array {
  if (axes[0] === 0 && axes[1] === 1 && axes[2] === 2) return src;
  const strideXyz = [1, X, X * Y];
  const sc = strideXyz[axes[0]]!, sr = strideXyz[axes[1]]!, ss = strideXyz[axes[2]]!;
  const out = new Float32Array(src.length);
  let i = 0;
  for (let s = 0; s < ns; s++) {
    for (let r = 0; r < nr; r++) {
      const base = s * ss + r * sr;
      for (let c = 0; c < nc; c++) out[base + c * sc] = src[i++]!;
    }
  }
  return out;
}

/** A particle stack opened for random access; images are nx*ny float32, x fastest. */
export interface MrcStack {
  path: string;
  nx: number;
  ny: number;
  /** Number of images (NZ). */
  n: number;
  /** Pixel size in Angstrom from the header, null when unset (take it from the STAR/.cs file). */
  apix: number | null;
  /** Storage mode in the file (converted to float32 on read). */
  mode: number;
  littleEndian: boolean;
  header: MrcHeader;
  warnings: string[];
  /** Images start..start+count-1 (0-based) as one Float32Array of count*nx*ny values. */
  readRange(start: number, count: number, out?: Float32Array): Float32Array;
  /** Image i (0-based). */
  readOne(i: number): Float32Array;
  close(): void;
}

export interface OpenMrcStackOptions {
  /** Return images containing NaN/Inf instead of throwing (default false: throw). */
  allowNonFinite?: boolean;
  /** Largest single read call in bytes (default 256 MiB; smaller bounds the scratch memory). */
  chunkBytes?: number;
}

/** Open a stack (or any MRC file, read section by section) without loading it. */
export function openMrcStack(path: string, opts: OpenMrcStackOptions = {}): MrcStack {
  const f = ReadOnlyFile.open(path);
  let info: MrcHeaderInfo;
  try {
    info = headerOf(f);
  } catch (e) {
    f.close();
    throw e;
  }
  const h = info.header;
  if (info.axes[0] !== 0 || info.axes[1] !== 1) {
    f.close();
    throw new InputError(path, `MAPC/MAPR/MAPS = ${h.mapc},${h.mapr},${h.maps}: a stack's columns and rows ` +
      'must run along X and Y (1,2,3)', { field: 'mapc/mapr/maps' });
  }
  const { nx, ny } = h;
  const n = h.nz;
  const per = nx * ny;
  const chunkBytes = Math.max(1, Math.min(opts.chunkBytes ?? MAX_READ_CHUNK_BYTES, MAX_READ_CHUNK_BYTES));
  const readRange = (start: number, count: number, out?: Float32Array): Float32Array => {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > n) {
      throw new InputError(path, `images ${start}..${start + count - 1} requested, but the stack holds images ` +
        `0..${n - 1} (0-based)`, { record: start, field: 'nz' });
    }
    const dest = out ?? new Float32Array(count * per);
    if (dest.length < count * per) throw new RangeError(`readRange: out holds ${dest.length} < ${count * per} values`);
    readVoxels(f, info, start * per, count * per, dest, 0, chunkBytes);
    if (!opts.allowNonFinite) {
      for (let k = 0; k < count; k++) {
        const bad = firstNonFinite(dest, k * per, (k + 1) * per);
        if (bad >= 0) {
          const p = bad - k * per;
          throw new InputError(path, `particle ${start + k} (0-based) contains ${dest[bad]} at pixel ` +
            `(x,y) = (${p % nx},${Math.floor(p / nx)})`, { record: start + k, field: 'data' });
        }
      }
    }
    return dest;
  };
  return {
    path, nx, ny, n, apix: info.apix, mode: h.mode, littleEndian: info.littleEndian, header: h,
    warnings: info.warnings,
    readRange,
    readOne: (i: number) => readRange(i, 1),
    close: () => f.close(),
  };
}

/** Running statistics of float data (Chan et al. pairwise merge; float64 accumulators). */
interface Stats { n: number; mean: number; m2: number; min: number; max: number }

function statsOf(a: Float32Array, what: string): Stats {
  let min = Infinity, max = -Infinity, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (!Number.isFinite(x)) throw new Error(`${what}: refusing to write ${x} at index ${i}`);
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  const mean = a.length ? sum / a.length : 0;
  let m2 = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i]! - mean; m2 += d * d; }
  return { n: a.length, mean, m2, min, max };
}

function mergeStats(a: Stats, b: Stats): Stats {
  const n = a.n + b.n;
  if (n === 0) return a;
  const d = b.mean - a.mean;
  return {
    n, mean: a.mean + (d * b.n) / n, m2: a.m2 + b.m2 + (d * d * a.n * b.n) / n,
    min: Math.min(a.min, b.min), max: Math.max(a.max, b.max),
  };
}

function float32LeBytes(a: Float32Array): Uint8Array {
  if (HOST_LE) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const v = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) v.setFloat32(4 * i, a[i]!, true);
  return out;
}

export interface WriteMrcOptions {
  nx: number;
  ny: number;
  nz: number;
  /** Pixel size in Angstrom; null/absent writes CELLA = 0 (unset). */
  apixAngstrom?: number | null;
  /** Alias of apixAngstrom (docs/architecture.md contract). */
  apix?: number | null;
  /** ORIGIN (words 50-52) along x, y, z in Angstrom. */
  origin?: [number, number, number];
  /** Image stack (ISPG 0, MZ 1) rather than a volume (ISPG 1, MZ = NZ). */
  isStack?: boolean;
  label?: string;
}

const DEFAULT_LABEL = 'Created by cryospin';

function headerFor(o: { nx: number; ny: number; nz: number; apix: number | null; isStack: boolean;
  origin?: [number, number, number]; label?: string }, s: Stats): Uint8Array {
  const mz = o.isStack ? 1 : o.nz;
  const a = o.apix ?? 0;
  return encodeMrcHeader({
    nx: o.nx, ny: o.ny, nz: o.nz, mode: 2, mx: o.nx, my: o.ny, mz,
    cella: [o.nx * a, o.ny * a, mz * a], ispg: o.isStack ? 0 : 1,
    dmin: s.min, dmax: s.max, dmean: s.mean, rms: s.n ? Math.sqrt(s.m2 / s.n) : 0,
    origin: o.origin ?? [0, 0, 0], labels: [o.label ?? DEFAULT_LABEL],
  });
}

function checkDims(what: string, dims: Record<string, number>): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what}: ${k} = ${v} must be a positive integer`);
  }
}

function checkApix(what: string, apix: number | null): void {
  if (apix !== null && !(apix > 0 && Number.isFinite(apix))) throw new RangeError(`${what}: pixel size ${apix} invalid`);
}

/** Write a float32 MRC2014 map or stack atomically (little-endian, header statistics filled in). */
export function writeMrc(path: string, data: Float32Array, opts: WriteMrcOptions): void {
  const { nx, ny, nz } = opts;
  checkDims(`writeMrc(${path})`, { nx, ny, nz });
  if (data.length !== nx * ny * nz) {
    throw new RangeError(`writeMrc(${path}): data has ${data.length} values, expected nx*ny*nz = ${nx * ny * nz}`);
  }
  const apix = opts.apixAngstrom ?? opts.apix ?? null;
  checkApix(`writeMrc(${path})`, apix);
  const s = statsOf(data, `writeMrc(${path})`);
  const header = headerFor({ nx, ny, nz, apix, isStack: opts.isStack ?? false, origin: opts.origin, label: opts.label }, s);
  writeFileAtomic(path, [header, float32LeBytes(data)]);
}

/** Streaming writer of a float32 image stack; see createMrcStackWriter. */
export interface MrcStackWriter {
  readonly path: string;
  /** Images appended so far. */
  readonly count: number;
  /** Append one or more nx*ny images (x fastest). */
  append(images: Float32Array): void;
  /** Write the final header (NZ, statistics), flush and rename the file into place. */
  close(): void;
  /** Drop the partial file; the target path is left untouched. */
  abort(): void;
}

/**
 * Create a stack writer: images go to a temporary file beside `path`; close() rewrites the
 * header with the final NZ and statistics and renames the file into place, so readers never
 * see a partial stack. Stacks get ISPG 0 and MZ 1 like RELION and mrcfile write them.
 */
export function createMrcStackWriter(path: string, opts: { nx: number; ny: number; apixAngstrom: number | null;
  origin?: [number, number, number]; label?: string }): MrcStackWriter {
  const { nx, ny } = opts;
  checkDims(`createMrcStackWriter(${path})`, { nx, ny });
  checkApix(`createMrcStackWriter(${path})`, opts.apixAngstrom);
  const tmp = tempNameFor(path, 'partial');
  let fd: number | null = openSync(tmp, 'w');
  let count = 0;
  let posBytes = MRC_HEADER_BYTES;
  let stats: Stats = { n: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity };
  const writeAll = (bytes: Uint8Array, pos: number): void => {
    for (let off = 0; off < bytes.length;) {
      const len = Math.min(MAX_READ_CHUNK_BYTES, bytes.length - off);
      off += writeSync(fd!, bytes, off, len, pos + off);
    }
  };
  const requireOpen = (): void => {
    if (fd === null) throw new Error(`MrcStackWriter(${path}): already closed`);
  };
  writeAll(new Uint8Array(MRC_HEADER_BYTES), 0);
  const abort = (): void => {
    if (fd !== null) { closeSync(fd); fd = null; }
    try { unlinkSync(tmp); } catch { /* already gone */ }
  };
  return {
    path,
    get count() { return count; },
    append(images: Float32Array): void {
      requireOpen();
      if (images.length === 0 || images.length % (nx * ny) !== 0) {
        throw new RangeError(`MrcStackWriter(${path}): ${images.length} values is not a whole number of ${nx}x${ny} images`);
      }
      stats = mergeStats(stats, statsOf(images, `MrcStackWriter(${path}) image ${count}+`));
      writeAll(float32LeBytes(images), posBytes);
      posBytes += images.byteLength;
      count += images.length / (nx * ny);
    },
    close(): void {
      requireOpen();
      if (count === 0) {
        abort();
        throw new Error(`MrcStackWriter(${path}): no images appended; nothing written`);
      }
      try {
        writeAll(headerFor({ nx, ny, nz: count, apix: opts.apixAngstrom, isStack: true, origin: opts.origin,
          label: opts.label }, stats), 0);
        fsyncSync(fd!);
        closeSync(fd!);
        fd = null;
        commitTempFile(tmp, path);
      } catch (e) {
        abort();
        throw e;
      }
    },
    abort,
  };
}
