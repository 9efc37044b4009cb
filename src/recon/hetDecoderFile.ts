/**
 * decoder.json of a heterogeneous run (`reconstruct --mode heterogeneous`): the z-conditioned
 * linear decoder (mean grid + one grid per latent dimension), read by `analyze` and `eval-vol`.
 * Kept apart from heterogeneousJob.ts so that those commands load without the training code.
 */
import { existsSync } from 'node:fs';
import { InputError } from '../io/errors.js';
import { createHetDecoder, type HetDecoder } from '../model/hetDecoder.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';

/** What decoder.json holds: everything needed to generate a volume for any z. */
export interface DecoderFile {
  kind: 'linear-hartley';
  D: number;
  zdim: number;
  apixAngstrom: number;
  grids: Float32Array[];
}

export function writeDecoderFile(path: string, dec: HetDecoder, apixAngstrom: number): void {
  const f: DecoderFile = { kind: 'linear-hartley', D: dec.D, zdim: dec.zdim, apixAngstrom, grids: dec.grids.map((g) => g.values) };
  writeCheckpoint(path, f);
}

export function readDecoderFile(path: string): { decoder: HetDecoder; apixAngstrom: number } {
  if (!existsSync(path)) throw new InputError(path, 'no decoder file here: give the output folder of `reconstruct --mode heterogeneous`');
  const f = readCheckpoint<DecoderFile>(path);
  if (f.kind !== 'linear-hartley' || !Array.isArray(f.grids) || f.grids.length !== f.zdim + 1) throw new InputError(path, 'not a cryospin heterogeneous decoder file');
  const dec = createHetDecoder(f.D, f.zdim);
  f.grids.forEach((g, d) => {
    if (!(g instanceof Float32Array) || g.length !== dec.grids[d]!.values.length) throw new InputError(path, `decoder grid ${d} has the wrong size`);
    dec.grids[d]!.values.set(g);
  });
  return { decoder: dec, apixAngstrom: f.apixAngstrom };
}
