/**
 * ParticleSource over a particle file on disk (STAR / .cs / .mrcs + ctf.pkl): images are read
 * per batch with positioned reads (memory does not grow with the stack), Fourier-cropped to the
 * working box, normalised (mean 0 per image, divided by one global scale estimated once from a
 * seeded sample so that the background std is ~1), optionally sign-inverted and soft-masked,
 * then transformed; the CTF is computed per particle at the working pixel size.
 *
 * Read-ahead (readAhead.ts): a loop that knows its next batches tells the source, either one at
 * a time (`prefetch(indices)`) or for a whole epoch (`planEpoch(order, batchSize)`, the sorted
 * slices of a permutation, the trainer's convention); a worker thread then reads those bytes
 * while the current batch computes. Batches are always decoded here, by the same code, so a
 * plan that does not match what is asked for only costs the overlap, never correctness.
 */
import type { CtfParams } from '../core/ctf.js';
import { ctf2D } from '../core/ctf.js';
import { fourierCropImage } from '../core/resample.js';
import { Rng } from '../core/rng.js';
import { InputError } from '../io/errors.js';
import { ParticleImageReader, type ParticleSet } from '../io/particles.js';
import { firstWithoutCtf, particleCtf } from '../io/particleTable.js';
import { assembleBatch } from './batch.js';
import { ReadAhead } from './readAhead.js';
import type { ParticleBatch, ParticleSource } from './types.js';

export interface DiskSourceOptions {
  /** Working box (Fourier crop); default: the stack's box. */
  box?: number;
  /** Multiply images by -1 (for data with dark protein on a light background). */
  invert?: boolean;
  /** Soft circular mask radius as a fraction of D/2 (0 = none). */
  maskFraction?: number;
  seed?: number;
  /** Read the next planned batches in a worker (default true; needs prefetch / planEpoch calls). */
  readAhead?: boolean;
}

export class DiskSource implements ParticleSource {
  readonly n: number;
  readonly D: number;
  readonly apixAngstrom: number;
  readonly set: ParticleSet;
  private reader: ParticleImageReader;
  private scale = 1;
  private readonly invert: boolean;
  private mask: Float32Array | null = null;
  private readonly ahead: ReadAhead | null;
  private plan: Uint32Array[] | null = null;
  private planPos = 0;
  /** Read-ahead statistics: batches requested ahead, and planned batches served. */
  readonly readAheadStats = { requested: 0, dropped: 0, planHits: 0, planMisses: 0 };

  constructor(set: ParticleSet, opts: DiskSourceOptions = {}) {
    this.set = set;
    this.n = set.particles.length;
    const D0 = set.boxPx;
    const D = opts.box ?? D0;
    if (!Number.isInteger(D) || D < 8 || D > D0) throw new InputError(set.source, `working box ${D} must be an integer in [8, ${D0}] (the stack's box)`, { field: '--box' });
    if (D % 2 !== 0) throw new InputError(set.source, `working box ${D} must be even`, { field: '--box' });
    this.D = D;
    this.apixAngstrom = (set.apixAngstrom * D0) / D;
    this.invert = opts.invert ?? false;
    const missing = firstWithoutCtf(set);
    if (missing >= 0) throw new InputError(set.source, 'particle has no CTF parameters (give a STAR/.cs with CTF, or --ctf ctf.pkl)', { record: missing });
    this.reader = new ParticleImageReader(set);
    this.ahead = opts.readAhead === false ? null : new ReadAhead(set);
    if (opts.maskFraction && opts.maskFraction > 0) this.mask = softCircle(D, (opts.maskFraction * D) / 2, Math.max(2, D / 16));
    this.scale = this.estimateScale(new Rng(opts.seed ?? 0));
  }

