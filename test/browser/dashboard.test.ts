/**
 * End-to-end browser test of the live dashboard (issue 7): Debian's chromium, headless, driven by
 * playwright-core with executablePath (no downloaded browser) and a fresh user-data-dir, opens
 * `cryospin serve` on a short real reconstruction WHILE it runs (simulate 300 particles at box 32,
 * reconstruct 6 epochs in a child process), waits for a live update pushed by the server, checks
 * that the FSC plot and the 3D isosurface canvas hold drawn pixels, waits for the run to finish
 * and for the page to show the final half-map FSC, and saves screenshots
 * (CRYOSPIN_TEST_OUTPUT or the temp folder). Skips only when /usr/bin/chromium is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { writeMrc } from '../../src/io/mrc.js';
import { startServer } from '../../src/server/server.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');

/** An asymmetric test object: a few Gaussian blobs of different sizes (box D, x fastest). */
function blobMap(D: number): Float32Array {
  const blobs = [[0, 0, 0, 5, 1], [6, 2, -3, 3, 0.8], [-5, 5, 2, 2.5, 0.9], [1, -6, 4, 2, 0.7], [-3, -2, -6, 2.5, 0.6]];
  const v = new Float32Array(D ** 3);
  const c = Math.floor(D / 2);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const [bx, by, bz, r, a] of blobs) s += a! * Math.exp(-((x - c - bx!) ** 2 + (y - c - by!) ** 2 + (z - c - bz!) ** 2) / (2 * r! * r!));
    v[x + D * (y + D * z)] = s;
  }
  return v;
}

/** Pixels of an <img> or <canvas> that differ from the background colour by more than 40 (sum of |dRGB|). */
async function drawnPixels(page: Page, selector: string, bg: [number, number, number]): Promise<{ drawn: number; total: number; colored: number }> {
  return page.$eval(selector, (el, bgc) => {
    const src = el as HTMLImageElement | HTMLCanvasElement;
    const w = src instanceof HTMLImageElement ? src.naturalWidth : src.width;
    const h = src instanceof HTMLImageElement ? src.naturalHeight : src.height;
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(src, 0, 0);
    const d = ctx.getImageData(0, 0, w, h).data;
    let drawn = 0;
    let colored = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i]! - bgc[0]) + Math.abs(d[i + 1]! - bgc[1]) + Math.abs(d[i + 2]! - bgc[2]) > 40) drawn++;
      if (Math.max(d[i]!, d[i + 1]!, d[i + 2]!) - Math.min(d[i]!, d[i + 1]!, d[i + 2]!) > 40) colored++;
    }
    return { drawn, total: w * h, colored };
  }, bg);
}

test('dashboard: live updates of a running reconstruction, FSC plot and 3D view drawn (headless chromium)', { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) { t.skip(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser test`); return; }
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-dash-'));
  const shots = process.env.CRYOSPIN_TEST_OUTPUT ? resolve(process.env.CRYOSPIN_TEST_OUTPUT) : join(tmpdir(), 'cryospin-test-output');
  mkdirSync(shots, { recursive: true });
  const D = 32;
  writeMrc(join(dir, 'blobs.mrc'), blobMap(D), { nx: D, ny: D, nz: D, apixAngstrom: 6 });
  runSimulate({ map: join(dir, 'blobs.mrc'), out: join(dir, 'sim'), n: 300, snr: 1, shiftPx: 1, defocus: [1.0, 2.5], astigmatism: 0,
    voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: 500, quiet: true } as Parameters<typeof runSimulate>[0]);
  const out = join(dir, 'out');
  mkdirSync(out);
  const server = await startServer(out, { pollMs: 300 });
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'tinyReconstruction.ts'), join(dir, 'sim', 'particles.star'), out, '6'],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let childErr = '';
  child.stderr.on('data', (c: Buffer) => { childErr += c.toString(); });
  const childDone = new Promise<number>((ok) => child.on('close', (code) => ok(code ?? -1)));
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'cryospin-chromium-')), {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1300, height: 1100 },
  });
  try {
    const page = await ctx.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
    // first a map: the live snapshot after epoch 0
    await page.waitForFunction(() => (window as unknown as { __dashboard: { rendered3d: boolean } }).__dashboard.rendered3d, null, { timeout: 120_000 });
    const first = await page.evaluate(() => {
      const d = (window as unknown as { __dashboard: { version: string; updates: number } }).__dashboard;
      return { version: d.version, updates: d.updates };
    });
    // then a live update pushed by the server while the run goes on (a later epoch)
    await page.waitForFunction((u) => (window as unknown as { __dashboard: { updates: number } }).__dashboard.updates > u, first.updates, { timeout: 120_000 });
    const runningSummary = await page.textContent('#run-summary');
    t.diagnostic(`live update seen at ${((performance.now() - t0) / 1000).toFixed(1)} s: "${runningSummary}"`);
    await page.waitForFunction(() => { const i = document.getElementById('plot-fsc') as HTMLImageElement; return i.complete && i.naturalWidth > 0; }, null, { timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'dashboard-live.png'), fullPage: true });

    // wait for the end of the run; the page must follow to the finished state
    const code = await childDone;
    assert.equal(code, 0, `reconstruction failed:\n${childErr.slice(-2000)}`);
    await page.waitForFunction(() => /finished/.test(document.getElementById('run-summary')?.textContent ?? ''), null, { timeout: 30_000 });
    await page.waitForFunction(() => { const i = document.getElementById('plot-fsc') as HTMLImageElement; return i.complete && i.naturalWidth > 0 && /v=/.test(i.src); }, null, { timeout: 30_000 });
    await page.waitForTimeout(500);
    const fscSvg = await (await fetch(`${server.url}api/plot/fsc.svg`)).text();
    assert.match(fscSvg, /data-name="half maps"/, 'finished run: the FSC plot shows the half-map curve');
    const fsc = await drawnPixels(page, '#plot-fsc', [255, 255, 255]);
    const view = await drawnPixels(page, '#view3d', [0x11, 0x11, 0x11]);
    const slices = await drawnPixels(page, '#slice-z', [0, 0, 0]);
    const triangles = await page.evaluate(() => (window as unknown as { __dashboard: { viewer: { triangles: number } } }).__dashboard.viewer.triangles);
    t.diagnostic(`FSC plot: ${fsc.drawn}/${fsc.total} px drawn (${fsc.colored} coloured); 3D canvas: ${view.drawn}/${view.total} px drawn, ${triangles} triangles; slice: ${slices.drawn}/${slices.total}`);
    assert.ok(fsc.colored > 300, `FSC curve pixels: ${fsc.colored}`);
    assert.ok(view.drawn > 0.02 * view.total, `3D canvas nearly empty: ${view.drawn} of ${view.total}`);
    assert.ok(view.colored > 0.02 * view.total, '3D surface is shaded in colour');
    assert.ok(triangles > 100);
    assert.ok(slices.drawn > 0.2 * slices.total);
    assert.deepEqual(pageErrors, []);
    const shot = join(shots, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshots: ${shot}, ${join(shots, 'dashboard-live.png')}; total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await ctx.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
