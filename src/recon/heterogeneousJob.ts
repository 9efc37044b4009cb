/**
 * `cryospin reconstruct --mode heterogeneous` as a library call: load particles, run the
 * heterogeneous loop (heterogeneous.ts) epoch by epoch (metrics.jsonl line and checkpoint after
 * each), then write the outputs:
 *   z.npy (float32, N x zdim, input order), z.pkl (cryoDRGN: the same array pickled),
 *   decoder.json (the z-conditioned decoder, linear grids or the coordinate network; read by
 *   `analyze` and `eval-vol`, hetDecoderFile.ts),
 *   map.mrc (the decoder's volume at z = 0, the latent mean), poses.star (RELION 3.1), pose.pkl
 *   (cryoDRGN), checkpoint.json, metrics.jsonl, result.json.
 * With ground truth (gtPoses: a STAR with angles and _rlnClassNumber) each epoch also reports
 * the median rotation error and the accuracy of a 2..K-way k-means split of z.
 * The output folder, resume (refused for other settings), metrics log and live snapshots (the
 * volume at z = 0) are the shared job runner's (jobRunner.ts).
 */
import { join } from 'node:path';
import { matrixToEuler } from '../core/rotation.js';
import { clusterAccuracy, kmeans, toRows } from '../eval/cluster.js';
import { poseError } from '../eval/poseError.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writePosePkl } from '../io/cryodrgnPkl.js';
import { InputError } from '../io/errors.js';
import { writeMrc } from '../io/mrc.js';
import { writeNpy } from '../io/npy.js';
import type { ParticleSet } from '../io/particles.js';
import { writeArraysPickle } from '../io/pickle.js';
import { writeParticlesStar } from '../io/relionStar.js';
import type { HetDecoder } from '../model/hetDecoder.js';
import type { HetMlpDecoder } from '../model/hetMlpDecoder.js';
import { writeDecoderFile } from './hetDecoderFile.js';
import { initTfjs } from '../model/tfjsSetup.js';
import { HeterogeneousTrainer, type ClassStageSummary, type HeterogeneousOptions, type HetTrainerState } from './heterogeneous.js';
export { readDecoderFile, writeDecoderFile, type DecoderFile } from './hetDecoderFile.js';
import { JobRunner, loadJobInput, readPoseFile, type CheckpointEnvelope, type JobBaseOptions } from './jobRunner.js';

export interface HeterogeneousJobOptions extends Partial<HeterogeneousOptions>, JobBaseOptions {
  /** Start from these poses (a particle file with angles, e.g. a consensus refinement) instead of the pose search. */
  initPoses?: string;
  /** Ground truth: STAR with angles (and _rlnClassNumber for the split accuracy). */
  gtPoses?: string;
  onEpoch?: (m: HetEpochMetrics) => void;
}

export interface HetEpochMetrics {
  epoch: number;
  stage: string;
  loss: number;
  epoch_s: number;
  wall_s: number;
  z_std?: number[];
  rot_median_deg?: number;
  /** Accuracy of a k-means split of z into as many clusters as ground-truth classes. */
  split_accuracy?: number;
}

export interface HeterogeneousResult {
  z: string;
  poses: string;
  decoder: string;
  map: string;
  epochs: number;
  wall_s: number;
  zdim: number;
  rot_median_deg_vs_gt?: number;
  split_accuracy_vs_gt?: number;
  /** What the class stage found (classes >= 2). */
  classes?: ClassStageSummary;
}

interface HetCheckpoint extends CheckpointEnvelope { trainer: HetTrainerState }

