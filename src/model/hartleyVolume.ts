/**
 * Explicit Fourier-space volume in the Hartley basis (cryoSPIN's decoder), with its exact
 * forward (slice rendering) and backward (volume and rotation gradients).
 *
 * Storage: one real number per voxel on a symmetric grid of size Dv = 2*floor(D/2) + 1 (for
 * image box D), centre index cv = floor(D/2), index (z*Dv + y)*Dv + x. The Hartley value
 * H(k) = Re F(k) - Im F(k), so F(k) = (H(k) + H(-k))/2 + i (H(-k) - H(k))/2: every rendered
 * slice is Hermitian (Friedel symmetry by construction) whatever H holds.
 *
 * A slice for RELION rotation A (row-major, see core/rotation.ts) samples the volume at
 * p = A^T (kx, ky, 0), kx = x - floor(D/2), trilinearly; corners outside the grid count as 0.
 * Only pixels inside the Nyquist disc (kx^2 + ky^2 <= (D/2)^2) are rendered; others are 0.
 *
 * Hand-written (not tfjs) because the trilinear gather/scatter and the rotation gradient are
 * the hot loop of the auto-decoding stage and are not tfjs ops on the wasm backend; the
 * backend interface (core/backend) can provide faster versions of the same contract.
 */
import type { Complex } from '../core/complex.js';
import { ifft3Centered } from '../core/fft.js';

export interface HartleyGrid {
  /** Image box size D. */
  D: number;
  /** Grid size 2*floor(D/2)+1. */
  Dv: number;
  /** Voxel values, length Dv^3. */
  values: Float32Array;
}

export function hartleyGridSize(D: number): number {
  return 2 * Math.floor(D / 2) + 1;
}

export function createHartleyGrid(D: number, values?: Float32Array): HartleyGrid {
  const Dv = hartleyGridSize(D);
  const n = Dv * Dv * Dv;
  if (values && values.length !== n) throw new Error(`Hartley grid for D=${D} needs ${n} values, got ${values.length}`);
  return { D, Dv, values: values ?? new Float32Array(n) };
}

/** Indices (y*D + x) of the pixels inside the Nyquist disc, and their (kx, ky). */
export interface DiscIndex {
  D: number;
  pix: Int32Array;
  kx: Float32Array;
  ky: Float32Array;
}

const discCache = new Map<string, DiscIndex>();

export function nyquistDisc(D: number, radius = D / 2): DiscIndex {
  const key = `${D}:${radius}`;
  const hit = discCache.get(key);
  if (hit) return hit;
  const c = Math.floor(D / 2);
  const pix: number[] = [];
  const kx: number[] = [];
  const ky: number[] = [];
  for (let y = 0; y < D; y++) {
    for (let x = 0; x < D; x++) {
      const fx = x - c;
      const fy = y - c;
      if (fx * fx + fy * fy <= radius * radius) {
        pix.push(y * D + x);
        kx.push(fx);
        ky.push(fy);
      }
    }
  }
  const d: DiscIndex = { D, pix: Int32Array.from(pix), kx: Float32Array.from(kx), ky: Float32Array.from(ky) };
  discCache.set(key, d);
  return d;
}

/** Trilinear sample of the grid at p (voxel units relative to the centre). */
function sample(v: Float32Array, Dv: number, cv: number, px: number, py: number, pz: number): number {
  const x = px + cv;
  const y = py + cv;
  const z = pz + cv;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  let acc = 0;
  for (let dz = 0; dz < 2; dz++) {
    const zi = z0 + dz;
    if (zi < 0 || zi >= Dv) continue;
    const wz = dz ? fz : 1 - fz;
    for (let dy = 0; dy < 2; dy++) {
      const yi = y0 + dy;
      if (yi < 0 || yi >= Dv) continue;
      const wzy = wz * (dy ? fy : 1 - fy);
      const row = (zi * Dv + yi) * Dv;
      if (x0 >= 0 && x0 < Dv) acc += wzy * (1 - fx) * v[row + x0]!;
      if (x0 + 1 >= 0 && x0 + 1 < Dv) acc += wzy * fx * v[row + x0 + 1]!;
    }
  }
  return acc;
}

