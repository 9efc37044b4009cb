import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { grayImagePng, linePlotSvg, scatterPlotSvg, svgToPng, PALETTE } from '../../src/report/plot.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

test('linePlotSvg: one path per series, named; reference lines and labels present; escaping', () => {
  const svg = linePlotSvg({
    title: 'FSC <half maps>', xLabel: 'shell (px)', yLabel: 'FSC',
    series: [{ name: 'half', x: [0, 1, 2, 3], y: [1, 0.9, 0.5, 0.1] }, { name: 'gt & map', x: [0, 1, 2, 3], y: [1, 0.8, 0.3, 0] }],
    hLines: [{ y: 0.143, label: '0.143' }],
  });
  assert.match(svg, /^<svg /);
  assert.equal((svg.match(/class="series"/g) ?? []).length, 2);
  assert.ok(svg.includes('data-name="half"'));
  assert.ok(svg.includes('gt &amp; map'));
  assert.ok(svg.includes('FSC &lt;half maps&gt;'));
  assert.ok(svg.includes('stroke-dasharray'));
  // each series path has one move and three line segments
  const d = /data-name="half" d="([^"]+)"/.exec(svg)![1]!;
  assert.equal((d.match(/M/g) ?? []).length, 1);
  assert.equal((d.match(/L/g) ?? []).length, 3);
});

test('linePlotSvg: non-finite points break the line instead of poisoning it', () => {
  const svg = linePlotSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', x: [0, 1, 2, 3, 4], y: [1, 2, NaN, 3, 4] }] });
  const d = /data-name="s" d="([^"]+)"/.exec(svg)![1]!;
  assert.equal((d.match(/M/g) ?? []).length, 2);
  assert.ok(!svg.includes('NaN'));
});

test('svgToPng: PNG signature, decodable, size as the SVG; a horizontal line lands at the scaled y', () => {
  // y domain [0, 1] over plot rows top=36 .. bottom=360-48=312: y=0.5 -> row 174
  const svg = linePlotSvg({ title: 'h', xLabel: 'x', yLabel: 'y', yDomain: [0, 1], series: [{ name: 'flat', x: [0, 10], y: [0.5, 0.5] }] });
  const png = svgToPng(svg);
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
  const img = PNG.sync.read(png);
  assert.equal(img.width, 640);
  assert.equal(img.height, 360);
  const [r, g, b] = [0x4e, 0x79, 0xa7];
  assert.equal(PALETTE[0], '#4e79a7');
  const rows = new Map<number, number>();
  for (let yy = 40; yy < 310; yy++) {
    for (let xx = 100; xx < 400; xx++) {
      const o = 4 * (yy * img.width + xx);
      if (Math.abs(img.data[o]! - r) < 30 && Math.abs(img.data[o + 1]! - g) < 30 && Math.abs(img.data[o + 2]! - b) < 30) rows.set(yy, (rows.get(yy) ?? 0) + 1);
    }
  }
  const best = [...rows.entries()].sort((a, b2) => b2[1] - a[1])[0]!;
  assert.ok(Math.abs(best[0] - 174) <= 1, `line at row ${best[0]}`);
  assert.ok(best[1] > 250, `line covers ${best[1]} px of 300`);
  const scaled = PNG.sync.read(svgToPng(svg, { scale: 2 }));
  assert.equal(scaled.width, 1280);
});

test('scatterPlotSvg: one group element per group, every finite point drawn', () => {
  const pts = [] as { x: number; y: number; group: string }[];
  for (let i = 0; i < 30; i++) pts.push({ x: Math.cos(i), y: Math.sin(i), group: i % 3 === 0 ? 'A' : 'B' });
  pts.push({ x: NaN, y: 0, group: 'A' });
  const svg = scatterPlotSvg({ title: 'z', xLabel: 'z1', yLabel: 'z2', points: pts });
  assert.equal((svg.match(/class="group"/g) ?? []).length, 2);
  assert.equal((svg.match(/<circle cx="[^"]+" cy="[^"]+" r="3"\/>/g) ?? []).length, 30);
  const img = PNG.sync.read(svgToPng(svg));
  assert.equal(img.width, 640);
  assert.equal(img.height, 420);
});

test('grayImagePng: decodes to the same size; explicit lo/hi map values linearly to 0..255, row 0 on top', () => {
  const w = 16;
  const h = 8;
  const px = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = x * 17 + (y === 0 ? 0 : 0); // 0..255 ramp
  px[0] = -100; // clipped to 0
  px[w * h - 1] = 1000; // clipped to 255
  const png = grayImagePng(px, w, h, { lo: 0, hi: 255 });
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
  const img = PNG.sync.read(png);
  assert.equal(img.width, w);
  assert.equal(img.height, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const expect = y === 0 && x === 0 ? 0 : y === h - 1 && x === w - 1 ? 255 : x * 17;
      assert.equal(img.data[4 * (y * w + x)], expect);
    }
  }
  // default range: percentiles, a constant image does not divide by zero
  const flat = PNG.sync.read(grayImagePng(new Float32Array(12).fill(3), 4, 3));
  assert.equal(flat.data[0], 0);
  assert.throws(() => grayImagePng(new Float32Array(5), 2, 2));
});
