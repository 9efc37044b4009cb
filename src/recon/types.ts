/**
 * Interfaces between the reconstruction loops and their inputs: a particle source that hands
 * out preprocessed batches (streamed from disk), and a pose encoder (the tfjs CNN lives in
 * src/model/encoder; the loop only needs this contract).
 */
import type { Complex } from '../core/complex.js';

export interface ParticleBatch {
  /** Indices of the particles in the set (0-based, input order). */
  indices: Uint32Array;
  B: number;
  /** Preprocessed real-space images, B*D*D (normalised; encoder input). */
  images: Float32Array;
  /** Centred Fourier transforms of the images divided by D, B*D*D. */
  obs: Complex;
  /** CTF per image on the centred grid, B*D*D. */
  ctf: Float32Array;
}

export interface ParticleSource {
  /** Number of particles. */
  n: number;
  /** Working box (after downsampling). */
  D: number;
  /** Working pixel size (Angstrom). */
  apixAngstrom: number;
  /** Read, preprocess and transform the given particles. */
  batch(indices: Uint32Array): ParticleBatch;
  /** Optional: the epoch's batch order (batches are consecutive slices of `order`), so the
   *  source can read ahead while the current batch computes. Must not change what batch() returns. */
  planEpoch?(order: Uint32Array, batchSize: number): void;
}

/** What the winner-take-all loss tells the encoder about each image of a batch. */
export interface EncoderLossResult {
  /** Mean loss over the batch (of each image's best head). */
  loss: number;
  /** Winning head per image. */
  winnerHead: Int32Array;
  /** dL/dR (9 per image, row-major) for the winning head's rotation. */
  dLdR: Float64Array;
  /** dL/dorigin (2 per image, px) for the winning head's shift. */
  dLdShift: Float32Array;
}

export interface EncoderPrediction {
  /** 9*B*M rotation matrices (RELION A), image-major: index (b*M + m). */
  rotations: Float64Array;
  /** 2*B*M origins in px (RELION sign). */
  shiftsPx: Float32Array;
}

export interface PoseEncoder {
  readonly heads: number;
  predict(images: Float32Array, B: number): EncoderPrediction;
  trainStep(images: Float32Array, B: number, lossGrad: (pred: EncoderPrediction) => EncoderLossResult): number;
  dispose(): void;
}
