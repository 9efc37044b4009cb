/**
 * Benchmark B3 (heterogeneity): a 50/50 mixture of adenylate kinase closed (1AKE:A) and open
 * (4AKE:A, superposed onto 1AKE:A by C-alpha atoms), box 64, 2.233 A/px, SNR 0.1, CTF 300 kV /
 * Cs 2.7 / w 0.1, defocus 1.0-2.5 um, shifts +-3 px, seed 0 (../shared/docs/README.md).
 * One command: simulate (cached per N in --work), `reconstruct --mode heterogeneous` from no
 * poses, then measure
 *   - split accuracy: k-means (k = 2) on z vs the true state (_rlnClassNumber); also a split at
 *     the largest gap-free 2-means along PC1 alone;
 *   - per state: FSC(0.5) vs its ground truth of the decoder's map at the cluster centre (after
 *     alignment incl. hand), and of the CTF-corrected backprojection of that cluster's particles
 *     with our poses, next to the reference: known-pose, known-state backprojection;
 *   - median rotation error (global alignment incl. hand).
 * Targets (issue 6): split >= 95%, decoded map within 0.5 px of the reference, median <= 3 deg.
 * Ab initio runs add the class stage (heterogeneous.ts, --classes 2 by default): the states separated by a
 * multi-class search, the class the consensus did not fit gets its own ab initio, aligned into the
 * consensus frame; the report gives each step's rotation error per state.
 * Usage: node --import tsx bench/b3.ts [--n 20000] [--zdim 8] [--het-epochs 6] [--consensus-epochs 18] [--threads 2] [--work /tmp/cryospin-b3] [--known-poses] [--reuse]
 *        [--classes 2] [--resume]
 *        [--het-decoder linear|mlp] [--z-source autodecode|encoder] [--mlp-hidden 32] [--mlp-features 24]
 * Writes bench/results/b3.json and bench/results/b3.md (b3.known-poses.* with --known-poses, which
 * starts the heterogeneous stage from the true poses: z and the decoder measured alone); a
 * variant other than linear + autodecode adds `.<decoder>-<zsource>` to the names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { eulerToMatrix } from '../src/core/rotation.js';
import { runSimulate } from '../src/cli/commands/simulate.js';
import { alignMaps } from '../src/eval/align.js';
import { poseError } from '../src/eval/poseError.js';
import { clusterAccuracy, kmeans, pca, toRows } from '../src/eval/cluster.js';
import { backprojectSubset } from '../src/eval/clusterMaps.js';
import { fscReport } from '../src/eval/fsc.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { readMrc } from '../src/io/mrc.js';
import { readNpyFloat64 } from '../src/io/npy.js';
import { loadParticles, type ParticleSet } from '../src/io/particles.js';
import { hetVolumeMap } from '../src/model/hetDecoder.js';
import { hetMlpFromState, type HetMlpState } from '../src/model/hetMlpDecoder.js';
import { initTfjs } from '../src/model/tfjsSetup.js';
import { readCheckpoint } from '../src/recon/checkpoint.js';
import { readDecoderFile, runHeterogeneousJob, type HeterogeneousResult } from '../src/recon/heterogeneousJob.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}
const N = Number(arg('--n', '20000'));
const zdim = Number(arg('--zdim', '8'));
const hetEpochs = Number(arg('--het-epochs', '6'));
const consensusEpochs = Number(arg('--consensus-epochs', '18'));
/** Slice-kernel worker threads of the consensus stage (semi-amortized: results differ in float32 rounding only). */
const threads = Number(arg('--threads', '2'));
/**
 * The consensus stage's settings: those of benchmark B1 (bench/b1.ts) — 14 search iterations on a
 * 4000-particle subset with the Fourier radius rising 3 -> 10 px, 2 local refinement passes out to
 * 20 px, then auto-decoding with the Wiener volume. The stage count follows --consensus-epochs.
 */
