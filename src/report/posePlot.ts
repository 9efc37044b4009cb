/**
 * Viewing-direction distribution as an equal-area map (Hammer projection of the sphere): the
 * directions (RELION rot = longitude, tilt = polar angle, i.e. latitude 90 - tilt) are binned
 * on a longitude/latitude grid; each bin is coloured by its count per steradian relative to
 * the uniform density N / 4pi, so a uniform distribution is flat and the colour scale reads
 * directly as "times the uniform density". Output is an SVG string (rasterise with svgToPng).
 */
import { escapeXml } from './plot.js';

const FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';

/** Hammer projection of (longitude, latitude) in radians to [-2sqrt2, 2sqrt2] x [-sqrt2, sqrt2]. */
export function hammer(lonRad: number, latRad: number): [number, number] {
  const d = Math.sqrt(1 + Math.cos(latRad) * Math.cos(lonRad / 2));
  return [(2 * Math.SQRT2 * Math.cos(latRad) * Math.sin(lonRad / 2)) / d, (Math.SQRT2 * Math.sin(latRad)) / d];
}

/** Counts on a nLon x nLat grid (longitude -180..180, latitude -90..90) and each bin's solid angle. */
export function directionHistogram(rotDeg: number[], tiltDeg: number[], nLon: number, nLat: number): { counts: Float64Array; solidAngle: Float64Array } {
  const counts = new Float64Array(nLon * nLat);
  const solidAngle = new Float64Array(nLon * nLat);
  const dLon = (2 * Math.PI) / nLon;
  for (let j = 0; j < nLat; j++) {
    const lat0 = -Math.PI / 2 + (j * Math.PI) / nLat;
    const lat1 = lat0 + Math.PI / nLat;
    const sa = dLon * (Math.sin(lat1) - Math.sin(lat0));
    for (let i = 0; i < nLon; i++) solidAngle[j * nLon + i] = sa;
  }
  const n = Math.min(rotDeg.length, tiltDeg.length);
  for (let k = 0; k < n; k++) {
    const rot = rotDeg[k]!;
    const tilt = tiltDeg[k]!;
    if (!Number.isFinite(rot) || !Number.isFinite(tilt)) continue;
    const lon = ((((rot + 180) % 360) + 360) % 360) - 180;
    const lat = Math.max(-90, Math.min(90, 90 - tilt));
    const i = Math.min(nLon - 1, Math.floor(((lon + 180) / 360) * nLon));
    const j = Math.min(nLat - 1, Math.floor(((lat + 90) / 180) * nLat));
    counts[j * nLon + i]! += 1;
  }
  return { counts, solidAngle };
}

