/**
 * `cryospin reconstruct` as a library call: load particles, build the source and the encoder,
 * run the semi-amortized loop epoch by epoch (metrics.jsonl line and checkpoint after each),
 * then write the outputs: map.mrc and half maps (CTF-corrected backprojection with the final
 * poses; their FSC in fsc.json), map_decoder.mrc (the learned volume), poses.star (RELION 3.1)
 * and pose.pkl (cryoDRGN). The output folder, resume, checkpoints, metrics log and live snapshots
 * are the shared job runner's (jobRunner.ts).
 */
import { join } from 'node:path';
import { matrixToEuler } from '../core/rotation.js';
import { alignMaps } from '../eval/align.js';
import { fscReport } from '../eval/fsc.js';
import { poseError } from '../eval/poseError.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writePosePkl } from '../io/cryodrgnPkl.js';
import { writeMrc } from '../io/mrc.js';
import { ParticleImageReader, type ParticleSet } from '../io/particles.js';
import { writeParticlesStar } from '../io/relionStar.js';
import { createEncoder, type EncoderState } from '../model/encoder.js';
import { hartleyMap } from '../model/hartleyVolume.js';
import { initTfjs } from '../model/tfjsSetup.js';
import { backproject, type ParticleSource as BpSource } from './backproject.js';
import { EncoderAdapter } from './encoderAdapter.js';
import { JobRunner, loadJobInput, readGtMap, readPoseFile, type CheckpointEnvelope, type JobBaseOptions } from './jobRunner.js';
import { SemiAmortizedTrainer, type EpochStats, type SemiAmortizedOptions, type TrainerState } from './semiAmortized.js';

export interface ReconstructJobOptions extends Partial<SemiAmortizedOptions>, JobBaseOptions {
  heads?: number;
  gtMap?: string;
  gtPoses?: string;
  encoderPreset?: 'lean' | 'paper';
  onEpoch?: (m: EpochMetrics) => void;
}

export interface EpochMetrics {
  epoch: number;
  stage: string;
  loss: number;
  epoch_s: number;
  wall_s: number;
  head_usage: number[];
  pose_change_deg: number | null;
  switched: boolean;
  rot_median_deg?: number;
  shift_median_px?: number | null;
  res05_px?: number;
}

export interface ReconstructResult {
  map: string;
  poses: string;
  epochs: number;
  wall_s: number;
  res05_px_vs_gt?: number;
  rot_median_deg_vs_gt?: number;
  half_res0143_px?: number;
}

interface Checkpoint extends CheckpointEnvelope { trainer: TrainerState; encoder: EncoderState | null }

/** Real-space map (box D) of the learned Hartley volume. */
export function decoderMap(trainer: Pick<SemiAmortizedTrainer, 'grid'>): Float32Array {
  return hartleyMap(trainer.grid);
}

/** Ground-truth rotations and origins (input px) of a particle file with angles (metadata only). */
export function gtRotations(path: string, n: number): { rots: Float64Array; origins: Float64Array; boxPx: number } {
  const { rots, origins, boxPx } = readPoseFile(path, n, 'ground-truth');
  return { rots, origins, boxPx };
}

