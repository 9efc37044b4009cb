/**
 * Run report: OUTDIR/report.html (self-contained: every picture inlined as a PNG data URI, no
 * script, no network) and the PNGs beside it: fsc.png (half-map FSC, or the live epoch-to-epoch
 * curve of an unfinished run), slices.png (central sections along z, y, x and the projections
 * along the same axes), poses.png (viewing-direction density, equal-area) and loss.png (loss and,
 * when known, resolution / pose error vs epoch). Missing inputs leave their figure out.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../io/errors.js';
import { axisProjections, centralSlices, loadRunMap, readDirections, readFsc, readJsonFile, readLatent2d, readMetrics, type FscCurve, type MetricsRow } from '../server/runFolder.js';
import { escapeXml, grayImagePng, linePlotSvg, percentileRange, scatterPlotSvg, svgToPng } from './plot.js';
import { viewingDirectionSvg } from './posePlot.js';

export interface ReportResult {
  html: string;
  images: string[];
}

/** FSC plot: frequency in 1/Angstrom when every curve's pixel size is known, else cycles/px. */
export function fscPlotSvg(curves: FscCurve[]): string {
  const withA = curves.every((c) => c.apixAngstrom !== undefined && c.apixAngstrom > 0);
  return linePlotSvg({
    title: (curves.every((c) => c.kind === 'epoch-to-epoch') ? 'FSC, live: this epoch vs the previous' : 'Fourier shell correlation') + curves.map((c) => (c.kind === 'half-maps' && c.res0143_px !== undefined
      ? ` (0.143: ${c.res0143_px.toFixed(2)} px${c.apixAngstrom ? `, ${(c.res0143_px * c.apixAngstrom).toFixed(1)} Å` : ''})` : '')).join(''),
    xLabel: withA ? 'spatial frequency (1/Å)' : 'spatial frequency (1/px)',
    yLabel: 'FSC',
    // shell 1 (the DC term alone) of maps with ~zero mean can be anything: keep the scale readable
    yDomain: [Math.max(-0.2, Math.min(0, ...curves.flatMap((c) => c.curve.map((p) => p[1])))), 1],
    series: curves.map((c) => {
      const f = c.curve.map(([s]) => s / c.box / (withA ? c.apixAngstrom! : 1));
      const label = c.kind === 'half-maps' ? 'half maps' : `epoch ${c.epoch ?? '?'} vs prev.`;
      return { name: label, x: f, y: c.curve.map((p) => p[1]) };
    }),
    hLines: [{ y: 0.5, label: '0.5' }, { y: 0.143, label: '0.143' }],
  });
}

export function lossPlotSvg(metrics: MetricsRow[]): string {
  const ep = metrics.map((m) => m.epoch);
  return linePlotSvg({
    title: 'Training loss', xLabel: 'epoch', yLabel: 'loss',
    series: [{ name: 'loss', x: ep, y: metrics.map((m) => (typeof m.loss === 'number' ? m.loss : NaN)) }],
  });
}

export function qualityPlotSvg(metrics: MetricsRow[]): string | null {
  const ep = metrics.map((m) => m.epoch);
  const series: { name: string; x: number[]; y: number[] }[] = [];
  if (metrics.some((m) => typeof m.res05_px === 'number')) series.push({ name: 'FSC 0.5 vs truth (px)', x: ep, y: metrics.map((m) => m.res05_px ?? NaN) });
  if (metrics.some((m) => typeof m.rot_median_deg === 'number')) series.push({ name: 'median rot. error (deg)', x: ep, y: metrics.map((m) => m.rot_median_deg ?? NaN) });
  if (series.length === 0) return null;
  return linePlotSvg({ title: 'Against ground truth', xLabel: 'epoch', yLabel: 'px / deg', series });
}

/** Montage: central sections (top row) and projections (bottom row) along z, y, x, each panel scaled on its own. */
export function slicesMontage(v: Float32Array, D: number): { pixels: Float32Array; width: number; height: number } {
  const up = Math.max(1, Math.floor(160 / D));
  const P = D * up;
  const gap = 4;
  const width = 3 * P + 2 * gap;
  const height = 2 * P + gap;
  const pixels = new Float32Array(width * height).fill(1);
  const s = centralSlices(v, D);
  const p = axisProjections(v, D);
  const panels = [s.z, s.y, s.x, p.z, p.y, p.x];
  panels.forEach((img, k) => {
    const [lo, hi] = percentileRange(img, 0.005, 0.995);
    const sc = hi > lo ? 1 / (hi - lo) : 0;
    const ox = (k % 3) * (P + gap);
    const oy = Math.floor(k / 3) * (P + gap);
    for (let r = 0; r < P; r++) {
      for (let c = 0; c < P; c++) {
        const val = (img[Math.floor(r / up) * D + Math.floor(c / up)]! - lo) * sc;
        pixels[(oy + r) * width + ox + c] = Math.max(0, Math.min(1, val));
      }
    }
  });
  return { pixels, width, height };
}

function dataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

function fmtValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'string' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export function writeReport(outdirIn: string): ReportResult {
  const outdir = resolve(outdirIn);
  if (!existsSync(outdir)) throw new InputError(outdirIn, 'run folder does not exist');
  const metrics = readMetrics(outdir);
  const fsc = readFsc(outdir);
  const map = loadRunMap(outdir, 'auto');
  const dirs = readDirections(outdir);
  const latent = readLatent2d(outdir);
  const result = readJsonFile(outdir, 'result.json');
  const figures: { file: string; title: string; png: Buffer; caption: string }[] = [];

  const curve = fsc.halfMaps ?? fsc.live;
  if (curve) {
    figures.push({ file: 'fsc.png', title: 'FSC', png: svgToPng(fscPlotSvg([curve])),
      caption: curve.kind === 'half-maps' ? 'FSC between the two half maps (final poses).' : 'Run unfinished: FSC of the live map against the previous epoch (convergence, not resolution).' });
  }
  if (map) {
    const m = slicesMontage(map.data, map.D);
    figures.push({ file: 'slices.png', title: 'Map slices', png: grayImagePng(m.pixels, m.width, m.height, { lo: 0, hi: 1 }),
      caption: `${map.file.slice(outdir.length + 1)} (box ${map.D}): central sections normal to z, y, x (top) and projections along z, y, x (bottom).` });
  }
  if (dirs && dirs.rotDeg.length > 0) {
    figures.push({ file: 'poses.png', title: 'Viewing directions', png: svgToPng(viewingDirectionSvg(dirs.rotDeg, dirs.tiltDeg)),
      caption: `Projection directions from ${dirs.source}, binned 10° x 10°, density relative to uniform.` });
  }
  if (metrics.length > 0) {
    figures.push({ file: 'loss.png', title: 'Loss', png: svgToPng(lossPlotSvg(metrics)), caption: 'Mean training loss per epoch.' });
    const q = qualityPlotSvg(metrics);
    if (q) figures.push({ file: 'quality.png', title: 'Against ground truth', png: svgToPng(q), caption: 'Per-epoch comparison with the ground truth given to reconstruct.' });
  }
  if (latent) {
    figures.push({ file: 'latent.png', title: 'Latent space', png: svgToPng(scatterPlotSvg({
      title: `Latent coordinates (${latent.n} particles, zdim ${latent.zdim})`, xLabel: latent.pca ? 'PC 1' : 'z1', yLabel: latent.pca ? 'PC 2' : 'z2',
      points: latent.x.map((x, i) => ({ x, y: latent.y[i]!, group: 'particles' })) })), caption: 'z.npy' + (latent.pca ? ', first two principal components.' : '.') });
  }
  for (const f of figures) writeFileAtomic(join(outdir, f.file), f.png);

  const rows: [string, unknown][] = [];
  if (result && typeof result === 'object') for (const [k, v] of Object.entries(result as Record<string, unknown>)) rows.push([k, v]);
  const last = metrics[metrics.length - 1];
  if (last) rows.push(['last epoch', `${last.epoch} (${last.stage ?? ''})`], ['last loss', last.loss]);
  if (fsc.halfMaps?.res0143_px !== undefined) rows.push(['half-map FSC 0.143 (px)', fsc.halfMaps.res0143_px]);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cryospin report</title>
<style>body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;max-width:1000px;color:#222}
table{border-collapse:collapse}td{border:1px solid #ccc;padding:3px 8px}figure{margin:20px 0}
img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#555}</style></head>
<body><h1>cryospin run report</h1>
<p>Run folder: <code>${escapeXml(outdir)}</code>. Generated ${escapeXml(new Date().toISOString())}.${result ? '' : ' <b>The run has not finished (no result.json).</b>'}</p>
${rows.length ? `<table>${rows.map(([k, v]) => `<tr><td>${escapeXml(k)}</td><td>${escapeXml(fmtValue(v))}</td></tr>`).join('')}</table>` : ''}
${figures.map((f) => `<figure><h2>${escapeXml(f.title)}</h2><img alt="${escapeXml(f.title)}" src="${dataUri(f.png)}"><figcaption>${escapeXml(f.caption)}</figcaption></figure>`).join('\n')}
${figures.length === 0 ? '<p>Nothing to show yet: no metrics, map, FSC or poses in this folder.</p>' : ''}
</body></html>
`;
  const htmlPath = join(outdir, 'report.html');
  writeFileAtomic(htmlPath, html);
  return { html: htmlPath, images: figures.map((f) => join(outdir, f.file)) };
}