/** Viridis-like ramp, t in [0, 1]. */
export function viridis(t: number): string {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i]!.map((v, k) => Math.round(v + f * (stops[i + 1]![k]! - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function viewingDirectionSvg(rotDeg: number[], tiltDeg: number[], opts: { title?: string; width?: number } = {}): string {
  const width = opts.width ?? 640;
  const mapW = width - 110;
  const scale = mapW / (4 * Math.SQRT2);
  const mapH = 2 * Math.SQRT2 * scale;
  const height = Math.round(mapH + 70);
  const cx = 20 + mapW / 2;
  const cy = 40 + mapH / 2;
  const n = Math.min(rotDeg.length, tiltDeg.length);
  // bins of 10 deg with many particles, coarser with few (fewer empty/noisy bins)
  const binDeg = n >= 20000 ? 10 : n >= 3000 ? 15 : 30;
  const nLon = 360 / binDeg;
  const nLat = 180 / binDeg;
  const { counts, solidAngle } = directionHistogram(rotDeg, tiltDeg, nLon, nLat);
  const uniform = n / (4 * Math.PI);
  let maxRel = 0;
  const rel = new Float64Array(counts.length);
  for (let b = 0; b < counts.length; b++) {
    rel[b] = uniform > 0 ? counts[b]! / solidAngle[b]! / uniform : 0;
    if (rel[b]! > maxRel) maxRel = rel[b]!;
  }
  // colour scale up to the 98th percentile bin (a few near-pole bins of tiny area are noisy)
  const sorted = Array.from(rel).sort((a, b) => a - b);
  const vmax = Math.max(2, Math.ceil(Math.min(maxRel, sorted[Math.floor(0.98 * (sorted.length - 1))]! * 1.25)));
  const pt = (lonDeg: number, latDeg: number): string => {
    const [x, y] = hammer((lonDeg * Math.PI) / 180, (latDeg * Math.PI) / 180);
    return `${(cx + x * scale).toFixed(1)},${(cy - y * scale).toFixed(1)}`;
  };
  const parts: string[] = [`<rect width="${width}" height="${height}" fill="white"/>`];
  parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold" ${FONT}>${escapeXml(opts.title ?? `Viewing directions (${n} particles, ${binDeg}° bins)`)}</text>`);
  for (let j = 0; j < nLat; j++) {
    for (let i = 0; i < nLon; i++) {
      const lon0 = -180 + (i * 360) / nLon;
      const lon1 = lon0 + 360 / nLon;
      const lat0 = -90 + (j * 180) / nLat;
      const lat1 = lat0 + 180 / nLat;
      const poly: string[] = [];
      const k = binDeg / 5; // edge points every 5 deg so the bins follow the curved graticule
      for (let q = 0; q < k; q++) poly.push(pt(lon0 + (q * (lon1 - lon0)) / k, lat0));
      for (let q = 0; q < k; q++) poly.push(pt(lon1, lat0 + (q * (lat1 - lat0)) / k));
      for (let q = 0; q < k; q++) poly.push(pt(lon1 - (q * (lon1 - lon0)) / k, lat1));
      for (let q = 0; q < k; q++) poly.push(pt(lon0, lat1 - (q * (lat1 - lat0)) / k));
      const b = j * nLon + i;
      parts.push(`<polygon class="bin" data-count="${counts[b]}" points="${poly.join(' ')}" fill="${viridis(rel[b]! / vmax)}" stroke="${viridis(rel[b]! / vmax)}" stroke-width="0.5"/>`);
    }
  }
  // outline and graticule every 90 deg longitude / 30 deg latitude
  const outline: string[] = [];
  for (let lat = -90; lat <= 90; lat += 5) outline.push(pt(180, lat));
  for (let lat = 90; lat >= -90; lat -= 5) outline.push(pt(-180, lat));
  parts.push(`<polygon points="${outline.join(' ')}" fill="none" stroke="#333"/>`);
  for (const lon of [-90, 0, 90]) {
    const line: string[] = [];
    for (let lat = -90; lat <= 90; lat += 5) line.push(pt(lon, lat));
    parts.push(`<polyline points="${line.join(' ')}" fill="none" stroke="white" stroke-opacity="0.4"/>`);
  }
  for (const lat of [-60, -30, 0, 30, 60]) {
    const line: string[] = [];
    for (let lon = -180; lon <= 180; lon += 10) line.push(pt(lon, lat));
    parts.push(`<polyline points="${line.join(' ')}" fill="none" stroke="white" stroke-opacity="0.4"/>`);
  }
  parts.push(`<text x="${cx}" y="${height - 10}" text-anchor="middle" font-size="11" ${FONT}>longitude = rot (deg), latitude = 90 - tilt; Hammer equal-area projection</text>`);
  // colour bar
  const bx = width - 70;
  const by = 45;
  const bh = mapH - 10;
  for (let k = 0; k < 50; k++) {
    parts.push(`<rect x="${bx}" y="${(by + bh - ((k + 1) * bh) / 50).toFixed(1)}" width="14" height="${(bh / 50 + 0.5).toFixed(1)}" fill="${viridis(k / 49)}"/>`);
  }
  for (const v of [0, vmax / 2, vmax]) {
    parts.push(`<text x="${bx + 18}" y="${(by + bh - (v / vmax) * bh + 4).toFixed(1)}" font-size="10" ${FONT}>${v.toFixed(1)}x</text>`);
  }
  parts.push(`<text x="${width - 6}" y="${by - 8}" text-anchor="end" font-size="10" ${FONT}>density / uniform</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}
