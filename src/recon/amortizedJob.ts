/**
 * `cryospin reconstruct --mode amortized` as a library call: load particles, build a single-head
 * encoder and the chosen decoder (explicit grid or FourierNet), train them jointly epoch by epoch
 * (metrics.jsonl line and checkpoint after each), then one encoder pass assigns every particle its
 * pose and the semi-amortized job's writers produce the same outputs (map.mrc, half maps, fsc.json,
 * map_decoder.mrc, poses.star, pose.pkl, result.json). The checkpoint holds the encoder's and the
 * decoder's full state plus the preprocessing settings, so `predict-poses` can run the encoder on
 * new particles. The output folder, resume (refused for other settings), metrics log and live
 * snapshots are the shared job runner's (jobRunner.ts).
 */
import { join } from 'node:path';
import { alignMaps } from '../eval/align.js';
import { fscReport } from '../eval/fsc.js';
import { poseError } from '../eval/poseError.js';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../io/errors.js';
import { createEncoder, encoderFromState, type EncoderState } from '../model/encoder.js';
import { initTfjs } from '../model/tfjsSetup.js';
import { AmortizedTrainer, type AmortizedOptions, type AmortizedState } from './amortized.js';
import { FourierNetDecoder, GridDecoder, type DecoderKind, type DecoderState, type SliceDecoder } from './amortizedDecoder.js';
import { readCheckpoint } from './checkpoint.js';
import { EncoderAdapter } from './encoderAdapter.js';
import { decoderMap, gtRotations, writeOutputs, type EpochMetrics, type ReconstructResult } from './reconstructJob.js';
import { JobRunner, loadJobInput, readGtMap, type JobBaseOptions } from './jobRunner.js';

export interface AmortizedJobOptions extends Partial<AmortizedOptions>, JobBaseOptions {
  decoder?: DecoderKind;
  gtMap?: string;
  gtPoses?: string;
  encoderPreset?: 'lean' | 'paper';
  lrEncoder?: number;
  /** Encoder gradient-norm clip (cryoAI: 1; 0 = off). */
  clipGradNorm?: number;
  /** Grid decoder: preconditioned step size; FourierNet: Adam learning rate. */
  lrVolume?: number;
  lrFourierNet?: number;
  /** FourierNet hidden width (both SIRENs). */
  fourierNetWidth?: number;
  backend?: 'ts' | 'wasm';
  /** Skip FSC vs ground truth per epoch (map alignment costs seconds); the end result still has it. */
  fscEveryEpoch?: boolean;
  onEpoch?: (m: EpochMetrics & { flipped_fraction: number; decoder_step_halvings: number }) => void;
}

/** What `predict-poses` needs besides the weights: preprocessing and decoder settings. */
export interface AmortizedCheckpointOptions {
  mode: 'amortized';
  input: string;
  box: number;
  invert: boolean;
  maskFraction: number;
  seed: number;
  symmetricLoss: boolean;
  decoder: DecoderKind;
  batchSize: number;
  /** Particle count (checkpoints before it was recorded lack it). */
  particles?: number;
}

export interface AmortizedCheckpoint {
  trainer: AmortizedState;
  encoder: EncoderState;
  decoder: DecoderState;
  wall_s: number;
  options: AmortizedCheckpointOptions;
}

/** Settings a resumed amortized run must share with its checkpoint. */
const RESUME_SETTINGS = ['box', 'invert', 'maskFraction', 'seed', 'symmetricLoss', 'decoder', 'batchSize', 'particles'] as const;

export function makeDecoder(kind: DecoderKind, D: number, o: AmortizedJobOptions): SliceDecoder {
  if (kind === 'grid') return new GridDecoder(D, { lr: o.lrVolume ?? 0.3, initScale: 0.01, seed: o.seed ?? 0, backend: o.backend ?? 'wasm' });
  const w = o.fourierNetWidth ?? 64;
  return new FourierNetDecoder({ box: D, seed: o.seed ?? 0, learningRate: o.lrFourierNet ?? 1e-3, envelopeHidden: [w, w], modulantHidden: [w, w, w] });
}

/** Decoder restored from a checkpoint state. */
export function decoderFromState(s: DecoderState, D: number): SliceDecoder {
  const dec = s.kind === 'grid'
    ? new GridDecoder(D, { lr: s.opt.lr, initScale: 0, seed: 0, backend: 'wasm' })
    : new FourierNetDecoder(s.net.options);
  dec.setState(s);
  return dec;
}