/** Adds w * (trilinear weights at p) into the grid g; returns nothing. */
function scatter(g: Float32Array, Dv: number, cv: number, px: number, py: number, pz: number, w: number): void {
  const x = px + cv;
  const y = py + cv;
  const z = pz + cv;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  for (let dz = 0; dz < 2; dz++) {
    const zi = z0 + dz;
    if (zi < 0 || zi >= Dv) continue;
    const wz = w * (dz ? fz : 1 - fz);
    for (let dy = 0; dy < 2; dy++) {
      const yi = y0 + dy;
      if (yi < 0 || yi >= Dv) continue;
      const wzy = wz * (dy ? fy : 1 - fy);
      const row = (zi * Dv + yi) * Dv;
      if (x0 >= 0 && x0 < Dv) g[row + x0] += wzy * (1 - fx);
      if (x0 + 1 >= 0 && x0 + 1 < Dv) g[row + x0 + 1] += wzy * fx;
    }
  }
}

/** Trilinear gradient of the grid at p: writes d/dpx, d/dpy, d/dpz into out[0..2]. */
function sampleGrad(v: Float32Array, Dv: number, cv: number, px: number, py: number, pz: number, out: Float64Array): void {
  const x = px + cv;
  const y = py + cv;
  const z = pz + cv;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  let gx = 0;
  let gy = 0;
  let gz = 0;
  for (let dz = 0; dz < 2; dz++) {
    const zi = z0 + dz;
    if (zi < 0 || zi >= Dv) continue;
    const wz = dz ? fz : 1 - fz;
    const sz = dz ? 1 : -1;
    for (let dy = 0; dy < 2; dy++) {
      const yi = y0 + dy;
      if (yi < 0 || yi >= Dv) continue;
      const wy = dy ? fy : 1 - fy;
      const sy = dy ? 1 : -1;
      const row = (zi * Dv + yi) * Dv;
      for (let dx = 0; dx < 2; dx++) {
        const xi = x0 + dx;
        if (xi < 0 || xi >= Dv) continue;
        const wx = dx ? fx : 1 - fx;
        const sx = dx ? 1 : -1;
        const val = v[row + xi]!;
        gx += sx * wy * wz * val;
        gy += sy * wx * wz * val;
        gz += sz * wx * wy * val;
      }
    }
  }
  out[0] = gx;
  out[1] = gy;
  out[2] = gz;
}

/**
 * Render B Fourier slices (centred D x D grids, split planes) for rotations rots (9B).
 * Pixels outside the disc are left at 0.
 */
export function renderSlices(grid: HartleyGrid, rots: Float64Array, B: number, out: Complex, disc: DiscIndex = nyquistDisc(grid.D)): void {
  const { D, Dv, values } = grid;
  const cv = Math.floor(Dv / 2);
  const P = D * D;
  out.re.fill(0, 0, B * P);
  out.im.fill(0, 0, B * P);
  const n = disc.pix.length;
  for (let b = 0; b < B; b++) {
    const r = b * 9;
    const a0 = rots[r]!, a1 = rots[r + 1]!, a2 = rots[r + 2]!;
    const b0 = rots[r + 3]!, b1 = rots[r + 4]!, b2 = rots[r + 5]!;
    const off = b * P;
    for (let i = 0; i < n; i++) {
      const kx = disc.kx[i]!;
      const ky = disc.ky[i]!;
      // p = A^T (kx, ky, 0): p_j = A[0][j] kx + A[1][j] ky
      const px = a0 * kx + b0 * ky;
      const py = a1 * kx + b1 * ky;
      const pz = a2 * kx + b2 * ky;
      const h1 = sample(values, Dv, cv, px, py, pz);
      const h2 = sample(values, Dv, cv, -px, -py, -pz);
      const j = off + disc.pix[i]!;
      out.re[j] = 0.5 * (h1 + h2);
      out.im[j] = 0.5 * (h2 - h1);
    }
  }
}

/**
 * Backward of renderSlices: given dL/dRe and dL/dIm of the B slices, accumulate dL/dH into
 * dGrid (if given) and write dL/dA (9 per slice, row-major, float64) into dRots (if given).
 */