  private estimateScale(rng: Rng): number {
    const k = Math.min(this.n, 256);
    const perm = rng.permutation(this.n).slice(0, k);
    let s2 = 0;
    let cnt = 0;
    for (const i of perm) {
      const img = this.raw(i);
      let m = 0;
      for (const v of img) m += v;
      m /= img.length;
      for (const v of img) { s2 += (v - m) * (v - m); cnt++; }
    }
    const sd = Math.sqrt(s2 / cnt);
    if (!(sd > 0) || !Number.isFinite(sd)) throw new InputError(this.set.source, 'particle images have zero or non-finite variance');
    return 1 / sd;
  }

  private raw(i: number): Float32Array {
    const img = this.reader.read([i]);
    return this.D === this.set.boxPx ? img : fourierCropImage(img, this.set.boxPx, this.D);
  }

  /** Hint: these particles will be asked for soon (read their bytes in the worker now). */
  prefetch(indices: Uint32Array): void {
    if (!this.ahead || indices.length === 0) return;
    if (this.ahead.request(indices)) this.readAheadStats.requested++;
    else this.readAheadStats.dropped++;
  }

  /** Plan an epoch: the batches will be the sorted slices order[k·B .. (k+1)·B). */
  planEpoch(order: Uint32Array, batchSize: number): void {
    const batches: Uint32Array[] = [];
    for (let s = 0; s < order.length; s += batchSize) batches.push(order.slice(s, Math.min(order.length, s + batchSize)).sort());
    this.planBatches(batches);
  }

  /** Plan the next batches explicitly (read-ahead keeps two in flight). */
  planBatches(batches: Uint32Array[]): void {
    this.plan = batches;
    this.planPos = 0;
    for (let k = 0; k < Math.min(2, batches.length); k++) this.prefetch(batches[k]!);
  }

  private followPlan(indices: Uint32Array): void {
    const plan = this.plan;
    if (!plan) return;
    const want = plan[this.planPos];
    if (want === undefined || want.length !== indices.length || want.some((v, k) => v !== indices[k])) {
      this.readAheadStats.planMisses++;
      this.plan = null; // the loop went its own way: stop guessing
      return;
    }
    this.readAheadStats.planHits++;
    this.planPos++;
    const next = plan[this.planPos + 1];
    if (next) this.prefetch(next);
    if (this.planPos >= plan.length) this.plan = null;
  }

  batch(indices: Uint32Array): ParticleBatch {
    this.followPlan(indices);
    const D = this.D;
    const P = D * D;
    const B = indices.length;
    const images = new Float32Array(B * P);
    const ctf = new Float32Array(B * P);
    const sgn = this.invert ? -1 : 1;
    const D0 = this.set.boxPx;
    // one positioned read per run of consecutive images; at the stack's box straight into `images`
    const all = this.reader.read(Array.from(indices), D === D0 ? images : undefined);
    const scale = this.scale;
    const mask = this.mask;
    for (let b = 0; b < B; b++) {
      const i = indices[b]!;
      const img = D === D0 ? images.subarray(b * P, (b + 1) * P) : fourierCropImage(all.subarray(b * D0 * D0, (b + 1) * D0 * D0), D0, D);
      let m = 0;
      for (let k = 0; k < P; k++) m += img[k]!;
      m /= P;
      const out = images.subarray(b * P, (b + 1) * P);
      if (mask) for (let k = 0; k < P; k++) out[k] = sgn * (img[k]! - m) * scale * mask[k]!;
      else for (let k = 0; k < P; k++) out[k] = sgn * (img[k]! - m) * scale;
      ctf2D(particleCtf(this.set, i) as CtfParams, D, this.apixAngstrom, ctf.subarray(b * P, (b + 1) * P));
    }
    return assembleBatch(indices, D, images, ctf);
  }

  close(): void {
    this.ahead?.close();
    this.reader.close();
  }
}

/** Soft circular mask: 1 inside radius r, raised-cosine edge of width w, 0 outside. */
export function softCircle(D: number, r: number, w: number): Float32Array {
  const m = new Float32Array(D * D);
  const c = Math.floor(D / 2);
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const d = Math.hypot(x - c, y - c);
    m[y * D + x] = d <= r ? 1 : d >= r + w ? 0 : 0.5 * (1 + Math.cos((Math.PI * (d - r)) / w));
  }
  return m;
}