export async function runAmortizedJob(o: AmortizedJobOptions): Promise<ReconstructResult> {
  const job = new JobRunner(o.outdir, 'amortized', o.resume ?? false);
  const outdir = job.outdir;
  const seed = o.seed ?? 0;
  const { set, source, D, scaleToWork } = loadJobInput(o, seed);
  try {
    const gtMap = o.gtMap ? readGtMap(o.gtMap, D) : null;
    const gt = o.gtPoses ? gtRotations(o.gtPoses, source.n) : null;

    await initTfjs('wasm');
    const kind: DecoderKind = o.decoder ?? 'grid';
    const adapter = new EncoderAdapter(createEncoder({
      box: D, heads: 1, seed, preset: o.encoderPreset ?? 'lean', learningRate: o.lrEncoder ?? 1e-4, clipGradNorm: o.clipGradNorm ?? 0,
    }));
    const decoder = makeDecoder(kind, D, o);
    try {
      const trainer = new AmortizedTrainer(source, adapter, decoder, o);
      const ckOptions: AmortizedCheckpointOptions = {
        mode: 'amortized', input: o.input, box: D, invert: o.invert ?? false, maskFraction: o.maskFraction ?? 0, seed,
        symmetricLoss: trainer.opts.symmetricLoss, decoder: kind, batchSize: trainer.opts.batchSize, particles: source.n,
      };
      const settings: Record<string, unknown> = {};
      for (const k of RESUME_SETTINGS) settings[k] = ckOptions[k];
      await job.open<AmortizedCheckpoint>({
        settings,
        onOutdirReady: o.onOutdirReady,
        restore: (ck) => {
          adapter.setEncoderState(ck.encoder);
          decoder.setState(ck.decoder);
          trainer.setState(ck.trainer);
          return trainer.epoch;
        },
      });
      const decoderGridMap = (): Float32Array => decoderMap({ grid: decoder.toGrid() });
      const last = job.runEpochs<AmortizedCheckpoint, EpochMetrics & { flipped_fraction: number; decoder_step_halvings: number }>({
        done: () => trainer.done,
        runEpoch: (clock) => {
          const st = trainer.trainEpoch(o.onProgress);
          const m: EpochMetrics & { flipped_fraction: number; decoder_step_halvings: number } = {
            epoch: st.epoch, stage: st.stage, loss: st.loss, epoch_s: st.seconds, wall_s: clock.wall(),
            head_usage: [1], pose_change_deg: null, switched: false, flipped_fraction: st.flippedFraction, decoder_step_halvings: st.decoderStepHalvings,
          };
          clock.untimed(() => { // evaluation time is not training time
            if (gt) {
              const pe = poseError(Float64Array.from(trainer.poses.rot), gt.rots,
                Float64Array.from(trainer.poses.origin, (v) => v / scaleToWork), gt.origins);
              m.rot_median_deg = pe.rot_median_deg;
              m.shift_median_px = pe.shift_median_px;
            }
            if (gtMap && (o.fscEveryEpoch ?? true)) {
              const al = alignMaps(gtMap, decoderGridMap(), D, {});
              m.res05_px = fscReport(gtMap, al.aligned, D, source.apixAngstrom).res05_px;
            }
          });
          return m;
        },
        state: () => ({ trainer: trainer.getState(), encoder: adapter.getEncoderState(), decoder: decoder.getState() }),
        checkpointOptions: { ...ckOptions },
        // the live snapshot (a FourierNet is rendered on the grid for it) is not training time either
        live: (m) => job.clock.untimed(() => ({ epoch: m.epoch, map: decoderGridMap(), D, apixAngstrom: source.apixAngstrom, rots: trainer.poses.rot })),
        onEpoch: o.onEpoch,
      });
      // one inference pass: the poses the encoder gives now (what predict-poses reproduces)
      trainer.finalPass();
      source.close();
      const res = writeOutputs(set, { grid: decoder.toGrid(), poses: trainer.poses }, outdir, source.apixAngstrom, scaleToWork, seed);
      const result: ReconstructResult = { map: res.map, poses: res.poses, epochs: trainer.epoch, wall_s: job.clock.wall(), half_res0143_px: res.halfRes0143 };
      if (gtMap) {
        const al = alignMaps(gtMap, res.mapData, D, {});
        result.res05_px_vs_gt = fscReport(gtMap, al.aligned, D, source.apixAngstrom).res05_px;
      }
      if (gt) {
        const pe = poseError(Float64Array.from(trainer.poses.rot), gt.rots, Float64Array.from(trainer.poses.origin, (v) => v / scaleToWork), gt.origins);
        result.rot_median_deg_vs_gt = pe.rot_median_deg;
      } else if (last?.rot_median_deg !== undefined) result.rot_median_deg_vs_gt = last.rot_median_deg;
      writeFileAtomic(join(outdir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
      job.finish();
      return result;
    } finally {
      decoder.dispose();
      adapter.dispose();
    }
  } finally {
    source.close();
  }
}

/** Encoder and decoder of an amortized checkpoint (tfjs must be initialised). */
export function loadAmortizedModel(path: string, parsed?: unknown): { encoder: EncoderAdapter; decoder: SliceDecoder; options: AmortizedCheckpointOptions } {
  const ck = (parsed ?? readCheckpoint<AmortizedCheckpoint>(path)) as AmortizedCheckpoint;
  if (ck.options?.mode !== 'amortized' || !ck.encoder || !ck.decoder) {
    throw new InputError(path, 'not an amortized-mode checkpoint (needs encoder and decoder state: run reconstruct --mode amortized)');
  }
  const encoder = new EncoderAdapter(encoderFromState(ck.encoder));
  return { encoder, decoder: decoderFromState(ck.decoder, ck.options.box), options: ck.options };
}

