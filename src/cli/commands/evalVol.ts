/**
 * `cryospin eval-vol OUTDIR --z "0.1,..." | --z-file z.txt -o map.mrc`: the map of a
 * heterogeneous run's decoder (OUTDIR/decoder.json) at any latent z. With --z-file (one z per
 * line, values separated by commas or white space) and several lines, -o is a prefix and the
 * maps are written as PREFIX_000.mrc, PREFIX_001.mrc, ...
 * Either decoder kind (hetDecoderFile.ts): the linear grids, or the coordinate network (--het-decoder
 * mlp), evaluated in plain TypeScript (no tfjs; the run's map.mrc is the same map at z = 0).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from '../../io/errors.js';
import { writeMrc } from '../../io/mrc.js';
import { hetVolumeMap } from '../../model/hetDecoder.js';
import { readDecoderFile } from '../../recon/hetDecoderFile.js';

export interface EvalVolOptions {
  outdir: string;
  /** One latent as text, "0.1,0.2,..." (comma or space separated). */
  z?: string;
  /** File with one latent per line. */
  zFile?: string;
  /** Output map (or prefix with several latents). */
  output: string;
}

export interface EvalVolResult { maps: string[]; zdim: number; boxPx: number; apixAngstrom: number; decoder: 'linear-hartley' | 'het-mlp' }

function parseZ(text: string, zdim: number, file: string, record?: number): Float64Array {
  const parts = text.trim().split(/[\s,]+/).filter((s) => s !== '');
  const v = parts.map(Number);
  if (v.length !== zdim || v.some((x) => !Number.isFinite(x))) {
    throw new InputError(file, `expected ${zdim} numbers for z, got "${text.trim()}"`, record !== undefined ? { record } : {});
  }
  return Float64Array.from(v);
}

export function runEvalVol(o: EvalVolOptions): EvalVolResult {
  if ((o.z === undefined) === (o.zFile === undefined)) throw new InputError('eval-vol', 'give --z or --z-file (one of them)');
  const { decoder, apixAngstrom, kind } = readDecoderFile(join(resolve(o.outdir), 'decoder.json'));
  const zs: Float64Array[] = [];
  if (o.z !== undefined) zs.push(parseZ(o.z, decoder.zdim, '--z'));
  else {
    const lines = readFileSync(o.zFile!, 'utf8').split(/\r?\n/);
    lines.forEach((l, i) => { if (l.trim() !== '' && !l.trim().startsWith('#')) zs.push(parseZ(l, decoder.zdim, o.zFile!, i)); });
    if (zs.length === 0) throw new InputError(o.zFile!, 'no latent in the file');
  }
  const D = decoder.D;
  const maps: string[] = [];
  const stem = o.output.replace(/\.mrc$/i, '');
  zs.forEach((z, j) => {
    const path = zs.length === 1 ? o.output : `${stem}_${String(j).padStart(3, '0')}.mrc`;
    writeMrc(path, hetVolumeMap(decoder, z), { nx: D, ny: D, nz: D, apixAngstrom });
    maps.push(path);
  });
  return { maps, zdim: decoder.zdim, boxPx: D, apixAngstrom, decoder: kind };
}

/** The command's options and action live in evalVolCommand.ts (loaded without the decoder code). */
export { register } from './evalVolCommand.js';