const CONSENSUS = {
  searchIterations: 14, searchRadiusStartPx: 3, searchRadiusEndPx: 10, searchShiftRangePx: 3, searchSubset: 4000,
  localIterations: 2, localResearch: true, localRadiusStartPx: 12, localRadiusEndPx: 20, localRotStepDeg: 6, localShiftStepPx: 1,
  lrPose: 0.01, autodecodeVolume: 'wiener' as const, threads,
};
const work = resolve(arg('--work', '/tmp/cryospin-b3'));
/** Start the heterogeneous stage from the true poses (measures z and the decoder alone). */
const knownPoses = process.argv.includes('--known-poses');
const hetDecoder = arg('--het-decoder', 'linear') as 'linear' | 'mlp';
const zSource = arg('--z-source', 'autodecode') as 'autodecode' | 'encoder';
const mlpOpts = { hidden: Number(arg('--mlp-hidden', '32')), nFeatures: Number(arg('--mlp-features', '24')), learningRate: Number(arg('--mlp-lr', '0.005')) };
const variant = hetDecoder === 'linear' && zSource === 'autodecode' ? '' : `${hetDecoder}-${zSource}`;
const DATA = resolve('../shared/data/atomic_models_adk_and_misc');
/** Classes of the class stage between the consensus and the heterogeneous stage (heterogeneous.ts; 0 = none). */
const classes = Number(arg('--classes', knownPoses ? '0' : '2'));
/** Resume the run in the output folder (e.g. from a finished consensus stage with the same settings). */
const resume = process.argv.includes('--resume');

/** Median rotation error of the particles idx (own global alignment) and with a shared alignment Q (common). */
function stateErrors(rot: ArrayLike<number>, gt: Float64Array, cls: Int32Array): { own: number[]; common: number[]; all: number } {
  const n = cls.length;
  const P = Float64Array.from(rot);
  const allRes = poseError(P, gt);
  const own: number[] = [], common: number[] = [];
  for (const k of [1, 2]) {
    const idx = [...Array(n).keys()].filter((i) => cls[i] === k);
    const Pk = new Float64Array(9 * idx.length), Gk = new Float64Array(9 * idx.length);
    idx.forEach((i, j) => { Pk.set(P.subarray(9 * i, 9 * i + 9), 9 * j); Gk.set(gt.subarray(9 * i, 9 * i + 9), 9 * j); });
    own.push(poseError(Pk, Gk).rot_median_deg);
    const e = idx.map((i) => allRes.perParticleDeg[i]!).sort((a, b) => a - b);
    common.push(e[Math.floor(e.length / 2)]!);
  }
  return { own, common, all: allRes.rot_median_deg };
}

function posesOf(set: ParticleSet): { rots: Float64Array; origins: Float64Array } {
  const n = set.particles.length;
  const rots = new Float64Array(9 * n), origins = new Float64Array(2 * n);
  set.particles.forEach((p, i) => {
    rots.set(eulerToMatrix(p.eulerDeg![0], p.eulerDeg![1], p.eulerDeg![2]), 9 * i);
    origins[2 * i] = p.originPx?.[0] ?? 0; origins[2 * i + 1] = p.originPx?.[1] ?? 0;
  });
  return { rots, origins };
}

