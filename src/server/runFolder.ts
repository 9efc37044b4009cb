/**
 * Read-only views of a reconstruction's output folder for the dashboard and the report. Every
 * reader tolerates missing files (a run that has just started, or a mode that does not write
 * them) by returning null / [] and a half-written last line of metrics.jsonl by skipping it.
 * Maps: the final map.mrc when present, else the live snapshot (live/map.mrc, see
 * liveSnapshot.ts), else map_decoder.mrc.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fourierCropVolume } from '../core/resample.js';
import { readMrc } from '../io/mrc.js';
import { readNpyFloat64 } from '../io/npy.js';
import { parseStar } from '../io/star.js';

export interface MetricsRow {
  epoch: number;
  stage?: string;
  loss?: number;
  wall_s?: number;
  epoch_s?: number;
  head_usage?: number[];
  res05_px?: number;
  rot_median_deg?: number;
  [key: string]: unknown;
}

export interface FscCurve {
  kind: 'half-maps' | 'epoch-to-epoch';
  /** [shell, fsc] pairs; shell s is spatial frequency s / box (cycles/px). */
  curve: Array<[number, number]>;
  box: number;
  res05_px?: number;
  res0143_px?: number;
  epoch?: number;
  /** Pixel size of the maps compared (from res_A / res_px), when known. */
  apixAngstrom?: number;
}

export type MapChoice = 'auto' | 'map' | 'decoder' | 'live';

export interface RunMap {
  data: Float32Array;
  D: number;
  apixAngstrom: number | null;
  file: string;
  mtimeMs: number;
}

export interface Directions { rotDeg: number[]; tiltDeg: number[]; source: string }

