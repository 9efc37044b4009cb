/**
 * Real-space projections of a volume through the padded Fourier slice, matching
 * `relion_project` (RELION 3.1) to correlation > 0.999 (test/oracle/project.test.ts):
 *
 *   1. gridding pre-correction: divide the volume by sinc^2(r / Dp) (the Fourier transform of
 *      the trilinear kernel on the padded grid, as RELION's Projector does), r = distance from
 *      the centre voxel in voxels;
 *   2. zero-pad to Dp = round(pad·D), made even like RELION (centre floor(D/2) -> floor(Dp/2));
 *   3. fft3Centered once (prepareProjector); per image:
 *   4. extract the slice for A on a Dp*Dp image grid (Dv = Di = Dp), keeping frequencies up to
 *      the original box's Nyquist radius floor(D/2) (RELION's sphere);
 *   5. optionally multiply by the CTF computed for the padded box (same pixel size) and apply
 *      the RELION origin shift (shift.ts);
 *   6. inverse 2D FFT and crop the central D*D.
 *
 * The result approximates image(x, y) = sum_z V(A^T·(x, y, z)) (plain sum, voxel units).
 * relion_project instead samples the slice on the D grid (Di = D, scale Dp/D) and applies CTF
 * and shift there, so the projection, the CTF's point spread and shifted content wrap around
 * the D box. By default cryospin samples on the padded grid and crops, so nothing wraps (what a
 * particle window cut from a micrograph shows); the two agree except near the box edges
 * (correlation > 0.9997 for compact particles, ~0.986 for a box-filling ribosome shifted by
 * 13 px). `relionCompatible: true` follows relion_project's D-grid route exactly.
 *
 * Odd boxes: relion_project's output for odd D is our projection moved by +1 pixel in x and y
 * (its final inverse CenterFFT puts the centre at ceil(D/2)); cryospin keeps floor(D/2) in both
 * modes, like the rest of RELION (volumes, Xmipp origin) and conventions.md.
 */
import type { Complex } from './complex.js';
import { complexZeros } from './complex.js';
import { type CtfParams, ctf2D } from './ctf.js';
import { fft3Centered, ifft2CenteredBatch } from './fft.js';
import { extractSlices } from './fourierSlice.js';
import { applyShift } from './shift.js';

export interface CtfSpec {
  params: CtfParams;
  apixAngstrom: number;
}

export interface ProjectOptions {
  /** Real-space padding factor (default 2). */
  pad?: number;
  /** RELION origin (_rlnOriginX/Y) in pixels: the image is translated by MINUS this. */
  originPx?: [number, number];
  /** Multiply by this CTF (RELION sign). */
  ctf?: CtfSpec;
  /** Divide the volume by the trilinear kernel's transform first (default true, like RELION). */
  gridding?: boolean;
  /** Sample the slice, CTF and shift on the D grid like relion_project (wraps around the box). */
  relionCompatible?: boolean;
}

/** The padded volume's centred 3D FFT, computed once and reused for many projections. */
export interface PreparedProjector {
  /** Original box size. */
  D: number;
  /** Padded box size. */
  Dp: number;
  /** Centred FFT of the (gridding-corrected) padded volume, Dp^3. */
  F: Complex;
}

/** Padded box size for box D and padding factor pad, even like RELION's. */
export function paddedSize(D: number, pad: number): number {
  const p = Math.round(pad * D);
  return p + (p % 2);
}

/** Zero-pad (and gridding-correct) the volume and FFT it once. */
export function prepareProjector(vol: Float32Array, D: number, pad = 2, opts: { gridding?: boolean } = {}): PreparedProjector {
  if (vol.length !== D * D * D) throw new RangeError(`prepareProjector: volume length ${vol.length} != D^3 = ${D ** 3}`);
  if (!(pad >= 1)) throw new RangeError(`prepareProjector: pad must be >= 1, got ${pad}`);
  const Dp = paddedSize(D, pad);
  const gridding = opts.gridding ?? true;
  const c = Math.floor(D / 2);
  const o = Math.floor(Dp / 2) - c;
  const padded = new Float32Array(Dp * Dp * Dp);
  for (let z = 0; z < D; z++) {
    for (let y = 0; y < D; y++) {
      for (let x = 0; x < D; x++) {
        let v = vol[(z * D + y) * D + x]!;
        if (gridding) {
          const r = Math.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2);
          if (r > 0) {
            const a = (Math.PI * r) / Dp;
            const sinc = Math.sin(a) / a;
            v /= sinc * sinc;
          }
        }
        padded[((z + o) * Dp + y + o) * Dp + x + o] = v;
      }
    }
  }
  return { D, Dp, F: fft3Centered(padded, Dp) };
}

