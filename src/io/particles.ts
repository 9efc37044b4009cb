/**
 * The unified particle set every command works on, loaded from any of the three inputs in use:
 * a RELION STAR (3.0 / 3.1 / 5, via relionStar.ts), a cryoSPARC `.cs` table, or an image stack
 * (`.mrcs`) with cryoDRGN's CTF pickle (and optionally its pose pickle).
 *
 * Whatever the source, a ParticleSet holds per particle: the stack file and 0-based image index,
 * the CTF (RELION units: Angstrom, degrees, kV, mm), RELION Euler angles in degrees and the
 * RELION origin in pixels (see docs/architecture.md for the sign conventions). Loading checks
 * what can be checked without reading pixels: one pixel size and one square box for the whole
 * set, every stack exists, matches the box, and holds the referenced image.
 * Pixel size: the value in the particle file wins; `apixAngstrom` fills in when the file has none
 * (and must agree with it otherwise); the stack header is the last resort.
 * `readParticleImages` reads images by particle index, grouping runs by stack file.
 */
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import type { CtfParams } from '../core/ctf.js';
import { matrixToEuler } from '../core/rotation.js';
import { ctfParamsAt, readCtfPkl, readPosePkl } from './cryodrgnPkl.js';
import { csPosesToRelion, readCsParticles } from './cs.js';
import { InputError } from './errors.js';
import { openMrcStack, type MrcStack } from './mrc.js';
import { particleStack, recordsView, type NumColumn, type ParticleColumns } from './particleTable.js';
import { readRelionParticles, resolveDataPath } from './relionStar.js';
import { readRelionColumns, type RelionColumnsDraft } from './relionStarColumns.js';

export interface ParticleRecord {
  /** Absolute path of the image stack. */
  stackPath: string;
  /** Image index in the stack, 0-based. */
  stackIndex: number;
  ctf: CtfParams | null;
  /** RELION [rot, tilt, psi] in degrees (A = Rz(psi) Ry(tilt) Rz(rot)); null if unknown. */
  eulerDeg: [number, number, number] | null;
  /** RELION origin (x, y) in pixels; null if unknown. */
  originPx: [number, number] | null;
  classNumber?: number;
}

export interface ParticleSet {
  /** The file the set was loaded from. */
  source: string;
  boxPx: number;
  apixAngstrom: number;
  /** One record per particle (for a compact set: a read-only view of `columns`, see particleTable.ts). */
  particles: ParticleRecord[];
  /** Compact sets (large STAR files): the same values as typed-array columns. */
  columns?: ParticleColumns;
}

export interface LoadParticlesOptions {
  /** cryoDRGN CTF pickle (N x 9) for a `.mrcs` input. */
  ctfPkl?: string;
  /** cryoDRGN pose pickle (R (N,3,3), t (N,2) as a fraction of the box) for a `.mrcs` input. */
  posePkl?: string;
  /** Pixel size to use when the particle file has none (must agree with it otherwise). */
  apixAngstrom?: number;
  /** Accept image paths outside the particle file's folder (or datadir). */
  allowOutside?: boolean;
  /** Folder holding the image stacks (default: the particle file's folder). */
  datadir?: string;
  /** Amplitude contrast for STAR files that have none (RELION 3.0). */
  amplitudeContrast?: number;
  /** Box size to use when neither the particle file nor a stack gives one (metadata-only use). */
  boxPx?: number;
  /**
   * Open every referenced stack to check it exists, matches the box and holds the image (default
   * true). Set false to convert metadata without the images (then boxPx/apixAngstrom may be needed).
   */
  checkStacks?: boolean;
  /**
   * Hold the per-particle values as typed-array columns (particleTable.ts; STAR input only, read
   * in chunks): default for STAR files of 8 MiB and more (~60,000 particles). The result is the
   * same set; `particles` is then a read-only view.
   */
  compactTable?: boolean;
}

/** STAR files from this size on are read into a compact table by default. */
export const COMPACT_TABLE_MIN_BYTES = 8 << 20;

export type ParticleFormat = 'star' | 'cs' | 'mrcs';

