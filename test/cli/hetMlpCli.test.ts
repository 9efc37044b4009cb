/**
 * `reconstruct --mode heterogeneous --het-decoder mlp --z-source encoder` through the real CLI
 * entry (main(), in-process) on a tiny two-state mixture (box 16, 48 particles, known poses via
 * --init-poses): the run writes z.npy (N x zdim) and a decoder.json of kind het-mlp; `eval-vol`
 * on it writes the map at z = 0 bit-identical to the run's own map.mrc (trained network in memory
 * vs the file read back) and a different map at another z; `analyze` writes its cluster and
 * traversal maps; `--resume` with more epochs continues (checkpoint with the network's and the
 * encoder's optimiser state). Bad values of --het-decoder / --z-source / --z-warmup-epochs, and
 * these flags in another mode, exit 2 with one clear line (plus commander's usage hint for its own
 * parse errors) and create no output folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMrc } from '../../src/io/mrc.js';
import { readNpyFloat64 } from '../../src/io/npy.js';
import { readCheckpoint } from '../../src/recon/checkpoint.js';
import { cliInProcess as cli } from '../helpers/cliInProcess.js';
import { simulateTwoStates } from '../helpers/twoStates.js';

const bytesEqual = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

test('reconstruct --het-decoder mlp --z-source encoder: z.npy, het-mlp decoder.json, eval-vol and analyze on it, resume', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-hetmlp-cli-'));
  try {
    const n = 48, zdim = 2;
    const star = simulateTwoStates(dir, 16, n, 2);
    const out = join(dir, 'out');
    const args = (hetEpochs: number): string[] => ['reconstruct', star, '-o', out, '--mode', 'heterogeneous', '--het-decoder', 'mlp', '--z-source', 'encoder',
      '--z-warmup-epochs', '1', '--init-poses', star, '--zdim', String(zdim), '--consensus-epochs', '1', '--het-epochs', String(hetEpochs), '--batch-size', '8', '--no-report', '--json'];
    const t0 = performance.now();
    const r = await cli(args(2));
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { z: string; decoder: string; map: string; epochs: number; zdim: number };
    assert.deepEqual([res.epochs, res.zdim], [3, zdim]);
    const z = readNpyFloat64(res.z, 2);
    assert.deepEqual(z.shape, [n, zdim]);
    assert.ok(z.data.every(Number.isFinite) && z.data.some((v) => v !== 0), 'z holds finite, non-zero latents');
    const dec = readCheckpoint<{ kind: string; zdim: number; mlp: { options: { hidden: number } } }>(res.decoder);
    assert.equal(dec.kind, 'het-mlp');
    assert.equal(dec.zdim, zdim);
    const settings = (JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')) as { options: Record<string, unknown> }).options;
    assert.deepEqual([settings.hetDecoder, settings.zSource], ['mlp', 'encoder'], 'the checkpoint records the variant');

    // eval-vol: z = 0 is the run's map.mrc, bit for bit; another z gives another map
    const ev = await cli(['eval-vol', out, '--z', '0,0', '-o', join(dir, 'ev0.mrc'), '--json']);
    assert.equal(ev.code, 0, ev.stderr);
    assert.equal((JSON.parse(ev.stdout) as { decoder: string }).decoder, 'het-mlp');
    const m0 = readMrc(join(dir, 'ev0.mrc'));
    assert.deepEqual([m0.nx, m0.ny, m0.nz], [16, 16, 16]);
    assert.ok(bytesEqual(m0.data, readMrc(res.map).data), 'eval-vol at z = 0 differs from the run\'s map.mrc');
    const ev2 = await cli(['eval-vol', out, '--z', '2.5,-2.5', '-o', join(dir, 'ev1.mrc')]);
    assert.equal(ev2.code, 0, ev2.stderr);
    const m1 = readMrc(join(dir, 'ev1.mrc')).data;
    let diff = 0, scale = 0;
    for (let i = 0; i < m1.length; i++) { diff = Math.max(diff, Math.abs(m1[i]! - m0.data[i]!)); scale = Math.max(scale, Math.abs(m0.data[i]!)); }
    t.diagnostic(`map at z = (2.5, -2.5) vs z = 0: max difference ${diff.toExponential(2)} (map max ${scale.toExponential(2)})`);
    assert.ok(scale > 0 && diff > 0, 'the latent changes the map');
    const badZ = await cli(['eval-vol', out, '--z', '1,2,3', '-o', join(dir, 'bad.mrc')]);
    assert.equal(badZ.code, 2);
    assert.match(badZ.stderr, /expected 2 numbers for z/);

    // analyze: 2 cluster maps + 2 traversal maps from the network
    const an = await cli(['analyze', out, '--k', '2', '--pcs', '1', '--pc-steps', '2', '--json']);
    assert.equal(an.code, 0, an.stderr);
    const ar = JSON.parse(an.stdout) as { volumes: string[]; clusterSizes: number[] };
    assert.equal(ar.volumes.length, 4);
    assert.equal(ar.clusterSizes.reduce((a, b) => a + b, 0), n);
    for (const f of ar.volumes) assert.ok(readMrc(f).data.every(Number.isFinite), f);

    // resume with one more heterogeneous epoch
    const rr = await cli([...args(3), '--resume']);
    assert.equal(rr.code, 0, rr.stderr);
    assert.equal((JSON.parse(rr.stdout) as { epochs: number }).epochs, 4);
    t.diagnostic(`run, eval-vol x3, analyze, resume: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reconstruct: bad --het-decoder / --z-source / --z-warmup-epochs / --het-refit, or these flags outside the heterogeneous mode, exit 2 with one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-hetmlp-flags-'));
  try {
    const star = join(dir, 'unused.star'); // never read: the flags are checked first
    const cases: [string[], RegExp][] = [
      [['--mode', 'heterogeneous', '--het-decoder', 'cnn'], /--het-decoder must be linear or mlp, got "cnn"/],
      [['--mode', 'heterogeneous', '--z-source', 'oracle'], /--z-source must be autodecode or encoder, got "oracle"/],
      [['--mode', 'heterogeneous', '--z-warmup-epochs=-1'], /--z-warmup-epochs must be a whole number >= 0, got -1/],
      [['--mode', 'heterogeneous', '--z-warmup-epochs', '1.5'], /--z-warmup-epochs expects an integer, got "1.5"/],
      [['--mode', 'heterogeneous', '--het-refit', 'sgd'], /--het-refit must be wiener or none, got "sgd"/],
      [['--mode', 'heterogeneous', '--classes', '1'], /--classes must be 0 \(none\) or a whole number >= 2, got 1/],
      [['--mode', 'heterogeneous', '--classes', '2.5'], /--classes expects an integer, got "2.5"/],
      [['--het-decoder', 'mlp'], /--het-decoder, --z-source, --z-warmup-epochs, --het-refit and --classes are available with --mode heterogeneous only/],
      [['--het-refit', 'none'], /--het-refit and --classes are available with --mode heterogeneous only/],
      [['--classes', '2'], /--classes are available with --mode heterogeneous only/],
      [['--mode', 'amortized', '--z-source', 'encoder'], /available with --mode heterogeneous only/],
    ];
    for (const [flags, re] of cases) {
      const out = join(dir, 'out');
      const r = await cli(['reconstruct', star, '-o', out, ...flags]);
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      // one line (commander's own parse errors add its usage hint), no stack trace
      const lines = r.stderr.trim().split('\n');
      assert.match(lines[0]!, re);
      assert.ok(lines.length === 1 || (lines.length === 2 && /--help/.test(lines[1]!)), r.stderr);
      assert.equal(existsSync(out), false, `${flags.join(' ')}: no output folder`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
