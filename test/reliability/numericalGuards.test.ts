/**
 * Numerical guards (issue 8, item 3): NaN/Inf never reaches a written map.
 *  - a particle stack with a NaN (or Inf) pixel in one image: `reconstruct` and `backproject` stop
 *    with an InputError naming the stack, the particle and the field, and write no map;
 *  - NaN/Inf metadata (CTF, angles) are refused when the particle file is loaded;
 *  - NaN that bypasses the readers (an in-memory source) makes the trainer stop with a
 *    DivergenceError instead of finishing the epoch;
 *  - the MRC writer refuses to write a non-finite value (last line of defence).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { runBackproject } from '../../src/cli/commands/backproject.js';
import { InputError } from '../../src/io/errors.js';
import { writeMrc } from '../../src/io/mrc.js';
import { loadParticles } from '../../src/io/particles.js';
import { MemorySource } from '../../src/recon/memorySource.js';
import { runReconstructJob } from '../../src/recon/reconstructJob.js';
import { SemiAmortizedTrainer } from '../../src/recon/semiAmortized.js';
import { simulateBlobSet } from './fixtures.js';

const D = 16, N = 40;

/** Copy of the simulated stack with `value` at one pixel of particle k (0-based). */
function poison(stack: string, k: number, pixel: number, value: number): void {
  const b = readFileSync(stack);
  b.writeFloatLE(value, 1024 + 4 * (k * D * D + pixel));
  writeFileSync(stack, b);
}

function expectInputError(e: unknown, file: string, where: RegExp): boolean {
  assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
  assert.ok(e.message.includes(file), e.message);
  assert.match(e.message, where);
  return true;
}

test('a NaN or Inf pixel in one particle stops reconstruct and backproject with a clear error and no map', { timeout: 120_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-nan-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D, n: N, apix: 4, snr: 2, seed: 2 });
    const stack = join(root, 'sim', 'particles.mrcs');
    const k = 29;
    poison(stack, k, 7 * D + 5, NaN);
    const out = join(root, 'out');
    await assert.rejects(runReconstructJob({ input: star, outdir: out, epochs: 2, searchIterations: 1, searchRotations: 30, batchSize: 8, seed: 1 }),
      (e) => expectInputError(e, stack, new RegExp(`record ${k}, field data: particle ${k} \\(0-based\\) contains NaN at pixel \\(x,y\\) = \\(5,7\\)`)));
    // found while the input is validated (no folder yet) or during training (a folder without outputs)
    const left = existsSync(out) ? readdirSync(out).filter((f) => /\.(mrc|star|pkl)$/.test(f)) : [];
    assert.deepEqual(left, [], 'no map, poses or pickle written');

    poison(stack, k, 7 * D + 5, 0.5);
    poison(stack, 3, 0, -Infinity);
    assert.throws(() => runBackproject({ particles: star, out: join(root, 'bp.mrc'), seed: 0, chunk: 8, reg: 1e-3, quiet: true }),
      (e) => expectInputError(e, stack, /record 3, field data: particle 3 \(0-based\) contains -Infinity/));
    assert.ok(!existsSync(join(root, 'bp.mrc')));
    t.diagnostic('NaN pixel -> reconstruct refused (InputError, record 29), -Inf pixel -> backproject refused (record 3); no output files');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NaN/Inf CTF or angles in the metadata are refused when the particles are loaded', () => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-nanmeta-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D, n: 6, apix: 4, snr: 2, seed: 3 });
    const text = readFileSync(star, 'utf8');
    assert.ok(loadParticles(star).particles.every((p) => p.ctf !== null && Number.isFinite(p.ctf.defocusUAngstrom)));
    // Replace the defocus U of the fourth particle row by nan.
    const lines = text.split('\n');
    const cols = lines.filter((l) => l.startsWith('_rln'));
    const particleCols = cols.slice(cols.findIndex((c) => c.startsWith('_rlnImageName')));
    const iDf = particleCols.findIndex((c) => c.startsWith('_rlnDefocusU'));
    const rows = lines.map((l, i) => [l, i] as const).filter(([l]) => /@/.test(l));
    const [row, at] = rows[3]!;
    const tokens = row.trim().split(/\s+/);
    tokens[iDf] = 'nan';
    lines[at] = tokens.join(' ');
    writeFileSync(star, lines.join('\n'));
    assert.throws(() => loadParticles(star), (e) => expectInputError(e, star, /record 3, field _rlnDefocusU: expected a number, got "nan"/));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NaN that bypasses the readers stops training with a DivergenceError; writeMrc refuses NaN', () => {
  const rng = new Rng(4);
  const imgs = new Float32Array(N * D * D);
  for (let i = 0; i < imgs.length; i++) imgs[i] = rng.normal();
  imgs[11 * D * D + 40] = NaN;
  const src = new MemorySource(imgs, D, 2, null);
  const tr = new SemiAmortizedTrainer(src, null, { epochs: 2, batchSize: 8, seed: 3 });
  tr.poses.rot.set(Float32Array.from(randomRotations(src.n, new Rng(9))));
  assert.throws(() => tr.trainEpoch(), (e) => e instanceof Error && e.name === 'DivergenceError' && /non-finite loss/.test(e.message));
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-nanw-'));
  try {
    const p = join(dir, 'm.mrc');
    assert.throws(() => writeMrc(p, new Float32Array([0, Infinity]), { nx: 2, ny: 1, nz: 1, apix: 1 }), /Infinity/);
    assert.ok(!existsSync(p));
    assert.deepEqual(readdirSync(dir), [], 'no temporary left either');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