/** One particle as read, before pixel size and box are settled. */
interface Draft {
  stackPath: string;
  stackIndex: number;
  ctf: CtfParams | null;
  eulerDeg: [number, number, number] | null;
  originPx: [number, number] | null;
  originAngstrom: [number, number] | null;
  classNumber?: number;
  /** cryoDRGN translation (origin / box); turned into pixels once the box is known. */
  originFractionOfBox?: [number, number];
  /** Pixel size and box stated by the particle file, if any. */
  apixAngstrom: number | null;
  boxPx: number | null;
}

/** Decide the input type from the extension, falling back to the first bytes. */
export function detectParticleFormat(path: string): ParticleFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.star') return 'star';
  if (ext === '.cs') return 'cs';
  if (ext === '.mrcs' || ext === '.mrc' || ext === '.st') return 'mrcs';
  let head: Buffer;
  try {
    const fd = openSync(path, 'r');
    head = Buffer.alloc(1024);
    const n = readSync(fd, head, 0, 1024, 0);
    closeSync(fd);
    head = head.subarray(0, n);
  } catch (e) {
    throw new InputError(path, `cannot read: ${(e as Error).message}`);
  }
  if (head.subarray(0, 6).toString('latin1') === '\x93NUMPY') return 'cs';
  if (/(^|\n)\s*data_/.test(head.toString('latin1'))) return 'star';
  if (head.length >= 1024 && head.subarray(208, 212).toString('latin1') === 'MAP ') return 'mrcs';
  throw new InputError(path, 'unknown particle file type: expected .star (RELION), .cs (cryoSPARC) or .mrcs (+ ctf.pkl)');
}

/** Load a particle set from a STAR, `.cs` or `.mrcs` (+ cryoDRGN pickles) file. */
export function loadParticles(path: string, opts: LoadParticlesOptions = {}): ParticleSet {
  if (!existsSync(path)) throw new InputError(path, 'file not found');
  const format = detectParticleFormat(path);
  if (format === 'star' && (opts.compactTable ?? statSync(path).size >= COMPACT_TABLE_MIN_BYTES)) {
    const cols = readRelionColumns(path, { allowOutside: opts.allowOutside, datadir: opts.datadir, amplitudeContrast: opts.amplitudeContrast });
    const set = cols ? settleColumns(path, cols, opts) : null;
    if (set) return set;
    // not plain enough for the fast path, or something to report: the ordinary route below says what
  }
  const drafts = format === 'star' ? starDrafts(path, opts) : format === 'cs' ? csDrafts(path, opts) : stackDrafts(path, opts);
  return settle(path, format, drafts, opts);
}

function starDrafts(path: string, opts: LoadParticlesOptions): Draft[] {
  const t = readRelionParticles(path, { allowOutside: opts.allowOutside, datadir: opts.datadir, amplitudeContrast: opts.amplitudeContrast });
  return t.particles.map((p) => {
    const d: Draft = {
      stackPath: p.stackPath, stackIndex: p.stackIndex, ctf: p.ctf, eulerDeg: p.eulerDeg,
      originPx: p.originPx, originAngstrom: p.originAngstrom, apixAngstrom: p.apixAngstrom, boxPx: p.boxPx,
    };
    if (p.classNumber !== undefined) d.classNumber = p.classNumber;
    return d;
  });
}

// ------------------------------------------------------------------------------ cryoSPARC .cs

