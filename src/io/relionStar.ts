/**
 * RELION particle STAR semantics on top of the plain STAR parser (star.ts): optics groups,
 * per-particle image reference, CTF, Euler angles and origins, for the three layouts in use:
 * - RELION <= 3.0: one particle table (`data_`, `data_images`, ...), `_rlnOriginX/Y` in pixels,
 *   pixel size = `_rlnDetectorPixelSize` (um) * 1e4 / `_rlnMagnification`.
 * - RELION 3.1 / 4 / 5: `data_optics` + `data_particles` (either order), `_rlnOriginX/YAngst` in
 *   Angstrom; a value missing from the particle table comes from the particle's optics group.
 * Image references are `idx@path`, idx 1-based, path relative to the STAR file's folder (or to
 * `datadir`); paths escaping that folder are refused unless `allowOutside` is set.
 * Missing CTF values follow RELION: DefocusV = DefocusU, angle/phase shift/B-factor = 0; voltage,
 * Cs and amplitude contrast must be known (from the file or, for Q, `amplitudeContrast`).
 * Also writes a particle set back as a RELION 3.1 STAR (`writeParticlesStar`).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { CtfParams } from '../core/ctf.js';
import { InputError } from './errors.js';
import type { ParticleSet } from './particles.js';
import { readStar, writeStar, type StarBlock, type StarFile, type StarLoop } from './star.js';

export interface RelionOpticsGroup {
  opticsGroup: number;
  name: string | null;
  apixAngstrom: number | null;
  boxPx: number | null;
  voltageKv: number | null;
  csMm: number | null;
  amplitudeContrast: number | null;
}

/** One row of the particle table, resolved against its optics group. */
export interface RelionParticle {
  /** Row index in the particle table, 0-based (used in error messages). */
  record: number;
  imageName: string;
  /** Absolute path of the image stack. */
  stackPath: string;
  /** Image index in the stack, 0-based (the STAR's idx - 1). */
  stackIndex: number;
  opticsGroup: number | null;
  /** Pixel size stated by the file (optics group or Magnification/DetectorPixelSize), else null. */
  apixAngstrom: number | null;
  /** Box size stated by the file (`_rlnImageSize`), else null. */
  boxPx: number | null;
  ctf: CtfParams | null;
  /** [rot, tilt, psi] in degrees, RELION convention; null when the file has no angles. */
  eulerDeg: [number, number, number] | null;
  /** Origin in pixels; null if absent, or if given in Angstrom with no pixel size in the file. */
  originPx: [number, number] | null;
  /** Origin in Angstrom as written (3.1+ files), else null. */
  originAngstrom: [number, number] | null;
  classNumber?: number;
  randomSubset?: number;
}

export interface RelionParticles {
  file: string;
  /** '3.1' when a data_optics block is present (3.1, 4, 5), else '3.0'. */
  layout: '3.0' | '3.1';
  opticsGroups: RelionOpticsGroup[];
  particles: RelionParticle[];
}

export interface RelionReadOptions {
  /** Accept image paths outside the STAR file's folder (or datadir). */
  allowOutside?: boolean;
  /** Resolve image paths against this folder instead of the STAR's (then by basename if absent). */
  datadir?: string;
  /** Amplitude contrast to use when the file has none (RELION 3.0 files often lack it). */
  amplitudeContrast?: number;
}

