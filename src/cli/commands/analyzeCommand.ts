/**
 * `cryospin analyze`: options and action only. The work (runAnalyze: PCA, k-means, volumes,
 * plots) is in analyze.ts, imported when the command runs, so that `cryospin --help` and the
 * other commands do not load its libraries (ml-pca, ml-kmeans, resvg: ~1-3 s).
 */
import type { Command } from 'commander';
import { log, printResult } from '../output.js';
import { JSON_DESCRIPTION, parseNumber } from '../options.js';

export function register(program: Command): void {
  program
    .command('analyze')
    .description('Latent space of a heterogeneous run: PCA, k-means, volumes at cluster centres and along PCs, plots')
    .argument('<outdir>', 'output folder of `reconstruct --mode heterogeneous` (z.npy, decoder.json)')
    .option('-o, --outdir <dir>', 'where to write (default OUTDIR/analyze)')
    .option('--k <K>', 'k-means clusters', parseNumber('--k', { int: true, min: 1 }), 10)
    .option('--pcs <P>', 'principal components to traverse', parseNumber('--pcs', { int: true, min: 1 }), 2)
    .option('--pc-steps <S>', 'volumes per traversal (5th to 95th percentile)', parseNumber('--pc-steps', { int: true, min: 1 }), 5)
    .option('--gt-labels <star>', 'ground-truth labels: STAR file with _rlnClassNumber (same particle order)')
    .option('--seed <K>', 'k-means seed', parseNumber('--seed', { int: true, min: 0 }), 0)
    .option('--no-volumes', 'statistics and plots only')
    .option('--backproject', "also reconstruct each cluster by backprojecting its particles with the run's poses (cluster<c>_backprojected.mrc)")
    .option('--json', JSON_DESCRIPTION)
    .action(async (outdir: string, raw: { outdir?: string; k: number; pcs: number; pcSteps: number; gtLabels?: string; seed: number; volumes: boolean; backproject?: boolean; json?: boolean }) => {
      const { runAnalyze } = await import('./analyze.js');
      const r = runAnalyze({ outdir, out: raw.outdir, k: raw.k, pcs: raw.pcs, pcSteps: raw.pcSteps, gtLabels: raw.gtLabels, seed: raw.seed, noVolumes: !raw.volumes, backproject: raw.backproject });
      if (!raw.json) log(`analyze: ${r.n} particles, zdim ${r.zdim}, k ${r.k}`);
      printResult(raw.json ?? false, r, () => [
        `wrote ${r.volumes.length} volumes and ${r.plots.length} plots to ${r.out}`,
        `PCA explained variance: ${r.explainedVariance.map((v) => v.toFixed(3)).join(', ')}`,
        `cluster sizes: ${r.clusterSizes.join(', ')}`,
        ...(r.gtSplitAccuracy !== undefined ? [`split accuracy vs ground truth: ${(100 * r.gtSplitAccuracy).toFixed(1)}%`] : []),
      ].join('\n'));
    });
}
