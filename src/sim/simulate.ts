/**
 * Synthetic single-particle data from a map: uniform random rotations, RELION origins, per-
 * particle CTF and white Gaussian noise, streamed to disk in chunks (memory does not grow with
 * the particle count except for the per-particle metadata the STAR file needs).
 *
 * Per particle i (all random choices from one seeded Rng, in a fixed order, so the output does
 * not depend on the chunk size):
 *   - rotation A_i uniform on SO(3) (rotation.randomRotations);
 *   - origin (ox, oy) uniform in [-P, P]^2 pixels, RELION sign: the image is the projection
 *     translated by MINUS the origin (stored as _rlnOriginX/YAngst = origin * apix);
 *   - defocus uniform in [min, max] um, or log-normal (median, sigma of ln); optional
 *     astigmatism: dfV = dfU - uniform(0, astigmatism); angle uniform in [0, 180) degrees;
 *   - clean image = real part of the padded (pad 2) Fourier-slice projection times the CTF and
 *     the origin phase (project.projectMany, matching relion_project);
 *   - noise: white Gaussian with var = var(clean image over the whole box) / SNR (conventions.md);
 *     the image is then divided by the noise std, so every image has noise std exactly 1, as
 *     RELION's per-particle normalisation leaves real data (the signal scale then varies a little
 *     from image to image, as in real data). SNR = Infinity writes the clean images unscaled.
 * The noise comes from a second Rng forked from the seed, consumed image by image.
 *
 * Outputs in DIR: particles.mrcs (float32 stack), particles.star (RELION 3.1: optics group +
 * particles with true angles, origins in Angstrom and CTF), gt.mrc (the map actually projected;
 * for a mixture of K maps gt_class1..K.mrc and _rlnClassNumber per particle), simulation.json
 * (the settings and a summary). The second half of the file turns the inputs (maps with crop /
 * Fourier resampling, or atomic models via atomsToMap.ts, optionally superposed) into volumes.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CtfParams } from '../core/ctf.js';
import { prepareProjector, projectMany, type PreparedProjector } from '../core/project.js';
import { Rng } from '../core/rng.js';
import { matrixToEuler, randomRotations } from '../core/rotation.js';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../io/errors.js';
import { createMrcStackWriter, readMrc, writeMrc } from '../io/mrc.js';
import type { ParticleRecord, ParticleSet } from '../io/particles.js';
import { writeParticlesStar } from '../io/relionStar.js';
import { fourierCropVolume } from '../core/resample.js';
import { readAtomicModel, superposeByCa, type Atom, type AtomicModel } from './atomicModel.js';
import { atomsToMap, centreOfMass } from './atomsToMap.js';

export type DefocusDistribution =
  | { kind: 'uniform'; minUm: number; maxUm: number }
  | { kind: 'lognormal'; medianUm: number; logSigma: number };

export interface SimulateOptions {
  outDir: string;
  n: number;
  /** var(clean) / var(noise) per image; Infinity for clean images. */
  snr: number;
  /** Origins uniform in [-shiftPx, shiftPx] per axis. */
  shiftPx: number;
  defocus: DefocusDistribution;
  /** Maximum dfU - dfV in um (0: no astigmatism). */
  astigmatismUm?: number;
  voltageKv?: number;
  csMm?: number;
  amplitudeContrast?: number;
  /** CTF envelope B-factor, Angstrom^2 (0 = none). */
  ctfBFactor?: number;
  /** No CTF at all (the STAR then has no defocus columns). */
  noCtf?: boolean;
  /** Mixtures (several volumes): probability of each class (normalised; default equal). */
  classFractions?: number[];
  seed?: number;
  /** Images per chunk written to disk (default 500). */
  chunk?: number;
  pad?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SimulateSummary {
  outDir: string;
  particlesStar: string;
  particlesMrcs: string;
  /** The (first) ground-truth map. */
  gtMap: string;
  /** One ground-truth map per class (gt.mrc alone for one volume; gt_class1.mrc, ... for mixtures). */
  gtMaps: string[];
  /** Particles per class (mixtures). */
  classCounts: number[];
  settingsJson: string;
  n: number;
  boxPx: number;
  apixAngstrom: number;
  snr: number;
  seed: number;
  /** Mean noise std added (map units, before each image was scaled to noise std 1); null if clean. */
  meanNoiseStdBeforeScaling: number | null;
}