function csDrafts(path: string, opts: LoadParticlesOptions): Draft[] {
  const cs = readCsParticles(path, { requireCtf: false });
  const deg = 180 / Math.PI;
  const A = cs.pose ? csPosesToRelion(cs.pose.axisAngleRad) : null;
  const resolved = new Map<string, string>();
  const drafts: Draft[] = [];
  for (let i = 0; i < cs.rows; i++) {
    const raw = cs.blobPath[i];
    if (raw.trim() === '') throw new InputError(path, 'empty image path', { record: i, field: 'blob/path' });
    let stackPath = resolved.get(raw);
    if (stackPath === undefined) {
      stackPath = resolveDataPath(raw, path, i, 'blob/path', opts);
      resolved.set(raw, stackPath);
    }
    const c = cs.ctf;
    const ctf: CtfParams | null = c ? {
      defocusUAngstrom: c.defocusUAngstrom[i], defocusVAngstrom: c.defocusVAngstrom[i],
      defocusAngleDeg: c.defocusAngleRad[i] * deg, voltageKv: c.voltageKv[i], csMm: c.csMm[i],
      amplitudeContrast: c.amplitudeContrast[i], phaseShiftDeg: c.phaseShiftRad[i] * deg, bFactor: c.bFactor ? c.bFactor[i] : 0,
    } : null;
    const ny = cs.blobShapePx[2 * i], nx = cs.blobShapePx[2 * i + 1];
    if (nx !== ny) throw new InputError(path, `blob/shape ${ny}x${nx}: square images are required`, { record: i, field: 'blob/shape' });
    drafts.push({
      stackPath, stackIndex: cs.blobIdx[i], ctf,
      eulerDeg: A ? matrixToEuler(A.subarray(9 * i, 9 * i + 9)) : null,
      originPx: cs.pose ? [cs.pose.shiftPx[2 * i], cs.pose.shiftPx[2 * i + 1]] : null, originAngstrom: null,
      apixAngstrom: cs.apixAngstrom[i], boxPx: nx,
    });
  }
  return drafts;
}

// ------------------------------------------------------------------- .mrcs + cryoDRGN pickles

function stackDrafts(path: string, opts: LoadParticlesOptions): Draft[] {
  const stack = openMrcStack(path);
  const n = stack.n;
  stack.close();
  const stackPath = resolve(path);
  const ctf = opts.ctfPkl !== undefined ? readCtfPkl(opts.ctfPkl) : null;
  if (ctf && ctf.n !== n) throw new InputError(opts.ctfPkl!, `${ctf.n} CTF rows for ${n} images in ${path}`);
  const poses = opts.posePkl !== undefined ? readPosePkl(opts.posePkl) : null;
  if (poses && poses.n !== n) throw new InputError(opts.posePkl!, `${poses.n} poses for ${n} images in ${path}`);
  const drafts: Draft[] = [];
  for (let i = 0; i < n; i++) {
    const d: Draft = {
      stackPath, stackIndex: i, ctf: ctf ? ctfParamsAt(ctf, i) : null,
      eulerDeg: poses ? matrixToEuler(poses.rotations.subarray(9 * i, 9 * i + 9)) : null,
      originPx: null, originAngstrom: null,
      apixAngstrom: ctf ? ctf.apixAngstrom[i] : null, boxPx: ctf ? ctf.boxPx[i] : null,
    };
    const t = poses?.translationsFrac;
    if (t) d.originFractionOfBox = [t[2 * i], t[2 * i + 1]];
    drafts.push(d);
  }
  return drafts;
}

// -------------------------------------------------------------------- consistency and images

const relClose = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(Math.abs(a), Math.abs(b));

/** Names of the checked values in each input format (for error messages). */
const FIELD_NAMES: Record<ParticleFormat, Record<keyof CtfParams | 'euler' | 'origin' | 'apix' | 'box', string>> = {
  star: {
    defocusUAngstrom: '_rlnDefocusU', defocusVAngstrom: '_rlnDefocusV', defocusAngleDeg: '_rlnDefocusAngle',
    voltageKv: '_rlnVoltage', csMm: '_rlnSphericalAberration', amplitudeContrast: '_rlnAmplitudeContrast',
    phaseShiftDeg: '_rlnPhaseShift', bFactor: '_rlnCtfBfactor', euler: '_rlnAngleRot/_rlnAngleTilt/_rlnAnglePsi',
    origin: '_rlnOriginX/_rlnOriginY', apix: '_rlnImagePixelSize', box: '_rlnImageSize',
  },
  cs: {
    defocusUAngstrom: 'ctf/df1_A', defocusVAngstrom: 'ctf/df2_A', defocusAngleDeg: 'ctf/df_angle_rad', voltageKv: 'ctf/accel_kv',
    csMm: 'ctf/cs_mm', amplitudeContrast: 'ctf/amp_contrast', phaseShiftDeg: 'ctf/phase_shift_rad', bFactor: 'ctf/bfactor',
    euler: 'alignments3D/pose', origin: 'alignments3D/shift', apix: 'blob/psize_A', box: 'blob/shape',
  },
  mrcs: {
    defocusUAngstrom: 'dfU (column 2)', defocusVAngstrom: 'dfV (column 3)', defocusAngleDeg: 'dfang (column 4)',
    voltageKv: 'kV (column 5)', csMm: 'Cs (column 6)', amplitudeContrast: 'w (column 7)', phaseShiftDeg: 'phase shift (column 8)',
    bFactor: 'B-factor', euler: 'rotations', origin: 'translations', apix: 'Apix (column 1)', box: 'D (column 0)',
  },
};

