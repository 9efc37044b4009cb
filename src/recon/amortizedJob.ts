/**
 * `cryospin reconstruct --mode amortized` as a library call: load particles, build a single-head
 * encoder and the chosen decoder (explicit grid or FourierNet), train them jointly epoch by epoch
 * (metrics.jsonl line and checkpoint after each), then one encoder pass assigns every particle its
 * pose and the semi-amortized job's writers produce the same outputs (map.mrc, half maps, fsc.json,
 * map_decoder.mrc, poses.star, pose.pkl, result.json). The checkpoint holds the encoder's and the
 * decoder's full state plus the preprocessing settings, so `predict-poses` can run the encoder on
 * new particles.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fourierCropVolume } from '../core/resample.js';
import { alignMaps } from '../eval/align.js';
import { fscReport } from '../eval/fsc.js';
import { poseError } from '../eval/poseError.js';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../io/errors.js';
import { readMrc } from '../io/mrc.js';
import { loadParticles } from '../io/particles.js';
import { createEncoder, encoderFromState, type EncoderState } from '../model/encoder.js';
import { initTfjs } from '../model/tfjsSetup.js';
import { AmortizedTrainer, type AmortizedOptions, type AmortizedState } from './amortized.js';
import { FourierNetDecoder, GridDecoder, type DecoderKind, type DecoderState, type SliceDecoder } from './amortizedDecoder.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { DiskSource } from './diskSource.js';
import { EncoderAdapter } from './encoderAdapter.js';
import { decoderMap, gtRotations, writeOutputs, type EpochMetrics, type ReconstructResult } from './reconstructJob.js';
import type { ProgressInfo } from './semiAmortized.js';

export interface AmortizedJobOptions extends Partial<AmortizedOptions> {
  input: string;
  outdir: string;
  box?: number;
  decoder?: DecoderKind;
  ctfPkl?: string;
  apixAngstrom?: number;
  invert?: boolean;
  maskFraction?: number;
  gtMap?: string;
  gtPoses?: string;
  resume?: boolean;
  allowOutside?: boolean;
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
  onProgress?: (p: ProgressInfo) => void;
  onEpoch?: (m: EpochMetrics & { flipped_fraction: number }) => void;
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
}

export interface AmortizedCheckpoint {
  trainer: AmortizedState;
  encoder: EncoderState;
  decoder: DecoderState;
  wall_s: number;
  options: AmortizedCheckpointOptions;
}

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
  const t0 = performance.now();
  const outdir = resolve(o.outdir);
  mkdirSync(outdir, { recursive: true });
  const set = loadParticles(o.input, { ctfPkl: o.ctfPkl, apixAngstrom: o.apixAngstrom, allowOutside: o.allowOutside });
  const seed = o.seed ?? 0;
  const source = new DiskSource(set, { box: o.box, invert: o.invert, maskFraction: o.maskFraction, seed });
  const D = source.D;
  const scaleToWork = D / set.boxPx;
  let gtMap: Float32Array | null = null;
  if (o.gtMap) {
    const m = readMrc(o.gtMap);
    if (m.nx !== m.ny || m.ny !== m.nz) throw new InputError(o.gtMap, `map is not cubic (${m.nx}x${m.ny}x${m.nz})`);
    gtMap = m.nx === D ? m.data : fourierCropVolume(m.data, m.nx, D);
  }
  const gt = o.gtPoses ? gtRotations(o.gtPoses, source.n) : null;

  await initTfjs('wasm');
  const kind: DecoderKind = o.decoder ?? 'grid';
  const adapter = new EncoderAdapter(createEncoder({
    box: D, heads: 1, seed, preset: o.encoderPreset ?? 'lean', learningRate: o.lrEncoder ?? 1e-4, clipGradNorm: o.clipGradNorm ?? 0,
  }));
  const decoder = makeDecoder(kind, D, o);
  const trainer = new AmortizedTrainer(source, adapter, decoder, o);
  const ckptPath = join(outdir, 'checkpoint.json');
  const metricsPath = join(outdir, 'metrics.jsonl');
  const ckOptions: AmortizedCheckpointOptions = {
    mode: 'amortized', input: o.input, box: D, invert: o.invert ?? false, maskFraction: o.maskFraction ?? 0, seed,
    symmetricLoss: trainer.opts.symmetricLoss, decoder: kind, batchSize: trainer.opts.batchSize,
  };
  let wallBefore = 0;
  if (o.resume && existsSync(ckptPath)) {
    const ck = readCheckpoint<AmortizedCheckpoint>(ckptPath);
    if (ck.options?.mode !== 'amortized') throw new InputError(ckptPath, 'checkpoint is not from an amortized run');
    adapter.setEncoderState(ck.encoder);
    decoder.setState(ck.decoder);
    trainer.setState(ck.trainer);
    wallBefore = ck.wall_s;
  } else if (!o.resume) {
    writeFileSync(metricsPath, '');
  }
  const wall = (): number => wallBefore + (performance.now() - t0) / 1000;
  let last: EpochMetrics | null = null;
  while (!trainer.done) {
    const st = trainer.trainEpoch(o.onProgress);
    const m: EpochMetrics & { flipped_fraction: number } = {
      epoch: st.epoch, stage: st.stage, loss: st.loss, epoch_s: st.seconds, wall_s: wall(),
      head_usage: [1], pose_change_deg: null, switched: false, flipped_fraction: st.flippedFraction,
    };
    const trainWall = wall();
    if (gt) {
      const pe = poseError(Float64Array.from(trainer.poses.rot), gt.rots,
        Float64Array.from(trainer.poses.origin, (v) => v / scaleToWork), gt.origins);
      m.rot_median_deg = pe.rot_median_deg;
      m.shift_median_px = pe.shift_median_px;
    }
    if (gtMap && (o.fscEveryEpoch ?? true)) {
      const al = alignMaps(gtMap, decoderMap({ grid: decoder.toGrid() }), D, {});
      m.res05_px = fscReport(gtMap, al.aligned, D, source.apixAngstrom).res05_px;
    }
    m.wall_s = trainWall; // evaluation time is not training time
    wallBefore -= wall() - trainWall;
    appendFileSync(metricsPath, JSON.stringify(m) + '\n');
    writeCheckpoint(ckptPath, { trainer: trainer.getState(), encoder: adapter.getEncoderState(), decoder: decoder.getState(), wall_s: wall(), options: ckOptions });
    last = m;
    o.onEpoch?.(m);
  }
  // one inference pass: the poses the encoder gives now (what predict-poses reproduces)
  trainer.finalPass();
  source.close();
  const res = writeOutputs(set, { grid: decoder.toGrid(), poses: trainer.poses }, outdir, source.apixAngstrom, scaleToWork, seed);
  const result: ReconstructResult = { map: res.map, poses: res.poses, epochs: trainer.epoch, wall_s: wall(), half_res0143_px: res.halfRes0143 };
  if (gtMap) {
    const al = alignMaps(gtMap, res.mapData, D, {});
    result.res05_px_vs_gt = fscReport(gtMap, al.aligned, D, source.apixAngstrom).res05_px;
  }
  if (gt) {
    const pe = poseError(Float64Array.from(trainer.poses.rot), gt.rots, Float64Array.from(trainer.poses.origin, (v) => v / scaleToWork), gt.origins);
    result.rot_median_deg_vs_gt = pe.rot_median_deg;
  } else if (last?.rot_median_deg !== undefined) result.rot_median_deg_vs_gt = last.rot_median_deg;
  writeFileAtomic(join(outdir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  decoder.dispose();
  adapter.dispose();
  return result;
}

/** Encoder and decoder of an amortized checkpoint (tfjs must be initialised). */
export function loadAmortizedModel(path: string): { encoder: EncoderAdapter; decoder: SliceDecoder; options: AmortizedCheckpointOptions } {
  const ck = readCheckpoint<AmortizedCheckpoint>(path);
  if (ck.options?.mode !== 'amortized' || !ck.encoder || !ck.decoder) {
    throw new InputError(path, 'not an amortized-mode checkpoint (needs encoder and decoder state: run reconstruct --mode amortized)');
  }
  const encoder = new EncoderAdapter(encoderFromState(ck.encoder));
  return { encoder, decoder: decoderFromState(ck.decoder, ck.options.box), options: ck.options };
}

