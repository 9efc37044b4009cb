/**
 * A trained pose model read from a `reconstruct` checkpoint, for `predict-poses` (poses for new
 * particles by one inference pass, no optimisation):
 *   - amortized (cryoAI): the single-head encoder's pose; with the symmetric loss the decoder picks
 *     between it and its in-plane pi rotation, as the run did;
 *   - semi-amortized with --init encoder (cryoSPIN): the multi-head encoder's heads are scored
 *     against the checkpoint's volume and the lowest-loss head wins, as at the switch. After the
 *     switch the checkpoint keeps the encoder as it was then, and the volume is the refined one.
 * The preprocessing settings (working box, inversion, mask) come from the checkpoint.
 */
import { InputError } from '../io/errors.js';
import { encoderFromState, type EncoderState } from '../model/encoder.js';
import { createHartleyGrid, nyquistDisc } from '../model/hartleyVolume.js';
import { predictPoses as predictAmortized } from './amortized.js';
import { loadAmortizedModel } from './amortizedJob.js';
import { bestHeadPoses } from './bestHead.js';
import { readCheckpoint } from './checkpoint.js';
import { EncoderAdapter } from './encoderAdapter.js';
import type { TrainerState } from './semiAmortized.js';
import { createSlicer } from './slicer.js';
import type { ParticleSource } from './types.js';

export interface PoseModel {
  kind: 'amortized' | 'semi-amortized';
  /** Working box and preprocessing of the run. */
  box: number;
  invert: boolean;
  maskFraction: number;
  seed: number;
  batchSize: number;
  /** 'grid' or 'fouriernet' (amortized); 'grid' (semi-amortized). */
  decoder: string;
  symmetricLoss: boolean;
  heads: number;
  /** Poses (rotations 9 per particle, origins in working px) and per-particle losses. */
  predict(source: ParticleSource, indices: Uint32Array, batchSize: number): { rots: Float64Array; origins: Float32Array; loss: Float64Array };
  dispose(): void;
}

interface SemiCheckpoint {
  trainer?: TrainerState;
  encoder?: EncoderState | null;
  options?: { mode?: string; box?: number; invert?: boolean; maskFraction?: number; seed?: number; batchSize?: number; shiftWarmupEpochs?: number; init?: string };
}

function semiModel(path: string, ck: SemiCheckpoint): PoseModel {
  const o = ck.options ?? {};
  if (!ck.encoder || !ck.trainer) {
    throw new InputError(path, o.init === 'search'
      ? 'a semi-amortized checkpoint from the search initialisation has no encoder: predict-poses needs reconstruct --init encoder (or --mode amortized)'
      : 'a semi-amortized checkpoint without encoder state (written before the switch kept it?): rerun reconstruct --init encoder');
  }
  const box = o.box;
  if (!(typeof box === 'number' && Number.isInteger(box) && box > 0)) throw new InputError(path, `checkpoint options.box is ${JSON.stringify(box)}, expected the working box`);
  const slicer = createSlicer('wasm', 1);
  const Dv = createHartleyGrid(box).Dv;
  const grid = createHartleyGrid(box, slicer.alloc(Dv * Dv * Dv));
  if (ck.trainer.volume.length !== grid.values.length) {
    slicer.dispose();
    throw new InputError(path, `the checkpoint's volume has ${ck.trainer.volume.length} values, box ${box} needs ${grid.values.length}`);
  }
  grid.values.set(ck.trainer.volume);
  const encoder = new EncoderAdapter(encoderFromState(ck.encoder));
  // the encoder's shift head was in use iff the shift warm-up had ended when it last trained
  const encoderEpochs = ck.trainer.stage === 'autodecode' ? ck.trainer.switchedAtEpoch : ck.trainer.epoch;
  const useShifts = encoderEpochs >= (o.shiftWarmupEpochs ?? 0);
  return {
    kind: 'semi-amortized', box, invert: o.invert ?? false, maskFraction: o.maskFraction ?? 0, seed: o.seed ?? 0, batchSize: o.batchSize ?? 32,
    decoder: 'grid', symmetricLoss: false, heads: encoder.heads,
    predict: (source, indices, batchSize) => bestHeadPoses(encoder, slicer, grid, source, indices, batchSize, nyquistDisc(box), useShifts),
    dispose: () => { encoder.dispose(); slicer.dispose(); },
  };
}

/** The pose model of a `reconstruct` checkpoint (amortized, or semi-amortized with an encoder). */
export function loadPoseModel(path: string): PoseModel {
  const ck = readCheckpoint<SemiCheckpoint>(path);
  const mode = ck.options?.mode;
  if (mode === 'semi-amortized') return semiModel(path, ck);
  if (mode !== 'amortized') {
    throw new InputError(path, `predict-poses needs a checkpoint of reconstruct --mode amortized or --mode semi-amortized --init encoder, this one is ${mode === undefined ? 'of unknown mode' : `from --mode ${mode}`}`);
  }
  const m = loadAmortizedModel(path, ck);
  const opt = m.options;
  return {
    kind: 'amortized', box: opt.box, invert: opt.invert, maskFraction: opt.maskFraction, seed: opt.seed, batchSize: opt.batchSize,
    decoder: opt.decoder, symmetricLoss: opt.symmetricLoss, heads: m.encoder.heads,
    predict: (source, indices, batchSize) => predictAmortized(m.encoder, m.decoder, source, indices, opt.symmetricLoss, batchSize),
    dispose: () => { m.encoder.dispose(); m.decoder.dispose(); },
  };
}
