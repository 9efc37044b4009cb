/**
 * Report builder, viewing-direction plot and live snapshot on run folders built in code:
 * - Hammer projection: known points, and equal area (each projected bin's area equals its solid
 *   angle: the whole ellipse has area 4 pi, the sphere's);
 * - direction histogram of uniformly distributed directions reads ~1x the uniform density;
 * - writeReport: the PNGs exist and decode, report.html is self-contained (no external URL), the
 *   slice montage's brightest pixel is the blob centre, missing files are tolerated;
 * - writeLiveSnapshot: identical maps give FSC 1, directions round-trip through matrices, a large
 *   box is cropped to the live box, torn metrics lines are skipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { eulerToMatrix } from '../../src/core/rotation.js';
import { Rng } from '../../src/core/rng.js';
import { fscReport } from '../../src/eval/fsc.js';
import { readMrc, writeMrc } from '../../src/io/mrc.js';
import { writeNpy } from '../../src/io/npy.js';
import { writeStar } from '../../src/io/star.js';
import { directionHistogram, hammer } from '../../src/report/posePlot.js';
import { slicesMontage, writeReport } from '../../src/report/report.js';
import { directionsFromRotations, writeLiveSnapshot } from '../../src/server/liveSnapshot.js';
import { readDirections, readFsc, readLatent2d, readMetrics } from '../../src/server/runFolder.js';

function blob(D: number, cx: number, cy: number, cz: number, r: number): Float32Array {
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    v[x + D * (y + D * z)] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * r * r));
  }
  return v;
}

function uniformDirections(n: number, seed: number): { rot: number[]; tilt: number[] } {
  const rng = new Rng(seed);
  const rot: number[] = [];
  const tilt: number[] = [];
  for (let i = 0; i < n; i++) {
    rot.push(rng.range(-180, 180));
    tilt.push((Math.acos(rng.range(-1, 1)) * 180) / Math.PI); // cos(tilt) uniform = uniform on the sphere
  }
  return { rot, tilt };
}

test('hammer: known points and equal area (bin area = solid angle)', () => {
  assert.deepEqual(hammer(0, 0), [0, 0]);
  const e = hammer(Math.PI, 0);
  assert.ok(Math.abs(e[0] - 2 * Math.SQRT2) < 1e-12 && Math.abs(e[1]) < 1e-12);
  const n = hammer(0, Math.PI / 2);
  assert.ok(Math.abs(n[0]) < 1e-12 && Math.abs(n[1] - Math.SQRT2) < 1e-12);
  const deg = Math.PI / 180;
  for (const [lon0, lat0] of [[0, 0], [-170, 60], [100, -80], [30, 20]]) {
    const pts: Array<[number, number]> = [];
    const K = 200;
    for (let k = 0; k < K; k++) pts.push(hammer((lon0! + (10 * k) / K) * deg, lat0! * deg));
    for (let k = 0; k < K; k++) pts.push(hammer((lon0! + 10) * deg, (lat0! + (10 * k) / K) * deg));
    for (let k = 0; k < K; k++) pts.push(hammer((lon0! + 10 - (10 * k) / K) * deg, (lat0! + 10) * deg));
    for (let k = 0; k < K; k++) pts.push(hammer(lon0! * deg, (lat0! + 10 - (10 * k) / K) * deg));
    let area = 0;
    for (let i = 0; i < pts.length; i++) {
      const [x0, y0] = pts[i]!;
      const [x1, y1] = pts[(i + 1) % pts.length]!;
      area += x0 * y1 - x1 * y0;
    }
    const solid = 10 * deg * (Math.sin((lat0! + 10) * deg) - Math.sin(lat0! * deg));
    assert.ok(Math.abs(Math.abs(area / 2) / solid - 1) < 1e-3, `bin at ${lon0},${lat0}: area ${Math.abs(area / 2)} vs ${solid}`);
  }
});

test('direction histogram: uniform directions read ~1x uniform in every bin', () => {
  const N = 60000;
  const { rot, tilt } = uniformDirections(N, 3);
  const { counts, solidAngle } = directionHistogram(rot, tilt, 12, 6);
  let total = 0;
  let worst = 0;
  for (let b = 0; b < counts.length; b++) {
    total += counts[b]!;
    const rel = counts[b]! / solidAngle[b]! / (N / (4 * Math.PI));
    worst = Math.max(worst, Math.abs(rel - 1));
  }
  assert.equal(total, N);
  assert.ok(worst < 0.25, `worst bin off by ${worst}`); // smallest (polar) bins hold ~112 expected counts: 25% is > 2.5 sigma
  const s = solidAngle.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(s - 4 * Math.PI) < 1e-9);
});

test('writeReport: PNGs decode, html self-contained, montage centred on the blob; empty folder tolerated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-report-'));
  try {
    const D = 24;
    const cx = 14;
    const cy = 9;
    const cz = 11;
    writeMrc(join(dir, 'map.mrc'), blob(D, cx, cy, cz, 2), { nx: D, ny: D, nz: D, apixAngstrom: 3 });
    const rng = new Rng(1);
    const a = blob(D, 12, 12, 12, 3).map((v) => v + 0.05 * (rng.uniform() - 0.5));
    const b = blob(D, 12, 12, 12, 3).map((v) => v + 0.05 * (rng.uniform() - 0.5));
    writeFileSync(join(dir, 'fsc.json'), JSON.stringify(fscReport(a, b, D, 3)));
    for (let e = 0; e < 5; e++) appendFileSync(join(dir, 'metrics.jsonl'), JSON.stringify({ epoch: e, stage: 'search', loss: 1 / (e + 1), wall_s: e, head_usage: [], res05_px: 10 - e }) + '\n');
    appendFileSync(join(dir, 'metrics.jsonl'), '{"epoch": 5, "los'); // torn last line of a running job
    const { rot, tilt } = uniformDirections(500, 2);
    writeStar(join(dir, 'poses.star'), [{ name: 'particles', loops: [{ columns: ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi'],
      rows: rot.map((r, i) => [`${i + 1}@x.mrcs`, r.toFixed(3), tilt[i]!.toFixed(3), '0']) }] }]);
    const z = new Float32Array(300 * 4);
    for (let i = 0; i < 300; i++) { const c = i < 150 ? -3 : 3; z[4 * i] = c + rng.uniform(); z[4 * i + 1] = c + rng.uniform(); z[4 * i + 2] = rng.uniform(); z[4 * i + 3] = rng.uniform(); }
    writeNpy(join(dir, 'z.npy'), z, [300, 4]);

    assert.equal(readMetrics(dir).length, 5);
    const lat = readLatent2d(dir)!;
    assert.equal(lat.pca, true);
    // the two clusters separate along PC 1: signs of PC1 differ between the halves
    assert.ok(Math.sign(lat.x[0]!) !== Math.sign(lat.x[299]!));
    assert.equal(readDirections(dir)!.rotDeg.length, 500);

    const r = writeReport(dir);
    for (const f of ['fsc.png', 'slices.png', 'poses.png', 'loss.png', 'quality.png', 'latent.png']) {
      assert.ok(r.images.includes(join(dir, f)), `missing ${f}`);
      const img = PNG.sync.read(readFileSync(join(dir, f)));
      assert.ok(img.width > 100 && img.height > 50);
    }
    const html = readFileSync(r.html, 'utf8');
    assert.equal((html.match(/src="data:image\/png;base64,/g) ?? []).length, 6);
    assert.ok(!/(src|href)="(https?:)?\/\//i.test(html), 'no external resource');
    assert.ok(!/<script/i.test(html));
    // the z-section panel (top left) is brightest at the blob's (x, y), the y-section at (x, z)
    const m = slicesMontage(readMrc(join(dir, 'map.mrc')).data, D);
    const up = Math.floor(160 / D);
    // panels are clipped at their 99.5th percentile, so several pixels tie at 1: use the centroid of the saturated ones
    const peak = (ox: number, oy: number): [number, number] => {
      let sx = 0;
      let sy = 0;
      let k = 0;
      for (let rr = 0; rr < D; rr++) for (let cc = 0; cc < D; cc++) {
        if (m.pixels[(oy + rr * up) * m.width + ox + cc * up]! >= 0.999) { sx += cc; sy += rr; k++; }
      }
      return [sx / k, sy / k];
    };
    const near = (p: [number, number], q: [number, number]): boolean => Math.hypot(p[0] - q[0], p[1] - q[1]) < 0.75;
    // the blob is off the central planes, so use the projection row (bottom): z-projection peak at (cx, cy), ...
    const row2 = D * up + 4;
    assert.ok(near(peak(0, row2), [cx, cy]), `z projection peak ${peak(0, row2)}`);
    assert.ok(near(peak(row2, row2), [cx, cz]), `y projection peak ${peak(row2, row2)}`);
    assert.ok(near(peak(2 * row2, row2), [cy, cz]), `x projection peak ${peak(2 * row2, row2)}`);

    const empty = mkdtempSync(join(tmpdir(), 'cryospin-report-empty-'));
    const e = writeReport(empty);
    assert.deepEqual(e.images, []);
    assert.match(readFileSync(e.html, 'utf8'), /Nothing to show yet/);
    rmSync(empty, { recursive: true, force: true });
    assert.throws(() => writeReport(join(dir, 'does-not-exist')), /does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeLiveSnapshot: cropped live map, FSC 1 for an unchanged map, directions round-trip', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-live-'));
  try {
    const D = 80;
    const map = blob(D, 40, 38, 42, 5);
    const n = 50;
    const rots = new Float64Array(9 * n);
    const truth: Array<[number, number]> = [];
    const rng = new Rng(5);
    for (let i = 0; i < n; i++) {
      const rot = rng.range(-179, 179);
      const tilt = rng.range(1, 179);
      truth.push([rot, tilt]);
      rots.set(eulerToMatrix(rot, tilt, rng.range(-179, 179)), 9 * i);
    }
    const s0 = writeLiveSnapshot(dir, { epoch: 0, map, D, apixAngstrom: 2, rots });
    assert.equal(s0.live_box, 64);
    assert.ok(Math.abs(s0.apix_angstrom! - 2.5) < 1e-12);
    assert.equal(existsSync(join(dir, 'live', 'fsc.json')), false, 'no previous epoch yet');
    writeLiveSnapshot(dir, { epoch: 1, map, D, apixAngstrom: 2, rots });
    const live = readFsc(dir).live!;
    assert.equal(live.kind, 'epoch-to-epoch');
    assert.equal(live.box, 64);
    for (const [, f] of live.curve.slice(0, 20)) assert.ok(f > 0.999999, `FSC of identical maps ${f}`);
    const m = readMrc(join(dir, 'live', 'map.mrc'));
    assert.equal(m.nx, 64);
    const d = directionsFromRotations(rots, 1000);
    d.rotDeg.forEach((r, i) => {
      const dr = Math.abs(((r - truth[i]![0] + 540) % 360) - 180);
      assert.ok(dr < 0.02 && Math.abs(d.tiltDeg[i]! - truth[i]![1]) < 0.02, `particle ${i}`);
    });
    assert.equal(directionsFromRotations(rots, 10).rotDeg.length, 10);
    assert.equal(readDirections(dir)!.source, 'live/directions.json');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
