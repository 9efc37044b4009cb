/**
 * Fourier resampling of images and volumes: crop (downsample) or zero-pad (upsample) the
 * centred spectrum to a new box Dnew, keeping the frequencies |k| <= min(D, Dnew)/2 about the
 * centre index floor(D/2) -> floor(Dnew/2) (so the real-space centre stays the centre).
 *
 * Scaling choice: the result is multiplied by (Dnew/D)^dim, so real-space values keep their
 * meaning as samples of the same band-limited function: the mean of the image is preserved,
 * and a smooth image keeps its values (a Gaussian of height 1 stays of height 1, only its width
 * in pixels changes by Dnew/D). Sums over the box therefore scale by (Dnew/D)^dim. (Callers who
 * need preserved sums, e.g. a projection re-expressed at a coarser pixel whose values are line
 * integrals in Angstrom units, multiply by (D/Dnew)^dim and by the pixel-size ratio themselves.)
 *
 * Even-size Nyquist terms: only one of the two Nyquist samples +-D/2 exists on an even grid;
 * taking the real part of the inverse transform Hermitian-symmetrises the spectrum, which splits
 * an unpaired Nyquist term in half between +-D/2 (the usual symmetric convention).
 */
import type { Complex } from './complex.js';
import { fft2Centered, ifft2Centered, fft3Centered, ifft3Centered } from './fft.js';

/** Copy the centred window of an n-dimensional cube spectrum of size D into one of size Dnew. */
function resizeSpectrum(F: Complex, D: number, Dnew: number, dim: 2 | 3, scale: number): Complex {
  const nNew = Dnew ** dim;
  const out: Complex = { re: new Float32Array(nNew), im: new Float32Array(nNew) };
  const c = Math.floor(D / 2);
  const cn = Math.floor(Dnew / 2);
  // new index j maps to frequency j - cn, i.e. old index j - cn + c
  const lo = Math.max(0, cn - c);
  const hi = Math.min(Dnew, cn - c + D);
  const off = c - cn;
  const zs = dim === 3 ? [lo, hi] : [0, 1];
  for (let z = zs[0]!; z < zs[1]!; z++) {
    const zo = dim === 3 ? z + off : 0;
    for (let y = lo; y < hi; y++) {
      const yo = y + off;
      const rowNew = (z * Dnew + y) * Dnew;
      const rowOld = (zo * D + yo) * D;
      for (let x = lo; x < hi; x++) {
        out.re[rowNew + x] = F.re[rowOld + x + off]! * scale;
        out.im[rowNew + x] = F.im[rowOld + x + off]! * scale;
      }
    }
  }
  return out;
}

function check(name: string, len: number, D: number, Dnew: number, dim: number): void {
  if (!Number.isInteger(Dnew) || Dnew < 1) throw new RangeError(`${name}: new box ${Dnew} must be a positive integer`);
  if (len !== D ** dim) throw new RangeError(`${name}: length ${len} != D^${dim} = ${D ** dim}`);
}

/** Fourier-crop (Dnew < D) or zero-pad (Dnew > D) a D*D image to Dnew*Dnew; mean preserved. */
export function fourierCropImage(img: Float32Array, D: number, Dnew: number): Float32Array {
  check('fourierCropImage', img.length, D, Dnew, 2);
  if (Dnew === D) return img.slice();
  const G = resizeSpectrum(fft2Centered(img, D), D, Dnew, 2, (Dnew / D) ** 2);
  return ifft2Centered(G, Dnew);
}

/** Fourier-crop or zero-pad each of B images (B*D*D values) to Dnew. */
export function fourierCropImages(imgs: Float32Array, D: number, B: number, Dnew: number): Float32Array {
  if (imgs.length !== B * D * D) throw new RangeError(`fourierCropImages: length ${imgs.length} != B*D*D`);
  const out = new Float32Array(B * Dnew * Dnew);
  for (let b = 0; b < B; b++) {
    out.set(fourierCropImage(imgs.subarray(b * D * D, (b + 1) * D * D), D, Dnew), b * Dnew * Dnew);
  }
  return out;
}

/** Fourier-crop or zero-pad a D^3 volume to Dnew^3; mean preserved. */
export function fourierCropVolume(vol: Float32Array, D: number, Dnew: number): Float32Array {
  check('fourierCropVolume', vol.length, D, Dnew, 3);
  if (Dnew === D) return vol.slice();
  const G = resizeSpectrum(fft3Centered(vol, D), D, Dnew, 3, (Dnew / D) ** 3);
  return ifft3Centered(G, Dnew);
}

/** Crop or zero-pad a centred complex spectrum (2D or 3D cube) without transforming; no scaling. */
export function resizeCenteredSpectrum(F: Complex, D: number, Dnew: number, dim: 2 | 3): Complex {
  check('resizeCenteredSpectrum', F.re.length, D, Dnew, dim);
  return resizeSpectrum(F, D, Dnew, dim, 1);
}