function checkOptions(o: SimulateOptions): void {
  const bad = (msg: string): never => { throw new InputError('simulate', msg); };
  if (!Number.isInteger(o.n) || o.n < 1) bad(`--n must be a positive integer, got ${o.n}`);
  if (!(o.snr > 0)) bad(`--snr must be > 0 (inf for clean images), got ${o.snr}`);
  if (!(o.shiftPx >= 0) || !Number.isFinite(o.shiftPx)) bad(`--shift-px must be >= 0, got ${o.shiftPx}`);
  const d = o.defocus;
  if (d.kind === 'uniform' && !(d.minUm > 0 && d.maxUm >= d.minUm)) bad(`--defocus needs 0 < MIN <= MAX (um), got ${d.minUm} ${d.maxUm}`);
  if (d.kind === 'lognormal' && !(d.medianUm > 0 && d.logSigma >= 0)) bad(`log-normal defocus needs median > 0 and sigma >= 0`);
  if ((o.astigmatismUm ?? 0) < 0) bad(`astigmatism must be >= 0 um`);
  if (o.chunk !== undefined && (!Number.isInteger(o.chunk) || o.chunk < 1)) bad(`--chunk must be a positive integer, got ${o.chunk}`);
  if (o.classFractions && !o.classFractions.every((f) => f >= 0 && Number.isFinite(f))) bad('class fractions must be >= 0');
}

/** Cumulative class probabilities for K classes (null for one class: no draw). */
function classCdf(o: SimulateOptions, K: number): Float64Array | null {
  if (K === 1) return null;
  const f = o.classFractions ?? new Array<number>(K).fill(1);
  if (f.length !== K) throw new InputError('simulate', `${f.length} class fractions for ${K} volumes`);
  const total = f.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new InputError('simulate', 'class fractions sum to 0');
  const cdf = new Float64Array(K);
  let acc = 0;
  f.forEach((v, k) => { acc += v / total; cdf[k] = acc; });
  cdf[K - 1] = 1;
  return cdf;
}

/** Draw the metadata of all particles (rotations, origins, CTFs) from the seeded generator. */
function drawParticles(o: SimulateOptions, rng: Rng, cdf: Float64Array | null):
  { rots: Float64Array; origins: Float64Array; ctfs: CtfParams[]; classes: Uint16Array } {
  const n = o.n;
  const classes = new Uint16Array(n);
  const rots = new Float64Array(9 * n);
  const origins = new Float64Array(2 * n);
  const ctfs: CtfParams[] = [];
  const astig = o.astigmatismUm ?? 0;
  for (let i = 0; i < n; i++) {
    rots.set(randomRotations(1, rng), 9 * i);
    origins[2 * i] = o.shiftPx > 0 ? rng.range(-o.shiftPx, o.shiftPx) : 0;
    origins[2 * i + 1] = o.shiftPx > 0 ? rng.range(-o.shiftPx, o.shiftPx) : 0;
    const d = o.defocus;
    const dfUm = d.kind === 'uniform' ? rng.range(d.minUm, d.maxUm) : d.medianUm * Math.exp(d.logSigma * rng.normal());
    const dfVUm = astig > 0 ? dfUm - rng.range(0, astig) : dfUm;
    const angle = rng.range(0, 180);
    ctfs.push({
      defocusUAngstrom: dfUm * 1e4, defocusVAngstrom: dfVUm * 1e4, defocusAngleDeg: angle,
      voltageKv: o.voltageKv ?? 300, csMm: o.csMm ?? 2.7, amplitudeContrast: o.amplitudeContrast ?? 0.1,
      phaseShiftDeg: 0, bFactor: o.ctfBFactor ?? 0,
    });
    if (cdf) {
      const u = rng.uniform();
      let k = 0;
      while (k < cdf.length - 1 && u >= cdf[k]!) k++;
      classes[i] = k;
    }
  }
  return { rots, origins, ctfs, classes };
}