/** Column access for one table: value lookup with numeric parsing and located errors. */
class Table {
  private readonly index = new Map<string, number>();
  constructor(readonly loop: StarLoop, readonly file: string) {
    loop.columns.forEach((c, i) => this.index.set(c, i));
  }
  has(col: string): boolean {
    return this.index.has(col);
  }
  /** Index of a column, -1 if absent. */
  col(name: string): number {
    return this.index.get(name) ?? -1;
  }
  /** Number in column index `ci` of `row` (null when the column is absent). */
  numAt(row: number, ci: number, record: number | string = row): number | null {
    if (ci < 0) return null;
    const s = this.loop.rows[row][ci];
    const v = Number(s);
    if (!Number.isFinite(v) || s.trim() === '') {
      throw new InputError(this.file, `expected a number, got "${s}"`, { record, field: this.loop.columns[ci] });
    }
    return v;
  }
  intAt(row: number, ci: number, record: number | string = row): number | null {
    const v = this.numAt(row, ci, record);
    if (v !== null && !Number.isInteger(v)) {
      throw new InputError(this.file, `expected an integer, got "${this.loop.rows[row][ci]}"`, { record, field: this.loop.columns[ci] });
    }
    return v;
  }
  get rows(): number {
    return this.loop.rows.length;
  }
  str(row: number, col: string): string | undefined {
    const i = this.index.get(col);
    return i === undefined ? undefined : this.loop.rows[row][i];
  }
  num(row: number, col: string, record: number | string = row): number | undefined {
    const s = this.str(row, col);
    if (s === undefined) return undefined;
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) {
      throw new InputError(this.file, `expected a number, got "${s}"`, { record, field: col });
    }
    return v;
  }
  int(row: number, col: string, record: number | string = row): number | undefined {
    const v = this.num(row, col, record);
    if (v !== undefined && !Number.isInteger(v)) {
      throw new InputError(this.file, `expected an integer, got "${this.str(row, col)}"`, { record, field: col });
    }
    return v;
  }
}

/** The block's first loop, or its pairs as a one-row table (null when empty). */
export function loopOf(block: StarBlock): StarLoop | null {
  if (block.loops.length > 0) return block.loops[0];
  const keys = Object.keys(block.pairs);
  if (keys.length === 0) return null;
  return { columns: keys, rows: [keys.map((k) => block.pairs[k])], line: 0 };
}

/** The block holding the particle table (throws InputError when there is none). */
export function findParticleBlock(star: StarFile, file: string): StarBlock {
  const withImages = (b: StarBlock): boolean => loopOf(b)?.columns.includes('_rlnImageName') ?? false;
  for (const name of ['particles', 'images', '']) {
    const b = star.blocks.find((x) => x.name === name && withImages(x));
    if (b) return b;
  }
  const any = star.blocks.find(withImages);
  if (any) return any;
  throw new InputError(file, 'no particle table: no data block has an _rlnImageName column', { field: '_rlnImageName' });
}

/** The data_optics groups, or null for a RELION 3.0 file (throws InputError on a bad table). */
export function readOptics(star: StarFile, file: string): RelionOpticsGroup[] | null {
  const block = star.blocks.find((b) => b.name === 'optics');
  const loop = block ? loopOf(block) : null;
  if (!loop) return null;
  const t = new Table(loop, file);
  if (!t.has('_rlnOpticsGroup')) throw new InputError(file, 'data_optics has no _rlnOpticsGroup column', { field: '_rlnOpticsGroup' });
  const groups: RelionOpticsGroup[] = [];
  for (let r = 0; r < t.rows; r++) {
    const at = `optics row ${r}`;
    const num = (c: string): number | null => t.num(r, c, at) ?? null;
    let apix = num('_rlnImagePixelSize');
    const det = num('_rlnDetectorPixelSize'), mag = num('_rlnMagnification');
    if (apix === null && det !== null && mag !== null && mag > 0) apix = (det * 1e4) / mag;
    groups.push({
      opticsGroup: t.int(r, '_rlnOpticsGroup', at)!,
      name: t.str(r, '_rlnOpticsGroupName') ?? null,
      apixAngstrom: apix,
      boxPx: t.int(r, '_rlnImageSize', at) ?? null,
      voltageKv: num('_rlnVoltage'),
      csMm: num('_rlnSphericalAberration'),
      amplitudeContrast: num('_rlnAmplitudeContrast'),
    });
  }
  return groups;
}

/**
 * Resolve a data path named inside a metadata file: relative to `datadir` if given (falling back
 * to its basename there, as cryoDRGN does), else to the metadata file's folder. A path that ends
 * up outside that folder (via `..` or an absolute path) is refused unless `allowOutside`.
 */
export function resolveDataPath(
  name: string, metaFile: string, record: number, field: string, opts: { datadir?: string; allowOutside?: boolean },
): string {
  const base = resolve(opts.datadir ?? dirname(metaFile));
  let p = isAbsolute(name) ? resolve(name) : resolve(base, name);
  if (opts.datadir !== undefined && !existsSync(p)) {
    const alt = resolve(base, basename(name));
    if (existsSync(alt)) p = alt;
  }
  const r = relative(base, p);
  if ((r === '..' || r.startsWith('..' + sep) || isAbsolute(r)) && !opts.allowOutside) {
    throw new InputError(metaFile, `image path "${name}" resolves outside ${base} (${p}); pass allowOutside (--allow-outside) to accept it`, { record, field });
  }
  return p;
}

