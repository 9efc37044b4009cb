/**
 * Static plots for reports, the dashboard and other commands: line plots and grouped scatter
 * plots as standalone SVG strings, SVG -> PNG, and grey-scale images as PNG.
 *
 * Choices: scales, "nice" tick values and tick labels come from d3-scale (the well-kept
 * library behind most web charting); the SVG markup itself is a few lines written here
 * because the callers need a synchronous `string` (vega renders SVG only asynchronously,
 * through its dataflow) and the plots are plain axes + polylines + points. PNG rasterisation
 * is @resvg/resvg-js (a Rust SVG renderer shipped as an npm binary, no browser, system fonts);
 * grey images are encoded with pngjs.
 */
import { Resvg } from '@resvg/resvg-js';
import { scaleLinear, type ScaleLinear } from 'd3-scale';
import { PNG } from 'pngjs';

export interface LineSeries { name: string; x: number[]; y: number[] }
export interface LinePlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  hLines?: { y: number; label: string }[];
  /** Optional fixed y range (e.g. [0, 1] for FSC); default: data range. */
  yDomain?: [number, number];
  width?: number;
  height?: number;
}
export interface ScatterPlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  points: { x: number; y: number; group: string }[];
  width?: number;
  height?: number;
}

/** Tableau-10 colours: distinguishable and colour-blind tolerant. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return Number.isFinite(v) ? (Math.round(v * 100) / 100).toString() : '0';
}

function extent(values: number[], fallback: [number, number]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return fallback;
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.5, hi + (Math.abs(hi) || 1) * 0.5];
  return [lo, hi];
}

interface Frame {
  x: ScaleLinear<number, number>;
  y: ScaleLinear<number, number>;
  parts: string[];
  width: number;
  height: number;
  plotRight: number;
}

const MARGIN = { left: 64, right: 150, top: 36, bottom: 48 };

/** Background, title, axes with ticks, grid and labels. */
function frame(title: string, xLabel: string, yLabel: string, xd: [number, number], yd: [number, number], width: number, height: number, right = MARGIN.right): Frame {
  const x = scaleLinear().domain(xd).nice().range([MARGIN.left, width - right]);
  const y = scaleLinear().domain(yd).nice().range([height - MARGIN.bottom, MARGIN.top]);
  const [x0, x1] = x.range() as [number, number];
  const [y0, y1] = y.range() as [number, number];
  const p: string[] = [];
  p.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  p.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold" ${FONT}>${escapeXml(title)}</text>`);
  const xt = x.tickFormat(6);
  for (const t of x.ticks(6)) {
    const px = fmt(x(t));
    p.push(`<line x1="${px}" y1="${fmt(y0)}" x2="${px}" y2="${fmt(y1)}" stroke="#e6e6e6"/>`);
    p.push(`<line x1="${px}" y1="${fmt(y0)}" x2="${px}" y2="${fmt(y0 + 5)}" stroke="#333"/>`);
    p.push(`<text x="${px}" y="${fmt(y0 + 18)}" text-anchor="middle" font-size="11" ${FONT}>${escapeXml(xt(t))}</text>`);
  }
  const yt = y.tickFormat(6);
  for (const t of y.ticks(6)) {
    const py = fmt(y(t));
    p.push(`<line x1="${fmt(x0)}" y1="${py}" x2="${fmt(x1)}" y2="${py}" stroke="#e6e6e6"/>`);
    p.push(`<line x1="${fmt(x0 - 5)}" y1="${py}" x2="${fmt(x0)}" y2="${py}" stroke="#333"/>`);
    p.push(`<text x="${fmt(x0 - 8)}" y="${fmt(y(t) + 4)}" text-anchor="end" font-size="11" ${FONT}>${escapeXml(yt(t))}</text>`);
  }
  p.push(`<rect x="${fmt(x0)}" y="${fmt(y1)}" width="${fmt(x1 - x0)}" height="${fmt(y0 - y1)}" fill="none" stroke="#333"/>`);
  p.push(`<text x="${fmt((x0 + x1) / 2)}" y="${height - 10}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(xLabel)}</text>`);
  p.push(`<text transform="translate(16 ${fmt((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(yLabel)}</text>`);
  return { x, y, parts: p, width, height, plotRight: x1 };
}

/** Right margin that fits the legend's longest name (11 px sans-serif: ~6.5 px per character). */
function legendMargin(names: string[]): number {
  const longest = names.reduce((m, n) => Math.max(m, n.length), 0);
  return Math.max(MARGIN.right, 12 + 24 + Math.ceil(6.5 * longest) + 10);
}

function legend(f: Frame, names: string[], kind: 'line' | 'point'): void {
  names.forEach((name, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    const ly = MARGIN.top + 8 + 18 * i;
    const lx = f.plotRight + 12;
    f.parts.push(kind === 'line'
      ? `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${c}" stroke-width="2.5"/>`
      : `<circle cx="${lx + 9}" cy="${ly}" r="4" fill="${c}"/>`);
    f.parts.push(`<text x="${lx + 24}" y="${ly + 4}" font-size="11" ${FONT}>${escapeXml(name)}</text>`);
  });
}

function finish(f: Frame): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}">${f.parts.join('')}</svg>`;
}

