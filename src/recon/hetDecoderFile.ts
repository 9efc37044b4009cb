/**
 * decoder.json of a heterogeneous run (`reconstruct --mode heterogeneous`): everything needed to
 * generate the volume at any latent z, read by `analyze` and `eval-vol`. Two kinds:
 *   'linear-hartley'  the linear decoder (hetDecoder.ts): mean grid + one grid per latent dimension;
 *   'het-mlp'         the coordinate network (hetMlpDecoder.ts): its weights, Fourier-feature
 *                     matrix, radial envelope, options and base volume (the state without the
 *                     Adam moments), evaluated on reading by hetMlpEval.ts (plain TypeScript: no
 *                     tfjs, the same result on every machine).
 * Written atomically (checkpoint.ts: JSON, typed arrays as base64). Kept apart from
 * heterogeneousJob.ts so that those commands load without the training code.
 */
import { existsSync } from 'node:fs';
import { InputError } from '../io/errors.js';
import { createHetDecoder, type HetDecoder, type ZVolumeModel } from '../model/hetDecoder.js';
import type { HetMlpState } from '../model/hetMlpDecoder.js';
import { HetMlpModel, hetMlpParamShapes } from '../model/hetMlpEval.js';
import { hartleyGridSize } from '../model/hartleyVolume.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';

/** decoder.json of the linear decoder. */
export interface LinearDecoderFile {
  kind: 'linear-hartley';
  D: number;
  zdim: number;
  apixAngstrom: number;
  grids: Float32Array[];
}

/** decoder.json of the coordinate-network decoder. */
export interface MlpDecoderFile {
  kind: 'het-mlp';
  D: number;
  zdim: number;
  apixAngstrom: number;
  mlp: HetMlpState;
}

/** What decoder.json holds. */
export type DecoderFile = LinearDecoderFile | MlpDecoderFile;

/** A decoder that can save its state (HetMlpDecoder), told apart from the linear grids by shape. */
interface StatefulDecoder { readonly D: number; readonly zdim: number; getState(withAdam?: boolean): HetMlpState }

export function writeDecoderFile(path: string, dec: HetDecoder | StatefulDecoder, apixAngstrom: number): void {
  let f: DecoderFile;
  if ('getState' in dec) {
    // without the Adam moments: training state, not needed to evaluate the decoder
    f = { kind: 'het-mlp', D: dec.D, zdim: dec.zdim, apixAngstrom, mlp: dec.getState(false) };
  } else {
    f = { kind: 'linear-hartley', D: dec.D, zdim: dec.zdim, apixAngstrom, grids: dec.grids.map((g) => g.values) };
  }
  writeCheckpoint(path, f);
}

const isInt = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;
const isF32 = (x: unknown, n?: number): x is Float32Array => x instanceof Float32Array && (n === undefined || x.length === n);

/** Read decoder.json: the decoder (linear grids, or the coordinate network as a ZVolumeModel) and the pixel size of its box. */
export function readDecoderFile(path: string): { decoder: HetDecoder | ZVolumeModel; apixAngstrom: number; kind: DecoderFile['kind'] } {
  if (!existsSync(path)) throw new InputError(path, 'no decoder file here: give the output folder of `reconstruct --mode heterogeneous`');
  const f = readCheckpoint<DecoderFile>(path);
  if (f === null || typeof f !== 'object') throw new InputError(path, 'not a cryospin heterogeneous decoder file');
  const kind: unknown = f.kind;
  if (kind !== 'linear-hartley' && kind !== 'het-mlp') {
    throw new InputError(path, `unknown decoder kind ${JSON.stringify(kind)} (this cryospin reads linear-hartley and het-mlp)`, { field: 'kind' });
  }
  if (!isInt(f.D, 2) || !isInt(f.zdim, 1)) throw new InputError(path, 'decoder file without a valid box D and zdim', { field: 'D' });
  if (!(typeof f.apixAngstrom === 'number' && f.apixAngstrom > 0)) throw new InputError(path, 'decoder file without a valid pixel size', { field: 'apixAngstrom' });
  if (f.kind === 'het-mlp') return { decoder: new HetMlpModel(checkMlpState(path, f)), apixAngstrom: f.apixAngstrom, kind: f.kind };
  if (!Array.isArray(f.grids) || f.grids.length !== f.zdim + 1) throw new InputError(path, `a linear decoder needs zdim + 1 = ${f.zdim + 1} grids`, { field: 'grids' });
  const dec = createHetDecoder(f.D, f.zdim);
  f.grids.forEach((g, d) => {
    if (!isF32(g, dec.grids[d]!.values.length)) throw new InputError(path, `decoder grid ${d} has the wrong size`, { field: 'grids' });
    dec.grids[d]!.values.set(g);
  });
  return { decoder: dec, apixAngstrom: f.apixAngstrom, kind: f.kind };
}

/** Every array of a het-mlp state present with the size its options imply (else InputError naming the file and field). */
function checkMlpState(path: string, f: MlpDecoderFile): HetMlpState {
  const s = f.mlp;
  const bad = (field: string, what: string): never => { throw new InputError(path, `het-mlp decoder: ${what}`, { field }); };
  if (s === null || typeof s !== 'object' || s.format !== 'cryospin-het-mlp-v1') bad('mlp.format', 'not a cryospin-het-mlp-v1 network state');
  if (s.D !== f.D || s.zdim !== f.zdim) bad('mlp.D', `the network is for box ${s.D} / zdim ${s.zdim}, the file says ${f.D} / ${f.zdim}`);
  const o = s.options;
  if (o === null || typeof o !== 'object' || !isInt(o.nFeatures, 1) || !isInt(o.hidden, 1) || !isInt(o.blocks, 0)) bad('mlp.options', 'options need whole nFeatures >= 1, hidden >= 1, blocks >= 0');
  if (!isF32(s.features, 3 * o.nFeatures)) bad('mlp.features', `the Fourier-feature matrix needs 3 x ${o.nFeatures} values`);
  if (!isF32(s.envelope, Math.floor(f.D / 2) + 2)) bad('mlp.envelope', `the envelope needs ${Math.floor(f.D / 2) + 2} values`);
  if (!isF32(s.base) || (s.base.length !== 0 && s.base.length !== hartleyGridSize(f.D) ** 3)) bad('mlp.base', `the base volume needs 0 or ${hartleyGridSize(f.D) ** 3} values`);
  if (s.params === null || typeof s.params !== 'object') bad('mlp.params', 'no weights');
  for (const [name, [r, c]] of Object.entries(hetMlpParamShapes(f.zdim, o))) {
    if (!isF32(s.params[name], r * c)) bad(`mlp.params.${name}`, `weight ${name} missing or not ${r} x ${c}`);
  }
  const all = [s.features, s.envelope, s.base, ...Object.values(s.params)];
  if (all.some((a) => a.some((x) => !Number.isFinite(x)))) bad('mlp', 'non-finite values in the network');
  return s;
}
