/**
 * The dashboard's read-only JSON and SVG endpoints over one run folder (see runFolder.ts for
 * the files read). Maps are cached per (file, mtime) so polling clients do not re-read them.
 * Each handler returns a body and a content type; nothing here writes to disk.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fscPlotSvg, lossPlotSvg, qualityPlotSvg } from '../report/report.js';
import { linePlotSvg, scatterPlotSvg } from '../report/plot.js';
import { viewingDirectionSvg } from '../report/posePlot.js';
import {
  axisProjections, centralSlices, downsampleVolume, loadRunMap, readDirections, readFsc, readJsonFile, readLatent2d, readMetrics,
  type MapChoice, type RunMap,
} from './runFolder.js';

export interface ApiResponse { status: number; type: string; body: string | Buffer }

/** Files whose modification time defines the run's version (any change -> clients refresh). */
export const WATCHED = ['metrics.jsonl', 'fsc.json', 'map.mrc', 'map_decoder.mrc', 'poses.star', 'result.json', 'z.npy',
  join('live', 'status.json'), join('live', 'map.mrc'), join('live', 'fsc.json')];

export function runVersion(outdir: string): string {
  const parts: string[] = [];
  for (const f of WATCHED) {
    const p = join(outdir, f);
    if (existsSync(p)) {
      try { const st = statSync(p); parts.push(`${f}:${st.mtimeMs}:${st.size}`); } catch { /* vanished between calls */ }
    }
  }
  let h = 0;
  const s = parts.join('|');
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return (h >>> 0).toString(16);
}

function json(v: unknown, status = 200): ApiResponse {
  return { status, type: 'application/json; charset=utf-8', body: JSON.stringify(v) };
}

function svg(s: string): ApiResponse {
  return { status: 200, type: 'image/svg+xml; charset=utf-8', body: s };
}

