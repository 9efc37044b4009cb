/**
 * The browser build's core: a particle stack (.mrcs bytes) and optionally its RELION STAR text
 * (CTF, pixel size) and a ground-truth map are turned into a map entirely client-side, with
 * the same modules as the CLI: the MRC header parser (src/io/mrcHeader.ts), the STAR parser and
 * RELION interpreter (src/io/star.ts, relionStar.ts), the CTF, the semi-amortized trainer
 * (search initialisation, then auto-decoding) on the TypeScript slice kernels, and map alignment
 * + FSC (src/eval). Images are normalised as DiskSource does (mean 0, one global scale).
 */
import { ctf2D } from '../src/core/ctf.js';
import { ifft3Centered } from '../src/core/fft.js';
import { fourierCropImage, fourierCropVolume } from '../src/core/resample.js';
import { alignMaps } from '../src/eval/align.js';
import { fscReport } from '../src/eval/fsc.js';
import { InputError } from '../src/io/errors.js';
import { parseMrcHeader } from '../src/io/mrcHeader.js';
import { parseRelionParticles } from '../src/io/relionStar.js';
import { parseStar } from '../src/io/star.js';
import { fourierFromHartley } from '../src/model/hartleyVolume.js';
import { tf } from '../src/model/tfjsSetup.js';
import { MemorySource } from '../src/recon/memorySource.js';
import { SemiAmortizedTrainer, type ProgressInfo } from '../src/recon/semiAmortized.js';

export interface DroppedFile { name: string; bytes: Uint8Array }

export interface BrowserReconstructOptions {
  epochs: number;
  searchIterations: number;
  searchRotations: number;
  searchRadiusStartPx: number;
  searchRadiusEndPx: number;
  searchShiftRangePx: number;
  batchSize: number;
  seed: number;
  /** Working box (Fourier crop); default the stack's. */
  box?: number;
}

export const BROWSER_DEFAULTS: BrowserReconstructOptions = {
  epochs: 12, searchIterations: 6, searchRotations: 1500, searchRadiusStartPx: 3, searchRadiusEndPx: 8,
  searchShiftRangePx: 1, batchSize: 32, seed: 0,
};

export interface BrowserResult {
  n: number;
  D: number;
  apixAngstrom: number;
  map: Float32Array;
  wallS: number;
  epochs: number;
  /** FSC 0.5 resolution (px) against the ground-truth map after alignment, when one was given. */
  res05Px: number | null;
  alignCorrelation: number | null;
}

/** A 3D MRC (map or stack) from bytes: float32, int16, uint16 and int8 modes. */
export function decodeMrc(f: DroppedFile): { nx: number; ny: number; nz: number; apix: number | null; data: Float32Array } {
  const info = parseMrcHeader(f.bytes.subarray(0, 1024), f.bytes.length, f.name);
  const h = info.header;
  const n = h.nx * h.ny * h.nz;
  const off = info.dataOffsetBytes;
  if (off + n * info.bytesPerVoxel > f.bytes.length) throw new InputError(f.name, `file holds ${f.bytes.length} bytes, the header promises ${off + n * info.bytesPerVoxel}`);
  const dv = new DataView(f.bytes.buffer, f.bytes.byteOffset + off, n * info.bytesPerVoxel);
  const le = info.littleEndian;
  const out = new Float32Array(n);
  const read: Record<number, (i: number) => number> = {
    0: (i) => dv.getInt8(i), 1: (i) => dv.getInt16(2 * i, le), 2: (i) => dv.getFloat32(4 * i, le), 6: (i) => dv.getUint16(2 * i, le),
  };
  const get = read[h.mode];
  if (!get) throw new InputError(f.name, `MRC mode ${h.mode} is not supported in the browser build (0, 1, 2, 6)`, { field: 'mode' });
  for (let i = 0; i < n; i++) out[i] = get(i);
  return { nx: h.nx, ny: h.ny, nz: h.nz, apix: info.apix, data: out };
}

const yieldToPage = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

