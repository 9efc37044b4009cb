/**
 * A ParticleSource over particles already in memory (tests, small simulated sets, the browser).
 * Images are normalised real-space D x D arrays; obs = fft2Centered(image) / D.
 */
import { assembleBatch } from './batch.js';
import type { ParticleBatch, ParticleSource } from './types.js';

export class MemorySource implements ParticleSource {
  readonly n: number;
  readonly D: number;
  readonly apixAngstrom: number;
  private images: Float32Array;
  private ctfs: Float32Array | null;

  /** images: n*D*D; ctfs: n*D*D on the centred grid, or null for no CTF. */
  constructor(images: Float32Array, D: number, apixAngstrom: number, ctfs: Float32Array | null) {
    this.D = D;
    this.n = images.length / (D * D);
    this.apixAngstrom = apixAngstrom;
    this.images = images;
    this.ctfs = ctfs;
  }

  batch(indices: Uint32Array): ParticleBatch {
    const P = this.D * this.D;
    const B = indices.length;
    const images = new Float32Array(B * P);
    const ctf = new Float32Array(B * P);
    for (let b = 0; b < B; b++) {
      const i = indices[b]!;
      images.set(this.images.subarray(i * P, (i + 1) * P), b * P);
      if (this.ctfs) ctf.set(this.ctfs.subarray(i * P, (i + 1) * P), b * P);
      else ctf.fill(1, b * P, (b + 1) * P);
    }
    return assembleBatch(indices, this.D, images, ctf);
  }

}
