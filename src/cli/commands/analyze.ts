/**
 * `cryospin analyze OUTDIR`: the latent space of a heterogeneous run (z.npy + decoder.json):
 * PCA of z, k-means (default k = 10) with a volume generated at each cluster centre, volumes
 * along the principal components (traversal between the 5th and 95th percentile of the
 * projections, through the mean), and PNGs of the latent space (PC1 x PC2) coloured by cluster
 * and, with --gt-labels, by the ground-truth label (_rlnClassNumber of a STAR file), whose
 * agreement with the clusters is then reported.
 * With --backproject, each cluster is also reconstructed from its particles with the run's poses
 * (CTF-corrected backprojection; sharper than the decoded map when the decoder is under-trained).
 * Writes into OUTDIR/analyze (or -o): analysis.json, kmeans_labels.npy (int32, input order),
 * cluster{c}.mrc, [cluster{c}_backprojected.mrc], pc{p}_{j}.mrc, latent_kmeans.png, latent_gt.png.
 * Either decoder kind of decoder.json (hetDecoderFile.ts: linear grids or the coordinate network).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { clusterAccuracy, kmeans, pca, toRows } from '../../eval/cluster.js';
import { backprojectSubset } from '../../eval/clusterMaps.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { InputError } from '../../io/errors.js';
import { writeMrc } from '../../io/mrc.js';
import { readNpyFloat64, writeNpy } from '../../io/npy.js';
import { loadParticles } from '../../io/particles.js';
import { hetVolumeMap } from '../../model/hetDecoder.js';
import { readDecoderFile } from '../../recon/hetDecoderFile.js';
import { scatterPlotSvg, svgToPng } from '../../report/plot.js';

export interface AnalyzeOptions {
  outdir: string;
  /** Output folder (default OUTDIR/analyze). */
  out?: string;
  k: number;
  /** Principal components to traverse. */
  pcs: number;
  /** Volumes per traversal. */
  pcSteps: number;
  /** STAR file with _rlnClassNumber per particle (same order as the run's input). */
  gtLabels?: string;
  seed: number;
  /** Skip writing volumes (latent-space statistics and plots only). */
  noVolumes?: boolean;
  /** Also reconstruct each cluster by backprojecting its particles with the run's poses (OUTDIR/poses.star). */
  backproject?: boolean;
}

export interface AnalyzeResult {
  out: string;
  n: number;
  zdim: number;
  k: number;
  explainedVariance: number[];
  clusterSizes: number[];
  volumes: string[];
  plots: string[];
  /** With --gt-labels: accuracy of a k-means split into as many clusters as true labels, and of the k clusters. */
  gtSplitAccuracy?: number;
}