/** Clean images of particles start..start+B-1, each projected from its class's volume. */
function projectChunk(preps: PreparedProjector[], classes: Uint16Array, start: number, B: number, rots: Float64Array,
  origins: Float64Array, ctfs: CtfParams[] | null, apixAngstrom: number): Float32Array {
  const D = preps[0]!.D;
  const per = D * D;
  if (preps.length === 1) {
    return projectMany(preps[0]!, rots.subarray(9 * start, 9 * (start + B)), {
      origins: origins.subarray(2 * start, 2 * (start + B)), ctfs: ctfs?.slice(start, start + B), apixAngstrom });
  }
  const out = new Float32Array(B * per);
  preps.forEach((prep, k) => {
    const idx: number[] = [];
    for (let b = 0; b < B; b++) if (classes[start + b] === k) idx.push(start + b);
    if (idx.length === 0) return;
    const r = new Float64Array(9 * idx.length), o = new Float64Array(2 * idx.length);
    idx.forEach((i, j) => { r.set(rots.subarray(9 * i, 9 * i + 9), 9 * j); o[2 * j] = origins[2 * i]!; o[2 * j + 1] = origins[2 * i + 1]!; });
    const imgs = projectMany(prep, r, { origins: o, ctfs: ctfs ? idx.map((i) => ctfs[i]!) : undefined, apixAngstrom });
    idx.forEach((i, j) => out.set(imgs.subarray(j * per, (j + 1) * per), (i - start) * per));
  });
  return out;
}

/**
 * Simulate a particle stack from `vol` (D^3 at apixAngstrom) into opts.outDir. Several volumes
 * make a mixture: each particle's class is drawn with opts.classFractions and written as
 * _rlnClassNumber (1-based); each class's map is written as gt_class<k>.mrc.
 */
export function simulateParticles(vol: Float32Array | readonly Float32Array[], D: number, apixAngstrom: number,
  opts: SimulateOptions): SimulateSummary {
  checkOptions(opts);
  const vols = vol instanceof Float32Array ? [vol] : vol;
  if (vols.length === 0) throw new RangeError('simulateParticles: no volume');
  for (const v of vols) if (v.length !== D * D * D) throw new RangeError(`simulateParticles: volume length ${v.length} != ${D}^3`);
  const K = vols.length;
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const seed = opts.seed ?? 0;
  const rng = new Rng(seed);
  const { rots, origins, ctfs, classes } = drawParticles(opts, rng, classCdf(opts, K));
  const noiseRng = rng.fork();
  const chunk = opts.chunk ?? 500;
  const preps = vols.map((v) => prepareProjector(v, D, opts.pad ?? 2));
  const mrcsPath = join(outDir, 'particles.mrcs');
  const writer = createMrcStackWriter(mrcsPath, { nx: D, ny: D, apixAngstrom });
  const n = opts.n;
  const per = D * D;
  let sumNoiseStd = 0;
  try {
    for (let start = 0; start < n; start += chunk) {
      const B = Math.min(chunk, n - start);
      const imgs = projectChunk(preps, classes, start, B, rots, origins, opts.noCtf ? null : ctfs, apixAngstrom);
      if (Number.isFinite(opts.snr)) {
        for (let b = 0; b < B; b++) {
          const img = imgs.subarray(b * per, (b + 1) * per);
          let m = 0;
          for (let k = 0; k < per; k++) m += img[k]!;
          m /= per;
          let v = 0;
          for (let k = 0; k < per; k++) v += (img[k]! - m) ** 2;
          v /= per;
          if (!(v > 0)) throw new InputError('simulate', `particle ${start + b}: the clean projection is constant (empty map?)`);
          const sigma = Math.sqrt(v / opts.snr);
          sumNoiseStd += sigma;
          const inv = 1 / sigma;
          for (let k = 0; k < per; k++) img[k] = img[k]! * inv + noiseRng.normal();
        }
      }
      writer.append(imgs);
      opts.onProgress?.(start + B, n);
    }
    writer.close();
  } catch (e) {
    writer.abort();
    throw e;
  }
  const particles: ParticleRecord[] = [];
  for (let i = 0; i < n; i++) {
    const [rot, tilt, psi] = matrixToEuler(rots.subarray(9 * i, 9 * i + 9));
    const rec: ParticleRecord = { stackPath: mrcsPath, stackIndex: i, ctf: opts.noCtf ? null : ctfs[i]!, eulerDeg: [rot, tilt, psi],
      originPx: [origins[2 * i]!, origins[2 * i + 1]!] };
    if (K > 1) rec.classNumber = classes[i]! + 1;
    particles.push(rec);
  }
  const set: ParticleSet = { source: join(outDir, 'particles.star'), boxPx: D, apixAngstrom, particles };
  const starPath = join(outDir, 'particles.star');
  // The optics group always carries voltage, Cs and Q (RELION 3.1 refuses optics tables without
  // them, even for CTF-free data).
  writeParticlesStar(starPath, set, { opticsGroups: [{ opticsGroup: 1, voltageKv: opts.voltageKv ?? 300, csMm: opts.csMm ?? 2.7,
    amplitudeContrast: opts.amplitudeContrast ?? 0.1 }] });
  const gtMaps = K === 1 ? [join(outDir, 'gt.mrc')] : vols.map((_, k) => join(outDir, `gt_class${k + 1}.mrc`));
  vols.forEach((v, k) => writeMrc(gtMaps[k]!, v, { nx: D, ny: D, nz: D, apixAngstrom }));
  const classCounts = new Array<number>(K).fill(0);
  for (const c of classes) classCounts[c]! += 1;
  const summary: SimulateSummary = {
    outDir, particlesStar: starPath, particlesMrcs: mrcsPath, gtMap: gtMaps[0]!, gtMaps, classCounts,
    settingsJson: join(outDir, 'simulation.json'),
    n, boxPx: D, apixAngstrom, snr: opts.snr, seed,
    meanNoiseStdBeforeScaling: Number.isFinite(opts.snr) ? sumNoiseStd / n : null,
  };
  const settings = {
    ...summary, snr: Number.isFinite(opts.snr) ? opts.snr : 'inf', shiftPx: opts.shiftPx, defocus: opts.defocus,
    astigmatismUm: opts.astigmatismUm ?? 0, voltageKv: opts.voltageKv ?? 300, csMm: opts.csMm ?? 2.7,
    amplitudeContrast: opts.amplitudeContrast ?? 0.1, ctfBFactor: opts.ctfBFactor ?? 0, noCtf: opts.noCtf ?? false,
    pad: opts.pad ?? 2, noiseScaling: 'per image, noise std 1', classFractions: K > 1 ? opts.classFractions ?? null : undefined,
  };
  writeFileAtomic(summary.settingsJson, JSON.stringify(settings, null, 2) + '\n');
  return summary;
}

