/**
 * The one place a ParticleBatch is assembled: given the preprocessed real-space images and
 * their CTFs, compute the centred Fourier transforms divided by D (so white noise of std 1
 * has unit variance per coefficient). Uses the batched FFT, which transforms two real
 * images per complex FFT.
 */
import { fft2CenteredBatch } from '../core/fft.js';
import type { ParticleBatch } from './types.js';

export function assembleBatch(indices: Uint32Array, D: number, images: Float32Array, ctf: Float32Array): ParticleBatch {
  const B = indices.length;
  const obs = fft2CenteredBatch(images, D, B);
  const inv = 1 / D;
  for (let k = 0; k < obs.re.length; k++) { obs.re[k]! *= inv; obs.im[k]! *= inv; }
  return { indices, B, images, obs, ctf };
}