/**
 * Refuse NaN/Inf in any per-particle number (CTF, angles, origins) and a non-positive voltage, so no
 * command ever computes on them. `ctfFile`/`poseFile` are the files the values came from.
 */
function checkFiniteValues(format: ParticleFormat, drafts: Draft[], ctfFile: string, poseFile: string): void {
  const names = FIELD_NAMES[format];
  drafts.forEach((d, i) => {
    if (d.ctf) {
      for (const k of Object.keys(d.ctf) as (keyof CtfParams)[]) {
        const v = d.ctf[k];
        if (!Number.isFinite(v)) throw new InputError(ctfFile, `CTF value is ${v}`, { record: i, field: names[k] });
      }
      if (!(d.ctf.voltageKv > 0)) throw new InputError(ctfFile, `voltage must be positive, got ${d.ctf.voltageKv} kV`, { record: i, field: names.voltageKv });
    }
    if (d.eulerDeg && !d.eulerDeg.every(Number.isFinite)) {
      throw new InputError(poseFile, `angles are not finite (${d.eulerDeg.join(', ')})`, { record: i, field: names.euler });
    }
    const o = d.originFractionOfBox ?? d.originPx ?? d.originAngstrom;
    if (o && !o.every(Number.isFinite)) throw new InputError(poseFile, `origin is not finite (${o.join(', ')})`, { record: i, field: names.origin });
    if (d.boxPx !== null && !(Number.isInteger(d.boxPx) && d.boxPx > 0)) {
      throw new InputError(ctfFile, `image size must be a positive integer, got ${d.boxPx}`, { record: i, field: names.box });
    }
  });
}