function percentile(sorted: number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

export function runAnalyze(o: AnalyzeOptions): AnalyzeResult {
  const dir = resolve(o.outdir);
  const out = resolve(o.out ?? join(dir, 'analyze'));
  const zFile = join(dir, 'z.npy');
  const z = readNpyFloat64(zFile, 2);
  const [n, zdim] = z.shape as [number, number];
  const { decoder, apixAngstrom } = readDecoderFile(join(dir, 'decoder.json'));
  if (decoder.zdim !== zdim) throw new InputError(zFile, `has ${zdim} columns, the decoder expects zdim ${decoder.zdim}`);
  if (!(o.k >= 1) || o.k > n) throw new InputError(zFile, `--k ${o.k} needs 1 <= k <= ${n} particles`);
  mkdirSync(out, { recursive: true });
  const rows = toRows(z.data, n, zdim);
  const p = pca(rows, zdim);
  const km = kmeans(rows, o.k, o.seed);
  writeNpy(join(out, 'kmeans_labels.npy'), km.labels, [n]);
  const sizes = new Array<number>(o.k).fill(0);
  for (const l of km.labels) sizes[l]! += 1;
  const D = decoder.D;
  const mrcOpts = { nx: D, ny: D, nz: D, apixAngstrom };
  const volumes: string[] = [];
  if (!o.noVolumes) {
    km.centroids.forEach((c, ci) => {
      const f = join(out, `cluster${ci}.mrc`);
      writeMrc(f, hetVolumeMap(decoder, c), mrcOpts);
      volumes.push(f);
    });
  }
  if (o.backproject && !o.noVolumes) {
    const set = loadParticles(join(dir, 'poses.star'), { allowOutside: true });
    if (set.particles.length !== n) throw new InputError(join(dir, 'poses.star'), `has ${set.particles.length} particles, z has ${n}`);
    for (let ci = 0; ci < o.k; ci++) {
      const idx: number[] = [];
      km.labels.forEach((l, i) => { if (l === ci) idx.push(i); });
      if (idx.length === 0) continue;
      const f = join(out, `cluster${ci}_backprojected.mrc`);
      writeMrc(f, backprojectSubset(set, idx, { boxPx: D }), mrcOpts);
      volumes.push(f);
    }
  }
  const traversals: { pc: number; coords: number[] }[] = [];
  for (let pc = 0; pc < Math.min(o.pcs, zdim); pc++) {
    const proj = p.projections.map((r) => r[pc]!).sort((a, b) => a - b);
    const lo = percentile(proj, 0.05), hi = percentile(proj, 0.95);
    const coords: number[] = [];
    for (let j = 0; j < o.pcSteps; j++) {
      const t = o.pcSteps === 1 ? 0 : lo + ((hi - lo) * j) / (o.pcSteps - 1);
      coords.push(t);
      if (o.noVolumes) continue;
      const zz = p.mean.map((m, d) => m + t * p.components[pc]![d]!);
      const f = join(out, `pc${pc + 1}_${j}.mrc`);
      writeMrc(f, hetVolumeMap(decoder, zz), mrcOpts);
      volumes.push(f);
    }
    traversals.push({ pc: pc + 1, coords });
  }
  // latent-space plots
  const xy = p.projections.map((r) => [r[0]!, zdim > 1 ? r[1]! : 0] as [number, number]);
  const plots: string[] = [];
  const plot = (file: string, title: string, group: (i: number) => string): void => {
    const svg = scatterPlotSvg({ title, xLabel: 'PC1', yLabel: zdim > 1 ? 'PC2' : '(none)', points: xy.map(([x, y], i) => ({ x, y, group: group(i) })) });
    writeFileAtomic(join(out, file), svgToPng(svg));
    plots.push(join(out, file));
  };
  plot('latent_kmeans.png', `latent space (PCA of z), k-means k=${o.k}`, (i) => `cluster ${km.labels[i]}`);
  let gtSplitAccuracy: number | undefined;
  let gtClusterAccuracy: number | undefined;
  if (o.gtLabels) {
    const s = loadParticles(o.gtLabels, { checkStacks: false, allowOutside: true });
    if (s.particles.length !== n) throw new InputError(o.gtLabels, `has ${s.particles.length} particles, z has ${n}`);
    const truth = s.particles.map((q, i) => {
      if (q.classNumber === undefined) throw new InputError(o.gtLabels!, 'particle has no _rlnClassNumber', { record: i, field: '_rlnClassNumber' });
      return q.classNumber;
    });
    plot('latent_gt.png', 'latent space (PCA of z), ground-truth labels', (i) => `class ${truth[i]}`);
    const nTrue = new Set(truth).size;
    gtSplitAccuracy = clusterAccuracy(kmeans(rows, nTrue, o.seed).labels, truth);
    gtClusterAccuracy = clusterAccuracy(km.labels, truth);
  }
  const res: AnalyzeResult = { out, n, zdim, k: o.k, explainedVariance: p.explainedVariance, clusterSizes: sizes, volumes, plots };
  if (gtSplitAccuracy !== undefined) res.gtSplitAccuracy = gtSplitAccuracy;
  writeFileAtomic(join(out, 'analysis.json'), JSON.stringify({
    ...res, pcaComponents: p.components, pcaMean: p.mean, pcaStdDevs: p.stdDevs, centroids: km.centroids, traversals,
    gtClusterAccuracy,
  }, null, 2) + '\n');
  return res;
}

/** The command's options and action live in analyzeCommand.ts (loaded without this module's dependencies). */
export { register } from './analyzeCommand.js';
