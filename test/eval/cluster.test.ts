import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { clusterAccuracy, kmeans, pca } from '../../src/eval/cluster.js';

test('clusterAccuracy uses the best matching of cluster ids to labels', () => {
  assert.equal(clusterAccuracy([0, 0, 1, 1], [2, 2, 1, 1]), 1);
  assert.equal(clusterAccuracy([1, 1, 0, 0, 0], [1, 1, 1, 2, 2]), 0.8); // 0->2, 1->1: 4 of 5
  assert.equal(clusterAccuracy([0, 1, 2, 3], [5, 5, 5, 5]), 0.25); // one cluster may take the label
});

test('k-means recovers two separated groups; PCA finds the axis they differ along', () => {
  const rng = new Rng(1);
  const rows: number[][] = [];
  const truth: number[] = [];
  const axis = [0.6, 0, 0.8];
  for (let i = 0; i < 200; i++) {
    const s = i % 2 === 0 ? 1 : -1;
    rows.push(axis.map((a) => 3 * s * a + 0.3 * rng.normal()));
    truth.push(s);
  }
  const km = kmeans(rows, 2, 0);
  assert.equal(clusterAccuracy(km.labels, truth), 1);
  const p = pca(rows, 3);
  const dot = Math.abs(p.components[0]!.reduce((s, v, j) => s + v * axis[j]!, 0));
  assert.ok(dot > 0.99, `PC1 . axis = ${dot}`);
  assert.ok(p.explainedVariance[0]! > 0.95);
  // projections: PC1 coordinate = (row - mean) . PC1
  const r0 = rows[0]!.map((v, j) => v - p.mean[j]!);
  const proj = r0.reduce((s, v, j) => s + v * p.components[0]![j]!, 0);
  assert.ok(Math.abs(proj - p.projections[0]![0]!) < 1e-9);
});