/** Settle pixel size and box, check every stack, and build the set. */
function settle(source: string, format: ParticleFormat, drafts: Draft[], opts: LoadParticlesOptions): ParticleSet {
  const field = format === 'cs' ? 'blob/path' : format === 'star' ? '_rlnImageName' : 'stack';
  // The file stating pixel size, box and CTF: the particle file, or for a stack its CTF pickle.
  const metaFile = format === 'mrcs' ? opts.ctfPkl ?? source : source;
  checkFiniteValues(format, drafts, metaFile, format === 'mrcs' ? opts.posePkl ?? source : source);
  const apixField = FIELD_NAMES[format].apix;
  let fileApix: number | null = null;
  let fileBox: number | null = null;
  drafts.forEach((d, i) => {
    if (d.apixAngstrom !== null) {
      if (!(d.apixAngstrom > 0) || !Number.isFinite(d.apixAngstrom)) {
        throw new InputError(metaFile, `pixel size must be positive, got ${d.apixAngstrom}`, { record: i, field: apixField });
      }
      if (fileApix === null) fileApix = d.apixAngstrom;
      else if (!relClose(fileApix, d.apixAngstrom)) {
        throw new InputError(metaFile, `pixel size ${d.apixAngstrom} A differs from ${fileApix} A of earlier particles; one set needs one pixel size`, { record: i, field: apixField });
      }
    }
    if (d.boxPx !== null) {
      if (fileBox === null) fileBox = d.boxPx;
      else if (fileBox !== d.boxPx) {
        throw new InputError(metaFile, `image size ${d.boxPx} differs from ${fileBox} of earlier particles; one set needs one box size`, { record: i, field: FIELD_NAMES[format].box });
      }
    }
  });
  if (opts.apixAngstrom !== undefined) {
    if (!(opts.apixAngstrom > 0)) throw new InputError(source, `apixAngstrom must be positive, got ${opts.apixAngstrom}`);
    if (fileApix !== null && !relClose(fileApix, opts.apixAngstrom)) {
      throw new InputError(metaFile, `the file states a pixel size of ${fileApix} A but ${opts.apixAngstrom} A was given (--apix)`, { field: apixField });
    }
  }

  // Check each stack once: exists, square, matches the box, long enough.
  const stacks = new Map<string, { n: number; apix: number | null }>();
  let box: number | null = fileBox;
  if (opts.boxPx !== undefined && fileBox !== null && opts.boxPx !== fileBox) {
    throw new InputError(source, `the file states an image size of ${fileBox} px but ${opts.boxPx} was given`);
  }
  if (opts.checkStacks === false) box = fileBox ?? opts.boxPx ?? null;
  else drafts.forEach((d, i) => {
    let s = stacks.get(d.stackPath);
    if (s === undefined) {
      if (!existsSync(d.stackPath)) throw new InputError(source, `image stack not found: ${d.stackPath}`, { record: i, field });
      if (!statSync(d.stackPath).isFile()) throw new InputError(source, `image stack is not a regular file: ${d.stackPath}`, { record: i, field });
      const st = openMrcStack(d.stackPath);
      s = { n: st.n, apix: st.apix };
      st.close();
      if (st.nx !== st.ny) throw new InputError(source, `stack ${d.stackPath} holds ${st.nx}x${st.ny} images; square images are required`, { record: i, field });
      if (box === null) box = st.nx;
      else if (st.nx !== box) {
        // the size came from the metadata (for a stack + CTF pickle: the pickle's D column)
        throw new InputError(metaFile, `stack ${d.stackPath} holds ${st.nx}x${st.ny} images but the image size is ${box}`,
          { record: i, field: format === 'mrcs' && metaFile !== source ? FIELD_NAMES.mrcs.box : field });
      }
      stacks.set(d.stackPath, s);
    }
    if (!Number.isInteger(d.stackIndex) || d.stackIndex < 0 || d.stackIndex >= s.n) {
      throw new InputError(source, `image ${d.stackIndex + 1} (1-based) is beyond the end of ${d.stackPath} (${s.n} images)`, { record: i, field });
    }
  });
  if (box === null) {
    if (drafts.length > 0) throw new InputError(source, 'image size unknown: not in the particle file; give boxPx (-D)');
    box = opts.boxPx ?? 0;
  }

  let apix: number | null = fileApix ?? opts.apixAngstrom ?? null;
  if (apix === null) for (const s of stacks.values()) if (s.apix !== null && s.apix > 0) { apix = s.apix; break; }
  if (apix === null) {
    throw new InputError(source, 'pixel size unknown: not in the particle file nor the stack header; give apixAngstrom (--apix)');
  }
  const a = apix;
  const b = box;
  const particles = drafts.map((d): ParticleRecord => {
    let originPx = d.originPx;
    if (d.originFractionOfBox) originPx = [d.originFractionOfBox[0] * b, d.originFractionOfBox[1] * b];
    if (originPx === null && d.originAngstrom !== null) originPx = [d.originAngstrom[0] / a, d.originAngstrom[1] / a];
    const r: ParticleRecord = { stackPath: d.stackPath, stackIndex: d.stackIndex, ctf: d.ctf, eulerDeg: d.eulerDeg, originPx };
    if (d.classNumber !== undefined) r.classNumber = d.classNumber;
    return r;
  });
  return { source, boxPx: b, apixAngstrom: a, particles };
}

/**
 * settle() for a compact table: the same checks and the same values; null whenever a check fails
 * (the ordinary route then reports the error with its message and location).
 */
