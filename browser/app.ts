/**
 * The standalone page's script: the user drops (or picks) a particle stack (.mrcs) and, ideally,
 * its RELION STAR file (CTF, pixel size), optionally a ground-truth map for an FSC; the
 * reconstruction runs in the page (reconstruct.ts) and the result is shown as three central
 * sections and offered as map.mrc. The last result is also written as JSON into #result (used by
 * the headless-browser test).
 */
import { encodeMrcHeader } from '../src/io/mrcHeader.js';
import { BROWSER_DEFAULTS, reconstructInBrowser, type DroppedFile } from './reconstruct.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const files: { stack: DroppedFile | null; star: DroppedFile | null; gt: DroppedFile | null } = { stack: null, star: null, gt: null };

function log(msg: string): void {
  const el = $('log');
  el.textContent += msg + '\n';
}

async function take(list: FileList | null): Promise<void> {
  for (const f of Array.from(list ?? [])) {
    const d: DroppedFile = { name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) };
    if (/\.star$/i.test(f.name)) files.star = d;
    else if (/\.mrcs$/i.test(f.name) || (!files.stack && /\.mrc$/i.test(f.name) && !/gt|truth|ref/i.test(f.name))) files.stack = d;
    else if (/\.(mrc|map)$/i.test(f.name)) files.gt = d;
  }
  $('files').textContent = `stack: ${files.stack?.name ?? '-'}, STAR: ${files.star?.name ?? '-'}, ground truth: ${files.gt?.name ?? '-'}`;
  ($('run') as HTMLButtonElement).disabled = !files.stack;
}

function drawSections(map: Float32Array, D: number): void {
  const c = $('sections') as HTMLCanvasElement;
  c.width = 3 * D;
  c.height = D;
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(3 * D, D);
  let lo = Infinity, hi = -Infinity;
  for (const v of map) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const h = Math.floor(D / 2);
  const at = [(x: number, y: number) => map[(h * D + y) * D + x]!, (x: number, y: number) => map[(y * D + h) * D + x]!, (x: number, y: number) => map[(y * D + x) * D + h]!];
  for (let s = 0; s < 3; s++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const g = Math.round((255 * (at[s]!(x, y) - lo)) / (hi - lo || 1));
    const o = 4 * (y * 3 * D + s * D + x);
    img.data[o] = img.data[o + 1] = img.data[o + 2] = g;
    img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function offerMap(map: Float32Array, D: number, apix: number): void {
  let lo = Infinity, hi = -Infinity, sum = 0, sum2 = 0;
  for (const v of map) { lo = Math.min(lo, v); hi = Math.max(hi, v); sum += v; sum2 += v * v; }
  const mean = sum / map.length;
  const head = encodeMrcHeader({ nx: D, ny: D, nz: D, mode: 2, mx: D, my: D, mz: D, cella: [D * apix, D * apix, D * apix], ispg: 1,
    dmin: lo, dmax: hi, dmean: mean, rms: Math.sqrt(Math.max(0, sum2 / map.length - mean * mean)), origin: [0, 0, 0], labels: ['cryospin browser build'] });
  const bytes = new Uint8Array(head.length + map.byteLength);
  bytes.set(head, 0);
  bytes.set(new Uint8Array(map.buffer, map.byteOffset, map.byteLength), head.length);
  const blob = new Blob([bytes], { type: 'application/octet-stream' });
  const a = $('download') as HTMLAnchorElement;
  a.href = URL.createObjectURL(blob);
  a.style.display = 'inline';
}

async function run(): Promise<void> {
  if (!files.stack) return;
  ($('run') as HTMLButtonElement).disabled = true;
  $('result').textContent = '';
  const num = (id: string, def: number): number => { const v = Number(($(id) as HTMLInputElement).value); return Number.isFinite(v) && v > 0 ? v : def; };
  const opts = { ...BROWSER_DEFAULTS, epochs: num('epochs', BROWSER_DEFAULTS.epochs), searchIterations: num('search', BROWSER_DEFAULTS.searchIterations) };
  try {
    const r = await reconstructInBrowser(files.stack, files.star, files.gt, opts, log, (p) => { $('progress').textContent = `epoch ${p.epoch} [${p.stage}] batch ${p.batch}/${p.batches}`; });
    drawSections(r.map, r.D);
    offerMap(r.map, r.D, r.apixAngstrom);
    log(`done in ${r.wallS.toFixed(1)} s`);
    $('result').textContent = JSON.stringify({ ok: true, n: r.n, D: r.D, apixAngstrom: r.apixAngstrom, epochs: r.epochs, wallS: r.wallS, res05Px: r.res05Px, alignCorrelation: r.alignCorrelation });
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    $('result').textContent = JSON.stringify({ ok: false, error: (e as Error).message });
  } finally {
    ($('run') as HTMLButtonElement).disabled = false;
  }
}

const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); void take(e.dataTransfer?.files ?? null); });
$('pick').addEventListener('change', (e) => void take((e.target as HTMLInputElement).files));
$('run').addEventListener('click', () => void run());
$('status').textContent = 'ready';