function readJson(path: string): unknown {
  if (!existsSync(path)) return null;
  try { return JSON.parse(readFileSync(path, 'utf8')) as unknown; } catch { return null; }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readMetrics(outdir: string): MetricsRow[] {
  const path = join(outdir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  const rows: MetricsRow[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (isRecord(v) && typeof v.epoch === 'number') rows.push(v as MetricsRow);
    } catch { /* partial last line of a running job */ }
  }
  return rows;
}

function asCurve(v: unknown): Array<[number, number]> | null {
  if (!Array.isArray(v)) return null;
  const out: Array<[number, number]> = [];
  for (const p of v) {
    if (!Array.isArray(p) || typeof p[0] !== 'number' || typeof p[1] !== 'number') return null;
    out.push([p[0], p[1]]);
  }
  return out;
}

function fscFrom(v: unknown, kind: FscCurve['kind']): FscCurve | null {
  if (!isRecord(v)) return null;
  const curve = asCurve(v.curve);
  if (!curve || curve.length === 0) return null;
  const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  return {
    kind, curve, box: num(v.box) ?? 2 * curve.length,
    res05_px: num(v.res05_px), res0143_px: num(v.res0143_px), epoch: num(v.epoch),
    apixAngstrom: num(v.res0143_A) !== undefined && num(v.res0143_px) ? num(v.res0143_A)! / num(v.res0143_px)! : undefined,
  };
}

/** The half-map FSC of a finished run (fsc.json) and/or the live epoch-to-epoch curve. */
export function readFsc(outdir: string): { halfMaps: FscCurve | null; live: FscCurve | null } {
  return {
    halfMaps: fscFrom(readJson(join(outdir, 'fsc.json')), 'half-maps'),
    live: fscFrom(readJson(join(outdir, 'live', 'fsc.json')), 'epoch-to-epoch'),
  };
}

export function readJsonFile(outdir: string, name: string): unknown {
  return readJson(join(outdir, name));
}

const MAP_FILES: Record<Exclude<MapChoice, 'auto'>, string> = { map: 'map.mrc', decoder: 'map_decoder.mrc', live: join('live', 'map.mrc') };

/** Path of the map to show (see the module header), or null if none exists yet. */
export function mapFile(outdir: string, which: MapChoice = 'auto'): string | null {
  const order: Array<Exclude<MapChoice, 'auto'>> = which === 'auto' ? ['map', 'live', 'decoder'] : [which];
  for (const k of order) {
    const p = join(outdir, MAP_FILES[k]);
    if (existsSync(p)) return p;
  }
  return null;
}

export function loadRunMap(outdir: string, which: MapChoice = 'auto'): RunMap | null {
  const file = mapFile(outdir, which);
  if (!file) return null;
  const mtimeMs = statSync(file).mtimeMs;
  const m = readMrc(file);
  if (m.nx !== m.ny || m.ny !== m.nz) return null;
  return { data: m.data, D: m.nx, apixAngstrom: m.apix, file, mtimeMs };
}

/** Central sections through the box centre floor(D/2): z (image x,y), y (image x,z), x (image y,z); rows = second axis. */
export function centralSlices(v: Float32Array, D: number): { x: Float32Array; y: Float32Array; z: Float32Array } {
  const c = Math.floor(D / 2);
  const x = new Float32Array(D * D);
  const y = new Float32Array(D * D);
  const z = v.slice(c * D * D, (c + 1) * D * D);
  for (let k = 0; k < D; k++) {
    for (let j = 0; j < D; j++) {
      x[k * D + j] = v[c + D * (j + D * k)]!;
      y[k * D + j] = v[j + D * (c + D * k)]!;
    }
  }
  return { x, y, z };
}

/** Projections (sums) along z, y and x, laid out like centralSlices. */
export function axisProjections(v: Float32Array, D: number): { x: Float32Array; y: Float32Array; z: Float32Array } {
  const x = new Float32Array(D * D);
  const y = new Float32Array(D * D);
  const z = new Float32Array(D * D);
  for (let k = 0; k < D; k++) {
    for (let j = 0; j < D; j++) {
      for (let i = 0; i < D; i++) {
        const val = v[i + D * (j + D * k)]!;
        z[j * D + i] += val;
        y[k * D + i] += val;
        x[k * D + j] += val;
      }
    }
  }
  return { x, y, z };
}

/** The map Fourier-cropped to at most maxBox (even), for the 3D view. */
export function downsampleVolume(v: Float32Array, D: number, maxBox: number): { data: Float32Array; D: number } {
  if (D <= maxBox) return { data: v, D };
  const Dn = maxBox - (maxBox % 2);
  return { data: fourierCropVolume(v, D, Dn), D: Dn };
}

/** Viewing directions: the final poses.star, else the live snapshot; at most maxCount, evenly subsampled. */
export function readDirections(outdir: string, maxCount = 4000): Directions | null {
  const star = join(outdir, 'poses.star');
  if (existsSync(star)) {
    try {
      const parsed = parseStar(readFileSync(star, 'utf8'), star);
      for (const b of parsed.blocks) {
        for (const l of b.loops) {
          const ir = l.columns.indexOf('_rlnAngleRot');
          const it = l.columns.indexOf('_rlnAngleTilt');
          if (ir < 0 || it < 0) continue;
          const step = Math.max(1, l.rows.length / maxCount);
          const rotDeg: number[] = [];
          const tiltDeg: number[] = [];
          for (let f = 0; Math.floor(f) < l.rows.length; f += step) {
            const r = l.rows[Math.floor(f)]!;
            const a = Number(r[ir]);
            const t = Number(r[it]);
            if (Number.isFinite(a) && Number.isFinite(t)) { rotDeg.push(a); tiltDeg.push(t); }
          }
          return { rotDeg, tiltDeg, source: 'poses.star' };
        }
      }
    } catch { /* fall through to the live snapshot */ }
  }
  const live = readJson(join(outdir, 'live', 'directions.json'));
  if (isRecord(live) && Array.isArray(live.rotDeg) && Array.isArray(live.tiltDeg)) {
    return { rotDeg: live.rotDeg.map(Number), tiltDeg: live.tiltDeg.map(Number), source: 'live/directions.json' };
  }
  return null;
}

/**
 * Latent coordinates from z.npy (N x zdim) as 2D points: the first two principal components
 * (zdim > 2), the values themselves (zdim <= 2). At most maxCount points, evenly subsampled.
 */
export function readLatent2d(outdir: string, maxCount = 5000): { x: number[]; y: number[]; zdim: number; n: number; pca: boolean } | null {
  const path = join(outdir, 'z.npy');
  if (!existsSync(path)) return null;
  let arr: { shape: number[]; data: Float64Array };
  try { arr = readNpyFloat64(path); } catch { return null; }
  const n = arr.shape[0] ?? 0;
  const zdim = arr.shape.length > 1 ? arr.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  if (n === 0) return null;
  const step = Math.max(1, n / maxCount);
  const idx: number[] = [];
  for (let f = 0; Math.floor(f) < n; f += step) idx.push(Math.floor(f));
  const x: number[] = [];
  const y: number[] = [];
  if (zdim <= 2) {
    for (const i of idx) { x.push(arr.data[i * zdim]!); y.push(zdim === 2 ? arr.data[i * zdim + 1]! : 0); }
    return { x, y, zdim, n, pca: false };
  }
  const [p1, p2] = principalAxes(arr.data, n, zdim);
  const mean = new Float64Array(zdim);
  for (let i = 0; i < n; i++) for (let d = 0; d < zdim; d++) mean[d]! += arr.data[i * zdim + d]! / n;
  for (const i of idx) {
    let a = 0;
    let b = 0;
    for (let d = 0; d < zdim; d++) { const c = arr.data[i * zdim + d]! - mean[d]!; a += c * p1[d]!; b += c * p2[d]!; }
    x.push(a);
    y.push(b);
  }
  return { x, y, zdim, n, pca: true };
}

/** The two leading eigenvectors of the covariance (power iteration with deflation). */
export function principalAxes(data: Float64Array, n: number, dim: number): [Float64Array, Float64Array] {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d]! += data[i * dim + d]! / n;
  const C = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < dim; a++) {
      const ca = data[i * dim + a]! - mean[a]!;
      for (let b = 0; b < dim; b++) C[a * dim + b]! += ca * (data[i * dim + b]! - mean[b]!);
    }
  }
  const power = (deflate: Float64Array | null): Float64Array => {
    let v = new Float64Array(dim).map((_, i) => 1 + 0.1 * i);
    for (let it = 0; it < 200; it++) {
      const w = new Float64Array(dim);
      for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) w[a]! += C[a * dim + b]! * v[b]!;
      if (deflate) {
        let dot = 0;
        for (let a = 0; a < dim; a++) dot += w[a]! * deflate[a]!;
        for (let a = 0; a < dim; a++) w[a]! -= dot * deflate[a]!;
      }
      const norm = Math.hypot(...w) || 1;
      v = w.map((x) => x / norm);
    }
    return v;
  };
  const p1 = power(null);
  return [p1, power(p1)];
}