export interface VolumeSpec {
  /** Input map(s) (MRC); or */
  map?: string | string[];
  /**
   * input atomic model(s) (PDB / mmCIF). Several inputs make a mixture (one class each).
   * `file:A,B` keeps only chains A and B of that file (overrides `chains`).
   */
  model?: string | string[];
  /** Output box (maps: Fourier crop/pad, pixel size scales; models: the grid size, default 64). */
  boxPx?: number;
  /** Maps: pixel size when the header has none (overrides it when given). Models: output pixel size. */
  apixAngstrom?: number;
  /** Maps: drop trailing planes on each axis to reach this box first (B1: 65 -> 64). */
  cropPx?: number;
  /** Models: blur B (Angstrom^2), default 16 apix^2 (atomsToMap.ts). */
  bFactorAngstrom2?: number;
  /** Models: chains to keep. */
  chains?: string[];
  /** Models: keep only standard amino-acid residues. */
  proteinOnly?: boolean;
  /**
   * Several models: superpose each onto the first by its C-alpha atoms (atomicModel.superposeByCa)
   * and centre all on the first model's centre of mass, so the classes share one frame.
   */
  superpose?: boolean;
}

export interface LoadedVolumes {
  /** One volume per input (class), all at the same box and pixel size. */
  vols: Float32Array[];
  boxPx: number;
  apixAngstrom: number;
  /** Facts worth telling the user (resampling, atoms outside the box, ...). */
  notes: string[];
}

export interface LoadedVolume {
  vol: Float32Array;
  boxPx: number;
  apixAngstrom: number;
  notes: string[];
}

/** Take the first N planes along each axis of a D^3 volume (drops trailing planes). */
export function cropTrailing(vol: Float32Array, D: number, N: number): Float32Array {
  const out = new Float32Array(N * N * N);
  for (let z = 0; z < N; z++) for (let y = 0; y < N; y++) {
    const src = (z * D + y) * D;
    out.set(vol.subarray(src, src + N), (z * N + y) * N);
  }
  return out;
}

/** C-alpha pairs farther apart than this after a fit leave the core (Angstrom). */
const CORE_CUTOFF_A = 2;

/**
 * Superpose `mobile` onto `target` on their common core: fit on all paired C-alpha atoms
 * (superposeByCa), then repeatedly refit on the pairs that lie within CORE_CUTOFF_A of each other
 * (at least a quarter of the pairs, the closest ones), so that a moving domain (the LID and NMP
 * domains of adenylate kinase) does not tilt the frame. Non-core C-alpha atoms are hidden from
 * the fit by renaming them in a copy; the returned model is the whole moved mobile model.
 */
