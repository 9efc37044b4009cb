/**
 * Atoms -> density map: each atom becomes its electron scattering potential, blurred, sampled on
 * a cubic grid of N voxels at `apixAngstrom`, with the model's centre of mass at the box centre
 * index floor(N/2) (grid.ts).
 *
 * Choice of scattering weight (documented as asked): the elastic electron scattering factor of a
 * neutral atom in the 5-Gaussian parameterisation of Peng et al. (1996), Acta Cryst. A52, 257
 * (International Tables vol. C, table 4.3.2.2): f(s) = sum_i a_i exp(-b_i s^2), s = |k|/2 with k
 * in 1/Angstrom. A blur B (Angstrom^2, like a crystallographic B-factor) multiplies it by
 * exp(-B s^2). Its real-space inverse transform is a sum of 3D Gaussians,
 *     rho(r) = sum_i a_i (4 pi / (b_i + B))^(3/2) exp(-4 pi^2 r^2 / (b_i + B)),
 * times the voxel volume (so the map's sum is sum over atoms of f(0), in Angstrom). To avoid
 * aliasing, the Gaussians are sampled on a finer grid (oversample x, default 2: pixel apix/2) and
 * Fourier-cropped to the output box (resample.fourierCropVolume): the map's discrete transform is
 * then f(s) exp(-B s^2) per atom (times its phase) up to Nyquist, with no folded-in energy from
 * beyond it. Default B = 16 apix^2: the blur alone falls to 1/e at Nyquist.
 * Elements outside the table (H, C, N, O, P, S) use sulfur's curve scaled by Z/16: an
 * approximation, adequate for the occasional ion in a protein model.
 */
import { fourierCropVolume } from '../core/resample.js';
import { InputError } from '../io/errors.js';
import type { Atom, AtomicModel } from './atomicModel.js';

/** Peng (1996) a_1..a_5 (Angstrom) and b_1..b_5 (Angstrom^2) for neutral atoms. */
const PENG: Record<string, { a: number[]; b: number[] }> = {
  H: { a: [0.0349, 0.1201, 0.1970, 0.0573, 0.1195], b: [0.5347, 3.5867, 12.3471, 18.9525, 38.6269] },
  C: { a: [0.0893, 0.2563, 0.7570, 1.0487, 0.3575], b: [0.2465, 1.7100, 6.4094, 18.6113, 50.2523] },
  N: { a: [0.1022, 0.3219, 0.7982, 0.8197, 0.1715], b: [0.2451, 1.7481, 6.1925, 17.3894, 48.1431] },
  O: { a: [0.0974, 0.2921, 0.6910, 0.6990, 0.2039], b: [0.2067, 1.3815, 4.6943, 12.7105, 32.4726] },
  P: { a: [0.2548, 0.6106, 1.4541, 2.3204, 0.8477], b: [0.2908, 1.8740, 8.5176, 24.3434, 63.2996] },
  S: { a: [0.2497, 0.5628, 1.3899, 2.1865, 0.7715], b: [0.2681, 1.6711, 7.0267, 19.5377, 50.3888] },
};

/** Atomic numbers and standard atomic masses (Da) of elements found in biological models. */
const ELEMENTS: Record<string, [number, number]> = {
  H: [1, 1.008], D: [1, 2.014], C: [6, 12.011], N: [7, 14.007], O: [8, 15.999], F: [9, 18.998],
  Na: [11, 22.990], Mg: [12, 24.305], Al: [13, 26.982], Si: [14, 28.085], P: [15, 30.974], S: [16, 32.06],
  Cl: [17, 35.45], K: [19, 39.098], Ca: [20, 40.078], Mn: [25, 54.938], Fe: [26, 55.845], Co: [27, 58.933],
  Ni: [28, 58.693], Cu: [29, 63.546], Zn: [30, 65.38], Se: [34, 78.971], Br: [35, 79.904], Rb: [37, 85.468],
  Sr: [38, 87.62], Mo: [42, 95.95], Cd: [48, 112.41], I: [53, 126.90], Cs: [55, 132.91], Ba: [56, 137.33],
  Gd: [64, 157.25], W: [74, 183.84], Pt: [78, 195.08], Au: [79, 196.97], Hg: [80, 200.59], Pb: [82, 207.2],
  U: [92, 238.03],
};