/** Split `idx@path` (idx 1-based) and resolve the path; enforces the outside-folder rule. */
export function resolveImageName(
  imageName: string, starFile: string, record: number, opts: RelionReadOptions,
  cache?: Map<string, string>,
): { stackPath: string; stackIndex: number } {
  const at = imageName.indexOf('@');
  let idx = 1;
  let rel = imageName;
  if (at >= 0) {
    const s = imageName.slice(0, at);
    idx = Number(s);
    if (!/^\d+$/.test(s) || idx < 1) {
      throw new InputError(starFile, `image index must be a positive integer (1-based), got "${s}" in "${imageName}"`, { record, field: '_rlnImageName' });
    }
    rel = imageName.slice(at + 1);
  }
  rel = rel.replace(/:mrcs?$/, ''); // RELION's optional file-type suffix
  if (rel === '') throw new InputError(starFile, `empty image path in "${imageName}"`, { record, field: '_rlnImageName' });
  let stackPath = cache?.get(rel);
  if (stackPath === undefined) {
    stackPath = resolveDataPath(rel, starFile, record, '_rlnImageName', opts);
    cache?.set(rel, stackPath);
  }
  return { stackPath, stackIndex: idx - 1 };
}

/** Column indices of the particle fields we read (-1 when absent). */
function particleColumns(t: Table) {
  const c = (name: string): number => t.col(name);
  return {
    group: c('_rlnOpticsGroup'), image: c('_rlnImageName'), apix: c('_rlnImagePixelSize'), det: c('_rlnDetectorPixelSize'),
    mag: c('_rlnMagnification'), box: c('_rlnImageSize'), dfU: c('_rlnDefocusU'), dfV: c('_rlnDefocusV'),
    dfAng: c('_rlnDefocusAngle'), kv: c('_rlnVoltage'), cs: c('_rlnSphericalAberration'), q: c('_rlnAmplitudeContrast'),
    phase: c('_rlnPhaseShift'), bfac: c('_rlnCtfBfactor'), rot: c('_rlnAngleRot'), tilt: c('_rlnAngleTilt'),
    psi: c('_rlnAnglePsi'), oxA: c('_rlnOriginXAngst'), oyA: c('_rlnOriginYAngst'), oxP: c('_rlnOriginX'),
    oyP: c('_rlnOriginY'), cls: c('_rlnClassNumber'), half: c('_rlnRandomSubset'),
  };
}