export function superposeOnCore(mobile: AtomicModel, target: AtomicModel): { model: AtomicModel; matched: number; core: number; rmsdAngstrom: number; coreRmsdAngstrom: number } {
  const all = superposeByCa(mobile, target);
  const isCa = (a: Atom) => a.atomName === 'CA' && a.element === 'C' && Number.isFinite(a.resSeq);
  const oneChain = new Set(mobile.atoms.filter(isCa).map((a) => a.chain)).size <= 1 && new Set(target.atoms.filter(isCa).map((a) => a.chain)).size <= 1;
  const key = (a: Atom) => (oneChain ? `${a.resSeq}` : `${a.chain}|${a.resSeq}`);
  const tgt = new Map(target.atoms.filter(isCa).map((a) => [key(a), a]));
  let fit = all;
  let coreKeys: Set<string> = new Set();
  let coreRmsd = all.rmsdAngstrom;
  for (let it = 0; it < 5; it++) {
    const dists: { k: string; d: number }[] = [];
    for (const a of fit.model.atoms) {
      if (!isCa(a)) continue;
      const b = tgt.get(key(a));
      if (b) dists.push({ k: key(a), d: Math.hypot(a.xAngstrom - b.xAngstrom, a.yAngstrom - b.yAngstrom, a.zAngstrom - b.zAngstrom) });
    }
    dists.sort((x, y) => x.d - y.d);
    const minCore = Math.max(3, Math.ceil(dists.length / 4));
    const within = dists.filter((x) => x.d <= CORE_CUTOFF_A).length;
    const next = new Set(dists.slice(0, Math.max(minCore, within)).map((x) => x.k));
    if (next.size === coreKeys.size && [...next].every((k) => coreKeys.has(k))) break;
    coreKeys = next;
    const hidden: AtomicModel = { ...mobile, atoms: mobile.atoms.map((a) => (isCa(a) && !coreKeys.has(key(a)) ? { ...a, atomName: 'CA~' } : a)) };
    const f = superposeByCa(hidden, target);
    coreRmsd = f.rmsdAngstrom;
    const back = new Map(mobile.atoms.map((a, i) => [i, a.atomName]));
    fit = { ...f, model: { ...f.model, atoms: f.model.atoms.map((a, i) => ({ ...a, atomName: back.get(i)! })) } };
  }
  let ss = 0, n = 0;
  for (const a of fit.model.atoms) {
    if (!isCa(a)) continue;
    const b = tgt.get(key(a));
    if (b) { ss += (a.xAngstrom - b.xAngstrom) ** 2 + (a.yAngstrom - b.yAngstrom) ** 2 + (a.zAngstrom - b.zAngstrom) ** 2; n++; }
  }
  return { model: fit.model, matched: all.matched, core: coreKeys.size || all.matched, rmsdAngstrom: Math.sqrt(ss / Math.max(1, n)), coreRmsdAngstrom: coreRmsd };
}

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function loadModels(paths: string[], spec: VolumeSpec): LoadedVolumes {
  const notes: string[] = [];
  let models = paths.map((p) => {
    // "file:A,B" selects chains of that file only (e.g. 4ake.pdb:A beside a single-chain model).
    const m = /^(.*):([A-Za-z0-9,]+)$/.exec(p);
    const [file, chains] = m && !existsSync(p) ? [m[1]!, m[2]!.split(',')] : [p, spec.chains];
    return readAtomicModel(file, { chains, proteinOnly: spec.proteinOnly });
  });
  let centre: [number, number, number] | undefined;
  if (spec.superpose && models.length > 1) {
    const ref = models[0]!;
    models = models.map((m, k) => {
      if (k === 0) return m;
      const s = superposeOnCore(m, ref);
      notes.push(`${m.file} superposed onto ${ref.file} on their common core: ${s.core} of ${s.matched} C-alpha pairs within ${CORE_CUTOFF_A} A, ` +
        `core RMSD ${s.coreRmsdAngstrom.toFixed(2)} A (all pairs ${s.rmsdAngstrom.toFixed(2)} A)`);
      return s.model;
    });
    centre = centreOfMass(ref.atoms, ref.file);
  }
  const D = spec.boxPx ?? 64;
  let apix = spec.apixAngstrom;
  if (apix === undefined) {
    // Default: the largest molecule's diameter plus 20% margin fills the box.
    let r = 0;
    for (const m of models) {
      const c = centre ?? centreOfMass(m.atoms, m.file);
      for (const a of m.atoms) r = Math.max(r, Math.hypot(a.xAngstrom - c[0], a.yAngstrom - c[1], a.zAngstrom - c[2]));
    }
    apix = Math.max(0.5, Math.ceil((2.4 * r / D) * 1000) / 1000);
    notes.push(`pixel size ${apix} A chosen so the model (radius ${r.toFixed(1)} A) fits box ${D} with margin`);
  }
  const vols = models.map((model) => {
    const m = atomsToMap(model, { boxPx: D, apixAngstrom: apix!, bFactorAngstrom2: spec.bFactorAngstrom2, centreAngstrom: centre });
    notes.push(`${model.file}: ${model.atoms.length} atoms, blur B = ${m.bFactorAngstrom2.toFixed(1)} A^2, max radius ${m.maxRadiusAngstrom.toFixed(1)} A`);
    if (m.atomsOutside > 0) notes.push(`warning: ${m.atomsOutside} atoms of ${model.file} fall outside the box`);
    else if (m.maxRadiusAngstrom > (D / 2) * apix!) notes.push(`warning: ${model.file} reaches the box corners (beyond the inscribed sphere)`);
    return m.data;
  });
  return { vols, boxPx: D, apixAngstrom: apix, notes };
}