export interface ScatteringGaussians {
  a: number[];
  b: number[];
}

/** The 5-Gaussian electron scattering factor of an element (see the module header). */
export function scatteringGaussians(element: string, file = '<model>'): ScatteringGaussians {
  const key = element === 'D' ? 'H' : element;
  const p = PENG[key];
  if (p) return p;
  const zm = ELEMENTS[element];
  if (!zm) throw new InputError(file, `unknown element "${element}" (no scattering factor)`);
  const s = PENG['S']!;
  return { a: s.a.map((v) => (v * zm[0]) / 16), b: s.b.slice() };
}

/** f(s) in Angstrom, s = |k|/2 with k in 1/Angstrom, times the blur exp(-B s^2). */
export function scatteringFactor(element: string, kInvAngstrom: number, bFactorAngstrom2 = 0): number {
  const g = scatteringGaussians(element);
  const s2 = (kInvAngstrom * kInvAngstrom) / 4;
  let f = 0;
  for (let i = 0; i < 5; i++) f += g.a[i]! * Math.exp(-(g.b[i]! + bFactorAngstrom2) * s2);
  return f;
}

export function atomicMassDa(element: string, file = '<model>'): number {
  const zm = ELEMENTS[element];
  if (!zm) throw new InputError(file, `unknown element "${element}" (no atomic mass)`);
  return zm[1];
}

/** Mass-weighted centre of the atoms (Angstrom). */
export function centreOfMass(atoms: readonly Atom[], file = '<model>'): [number, number, number] {
  let m = 0, x = 0, y = 0, z = 0;
  for (const a of atoms) {
    const w = atomicMassDa(a.element, file);
    m += w; x += w * a.xAngstrom; y += w * a.yAngstrom; z += w * a.zAngstrom;
  }
  return [x / m, y / m, z / m];
}

export interface AtomsToMapOptions {
  boxPx: number;
  apixAngstrom: number;
  /** Blur (Angstrom^2); default 16 apix^2. */
  bFactorAngstrom2?: number;
  /** Model point placed at the box centre (Angstrom); default the centre of mass. */
  centreAngstrom?: [number, number, number];
  /** Sample on a grid this many times finer, then Fourier-crop (default 2; 1 = direct sampling). */
  oversample?: number;
}

export interface AtomsToMapResult {
  /** D^3 values, index (z*D + y)*D + x, x along the model's x axis. */
  data: Float32Array;
  boxPx: number;
  apixAngstrom: number;
  bFactorAngstrom2: number;
  centreAngstrom: [number, number, number];
  /** Atoms whose centre falls outside the box (their density is clipped). */
  atomsOutside: number;
  /** Largest distance of an atom from the centre, Angstrom (to judge the box). */
  maxRadiusAngstrom: number;
}

/** Sample the blurred scattering potential of the atoms on a D^3 grid (see the module header). */
export function atomsToMap(model: AtomicModel | readonly Atom[], opts: AtomsToMapOptions): AtomsToMapResult {
  const atoms = Array.isArray(model) ? (model as readonly Atom[]) : (model as AtomicModel).atoms;
  const file = Array.isArray(model) ? '<model>' : (model as AtomicModel).file;
  const D = opts.boxPx;
  const apix = opts.apixAngstrom;
  if (!Number.isInteger(D) || D < 2) throw new InputError(file, `box must be an integer >= 2, got ${D}`);
  if (!(apix > 0)) throw new InputError(file, `pixel size must be > 0, got ${apix}`);
  const B = opts.bFactorAngstrom2 ?? 16 * apix * apix;
  if (!(B >= 0)) throw new InputError(file, `blur B must be >= 0, got ${B}`);
  const os = opts.oversample ?? 2;
  if (!Number.isInteger(os) || os < 1) throw new InputError(file, `oversample must be a positive integer, got ${os}`);
  const centre = opts.centreAngstrom ?? centreOfMass(atoms, file);
  // Values are density times the OUTPUT voxel volume; Fourier cropping preserves values.
  const fine = spread(atoms, file, D * os, apix / os, B, centre, apix * apix * apix);
  const data = os === 1 ? fine.data : fourierCropVolume(fine.data, D * os, D);
  let outside = 0;
  let maxR2 = 0;
  const c = Math.floor(D / 2);
  for (const a of atoms) {
    const rx = a.xAngstrom - centre[0], ry = a.yAngstrom - centre[1], rz = a.zAngstrom - centre[2];
    maxR2 = Math.max(maxR2, rx * rx + ry * ry + rz * rz);
    const px = rx / apix + c, py = ry / apix + c, pz = rz / apix + c;
    if (px < 0 || py < 0 || pz < 0 || px > D - 1 || py > D - 1 || pz > D - 1) outside++;
  }
  return { data, boxPx: D, apixAngstrom: apix, bFactorAngstrom2: B, centreAngstrom: centre,
    atomsOutside: outside, maxRadiusAngstrom: Math.sqrt(maxR2) };
}

