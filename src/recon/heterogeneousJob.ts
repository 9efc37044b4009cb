/**
 * `cryospin reconstruct --mode heterogeneous` as a library call: load particles, run the
 * heterogeneous loop (heterogeneous.ts) epoch by epoch (metrics.jsonl line and checkpoint after
 * each), then write the outputs:
 *   z.npy (float32, N x zdim, input order), z.pkl (cryoDRGN: the same array pickled),
 *   decoder.json (the z-conditioned decoder, read by `analyze` and `eval-vol`),
 *   map.mrc (the decoder's volume at z = 0, the latent mean), poses.star (RELION 3.1), pose.pkl
 *   (cryoDRGN), checkpoint.json, metrics.jsonl, result.json.
 * With ground truth (gtPoses: a STAR with angles and _rlnClassNumber) each epoch also reports
 * the median rotation error and the accuracy of a 2..K-way k-means split of z.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eulerToMatrix, matrixToEuler } from '../core/rotation.js';
import { clusterAccuracy, kmeans, toRows } from '../eval/cluster.js';
import { poseError } from '../eval/poseError.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writePosePkl } from '../io/cryodrgnPkl.js';
import { InputError } from '../io/errors.js';
import { writeMrc } from '../io/mrc.js';
import { writeNpy } from '../io/npy.js';
import { loadParticles, type ParticleSet } from '../io/particles.js';
import { writeArraysPickle } from '../io/pickle.js';
import { writeParticlesStar } from '../io/relionStar.js';
import { createHetDecoder, hetVolumeMap, type HetDecoder } from '../model/hetDecoder.js';
import { initTfjs } from '../model/tfjsSetup.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { DiskSource } from './diskSource.js';
import { HeterogeneousTrainer, type HeterogeneousOptions, type HetTrainerState } from './heterogeneous.js';
import type { ProgressInfo } from './semiAmortized.js';

export interface HeterogeneousJobOptions extends Partial<HeterogeneousOptions> {
  input: string;
  outdir: string;
  box?: number;
  ctfPkl?: string;
  apixAngstrom?: number;
  invert?: boolean;
  maskFraction?: number;
  /** Start from these poses (a particle file with angles, e.g. a consensus refinement) instead of the pose search. */
  initPoses?: string;
  /** Ground truth: STAR with angles (and _rlnClassNumber for the split accuracy). */
  gtPoses?: string;
  resume?: boolean;
  allowOutside?: boolean;
  onProgress?: (p: ProgressInfo) => void;
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
}

/** What decoder.json holds: everything needed to generate a volume for any z. */
export interface DecoderFile {
  kind: 'linear-hartley';
  D: number;
  zdim: number;
  apixAngstrom: number;
  grids: Float32Array[];
}

interface HetCheckpoint { trainer: HetTrainerState; wall_s: number; options: Record<string, unknown> }