export async function runReconstructJob(o: ReconstructJobOptions): Promise<ReconstructResult> {
  const job = new JobRunner(o.outdir, 'semi-amortized', o.resume ?? false);
  const outdir = job.outdir;
  const seed = o.seed ?? 0;
  const heads = o.heads ?? 7;
  const { set, source, D, scaleToWork } = loadJobInput(o, seed);
  try {
    const gtMap = o.gtMap ? readGtMap(o.gtMap, D) : null;
    const gt = o.gtPoses ? gtRotations(o.gtPoses, source.n) : null;

    await initTfjs('wasm');
    const useEncoder = (o.init ?? 'search') === 'encoder';
    const adapter = useEncoder
      ? new EncoderAdapter(createEncoder({ box: D, heads, seed, preset: o.encoderPreset ?? 'lean', learningRate: o.lrEncoder ?? 1e-4 }))
      : null;
    const trainer = new SemiAmortizedTrainer(source, adapter, { ...o, init: useEncoder ? 'encoder' : 'search' });
    // the switch drops the encoder; its last state stays in the checkpoint (predict-poses uses it)
    let switchedEncoder: EncoderState | null = null;
    if (adapter) trainer.onSwitch = () => { switchedEncoder = adapter.getEncoderState(); };
    // the stage schedule: another searchIterations/localIterations on resume would shift the stage of every epoch
    const sched = trainer.opts.init === 'search'
      ? { init: 'search', searchIterations: trainer.opts.searchIterations, localIterations: trainer.opts.localIterations }
      : { init: 'encoder', shiftWarmupEpochs: trainer.opts.shiftWarmupEpochs };
    const settings = { box: D, heads, seed, particles: source.n, ...sched };
    await job.open<Checkpoint>({
      settings,
      onOutdirReady: o.onOutdirReady,
      restore: (ck) => {
        if (ck.encoder && trainer.encoder && adapter) adapter.setEncoderState(ck.encoder);
        if (ck.trainer.stage === 'autodecode') switchedEncoder = ck.encoder;
        trainer.setState(ck.trainer);
        return trainer.epoch;
      },
    });
    const last = job.runEpochs<Checkpoint, EpochMetrics>({
      done: () => trainer.done,
      runEpoch: (clock) => {
        const st: EpochStats = trainer.trainEpoch(o.onProgress);
        const m: EpochMetrics = {
          epoch: st.epoch, stage: st.stage, loss: st.loss, epoch_s: st.seconds, wall_s: clock.wall(),
          head_usage: st.headUsage, pose_change_deg: st.poseChangeDeg, switched: st.switched,
        };
        if (gt) {
          const pe = poseError(Float64Array.from(trainer.poses.rot), gt.rots,
            Float64Array.from(trainer.poses.origin, (v) => v / scaleToWork), gt.origins);
          m.rot_median_deg = pe.rot_median_deg;
          m.shift_median_px = pe.shift_median_px;
        }
        if (gtMap) {
          // ab-initio maps live in an arbitrary frame and hand: align onto the ground truth first
          const al = alignMaps(gtMap, decoderMap(trainer), D, {});
          m.res05_px = fscReport(gtMap, al.aligned, D, source.apixAngstrom).res05_px;
        }
        return m;
      },
      state: () => ({ trainer: trainer.getState(), encoder: trainer.encoder && adapter ? adapter.getEncoderState() : switchedEncoder }),
      checkpointOptions: { input: o.input, ...settings, invert: o.invert ?? false, maskFraction: o.maskFraction ?? 0, batchSize: trainer.opts.batchSize },
      live: (m) => ({ epoch: m.epoch, map: decoderMap(trainer), D, apixAngstrom: source.apixAngstrom, rots: trainer.poses.rot }),
      onEpoch: o.onEpoch,
    });
    source.close();
    // Final outputs
    const res = writeOutputs(set, trainer, outdir, source.apixAngstrom, scaleToWork, seed);
    const result: ReconstructResult = { map: res.map, poses: res.poses, epochs: trainer.epoch, wall_s: job.clock.wall(), half_res0143_px: res.halfRes0143 };
    if (gtMap) {
      const al = alignMaps(gtMap, res.mapData, D, {});
      result.res05_px_vs_gt = fscReport(gtMap, al.aligned, D, source.apixAngstrom).res05_px;
    }
    if (last?.rot_median_deg !== undefined) result.rot_median_deg_vs_gt = last.rot_median_deg;
    writeFileAtomic(join(outdir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    job.finish();
    return result;
  } finally {
    source.close();
  }
}

/** A backprojection source over the particle set with the trainer's poses (working box). */
function refinedSource(set: ParticleSet, trainer: Pick<SemiAmortizedTrainer, 'poses'>, scaleToWork: number): BpSource & { close(): void } {
  const reader = new ParticleImageReader(set);
  return {
    boxPx: set.boxPx,
    apixAngstrom: set.apixAngstrom,
    count: set.particles.length,
    readChunk(start, count) {
      const images = reader.read({ start, count });
      const rots = new Float64Array(9 * count);
      const originsPx = new Float64Array(2 * count);
      for (let b = 0; b < count; b++) {
        for (let k = 0; k < 9; k++) rots[9 * b + k] = trainer.poses.rot[9 * (start + b) + k]!;
        originsPx[2 * b] = trainer.poses.origin[2 * (start + b)]! / scaleToWork;
        originsPx[2 * b + 1] = trainer.poses.origin[2 * (start + b) + 1]! / scaleToWork;
      }
      return { images, rots, originsPx, ctfs: set.particles.slice(start, start + count).map((p) => p.ctf) };
    },
    close() { reader.close(); },
  };
}

/** Final outputs of a run from its volume (trainer.grid) and poses (exported for the amortized job). */
export function writeOutputs(set: ParticleSet, trainer: Pick<SemiAmortizedTrainer, 'grid' | 'poses'>, outdir: string, apixWork: number, scaleToWork: number, seed: number) {
  const D = trainer.grid.D;
  const src = refinedSource(set, trainer, scaleToWork);
  const bp = backproject(src, { boxPx: D, halves: true, seed });
  src.close();
  const mapPath = join(outdir, 'map.mrc');
  writeMrc(mapPath, bp.map, { nx: D, ny: D, nz: D, apixAngstrom: apixWork });
  writeMrc(join(outdir, 'half1.mrc'), bp.half1!, { nx: D, ny: D, nz: D, apixAngstrom: apixWork });
  writeMrc(join(outdir, 'half2.mrc'), bp.half2!, { nx: D, ny: D, nz: D, apixAngstrom: apixWork });
  writeMrc(join(outdir, 'map_decoder.mrc'), decoderMap(trainer), { nx: D, ny: D, nz: D, apixAngstrom: apixWork });
  writeFileAtomic(join(outdir, 'fsc.json'), JSON.stringify(bp.halfFsc) + '\n');
  // poses in the input's pixel units
  const out: ParticleSet = {
    ...set,
    particles: set.particles.map((p, i) => {
      const R = trainer.poses.rot.subarray(9 * i, 9 * i + 9);
      const e = matrixToEuler(Float64Array.from(R));
      return { ...p, eulerDeg: [e[0], e[1], e[2]] as [number, number, number],
        originPx: [trainer.poses.origin[2 * i]! / scaleToWork, trainer.poses.origin[2 * i + 1]! / scaleToWork] as [number, number] };
    }),
  };
  const posesPath = join(outdir, 'poses.star');
  writeParticlesStar(posesPath, out);
  const n = set.particles.length;
  const t = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) { t[2 * i] = trainer.poses.origin[2 * i]! / D; t[2 * i + 1] = trainer.poses.origin[2 * i + 1]! / D; }
  writePosePkl(join(outdir, 'pose.pkl'), Float64Array.from(trainer.poses.rot), t);
  return { map: mapPath, poses: posesPath, mapData: bp.map, halfRes0143: bp.halfFsc?.res0143_px };
}