export function renderSlicesBackward(
  grid: HartleyGrid,
  rots: Float64Array,
  B: number,
  dSlices: Complex,
  dGrid: Float32Array | null,
  dRots: Float64Array | null,
  disc: DiscIndex = nyquistDisc(grid.D),
): void {
  const { D, Dv, values } = grid;
  const cv = Math.floor(Dv / 2);
  const P = D * D;
  const n = disc.pix.length;
  const g1 = new Float64Array(3);
  const g2 = new Float64Array(3);
  for (let b = 0; b < B; b++) {
    const r = b * 9;
    const a0 = rots[r]!, a1 = rots[r + 1]!, a2 = rots[r + 2]!;
    const b0 = rots[r + 3]!, b1 = rots[r + 4]!, b2 = rots[r + 5]!;
    const off = b * P;
    let r00 = 0, r01 = 0, r02 = 0, r10 = 0, r11 = 0, r12 = 0;
    for (let i = 0; i < n; i++) {
      const j = off + disc.pix[i]!;
      const gRe = dSlices.re[j]!;
      const gIm = dSlices.im[j]!;
      if (gRe === 0 && gIm === 0) continue;
      const kx = disc.kx[i]!;
      const ky = disc.ky[i]!;
      const px = a0 * kx + b0 * ky;
      const py = a1 * kx + b1 * ky;
      const pz = a2 * kx + b2 * ky;
      // re = (h1 + h2)/2, im = (h2 - h1)/2
      const dh1 = 0.5 * (gRe - gIm);
      const dh2 = 0.5 * (gRe + gIm);
      if (dGrid) {
        scatter(dGrid, Dv, cv, px, py, pz, dh1);
        scatter(dGrid, Dv, cv, -px, -py, -pz, dh2);
      }
      if (dRots) {
        sampleGrad(values, Dv, cv, px, py, pz, g1);
        sampleGrad(values, Dv, cv, -px, -py, -pz, g2);
        // dL/dp = dh1 * gradH(p) - dh2 * gradH(-p)
        const dpx = dh1 * g1[0]! - dh2 * g2[0]!;
        const dpy = dh1 * g1[1]! - dh2 * g2[1]!;
        const dpz = dh1 * g1[2]! - dh2 * g2[2]!;
        // p_j = A[0][j] kx + A[1][j] ky  =>  dL/dA[0][j] = kx dL/dp_j, dL/dA[1][j] = ky dL/dp_j
        r00 += kx * dpx; r01 += kx * dpy; r02 += kx * dpz;
        r10 += ky * dpx; r11 += ky * dpy; r12 += ky * dpz;
      }
    }
    if (dRots) {
      dRots[r] = r00; dRots[r + 1] = r01; dRots[r + 2] = r02;
      dRots[r + 3] = r10; dRots[r + 4] = r11; dRots[r + 5] = r12;
      dRots[r + 6] = 0; dRots[r + 7] = 0; dRots[r + 8] = 0;
    }
  }
}

/**
 * Convert a centred complex Fourier volume of box D (e.g. fft3Centered of a real map) into the
 * Hartley grid (H = Re F - Im F), filling the symmetric Dv grid; the extra +D/2 planes of an
 * even box are taken from their Friedel mates.
 */
export function hartleyFromFourier(F: Complex, D: number): HartleyGrid {
  const grid = createHartleyGrid(D);
  const { Dv, values } = grid;
  const c = Math.floor(D / 2);
  const cv = Math.floor(Dv / 2);
  const get = (kx: number, ky: number, kz: number): [number, number] => {
    const inRange = (k: number): boolean => k + c >= 0 && k + c < D;
    if (inRange(kx) && inRange(ky) && inRange(kz)) {
      const i = ((kz + c) * D + (ky + c)) * D + (kx + c);
      return [F.re[i]!, F.im[i]!];
    }
    const i = ((-kz + c) * D + (-ky + c)) * D + (-kx + c);
    if (inRange(-kx) && inRange(-ky) && inRange(-kz)) return [F.re[i]!, -F.im[i]!];
    return [0, 0];
  };
  for (let z = 0; z < Dv; z++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++) {
    const [re, im] = get(x - cv, y - cv, z - cv);
    values[(z * Dv + y) * Dv + x] = re - im;
  }
  return grid;
}

/**
 * The centred complex Fourier volume (box D) that the Hartley grid represents (Hermitian).
 */
export function fourierFromHartley(grid: HartleyGrid): Complex {
  const { D, Dv, values } = grid;
  const c = Math.floor(D / 2);
  const cv = Math.floor(Dv / 2);
  const n = D * D * D;
  const re = new Float32Array(n);
  const im = new Float32Array(n);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const kx = x - c, ky = y - c, kz = z - c;
    const h1 = values[((kz + cv) * Dv + (ky + cv)) * Dv + (kx + cv)]!;
    const h2 = values[((-kz + cv) * Dv + (-ky + cv)) * Dv + (-kx + cv)]!;
    const i = (z * D + y) * D + x;
    re[i] = 0.5 * (h1 + h2);
    im[i] = 0.5 * (h2 - h1);
  }
  return { re, im };
}

/** Real-space map (box D) of the Hartley volume: the inverse FFT of its Fourier volume, times D (the runs' map.mrc scaling). */
export function hartleyMap(grid: HartleyGrid): Float32Array {
  const v = ifft3Centered(fourierFromHartley(grid), grid.D);
  for (let i = 0; i < v.length; i++) v[i]! *= grid.D;
  return v;
}