function readPoseFile(path: string, n: number, what: string): { rots: Float64Array; origins: Float64Array; classes: Int32Array | null } {
  const s = loadParticles(path, { checkStacks: false, allowOutside: true });
  if (s.particles.length !== n) throw new InputError(path, `has ${s.particles.length} particles, the input has ${n}`);
  const rots = new Float64Array(9 * n);
  const origins = new Float64Array(2 * n);
  const hasClass = s.particles.every((p) => p.classNumber !== undefined);
  const classes = hasClass ? new Int32Array(n) : null;
  s.particles.forEach((p, i) => {
    if (!p.eulerDeg) throw new InputError(path, `${what} particle has no angles`, { record: i });
    rots.set(eulerToMatrix(p.eulerDeg[0], p.eulerDeg[1], p.eulerDeg[2]), 9 * i);
    origins[2 * i] = p.originPx?.[0] ?? 0;
    origins[2 * i + 1] = p.originPx?.[1] ?? 0;
    if (classes) classes[i] = p.classNumber!;
  });
  return { rots, origins, classes };
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

export async function runHeterogeneousJob(o: HeterogeneousJobOptions): Promise<HeterogeneousResult> {
  const t0 = performance.now();
  const outdir = resolve(o.outdir);
  mkdirSync(outdir, { recursive: true });
  const set = loadParticles(o.input, { ctfPkl: o.ctfPkl, apixAngstrom: o.apixAngstrom, allowOutside: o.allowOutside });
  const source = new DiskSource(set, { box: o.box, invert: o.invert, maskFraction: o.maskFraction, seed: o.seed ?? 0 });
  const D = source.D;
  const n = source.n;
  const scaleToWork = D / set.boxPx;
  const gt = o.gtPoses ? readPoseFile(o.gtPoses, n, 'ground-truth') : null;
  const init = o.initPoses ? readPoseFile(o.initPoses, n, 'initial-pose') : null;
  await initTfjs('wasm'); // the consensus stage's pose search runs its GEMMs in tfjs
  const opts: Partial<HeterogeneousOptions> = { ...o };
  if (init) {
    // known poses: the consensus stage only fits the mean volume (2 volume-only passes)
    opts.consensusEpochs = o.consensusEpochs ?? 2;
    opts.consensus = { ...o.consensus, poseSteps: 0 };
  }
  const trainer = new HeterogeneousTrainer(source, opts);
  if (init) {
    trainer.consensus.stage = 'autodecode';
    trainer.poses.rot.set(Float32Array.from(init.rots));
    for (let i = 0; i < 2 * n; i++) trainer.poses.origin[i] = init.origins[i]! * scaleToWork;
  }
  const zdim = trainer.opts.zdim;
  const ckptPath = join(outdir, 'checkpoint.json');
  const metricsPath = join(outdir, 'metrics.jsonl');
  let wallBefore = 0;
  if (o.resume && existsSync(ckptPath)) {
    const ck = readCheckpoint<HetCheckpoint>(ckptPath);
    trainer.setState(ck.trainer);
    wallBefore = ck.wall_s;
  } else if (!o.resume) {
    writeFileSync(metricsPath, '');
  }
  const wall = (): number => wallBefore + (performance.now() - t0) / 1000;
  const nClasses = gt?.classes ? new Set(gt.classes).size : 0;
  let last: HetEpochMetrics | null = null;
  while (!trainer.done) {
    const st = trainer.trainEpoch(o.onProgress);
    const m: HetEpochMetrics = { epoch: st.epoch, stage: st.stage, loss: st.loss, epoch_s: st.seconds, wall_s: wall() };
    if (st.zStd.length) m.z_std = st.zStd;
    if (gt) {
      m.rot_median_deg = poseError(Float64Array.from(trainer.poses.rot), gt.rots).rot_median_deg;
      if (gt.classes && nClasses > 1 && st.stage === 'heterogeneous') {
        const km = kmeans(toRows(trainer.z, n, zdim), nClasses, o.seed ?? 0, 3);
        m.split_accuracy = clusterAccuracy(km.labels, gt.classes);
      }
    }
    appendFileSync(metricsPath, JSON.stringify(m) + '\n');
    writeCheckpoint(ckptPath, { trainer: trainer.getState(), wall_s: wall(), options: { input: o.input, box: D, zdim, seed: o.seed ?? 0 } });
    last = m;
    o.onEpoch?.(m);
  }
  source.close();
  trainer.dispose();
  const dec = trainer.decoder ?? createHetDecoder(D, zdim, trainer.consensus.grid.values);
  const out = writeHetOutputs(set, trainer, dec, outdir, source.apixAngstrom, scaleToWork);
  const result: HeterogeneousResult = { ...out, epochs: trainer.epoch, wall_s: wall(), zdim };
  if (last?.rot_median_deg !== undefined) result.rot_median_deg_vs_gt = last.rot_median_deg;
  if (last?.split_accuracy !== undefined) result.split_accuracy_vs_gt = last.split_accuracy;
  writeFileAtomic(join(outdir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

function writeHetOutputs(set: ParticleSet, trainer: HeterogeneousTrainer, dec: HetDecoder, outdir: string, apixWork: number, scaleToWork: number) {
  const D = dec.D;
  const n = set.particles.length;
  const zdim = dec.zdim;
  const zPath = join(outdir, 'z.npy');
  writeNpy(zPath, trainer.z, [n, zdim]);
  writeArraysPickle(join(outdir, 'z.pkl'), { data: trainer.z, shape: [n, zdim] });
  const decoderPath = join(outdir, 'decoder.json');
  writeDecoderFile(decoderPath, dec, apixWork);
  const mapPath = join(outdir, 'map.mrc');
  writeMrc(mapPath, hetVolumeMap(dec, new Float32Array(zdim)), { nx: D, ny: D, nz: D, apixAngstrom: apixWork });
  const pt = trainer.poses;
  const outSet: ParticleSet = {
    ...set,
    particles: set.particles.map((p, i) => {
      const e = matrixToEuler(Float64Array.from(pt.rot.subarray(9 * i, 9 * i + 9)));
      const q = { ...p, eulerDeg: [e[0], e[1], e[2]] as [number, number, number],
        originPx: [pt.origin[2 * i]! / scaleToWork, pt.origin[2 * i + 1]! / scaleToWork] as [number, number] };
      delete q.classNumber; // the input's classes are not ours to repeat
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
