/**
 * Latent-space analysis helpers: PCA (ml-pca) and seeded k-means (ml-kmeans, k-means++ start,
 * best of several seeded restarts by inertia), and the accuracy of a clustering against
 * ground-truth labels under the best one-to-one matching of cluster ids to labels.
 * Libraries rather than hand-written code: both are small, well-kept (mljs) and tested upstream.
 */
import { kmeans as mlKmeans } from 'ml-kmeans';
import { PCA } from 'ml-pca';

/** Rows of an n x d row-major array as number[][] (the libraries' input format). */
export function toRows(data: ArrayLike<number>, n: number, d: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const r = new Array<number>(d);
    for (let j = 0; j < d; j++) r[j] = data[i * d + j]!;
    rows.push(r);
  }
  return rows;
}

export interface PcaResult {
  /** Mean of the data (d). */
  mean: number[];
  /** Principal axes, one row (unit vector, length d) per component, by decreasing variance. */
  components: number[][];
  /** Standard deviation of the data along each component. */
  stdDevs: number[];
  /** Fraction of the total variance of each component. */
  explainedVariance: number[];
  /** Projections of the rows onto the components (n x nComponents). */
  projections: number[][];
}

export function pca(rows: number[][], nComponents = rows[0]?.length ?? 0): PcaResult {
  if (rows.length < 2) throw new Error('PCA needs at least 2 rows');
  const d = rows[0]!.length;
  const p = new PCA(rows, { center: true, scale: false });
  const k = Math.min(nComponents, d);
  const ev = p.getEigenvectors(); // d x d, columns are components
  const components: number[][] = [];
  for (let c = 0; c < k; c++) components.push(ev.getColumn(c));
  const mean = new Array<number>(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += r[j]! / rows.length;
  const projections = p.predict(rows, { nComponents: k }).to2DArray();
  return { mean, components, stdDevs: p.getStandardDeviations().slice(0, k), explainedVariance: p.getExplainedVariance().slice(0, k), projections };
}

export interface KmeansResult {
  /** Cluster id (0-based) per row. */
  labels: Int32Array;
  /** k centroids. */
  centroids: number[][];
  /** Sum of squared distances of rows to their centroid. */
  inertia: number;
}

/** k-means with k-means++ initialisation; `restarts` seeded runs, the lowest inertia wins. */
export function kmeans(rows: number[][], k: number, seed = 0, restarts = 5): KmeansResult {
  if (!(k >= 1) || k > rows.length) throw new Error(`k-means: k = ${k} for ${rows.length} rows`);
  let best: KmeansResult | null = null;
  for (let r = 0; r < restarts; r++) {
    const res = mlKmeans(rows, k, { seed: seed * 1000 + r + 1, initialization: 'kmeans++', maxIterations: 300 });
    let inertia = 0;
    rows.forEach((row, i) => {
      const c = res.centroids[res.clusters[i]!]!;
      for (let j = 0; j < row.length; j++) inertia += (row[j]! - c[j]!) ** 2;
    });
    if (!best || inertia < best.inertia) best = { labels: Int32Array.from(res.clusters), centroids: res.centroids.map((c) => c.slice()), inertia };
  }
  return best!;
}

/**
 * Fraction of rows whose cluster maps to their true label under the best one-to-one matching
 * (exhaustive over assignments for up to 8 clusters, greedy above). Labels are any integers.
 */
export function clusterAccuracy(labels: ArrayLike<number>, truth: ArrayLike<number>): number {
  const n = labels.length;
  if (truth.length !== n) throw new Error(`clusterAccuracy: ${n} labels, ${truth.length} true labels`);
  const cl = [...new Set(Array.from(labels))];
  const tl = [...new Set(Array.from(truth))];
  const counts = cl.map(() => new Array<number>(tl.length).fill(0));
  for (let i = 0; i < n; i++) counts[cl.indexOf(labels[i]!)]![tl.indexOf(truth[i]!)]! += 1;
  let best = 0;
  if (cl.length <= 8) {
    const used = new Array<boolean>(tl.length).fill(false);
    const rec = (c: number, acc: number): void => {
      if (c === cl.length) { best = Math.max(best, acc); return; }
      rec(c + 1, acc); // cluster c matched to no label
      for (let t = 0; t < tl.length; t++) {
        if (used[t]) continue;
        used[t] = true;
        rec(c + 1, acc + counts[c]![t]!);
        used[t] = false;
      }
    };
    rec(0, 0);
  } else {
    const pairs: [number, number, number][] = [];
    counts.forEach((row, c) => row.forEach((v, t) => pairs.push([v, c, t])));
    pairs.sort((a, b) => b[0] - a[0]);
    const uc = new Set<number>(), ut = new Set<number>();
    for (const [v, c, t] of pairs) if (!uc.has(c) && !ut.has(t)) { best += v; uc.add(c); ut.add(t); }
  }
  return best / n;
}