function loadMap(path: string, spec: VolumeSpec, notes: string[]): LoadedVolume {
  const mrc = readMrc(path, { rejectNonFinite: true });
  if (mrc.nx !== mrc.ny || mrc.nx !== mrc.nz) throw new InputError(path, `map must be cubic, got ${mrc.nx}x${mrc.ny}x${mrc.nz}`);
  let D = mrc.nx;
  let vol = mrc.data;
  let apix = spec.apixAngstrom ?? mrc.apix;
  if (apix === null || !(apix > 0)) throw new InputError(path, 'the map header has no pixel size: give --apix', { field: 'CELLA' });
  if (spec.apixAngstrom !== undefined && mrc.apix !== null && Math.abs(mrc.apix - spec.apixAngstrom) > 1e-3) {
    notes.push(`${path}: --apix ${spec.apixAngstrom} overrides the header's ${mrc.apix}`);
  }
  if (spec.cropPx !== undefined && spec.cropPx !== D) {
    const N = spec.cropPx;
    if (!Number.isInteger(N) || N < 2 || N > D) throw new InputError(path, `--crop ${N} must be an integer in [2, ${D}]`);
    vol = cropTrailing(vol, D, N);
    notes.push(`${path}: cropped ${D}^3 -> ${N}^3 by dropping trailing planes`);
    D = N;
  }
  if (spec.boxPx !== undefined && spec.boxPx !== D) {
    const N = spec.boxPx;
    if (!Number.isInteger(N) || N < 2) throw new InputError(path, `--box ${N} must be an integer >= 2`);
    vol = fourierCropVolume(vol, D, N);
    notes.push(`${path}: resampled ${D}^3 -> ${N}^3 by Fourier ${N < D ? 'crop' : 'padding'}; pixel size ${apix} -> ${(apix * D) / N} A`);
    apix = (apix * D) / N;
    D = N;
  }
  return { vol, boxPx: D, apixAngstrom: apix, notes };
}

/** The volumes to simulate from: maps (cropped / resampled) or atomic models sampled as maps. */
export function loadSimulationVolumes(spec: VolumeSpec): LoadedVolumes {
  const maps = asList(spec.map), models = asList(spec.model);
  if ((maps.length === 0) === (models.length === 0)) throw new InputError('simulate', 'give --map or --model (one or more files), not both');
  if (models.length > 0) return loadModels(models, spec);
  const notes: string[] = [];
  const loaded = maps.map((p) => loadMap(p, spec, notes));
  const first = loaded[0]!;
  loaded.forEach((l, k) => {
    if (l.boxPx !== first.boxPx || Math.abs(l.apixAngstrom - first.apixAngstrom) > 1e-6 * first.apixAngstrom) {
      throw new InputError(maps[k]!, `box ${l.boxPx} at ${l.apixAngstrom} A/px differs from ${maps[0]}'s ${first.boxPx} at ${first.apixAngstrom} A/px`);
    }
  });
  return { vols: loaded.map((l) => l.vol), boxPx: first.boxPx, apixAngstrom: first.apixAngstrom, notes };
}

/** One volume (a single --map or --model). */
export function loadSimulationVolume(spec: VolumeSpec): LoadedVolume {
  const r = loadSimulationVolumes(spec);
  if (r.vols.length !== 1) throw new InputError('simulate', `expected one input, got ${r.vols.length}`);
  return { vol: r.vols[0]!, boxPx: r.boxPx, apixAngstrom: r.apixAngstrom, notes: r.notes };
}