/** Interpret a parsed STAR file as a RELION particle table. `file` is the STAR's path. */
export function parseRelionParticles(star: StarFile, file: string, opts: RelionReadOptions = {}): RelionParticles {
  const optics = readOptics(star, file);
  const pblock = findParticleBlock(star, file);
  const t = new Table(loopOf(pblock)!, file);
  const C = particleColumns(t);
  const byId = new Map((optics ?? []).map((g) => [g.opticsGroup, g]));
  const paths = new Map<string, string>();
  const particles: RelionParticle[] = [];
  const need = (r: number, col: string, v: number | null): number => {
    if (v === null) throw new InputError(file, 'CTF value missing (not in the particle table nor its optics group)', { record: r, field: col });
    return v;
  };
  for (let r = 0; r < t.rows; r++) {
    let group: RelionOpticsGroup | null = null;
    let groupId: number | null = t.intAt(r, C.group);
    if (optics !== null) {
      if (groupId === null) {
        if (optics.length !== 1) {
          throw new InputError(file, `no _rlnOpticsGroup column and ${optics.length} optics groups`, { record: r, field: '_rlnOpticsGroup' });
        }
        group = optics[0];
        groupId = group.opticsGroup;
      } else {
        group = byId.get(groupId) ?? null;
        if (group === null) {
          throw new InputError(file, `optics group ${groupId} is not defined in data_optics`, { record: r, field: '_rlnOpticsGroup' });
        }
      }
    }
    // Particle column first, then the optics group's value.
    let apix = t.numAt(r, C.apix) ?? group?.apixAngstrom ?? null;
    if (apix === null) {
      const det = t.numAt(r, C.det), mag = t.numAt(r, C.mag);
      if (det !== null && mag !== null && mag > 0) apix = (det * 1e4) / mag;
    }
    const box = t.intAt(r, C.box) ?? group?.boxPx ?? null;

    const imageName = t.loop.rows[r][C.image];
    const { stackPath, stackIndex } = resolveImageName(imageName, file, r, opts, paths);

    let ctf: CtfParams | null = null;
    const dfU = t.numAt(r, C.dfU);
    if (dfU !== null) {
      ctf = {
        defocusUAngstrom: dfU,
        defocusVAngstrom: t.numAt(r, C.dfV) ?? dfU,
        defocusAngleDeg: t.numAt(r, C.dfAng) ?? 0,
        voltageKv: need(r, '_rlnVoltage', t.numAt(r, C.kv) ?? group?.voltageKv ?? null),
        csMm: need(r, '_rlnSphericalAberration', t.numAt(r, C.cs) ?? group?.csMm ?? null),
        amplitudeContrast: need(r, '_rlnAmplitudeContrast', t.numAt(r, C.q) ?? group?.amplitudeContrast ?? opts.amplitudeContrast ?? null),
        phaseShiftDeg: t.numAt(r, C.phase) ?? 0,
        bFactor: t.numAt(r, C.bfac) ?? 0,
      };
    }

    const rot = t.numAt(r, C.rot), tilt = t.numAt(r, C.tilt), psi = t.numAt(r, C.psi);
    const eulerDeg: [number, number, number] | null =
      rot === null && tilt === null && psi === null ? null : [rot ?? 0, tilt ?? 0, psi ?? 0];

    let originPx: [number, number] | null = null;
    let originAngstrom: [number, number] | null = null;
    if (C.oxA >= 0 || C.oyA >= 0) {
      originAngstrom = [t.numAt(r, C.oxA) ?? 0, t.numAt(r, C.oyA) ?? 0];
      if (apix !== null) originPx = [originAngstrom[0] / apix, originAngstrom[1] / apix];
    } else if (C.oxP >= 0 || C.oyP >= 0) {
      originPx = [t.numAt(r, C.oxP) ?? 0, t.numAt(r, C.oyP) ?? 0];
    }

    const p: RelionParticle = {
      record: r, imageName, stackPath, stackIndex, opticsGroup: groupId, apixAngstrom: apix, boxPx: box,
      ctf, eulerDeg, originPx, originAngstrom,
    };
    const cls = t.intAt(r, C.cls);
    if (cls !== null) p.classNumber = cls;
    const half = t.intAt(r, C.half);
    if (half !== null) p.randomSubset = half;
    particles.push(p);
  }
  return { file, layout: optics !== null ? '3.1' : '3.0', opticsGroups: optics ?? [], particles };
}

/** Read a RELION particle STAR file. */
export function readRelionParticles(path: string, opts: RelionReadOptions = {}): RelionParticles {
  return parseRelionParticles(readStar(path), path, opts);
}

/** Optics group to write; particles are assigned to the first group whose CTF optics match. */
export interface OpticsGroupSpec {
  opticsGroup: number;
  name?: string;
  voltageKv: number;
  csMm: number;
  amplitudeContrast: number;
}

const f6 = (v: number): string => v.toFixed(6);
const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));

/** Optics groups implied by the particles' CTFs (one per distinct voltage/Cs/Q). */
function deriveOpticsGroups(set: ParticleSet): OpticsGroupSpec[] {
  const groups: OpticsGroupSpec[] = [];
  for (const p of set.particles) {
    if (!p.ctf) continue;
    const c = p.ctf;
    if (!groups.some((g) => close(g.voltageKv, c.voltageKv) && close(g.csMm, c.csMm) && close(g.amplitudeContrast, c.amplitudeContrast))) {
      groups.push({ opticsGroup: groups.length + 1, voltageKv: c.voltageKv, csMm: c.csMm, amplitudeContrast: c.amplitudeContrast });
    }
  }
  return groups;
}