/** Mean FSC over the outer half of the shells (curve entries [shell, value], shells 1..D/2). */
function outerMean(curve: Array<[number, number]>): number {
  const outer = curve.filter(([k]) => k > curve.length / 2);
  return outer.reduce((a, [, v]) => a + v, 0) / Math.max(1, outer.length);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const simDir = join(work, `sim_n${N}`);
  if (!existsSync(join(simDir, 'simulation.json'))) {
    runSimulate({
      model: [join(DATA, '1akeA.pdb'), join(DATA, '4ake_mdanalysis.pdb') + ':A'], superpose: true, proteinOnly: true, fractions: [0.5, 0.5],
      out: simDir, box: 64, apix: 2.233, n: N, snr: 0.1, shiftPx: 3, defocus: [1.0, 2.5], astigmatism: 0,
      voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: 500, quiet: true,
    });
  }
  const simS = (performance.now() - t0) / 1000;
  const star = join(simDir, 'particles.star');
  const outdir = join(work, `out_n${N}_z${zdim}${knownPoses ? '_known' : ''}${variant ? `_${variant}` : ''}`);
  // --reuse: evaluate an existing run (its result.json) instead of training again
  const reuse = process.argv.includes('--reuse') && existsSync(join(outdir, 'result.json'));
  const truthCls = Int32Array.from(loadParticles(star, { checkStacks: false }).particles, (p) => p.classNumber!);
  const gtRot = posesOf(loadParticles(star, { checkStacks: false })).rots;
  const classSteps: Array<{ step: string; own: number[]; common: number[]; all: number }> = [];
  const r: HeterogeneousResult = reuse ? JSON.parse(readFileSync(join(outdir, 'result.json'), 'utf8')) as HeterogeneousResult : await runHeterogeneousJob({
    input: star, outdir, zdim, consensusEpochs: knownPoses ? 4 : consensusEpochs, hetEpochs, seed: 0, gtPoses: star,
    initPoses: knownPoses ? star : undefined, hetDecoder, zSource, mlp: mlpOpts,
    consensus: knownPoses ? { threads } : CONSENSUS, classes, resume,
    onClassStep: (step, v) => {
      const e = stateErrors(v.rot, gtRot, truthCls);
      classSteps.push({ step, ...e });
      process.stderr.write(`b3: class stage ${step}: median rotation error closed/open own ${e.own.map((x) => x.toFixed(1)).join('/')}, common ${e.common.map((x) => x.toFixed(1)).join('/')}, all ${e.all.toFixed(1)} deg\n`);
    },
    onEpoch: (m) => process.stderr.write(`b3: ${JSON.stringify(m)}\n`),
  });
  // the class stage's per-step pose errors are only seen during training: keep them beside the run for --reuse
  const stepsFile = join(outdir, 'b3_class_steps.json');
  if (!reuse && classSteps.length) writeFileAtomic(stepsFile, JSON.stringify(classSteps) + '\n');
  if (reuse && existsSync(stepsFile)) classSteps.push(...(JSON.parse(readFileSync(stepsFile, 'utf8')) as typeof classSteps));
  const set = loadParticles(star);
  const truth = Int32Array.from(set.particles, (p) => p.classNumber!);
  const z = readNpyFloat64(join(outdir, 'z.npy'), 2);
  const rows = toRows(z.data, N, zdim);
  const km = kmeans(rows, 2, 0, 10);
  const acc = clusterAccuracy(km.labels, truth);
  const pc = pca(rows, Math.min(2, zdim));
  const km1 = kmeans(pc.projections.map((p) => [p[0]!]), 2, 0, 10);
  const accPc1 = clusterAccuracy(km1.labels, truth);
  const { decoder } = readDecoderFile(join(outdir, 'decoder.json'));
  // the coordinate network is in the checkpoint (decoder.json holds its base volume only)
  await initTfjs('wasm');
  const mlpState = hetDecoder === 'mlp' ? readCheckpoint<{ trainer: { mlp?: HetMlpState | null } }>(join(outdir, 'checkpoint.json')).trainer.mlp : null;
  const mlp = mlpState ? hetMlpFromState(mlpState) : null;
  const metrics = readFileSync(join(outdir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { stage: string; epoch_s: number; split_accuracy?: number });
  const hetEpochS = metrics.filter((m) => m.stage === 'heterogeneous').map((m) => m.epoch_s);
  const splitPerEpoch = metrics.filter((m) => m.stage === 'heterogeneous').map((m) => m.split_accuracy ?? null);
  const gtPoses = posesOf(set);
  const ours = posesOf(loadParticles(join(outdir, 'poses.star'), { checkStacks: false, allowOutside: true }));
  const states = [];
  for (let k = 1; k <= 2; k++) {
    const gt = readMrc(join(simDir, `gt_class${k}.mrc`)).data;
    const members = [...truth.keys()].filter((i) => truth[i] === k);
    // the cluster holding most of state k
    const c = [0, 1].map((c) => members.filter((i) => km.labels[i] === c).length);
    const cl = c[0]! >= c[1]! ? 0 : 1;
    const clusterIdx = [...km.labels.keys()].filter((i) => km.labels[i] === cl);
    const decoded = mlp ? mlp.volumeMap(km.centroids[cl]!) : hetVolumeMap(decoder, km.centroids[cl]!);
    const fDecoded = fscReport(gt, alignMaps(gt, decoded, 64, {}).aligned, 64, set.apixAngstrom);
    const bpOurs = backprojectSubset(set, clusterIdx, { rots: ours.rots, originsPx: ours.origins });
    const fBp = fscReport(gt, alignMaps(gt, bpOurs, 64, {}).aligned, 64, set.apixAngstrom);
    const ref = backprojectSubset(set, members, { rots: gtPoses.rots, originsPx: gtPoses.origins });
    const fRef = fscReport(gt, ref, 64, set.apixAngstrom);
    const resDecoded = fDecoded.res05_px, resBp = fBp.res05_px, resRef = fRef.res05_px;
    states.push({ state: k, particles: members.length, cluster: cl, cluster_size: clusterIdx.length,
      res05_px_decoded: resDecoded, res05_px_cluster_backprojection: resBp, res05_px_known_pose_known_state: resRef,
      decoded_gap_px: resDecoded - resRef, target_met: resDecoded - resRef <= 0.5,
      // FSC(0.5) saturates at Nyquist (2 px) when the maps agree to the edge: the mean FSC over the
      // outer half of the shells still tells the maps apart
      fsc_mean_outer_decoded: outerMean(fDecoded.curve), fsc_mean_outer_cluster_backprojection: outerMean(fBp.curve),
      fsc_mean_outer_known_pose_known_state: outerMean(fRef.curve) });
  }
  const sim = JSON.parse(readFileSync(join(simDir, 'simulation.json'), 'utf8')) as { classCounts: number[] };
  const out = {
    benchmark: 'B3', poses: knownPoses ? 'known (true poses given; consensus = 4 volume-only passes)' : `ab initio (pose search + auto-decoding${classes >= 2 ? `, then a ${classes}-class stage` : ''})`, n: N, zdim,
    het_decoder: hetDecoder, z_source: zSource, mlp: hetDecoder === 'mlp' ? mlpOpts : null,
    het_epoch_s: hetEpochS, split_accuracy_per_epoch: splitPerEpoch,
    consensus_epochs: knownPoses ? 4 : consensusEpochs, consensus_settings: knownPoses ? { threads } : CONSENSUS, het_epochs: hetEpochs, box: 64, snr: 0.1,
    class_counts: sim.classCounts,
    split_accuracy_kmeans_z: acc, split_accuracy_kmeans_pc1: accPc1, pca_explained_variance: pc.explainedVariance,
    rot_median_deg: r.rot_median_deg_vs_gt ?? null, states,
    classes, class_stage: r.classes ?? null, class_stage_pose_errors: classSteps,
    rot_median_deg_per_state_common: stateErrors(ours.rots, gtPoses.rots, truth).common,
    targets: { split_accuracy: acc >= 0.95, rot_median_deg: (r.rot_median_deg_vs_gt ?? 99) <= 3, fsc_within_0_5px: states.every((s) => s.target_met) },
    reconstruct_s: r.wall_s, simulate_s: simS, total_s: (performance.now() - t0) / 1000,
    machine: { cpus: cpus().length, loadavg_start_end: loadavg() },
    date: new Date().toISOString(),
  };
  const stem = (knownPoses ? 'bench/results/b3.known-poses' : 'bench/results/b3') + (variant ? `.${variant}` : '');
  writeFileAtomic(`${stem}.json`, JSON.stringify(out, null, 2) + '\n');
  const f = (x: number | null) => (x === null ? '-' : x.toFixed(2));
  const md = [
    `# B3 heterogeneity benchmark, ${knownPoses ? 'known poses' : 'ab initio'}, decoder ${hetDecoder}${hetDecoder === 'mlp' ? ` (hidden ${mlpOpts.hidden}, ${mlpOpts.nFeatures} Fourier features)` : ''}, z ${zSource} (${out.date})`, '',
    `N = ${N} (classes ${sim.classCounts.join(' / ')}), box 64, SNR 0.1, zdim ${zdim}, ${knownPoses ? '4 volume-only' : consensusEpochs} consensus + ${hetEpochs} heterogeneous epochs; `
      + `reconstruct ${r.wall_s.toFixed(0)} s on ${out.machine.cpus} shared cores (load ${loadavg()[0]!.toFixed(1)}).`, '',
    '| measure | value | target |', '|---|---|---|',
    `| 2-way split accuracy (k-means on z) | ${(100 * acc).toFixed(1)}% | >= 95% |`,
    `| 2-way split accuracy (k-means on PC1) | ${(100 * accPc1).toFixed(1)}% | - |`,
    `| split accuracy after each heterogeneous epoch | ${splitPerEpoch.map((a) => (a === null ? '-' : `${(100 * a).toFixed(1)}%`)).join(', ')} | - |`,
    `| seconds per heterogeneous epoch | ${hetEpochS.map((x) => x.toFixed(0)).join(', ')} | - |`,
    `| median rotation error | ${f(out.rot_median_deg)} deg | <= 3 deg |`,
    `| median rotation error per state (closed / open; same global alignment) | ${out.rot_median_deg_per_state_common.map((x) => x.toFixed(2)).join(' / ')} deg | - |`,
    ...states.map((s) => `| state ${s.state}: FSC0.5 decoded map / cluster backprojection / known-pose known-state | ${f(s.res05_px_decoded)} / ${f(s.res05_px_cluster_backprojection)} / ${f(s.res05_px_known_pose_known_state)} px | decoded within 0.5 px of reference |`),
    ...states.map((s) => `| state ${s.state}: mean FSC over shells 17-32 (outer half), decoded / cluster backprojection / known-pose known-state | ${s.fsc_mean_outer_decoded.toFixed(3)} / ${s.fsc_mean_outer_cluster_backprojection.toFixed(3)} / ${s.fsc_mean_outer_known_pose_known_state.toFixed(3)} | - |`),
    ...(r.classes ? ['', `Class stage (${classes} classes, ${r.classes.seconds.toFixed(0)} s): sizes ${r.classes.classSizes.join(' / ')}; class ${r.classes.anchor + 1} kept the consensus frame `
      + `(median pose change from the consensus per class ${r.classes.consensusPoseChangeDeg.map((c) => c.toFixed(1)).join(', ')} deg; class-map correlations with the consensus ${r.classes.consensusCorrelation.map((c) => c.toFixed(3)).join(', ')}); `
      // ClassAlignment.step names the alignment (runs before it existed: a class's first entry is its ab-initio alignment)
      + r.classes.alignments.map((a, i, all) => ((a.step ? a.step === 'abinitio' : all.findIndex((b) => b.class === a.class) === i)
        ? `class ${a.class + 1}'s own ab-initio map aligned onto it by ${a.rotationDeg.toFixed(1)} deg`
        : `class ${a.class + 1}'s refined map re-aligned onto it by ${a.rotationDeg.toFixed(2)} deg`) + `${a.mirrored ? ' (mirrored)' : ''}, correlation ${a.correlation.toFixed(3)}`).join('; ') + '.',
      '', '| class-stage step | median rotation error, closed / open (own alignment) | same, one alignment for all | all particles |', '|---|---|---|---|',
      ...classSteps.map((c) => `| ${c.step} | ${c.own.map((x) => x.toFixed(1)).join(' / ')} | ${c.common.map((x) => x.toFixed(1)).join(' / ')} | ${c.all.toFixed(1)} |`)] : []),
    '', `Consensus settings: \`${JSON.stringify(out.consensus_settings)}\`. Command: \`node --import tsx bench/b3.ts ${process.argv.slice(2).join(' ')}\`.`,
    '', 'FSC(0.5) in pixels (box/shell, first crossing); ab-initio maps aligned to the ground truth (incl. hand) first.', '',
  ].join('\n');
  writeFileAtomic(`${stem}.md`, md);
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