/** Point-sample the Gaussians of every atom on a D^3 grid of pixel apix, times `scale`. */
function spread(atoms: readonly Atom[], file: string, D: number, apix: number, B: number,
  centre: [number, number, number], scale: number): { data: Float32Array } {
  const c = Math.floor(D / 2);
  const out = new Float32Array(D * D * D);
  // Per-element Gaussian terms in voxel units: amplitude and exponent alpha (1/voxel^2).
  const cache = new Map<string, { amp: Float64Array; alpha: Float64Array; half: number }>();
  const termsFor = (el: string) => {
    let t = cache.get(el);
    if (t) return t;
    const g = scatteringGaussians(el, file);
    const amp = new Float64Array(5), alpha = new Float64Array(5);
    let sigmaMax = 0;
    for (let i = 0; i < 5; i++) {
      const w = g.b[i]! + B;
      amp[i] = g.a[i]! * Math.pow((4 * Math.PI) / w, 1.5) * scale;
      alpha[i] = (4 * Math.PI * Math.PI * apix * apix) / w;
      sigmaMax = Math.max(sigmaMax, Math.sqrt(w / (8 * Math.PI * Math.PI)) / apix);
    }
    t = { amp, alpha, half: Math.min(127, Math.ceil(4.5 * sigmaMax)) };
    cache.set(el, t);
    return t;
  };
  const gx = new Float64Array(256), gy = new Float64Array(256), gz = new Float64Array(256);
  for (const a of atoms) {
    const t = termsFor(a.element);
    const px = (a.xAngstrom - centre[0]) / apix + c;
    const py = (a.yAngstrom - centre[1]) / apix + c;
    const pz = (a.zAngstrom - centre[2]) / apix + c;
    const h = t.half;
    const x0 = Math.max(0, Math.ceil(px - h)), x1 = Math.min(D - 1, Math.floor(px + h));
    const y0 = Math.max(0, Math.ceil(py - h)), y1 = Math.min(D - 1, Math.floor(py + h));
    const z0 = Math.max(0, Math.ceil(pz - h)), z1 = Math.min(D - 1, Math.floor(pz + h));
    if (x0 > x1 || y0 > y1 || z0 > z1) continue;
    for (let term = 0; term < 5; term++) {
      const al = t.alpha[term]!, amp = t.amp[term]!;
      for (let x = x0; x <= x1; x++) gx[x - x0] = Math.exp(-al * (x - px) * (x - px));
      for (let y = y0; y <= y1; y++) gy[y - y0] = Math.exp(-al * (y - py) * (y - py));
      for (let z = z0; z <= z1; z++) gz[z - z0] = amp * Math.exp(-al * (z - pz) * (z - pz));
      for (let z = z0; z <= z1; z++) {
        const wz = gz[z - z0]!;
        for (let y = y0; y <= y1; y++) {
          const wzy = wz * gy[y - y0]!;
          const row = (z * D + y) * D;
          for (let x = x0; x <= x1; x++) out[row + x] += wzy * gx[x - x0]!;
        }
      }
    }
  }
  return { data: out };
}