export interface ProjectManyOptions {
  /** (ox, oy) RELION origins in pixels per image (2B values). */
  origins?: ArrayLike<number>;
  /** One CTF per image (needs apixAngstrom). */
  ctfs?: readonly CtfParams[];
  apixAngstrom?: number;
  /** Sample the slice, CTF and shift on the D grid like relion_project (wraps around the box). */
  relionCompatible?: boolean;
}

/** B projections (B*D*D) of a prepared volume for rotations rots (9B, RELION A matrices). */
export function projectMany(prep: PreparedProjector, rots: Float64Array, opts: ProjectManyOptions = {}): Float32Array {
  const { D, Dp } = prep;
  const B = rots.length / 9;
  if (!Number.isInteger(B)) throw new RangeError(`projectMany: rots length ${rots.length} is not a multiple of 9`);
  if (opts.origins && opts.origins.length !== 2 * B) throw new RangeError(`projectMany: ${opts.origins.length} origin values for ${B} images`);
  if (opts.ctfs && (opts.ctfs.length !== B || !(opts.apixAngstrom! > 0))) {
    throw new RangeError('projectMany: ctfs needs one entry per image and a positive apixAngstrom');
  }
  const out = new Float32Array(B * D * D);
  // Image grid: the padded box (then crop), or the D box itself (relion_project's route).
  const Di = opts.relionCompatible ? D : Dp;
  const n = Di * Di;
  // Images go through in pairs: ifft2CenteredBatch packs two real results into one transform.
  const slices = complexZeros(2 * n);
  const ctf = new Float32Array(n);
  // Keep frequencies up to the original box's Nyquist radius floor(D/2), in image-grid pixels.
  const radiusMax = (Math.floor(D / 2) * Di) / D;
  const o = Math.floor(Di / 2) - Math.floor(D / 2);
  for (let b0 = 0; b0 < B; b0 += 2) {
    const count = Math.min(2, B - b0);
    const batch: Complex = count === 2 ? slices : { re: slices.re.subarray(0, n), im: slices.im.subarray(0, n) };
    extractSlices(prep.F, Dp, rots.subarray(9 * b0, 9 * (b0 + count)), Di, batch, { radiusMax });
    for (let j = 0; j < count; j++) {
      const b = b0 + j;
      if (opts.ctfs) {
        ctf2D(opts.ctfs[b]!, Di, opts.apixAngstrom!, ctf);
        for (let i = 0; i < n; i++) {
          batch.re[j * n + i] = batch.re[j * n + i]! * ctf[i]!;
          batch.im[j * n + i] = batch.im[j * n + i]! * ctf[i]!;
        }
      }
      if (opts.origins) applyShift(batch, Di, opts.origins[2 * b]!, opts.origins[2 * b + 1]!, j * n);
    }
    const imgs = ifft2CenteredBatch(batch, Di, count);
    for (let j = 0; j < count; j++) {
      for (let y = 0; y < D; y++) {
        const src = j * n + (y + o) * Di + o;
        out.set(imgs.subarray(src, src + D), ((b0 + j) * D + y) * D);
      }
    }
  }
  return out;
}

/** One real-space projection (D*D) of vol (D^3) under RELION rotation A. */
export function projectVolume(vol: Float32Array, D: number, A: Float64Array, opts: ProjectOptions = {}): Float32Array {
  const prep = prepareProjector(vol, D, opts.pad ?? 2, { gridding: opts.gridding });
  return projectMany(prep, A, {
    origins: opts.originPx,
    ctfs: opts.ctf ? [opts.ctf.params] : undefined,
    apixAngstrom: opts.ctf?.apixAngstrom,
    relionCompatible: opts.relionCompatible,
  });
}
