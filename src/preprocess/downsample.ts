/**
 * Fourier-downsample a particle set once (for users who want to preprocess before many runs):
 * images are read in chunks, Fourier-cropped to the new box (mean preserved, core/resample.ts) and
 * streamed into a new stack; for a STAR output the particle metadata follow with the new pixel
 * size (origins in Angstrom are unchanged; in pixels they scale with the box).
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fourierCropImages } from '../core/resample.js';
import { InputError } from '../io/errors.js';
import { createMrcStackWriter } from '../io/mrc.js';
import { loadParticles, ParticleImageReader, type ParticleSet } from '../io/particles.js';
import { writeParticlesStar } from '../io/relionStar.js';

export interface DownsampleOptions {
  input: string;
  boxPx: number;
  output: string;
  chunk?: number;
  apixAngstrom?: number;
  ctfPkl?: string;
  /** Accept image paths outside the particle file's folder (see loadParticles). */
  allowOutside?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface DownsampleResult {
  stack: string;
  star: string | null;
  n: number;
  boxPx: number;
  apixAngstrom: number;
}

export function downsampleParticles(o: DownsampleOptions): DownsampleResult {
  const out = resolve(o.output);
  const isStar = out.endsWith('.star');
  if (!isStar && !out.endsWith('.mrcs') && !out.endsWith('.mrc')) throw new InputError(o.output, 'output must end in .mrcs (stack only) or .star (stack + metadata)');
  const set = loadParticles(o.input, { apixAngstrom: o.apixAngstrom, ctfPkl: o.ctfPkl, checkStacks: true, allowOutside: o.allowOutside });
  const D0 = set.boxPx;
  const D = o.boxPx;
  if (!Number.isInteger(D) || D < 2 || D > D0) throw new InputError(o.input, `new box ${D} must be an integer in [2, ${D0}] (the input box)`, { field: '-D' });
  const apix = (set.apixAngstrom * D0) / D;
  mkdirSync(dirname(out), { recursive: true });
  const stackPath = isStar ? join(dirname(out), basename(out, '.star') + '.mrcs') : out;
  const writer = createMrcStackWriter(stackPath, { nx: D, ny: D, apixAngstrom: apix });
  const reader = new ParticleImageReader(set);
  const n = set.particles.length;
  const chunk = Math.max(1, o.chunk ?? 1000);
  try {
    for (let s = 0; s < n; s += chunk) {
      const c = Math.min(chunk, n - s);
      const imgs = reader.read({ start: s, count: c });
      writer.append(D === D0 ? imgs : fourierCropImages(imgs, D0, c, D));
      o.onProgress?.(s + c, n);
    }
    writer.close();
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    reader.close();
  }
  let star: string | null = null;
  if (isStar) {
    const scale = D / D0;
    const ds: ParticleSet = {
      source: set.source, boxPx: D, apixAngstrom: apix,
      particles: set.particles.map((p, i) => ({
        ...p, stackPath, stackIndex: i,
        originPx: p.originPx ? [p.originPx[0] * scale, p.originPx[1] * scale] as [number, number] : null,
      })),
    };
    writeParticlesStar(out, ds);
    star = out;
  }
  return { stack: stackPath, star, n, boxPx: D, apixAngstrom: apix };
}