export async function reconstructInBrowser(stackFile: DroppedFile, starFile: DroppedFile | null, gtFile: DroppedFile | null,
  opts: BrowserReconstructOptions = BROWSER_DEFAULTS, log: (msg: string) => void = () => {},
  onProgress?: (p: ProgressInfo) => void): Promise<BrowserResult> {
  const t0 = performance.now();
  // the pose search's matrix products run on tfjs; its plain-JS 'cpu' backend needs no extra files
  if (tf.getBackend() !== 'cpu') { await tf.setBackend('cpu'); await tf.ready(); }
  const stack = decodeMrc(stackFile);
  if (stack.nx !== stack.ny) throw new InputError(stackFile.name, `images are ${stack.nx}x${stack.ny}, not square`);
  const D0 = stack.nx;
  const D = opts.box ?? D0;
  if (D > D0 || D % 2 !== 0) throw new InputError(stackFile.name, `working box ${D} must be even and at most ${D0}`);
  let order: number[] = Array.from({ length: stack.nz }, (_, i) => i);
  let ctfs: Array<import('../src/core/ctf.js').CtfParams | null> = order.map(() => null);
  let apix0 = stack.apix ?? 1;
  if (starFile) {
    const text = new TextDecoder().decode(starFile.bytes);
    const rp = parseRelionParticles(parseStar(text, starFile.name), starFile.name, { allowOutside: true });
    order = rp.particles.map((p, r) => {
      if (p.stackIndex >= stack.nz) throw new InputError(starFile.name, `image ${p.stackIndex + 1} is not in ${stackFile.name} (${stack.nz} images)`, { record: r, field: '_rlnImageName' });
      return p.stackIndex;
    });
    ctfs = rp.particles.map((p) => p.ctf);
    apix0 = rp.particles[0]?.apixAngstrom ?? apix0;
  }
  const n = order.length;
  const apix = (apix0 * D0) / D;
  log(`${n} particles, box ${D0}${D !== D0 ? ` -> ${D}` : ''}, ${apix.toFixed(2)} A/px, CTF ${ctfs[0] ? 'yes' : 'no'}`);
  const P = D * D;
  const images = new Float32Array(n * P);
  let s2 = 0;
  for (let r = 0; r < n; r++) {
    const raw = stack.data.subarray(order[r]! * D0 * D0, (order[r]! + 1) * D0 * D0);
    const img = D === D0 ? Float32Array.from(raw) : fourierCropImage(raw, D0, D);
    let m = 0;
    for (const v of img) m += v;
    m /= P;
    for (let k = 0; k < P; k++) { img[k] = img[k]! - m; s2 += img[k]! * img[k]!; }
    images.set(img, r * P);
  }
  const scale = 1 / Math.sqrt(s2 / (n * P));
  for (let k = 0; k < images.length; k++) images[k] = images[k]! * scale;
  let ctfArr: Float32Array | null = null;
  if (ctfs[0]) {
    ctfArr = new Float32Array(n * P);
    ctfs.forEach((c, r) => {
      if (!c) throw new InputError(starFile!.name, 'particle has no CTF while others do', { record: r });
      ctf2D(c, D, apix, ctfArr!.subarray(r * P, (r + 1) * P));
    });
  }
  const source = new MemorySource(images, D, apix, ctfArr);
  const trainer = new SemiAmortizedTrainer(source, null, {
    init: 'search', backend: 'ts', epochs: opts.epochs, searchIterations: opts.searchIterations, searchRotations: opts.searchRotations,
    searchRadiusStartPx: opts.searchRadiusStartPx, searchRadiusEndPx: opts.searchRadiusEndPx, searchShiftRangePx: opts.searchShiftRangePx,
    batchSize: opts.batchSize, seed: opts.seed,
  });
  while (!trainer.done) {
    const st = trainer.trainEpoch(onProgress);
    log(`epoch ${st.epoch} [${st.stage}] loss ${st.loss.toFixed(4)} ${st.seconds.toFixed(1)} s`);
    await yieldToPage();
  }
  const F = fourierFromHartley(trainer.grid);
  const map = ifft3Centered(F, D);
  for (let i = 0; i < map.length; i++) map[i] = map[i]! * D;
  trainer.slicer.dispose();
  let res05Px: number | null = null;
  let alignCorrelation: number | null = null;
  if (gtFile) {
    const gt = decodeMrc(gtFile);
    if (gt.nx !== gt.ny || gt.ny !== gt.nz) throw new InputError(gtFile.name, 'ground-truth map is not cubic');
    const g = gt.nx === D ? gt.data : fourierCropVolume(gt.data, gt.nx, D);
    const al = alignMaps(g, map, D, {});
    alignCorrelation = al.correlation;
    res05Px = fscReport(g, al.aligned, D, apix).res05_px;
    log(`FSC 0.5 vs ground truth: ${res05Px.toFixed(2)} px (${(res05Px * apix).toFixed(1)} A), aligned correlation ${al.correlation.toFixed(3)}`);
  }
  return { n, D, apixAngstrom: apix, map, wallS: (performance.now() - t0) / 1000, epochs: trainer.epoch, res05Px, alignCorrelation };
}