function settleColumns(source: string, d: RelionColumnsDraft, opts: LoadParticlesOptions): ParticleSet | null {
  if (opts.apixAngstrom !== undefined && (!(opts.apixAngstrom > 0) || (d.apixAngstrom !== null && !relClose(d.apixAngstrom, opts.apixAngstrom)))) return null;
  if (opts.boxPx !== undefined && d.boxPx !== null && opts.boxPx !== d.boxPx) return null;
  let box: number | null = d.boxPx;
  const stackApix: number[] = [];
  if (opts.checkStacks === false) box = d.boxPx ?? opts.boxPx ?? null;
  else {
    const count: number[] = [];
    for (const p of d.stackPaths) {
      if (!existsSync(p) || !statSync(p).isFile()) return null;
      let st: MrcStack;
      try { st = openMrcStack(p); } catch { return null; }
      st.close();
      if (st.nx !== st.ny || (box !== null && st.nx !== box)) return null;
      box ??= st.nx;
      count.push(st.n);
      if (st.apix !== null && st.apix > 0) stackApix.push(st.apix);
    }
    for (let i = 0; i < d.n; i++) if (d.stackIndex[i]! >= count[d.stackId[i]!]!) return null;
  }
  if (box === null) return null;
  const apix = d.apixAngstrom ?? opts.apixAngstrom ?? stackApix[0] ?? null;
  if (apix === null) return null;
  let originPx = d.origin;
  if (originPx && d.originInAngstrom) {
    const conv = (c: NumColumn): NumColumn => (typeof c === 'number' ? c / apix : c.map((v) => v / apix));
    originPx = [conv(originPx[0]), conv(originPx[1])];
  }
  const columns: ParticleColumns = {
    n: d.n, stackPaths: d.stackPaths, stackId: d.stackId, stackIndex: d.stackIndex, ctf: d.ctf,
    eulerDeg: d.eulerDeg, originPx, classNumber: d.classNumber,
  };
  return { source, boxPx: box, apixAngstrom: apix, particles: recordsView(columns), columns };
}

/** Reads particle images through a small cache of open stacks; call close() when done. */
export class ParticleImageReader {
  private readonly open = new Map<string, MrcStack>();
  constructor(readonly set: ParticleSet, readonly maxOpen = 16) {}

  private stack(path: string): MrcStack {
    let s = this.open.get(path);
    if (s !== undefined) {
      this.open.delete(path); // re-insert: most recently used last
      this.open.set(path, s);
      return s;
    }
    if (this.open.size >= this.maxOpen) {
      const [oldPath, old] = this.open.entries().next().value as [string, MrcStack];
      old.close();
      this.open.delete(oldPath);
    }
    s = openMrcStack(path);
    this.open.set(path, s);
    return s;
  }

  /** Images of the selected particles, concatenated (count x D x D float32). */
  read(sel: number[] | { start: number; count: number }, out?: Float32Array): Float32Array {
    const ids = Array.isArray(sel) ? sel : Array.from({ length: sel.count }, (_, k) => sel.start + k);
    const D = this.set.boxPx;
    const per = D * D;
    const dest = out ?? new Float32Array(ids.length * per);
    if (dest.length < ids.length * per) throw new RangeError(`read: out holds ${dest.length} < ${ids.length * per} values`);
    const set = this.set;
    let k = 0;
    while (k < ids.length) {
      const p = particleStack(set, ids[k]);
      if (p === undefined) throw new RangeError(`particle ${ids[k]} is not in the set (${set.particles.length} particles)`);
      // Extend a run of consecutive images in the same stack.
      let m = k + 1;
      while (m < ids.length) {
        const q = particleStack(set, ids[m]);
        if (q === undefined || q.stackPath !== p.stackPath || q.stackIndex !== p.stackIndex + (m - k)) break;
        m++;
      }
      this.stack(p.stackPath).readRange(p.stackIndex, m - k, dest.subarray(k * per, m * per));
      k = m;
    }
    return dest;
  }

  close(): void {
    for (const s of this.open.values()) s.close();
    this.open.clear();
  }
}

/** Read the images of the selected particles (one-off: opens and closes the stacks it needs). */
export function readParticleImages(set: ParticleSet, sel: number[] | { start: number; count: number }, reader?: ParticleImageReader): Float32Array {
  if (reader) return reader.read(sel);
  const r = new ParticleImageReader(set);
  try {
    return r.read(sel);
  } finally {
    r.close();
  }
}