/**
 * Write a particle set as a RELION 3.1 STAR (data_optics then data_particles): image names as
 * `%06d@path` relative to the output folder, angles, origins in Angstrom, CTF per particle
 * (B-factor only if some particle has one), class numbers when present.
 */
export function writeParticlesStar(path: string, set: ParticleSet, opts: { opticsGroups?: OpticsGroupSpec[] } = {}): void {
  const ps = set.particles;
  const hasCtf = ps.some((p) => p.ctf !== null);
  if (hasCtf && ps.some((p) => p.ctf === null)) throw new Error('writeParticlesStar: some particles have a CTF and some do not');
  const hasEuler = ps.some((p) => p.eulerDeg !== null);
  if (hasEuler && ps.some((p) => p.eulerDeg === null)) throw new Error('writeParticlesStar: some particles have angles and some do not');
  const hasOrigin = ps.some((p) => p.originPx !== null);
  const hasB = ps.some((p) => p.ctf !== null && p.ctf.bFactor !== 0);
  const hasClass = ps.some((p) => p.classNumber !== undefined);

  let groups = opts.opticsGroups ?? deriveOpticsGroups(set);
  if (groups.length === 0) groups = [{ opticsGroup: 1, voltageKv: NaN, csMm: NaN, amplitudeContrast: NaN }];
  const groupOf = (i: number): number => {
    const c = ps[i].ctf;
    if (c === null) return groups[0].opticsGroup;
    const g = groups.find((x) => close(x.voltageKv, c.voltageKv) && close(x.csMm, c.csMm) && close(x.amplitudeContrast, c.amplitudeContrast));
    if (!g) throw new Error(`writeParticlesStar: particle ${i}: no optics group with voltage ${c.voltageKv} kV, Cs ${c.csMm} mm, Q ${c.amplitudeContrast}`);
    return g.opticsGroup;
  };

  const opticsCols = ['_rlnOpticsGroup', '_rlnOpticsGroupName'];
  if (hasCtf || opts.opticsGroups) opticsCols.push('_rlnAmplitudeContrast', '_rlnSphericalAberration', '_rlnVoltage');
  opticsCols.push('_rlnImagePixelSize', '_rlnImageSize', '_rlnImageDimensionality');
  const opticsRows = groups.map((g) => {
    const row = [String(g.opticsGroup), g.name ?? `opticsGroup${g.opticsGroup}`];
    if (hasCtf || opts.opticsGroups) row.push(f6(g.amplitudeContrast), f6(g.csMm), f6(g.voltageKv));
    row.push(f6(set.apixAngstrom), String(set.boxPx), '2');
    return row;
  });

  const cols = ['_rlnImageName'];
  if (hasEuler) cols.push('_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi');
  if (hasOrigin) cols.push('_rlnOriginXAngst', '_rlnOriginYAngst');
  if (hasCtf) cols.push('_rlnDefocusU', '_rlnDefocusV', '_rlnDefocusAngle', '_rlnPhaseShift');
  if (hasB) cols.push('_rlnCtfBfactor');
  cols.push('_rlnOpticsGroup');
  if (hasClass) cols.push('_rlnClassNumber');
  const outDir = dirname(resolve(path));
  const rows = ps.map((p, i) => {
    const rel = relative(outDir, resolve(p.stackPath)).split(sep).join('/');
    const row = [`${String(p.stackIndex + 1).padStart(6, '0')}@${rel}`];
    if (hasEuler) row.push(...p.eulerDeg!.map(f6));
    if (hasOrigin) {
      const o = p.originPx ?? [0, 0];
      row.push(f6(o[0] * set.apixAngstrom), f6(o[1] * set.apixAngstrom));
    }
    if (p.ctf) row.push(f6(p.ctf.defocusUAngstrom), f6(p.ctf.defocusVAngstrom), f6(p.ctf.defocusAngleDeg), f6(p.ctf.phaseShiftDeg));
    if (hasB) row.push(f6(p.ctf!.bFactor));
    row.push(String(groupOf(i)));
    if (hasClass) row.push(String(p.classNumber ?? 1));
    return row;
  });
  writeStar(path, [
    { name: 'optics', loops: [{ columns: opticsCols, rows: opticsRows }] },
    { name: 'particles', loops: [{ columns: cols, rows }] },
  ]);
}