export async function runHeterogeneousJob(o: HeterogeneousJobOptions): Promise<HeterogeneousResult> {
  const job = new JobRunner(o.outdir, 'heterogeneous', o.resume ?? false);
  const outdir = job.outdir;
  const seed = o.seed ?? 0;
  const { set, source, D, scaleToWork } = loadJobInput(o, seed);
  const n = source.n;
  try {
    const gt = o.gtPoses ? readPoseFile(o.gtPoses, n, 'ground-truth') : null;
    const init = o.initPoses ? readPoseFile(o.initPoses, n, 'initial-pose') : null;
    await initTfjs('wasm'); // the consensus stage's pose search runs its GEMMs in tfjs
    const opts: Partial<HeterogeneousOptions> = { log: (msg: string) => process.stderr.write(`${msg}\n`), ...o };
    if (init) {
      // known poses: the consensus stage only fits the mean volume (2 volume-only passes)
      opts.consensusEpochs = o.consensusEpochs ?? 2;
      opts.consensus = { ...o.consensus, poseSteps: 0 };
    }
    const trainer = new HeterogeneousTrainer(source, opts);
    try {
      if (init) {
        trainer.consensus.stage = 'autodecode';
        trainer.poses.rot.set(Float32Array.from(init.rots));
        for (let i = 0; i < 2 * n; i++) trainer.poses.origin[i] = init.origins[i]! * scaleToWork;
      }
      const zdim = trainer.opts.zdim;
      const c = trainer.consensus.opts;
      // the consensus stage's schedule as resolved (a resume with another one would shift every later epoch's stage)
      const settings: Record<string, unknown> = { box: D, zdim, seed, particles: n, hetDecoder: trainer.opts.hetDecoder, zSource: trainer.opts.zSource, zWarmupEpochs: trainer.warmupEpochs,
        consensusEpochs: trainer.opts.consensusEpochs, consensusSearchIterations: c.searchIterations, consensusLocalIterations: c.localIterations,
        consensusSearchSubset: c.searchSubset, consensusAutodecodeVolume: c.autodecodeVolume, hetRefit: trainer.opts.hetRefit, classes: trainer.opts.classes };
      await job.open<HetCheckpoint>({
        settings,
        onOutdirReady: o.onOutdirReady,
        restore: (ck) => { trainer.setState(ck.trainer); return trainer.epoch; },
      });
      const nClasses = gt?.classes ? new Set(gt.classes).size : 0;
      const last = job.runEpochs<HetCheckpoint, HetEpochMetrics>({
        done: () => trainer.done,
        runEpoch: (clock) => {
          const st = trainer.trainEpoch(o.onProgress);
          const m: HetEpochMetrics = { epoch: st.epoch, stage: st.stage, loss: st.loss, epoch_s: st.seconds, wall_s: clock.wall() };
          if (st.zStd.length) m.z_std = st.zStd;
          if (gt) {
            m.rot_median_deg = poseError(Float64Array.from(trainer.poses.rot), gt.rots).rot_median_deg;
            if (gt.classes && trainer.classOf && st.stage === 'classes') m.split_accuracy = clusterAccuracy(trainer.classOf, gt.classes);
            if (gt.classes && nClasses > 1 && st.stage === 'heterogeneous') {
              const km = kmeans(toRows(trainer.z, n, zdim), nClasses, seed, 3);
              m.split_accuracy = clusterAccuracy(km.labels, gt.classes);
            }
          }
          return m;
        },
        state: () => ({ trainer: trainer.getState() }),
        checkpointOptions: { input: o.input, ...settings },
        // the dashboard's map: the volume at z = 0 (the latent mean; the consensus volume before the heterogeneous stage)
        live: (m) => ({ epoch: m.epoch, map: trainer.volumeMap(new Float32Array(zdim)), D, apixAngstrom: source.apixAngstrom, rots: trainer.poses.rot }),
        onEpoch: o.onEpoch,
      });
      source.close();
      const dec = trainer.outputDecoder(); // the coordinate network (het-mlp) or the grids
      const out = writeHetOutputs(set, trainer, dec, outdir, source.apixAngstrom, scaleToWork);
      const result: HeterogeneousResult = { ...out, epochs: trainer.epoch, wall_s: job.clock.wall(), zdim };
      if (trainer.classSummary) result.classes = trainer.classSummary;
      if (last?.rot_median_deg !== undefined) result.rot_median_deg_vs_gt = last.rot_median_deg;
      if (last?.split_accuracy !== undefined) result.split_accuracy_vs_gt = last.split_accuracy;
      writeFileAtomic(join(outdir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
      job.finish();
      return result;
    } finally {
      trainer.dispose();
    }
  } finally {
    source.close();
  }
}

function writeHetOutputs(set: ParticleSet, trainer: HeterogeneousTrainer, dec: HetDecoder | HetMlpDecoder, outdir: string, apixWork: number, scaleToWork: number) {
  const D = dec.D;
  const n = set.particles.length;
  const zdim = dec.zdim;
  const zPath = join(outdir, 'z.npy');
  writeNpy(zPath, trainer.z, [n, zdim]);
  writeArraysPickle(join(outdir, 'z.pkl'), { data: trainer.z, shape: [n, zdim] });
  const decoderPath = join(outdir, 'decoder.json');
  writeDecoderFile(decoderPath, dec, apixWork);
  const mapPath = join(outdir, 'map.mrc');
  writeMrc(mapPath, trainer.volumeMap(new Float32Array(zdim)), { nx: D, ny: D, nz: D, apixAngstrom: apixWork }); // whichever decoder the run used
  const pt = trainer.poses;
  const outSet: ParticleSet = {
    ...set,
    particles: set.particles.map((p, i) => {
      const e = matrixToEuler(Float64Array.from(pt.rot.subarray(9 * i, 9 * i + 9)));
      const q = { ...p, eulerDeg: [e[0], e[1], e[2]] as [number, number, number],
        originPx: [pt.origin[2 * i]! / scaleToWork, pt.origin[2 * i + 1]! / scaleToWork] as [number, number] };
      delete q.classNumber; // the input's classes are not ours to repeat; the class stage's are (1-based)
      if (trainer.classOf) q.classNumber = trainer.classOf[i]! + 1;
      return q;
    }),
  };
  const posesPath = join(outdir, 'poses.star');
  writeParticlesStar(posesPath, outSet);
  const t = new Float64Array(2 * n);
  for (let i = 0; i < 2 * n; i++) t[i] = pt.origin[i]! / D;
  writePosePkl(join(outdir, 'pose.pkl'), Float64Array.from(pt.rot), t);
  return { z: zPath, poses: posesPath, decoder: decoderPath, map: mapPath };
}