/** Line plot: one polyline per series (non-finite points break the line), optional horizontal reference lines. */
export function linePlotSvg(spec: LinePlotSpec): string {
  // long legend names widen the picture, not squeeze the plot
  const right = legendMargin(spec.series.map((s) => s.name));
  const width = (spec.width ?? 640) + right - MARGIN.right;
  const height = spec.height ?? 360;
  const xs = spec.series.flatMap((s) => s.x);
  const ys = spec.series.flatMap((s) => s.y).concat((spec.hLines ?? []).map((h) => h.y));
  const f = frame(spec.title, spec.xLabel, spec.yLabel, extent(xs, [0, 1]), spec.yDomain ?? extent(ys, [0, 1]), width, height, right);
  const [x0, x1] = f.x.range() as [number, number];
  const clipId = `c${Math.abs(hashString(spec.title + spec.series.map((s) => s.name).join()))}`;
  f.parts.push(`<clipPath id="${clipId}"><rect x="${fmt(x0)}" y="${MARGIN.top}" width="${fmt(x1 - x0)}" height="${height - MARGIN.top - MARGIN.bottom}"/></clipPath>`);
  for (const h of spec.hLines ?? []) {
    const py = fmt(f.y(h.y));
    f.parts.push(`<line x1="${fmt(x0)}" y1="${py}" x2="${fmt(x1)}" y2="${py}" stroke="#888" stroke-dasharray="5 4" clip-path="url(#${clipId})"/>`);
    f.parts.push(`<text x="${fmt(x1 - 4)}" y="${fmt(f.y(h.y) - 4)}" text-anchor="end" font-size="10" fill="#555" ${FONT}>${escapeXml(h.label)}</text>`);
  }
  spec.series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    let d = '';
    let pen = false;
    const n = Math.min(s.x.length, s.y.length);
    for (let k = 0; k < n; k++) {
      const xv = s.x[k]!;
      const yv = s.y[k]!;
      if (!Number.isFinite(xv) || !Number.isFinite(yv)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${fmt(f.x(xv))} ${fmt(f.y(yv))}`;
      pen = true;
    }
    if (d) f.parts.push(`<path class="series" data-name="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${c}" stroke-width="2" stroke-linejoin="round" clip-path="url(#${clipId})"/>`);
    if (n === 1 && Number.isFinite(s.x[0]!) && Number.isFinite(s.y[0]!)) {
      f.parts.push(`<circle cx="${fmt(f.x(s.x[0]!))}" cy="${fmt(f.y(s.y[0]!))}" r="3" fill="${c}"/>`);
    }
  });
  legend(f, spec.series.map((s) => s.name), 'line');
  return finish(f);
}

/** Scatter plot: points coloured by group (groups in order of first appearance). */
export function scatterPlotSvg(spec: ScatterPlotSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 420;
  const f = frame(spec.title, spec.xLabel, spec.yLabel, extent(spec.points.map((p) => p.x), [0, 1]), extent(spec.points.map((p) => p.y), [0, 1]), width, height);
  const groups: string[] = [];
  for (const p of spec.points) if (!groups.includes(p.group)) groups.push(p.group);
  const r = spec.points.length > 2000 ? 1.5 : 3;
  const perGroup = groups.map(() => [] as string[]);
  for (const p of spec.points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
    perGroup[groups.indexOf(p.group)]!.push(`<circle cx="${fmt(f.x(p.x))}" cy="${fmt(f.y(p.y))}" r="${r}"/>`);
  }
  perGroup.forEach((circles, i) => {
    f.parts.push(`<g class="group" data-name="${escapeXml(groups[i]!)}" fill="${PALETTE[i % PALETTE.length]}" fill-opacity="0.7">${circles.join('')}</g>`);
  });
  legend(f, groups, 'point');
  return finish(f);
}

function hashString(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** Rasterise an SVG string to PNG (white background, system fonts). */
export function svgToPng(svg: string, opts: { scale?: number } = {}): Buffer {
  const r = new Resvg(svg, {
    background: 'white',
    fitTo: opts.scale && opts.scale !== 1 ? { mode: 'zoom', value: opts.scale } : { mode: 'original' },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}

/**
 * Grey-scale PNG of a row-major image (row 0 at the top). Values are scaled linearly from
 * [lo, hi] to [0, 255]; default lo/hi are the 0.5th/99.5th percentiles (robust to outliers).
 */
export function grayImagePng(pixels: Float32Array, width: number, height: number, opts: { lo?: number; hi?: number } = {}): Buffer {
  if (pixels.length !== width * height) throw new Error(`grayImagePng: ${pixels.length} pixels for ${width}x${height}`);
  const [pLo, pHi] = percentileRange(pixels, 0.005, 0.995);
  const lo = opts.lo ?? pLo;
  const hi = opts.hi ?? pHi;
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  const buf = Buffer.alloc(width * height);
  for (let i = 0; i < buf.length; i++) {
    const v = pixels[i]!;
    buf[i] = Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round((v - lo) * scale))) : 0;
  }
  png.data = buf;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** Values at the given quantiles (finite values only); [0, 0] if none. */
export function percentileRange(values: Float32Array, qLo: number, qHi: number): [number, number] {
  const finite: number[] = [];
  const step = Math.max(1, Math.floor(values.length / 200000));
  for (let i = 0; i < values.length; i += step) if (Number.isFinite(values[i]!)) finite.push(values[i]!);
  if (finite.length === 0) return [0, 0];
  finite.sort((a, b) => a - b);
  const at = (q: number): number => finite[Math.min(finite.length - 1, Math.max(0, Math.round(q * (finite.length - 1))))]!;
  return [at(qLo), at(qHi)];
}