const EMPTY_SVG = (msg: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="80"><rect width="640" height="80" fill="white"/><text x="320" y="45" text-anchor="middle" font-size="14" font-family="sans-serif" fill="#777">${msg}</text></svg>`;

function round(a: ArrayLike<number>, digits = 5): number[] {
  return Array.from(a, (v) => (Number.isFinite(v) ? Number(v.toPrecision(digits)) : 0));
}

export class RunApi {
  private cache: { key: string; map: RunMap } | null = null;

  constructor(readonly outdir: string) {}

  /** The map to show, re-read only when its file changed. */
  private map(which: MapChoice): RunMap | null {
    const probe = loadRunMapProbe(this.outdir, which);
    if (!probe) return null;
    if (this.cache && this.cache.key === probe) return this.cache.map;
    const m = loadRunMap(this.outdir, which);
    if (m) this.cache = { key: probe, map: m };
    return m;
  }

  handle(route: string, query: URLSearchParams): ApiResponse | null {
    const which = parseChoice(query.get('map'));
    switch (route) {
      case 'status': {
        const metrics = readMetrics(this.outdir);
        const live = readJsonFile(this.outdir, join('live', 'status.json'));
        const result = readJsonFile(this.outdir, 'result.json');
        const present = WATCHED.filter((f) => existsSync(join(this.outdir, f)));
        return json({ version: runVersion(this.outdir), finished: result !== null, result, live, epochs: metrics.length,
          last: metrics[metrics.length - 1] ?? null, files: present, outdir: this.outdir });
      }
      case 'metrics': return json(readMetrics(this.outdir));
      case 'fsc': return json(readFsc(this.outdir));
      case 'slices': {
        const m = this.map(which);
        if (!m) return json({ error: 'no map yet' }, 404);
        const s = query.get('kind') === 'projections' ? axisProjections(m.data, m.D) : centralSlices(m.data, m.D);
        return json({ D: m.D, file: rel(this.outdir, m.file), mtimeMs: m.mtimeMs, z: round(s.z), y: round(s.y), x: round(s.x) });
      }
      case 'volume': {
        const m = this.map(which);
        if (!m) return json({ error: 'no map yet' }, 404);
        const maxBox = Math.max(16, Math.min(128, Number(query.get('max') ?? 64) || 64));
        const v = downsampleVolume(m.data, m.D, maxBox);
        let mean = 0;
        for (let i = 0; i < v.data.length; i++) mean += v.data[i]!;
        mean /= v.data.length;
        let varSum = 0;
        for (let i = 0; i < v.data.length; i++) varSum += (v.data[i]! - mean) ** 2;
        const bytes = Buffer.from(new Float32Array(v.data).buffer); // little-endian on every platform Node runs on
        return json({ D: v.D, fullBox: m.D, apixAngstrom: m.apixAngstrom !== null ? (m.apixAngstrom * m.D) / v.D : null,
          file: rel(this.outdir, m.file), mtimeMs: m.mtimeMs, mean, std: Math.sqrt(varSum / v.data.length), data: bytes.toString('base64') });
      }
      case 'directions': {
        const d = readDirections(this.outdir);
        return d ? json(d) : json({ error: 'no poses yet' }, 404);
      }
      case 'latent': {
        const z = readLatent2d(this.outdir);
        return z ? json(z) : json({ error: 'no z.npy' }, 404);
      }
      case 'plot/fsc.svg': {
        const f = readFsc(this.outdir);
        // a finished run shows its half-map FSC; a running one the live epoch-to-epoch curve
        const curves = f.halfMaps ? [f.halfMaps] : f.live ? [f.live] : [];
        return svg(curves.length ? fscPlotSvg(curves) : EMPTY_SVG('no FSC yet'));
      }
      case 'plot/loss.svg': {
        const m = readMetrics(this.outdir);
        return svg(m.length ? lossPlotSvg(m) : EMPTY_SVG('no epoch finished yet'));
      }
      case 'plot/quality.svg': {
        const q = qualityPlotSvg(readMetrics(this.outdir));
        return svg(q ?? EMPTY_SVG('no ground truth given to this run'));
      }
      case 'plot/time.svg': {
        const m = readMetrics(this.outdir).filter((r) => typeof r.wall_s === 'number');
        if (!m.length) return svg(EMPTY_SVG('no epoch finished yet'));
        const series = [{ name: 'loss', x: m.map((r) => (r.wall_s as number) / 60), y: m.map((r) => (typeof r.loss === 'number' ? r.loss : NaN)) }];
        return svg(linePlotSvg({ title: 'Loss vs time', xLabel: 'wall time (min)', yLabel: 'loss', series }));
      }
      case 'plot/heads.svg': {
        const m = readMetrics(this.outdir).filter((r) => Array.isArray(r.head_usage) && r.head_usage.length > 0);
        if (!m.length) return svg(EMPTY_SVG('no head usage (not a multi-head encoder run)'));
        const H = Math.max(...m.map((r) => r.head_usage!.length));
        const series = Array.from({ length: H }, (_, h) => ({ name: `head ${h}`, x: m.map((r) => r.epoch), y: m.map((r) => r.head_usage![h] ?? NaN) }));
        return svg(linePlotSvg({ title: 'Encoder head usage (winner share)', xLabel: 'epoch', yLabel: 'fraction', series }));
      }
      case 'plot/poses.svg': {
        const d = readDirections(this.outdir);
        return svg(d && d.rotDeg.length ? viewingDirectionSvg(d.rotDeg, d.tiltDeg) : EMPTY_SVG('no poses yet'));
      }
      case 'plot/latent.svg': {
        const z = readLatent2d(this.outdir);
        return svg(z ? scatterPlotSvg({ title: `Latent space (${z.n} particles, zdim ${z.zdim})`, xLabel: z.pca ? 'PC 1' : 'z1', yLabel: z.pca ? 'PC 2' : 'z2',
          points: z.x.map((x, i) => ({ x, y: z.y[i]!, group: 'particles' })) }) : EMPTY_SVG('no latent space (z.npy) in this run'));
      }
      default: return null;
    }
  }
}

function loadRunMapProbe(outdir: string, which: MapChoice): string | null {
  const order = which === 'auto' ? ['map.mrc', join('live', 'map.mrc'), 'map_decoder.mrc']
    : [{ map: 'map.mrc', decoder: 'map_decoder.mrc', live: join('live', 'map.mrc') }[which]];
  for (const f of order) {
    const p = join(outdir, f);
    try { const st = statSync(p); return `${p}:${st.mtimeMs}:${st.size}`; } catch { /* next */ }
  }
  return null;
}

function parseChoice(v: string | null): MapChoice {
  return v === 'map' || v === 'decoder' || v === 'live' ? v : 'auto';
}

function rel(outdir: string, file: string): string {
  return file.startsWith(outdir) ? file.slice(outdir.length + 1) : file;
}
