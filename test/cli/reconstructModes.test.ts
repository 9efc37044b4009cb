/**
 * Every reconstruct mode goes through the one job runner (src/recon/jobRunner.ts), run here
 * through the real CLI entry (main(), in-process) on a tiny simulated set:
 *   - amortized and heterogeneous runs keep OUTDIR/run.log (command line, epoch lines, exit
 *     status; appended on --resume), metrics.jsonl, and live snapshots in OUTDIR/live/ (a fresh
 *     run does not take an earlier run's live map for its previous epoch);
 *   - a --resume with other settings (seed, zdim) or another mode is refused (exit 2, one line
 *     naming the checkpoint and the setting) and changes nothing;
 *   - a --resume with the same settings continues: each epoch once in metrics.jsonl, and the
 *     temporaries a killed writer left in OUTDIR/ and OUTDIR/live/ are gone;
 *   - bad input with --serve (or a missing --gt-map) exits 2 and creates no output folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { writeMrc } from '../../src/io/mrc.js';
import { loadParticles } from '../../src/io/particles.js';
import { simulateBlobSet } from '../reliability/fixtures.js';

/**
 * Run the CLI in-process with stdout/stderr captured. First let the test runner's pending report
 * writes (it reports through process.stdout) go out, so none of them is captured.
 */
async function cli(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  await new Promise((ok) => setTimeout(ok, 100));
  const errWrite = process.stderr.write.bind(process.stderr);
  const outWrite = process.stdout.write.bind(process.stdout);
  let stderr = '';
  let stdout = '';
  process.stderr.write = ((c: string | Uint8Array) => { stderr += String(c); return true; }) as typeof process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => { stdout += String(c); return true; }) as typeof process.stdout.write;
  try {
    const code = await main(args);
    return { code, stderr, stdout };
  } finally {
    process.stderr.write = errWrite;
    process.stdout.write = outWrite;
  }
}

/** Each (extra arguments, message) case exits 2 with that one-line message and creates no output folder. */
async function assertRefused(star: string, root: string, base: string[], cases: ReadonlyArray<readonly [readonly string[], RegExp]>): Promise<void> {
  for (const [args, re] of cases) {
    const out = join(root, 'refused');
    const b = await cli(['reconstruct', star, '-o', out, ...base, ...args]);
    assert.equal(b.code, 2, b.stderr);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    assert.match(b.stderr, re);
    assert.equal(existsSync(out), false, 'a refused run creates no output folder');
  }
}

const epochsOf = (dir: string): number[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { epoch: number }).epoch);

const tempFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true }).map(String).filter((n) => /(^|\/)\.[^/]+\.\d+\.\d+\.(tmp|partial)$/.test(n));

/** The pid of a process that has exited (for temporaries "left by a killed run"). */
const deadPid = (): number => spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;

interface ModeCase {
  mode: string;
  /** Arguments of a 1-epoch run and of its 2-epoch continuation. */
  first: string[];
  more: string[];
  /** A setting the checkpoint records, changed. */
  changed: string[];
  changedField: string;
}

const CASES: ModeCase[] = [
  {
    mode: 'amortized',
    first: ['--mode', 'amortized', '--epochs', '1', '--batch-size', '16', '--seed', '1'],
    more: ['--mode', 'amortized', '--epochs', '2', '--batch-size', '16', '--seed', '1'],
    changed: ['--mode', 'amortized', '--epochs', '2', '--batch-size', '16', '--seed', '2'],
    changedField: 'seed',
  },
  {
    mode: 'heterogeneous',
    first: ['--mode', 'heterogeneous', '--zdim', '2', '--consensus-epochs', '1', '--het-epochs', '0', '--search-iterations', '1', '--search-rotations', '60', '--batch-size', '16'],
    more: ['--mode', 'heterogeneous', '--zdim', '2', '--consensus-epochs', '1', '--het-epochs', '1', '--search-iterations', '1', '--search-rotations', '60', '--batch-size', '16'],
    changed: ['--mode', 'heterogeneous', '--zdim', '3', '--consensus-epochs', '1', '--het-epochs', '1', '--search-iterations', '1', '--search-rotations', '60', '--batch-size', '16'],
    changedField: 'zdim',
  },
];

test('amortized and heterogeneous runs: run.log, live snapshots, resume refused with other settings or mode, resumed with the same', { timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-modes-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D: 16, n: 48, snr: 4, seed: 3 });
    for (const c of CASES) {
      const out = join(root, c.mode);
      // the folder of an earlier run: its live map must not become this run's "previous epoch"
      mkdirSync(join(out, 'live'), { recursive: true });
      writeMrc(join(out, 'live', 'map.mrc'), new Float32Array(16 ** 3).fill(1), { nx: 16, ny: 16, nz: 16, apixAngstrom: 4 });
      const t0 = performance.now();
      const r1 = await cli(['reconstruct', star, '-o', out, '--no-report', '--json', ...c.first]);
      assert.equal(r1.code, 0, `${c.mode}: ${r1.stderr}`);
      assert.deepEqual(epochsOf(out), [0], `${c.mode}: metrics.jsonl after 1 epoch`);
      const log1 = readFileSync(join(out, 'run.log'), 'utf8').trim().split('\n');
      assert.match(log1[0]!, new RegExp(`cryospin .*reconstruct .*--mode ${c.mode}`), `${c.mode}: run.log header`);
      assert.ok(log1.some((l) => /\] epoch 0 \[/.test(l)), `${c.mode}: run.log has the epoch line: ${log1.join('\n')}`);
      assert.match(log1.at(-1)!, /exit 0 after [\d.]+ s$/);
      // live snapshot of the last epoch, for the dashboard
      const status = JSON.parse(readFileSync(join(out, 'live', 'status.json'), 'utf8')) as { epoch: number; box: number };
      assert.deepEqual([status.epoch, status.box], [0, 16], `${c.mode}: live/status.json`);
      assert.ok(existsSync(join(out, 'live', 'map.mrc')) && existsSync(join(out, 'live', 'directions.json')));
      assert.equal(existsSync(join(out, 'live', 'fsc.json')), false, `${c.mode}: a fresh run has no epoch-to-epoch FSC after one epoch`);
      const ckpt = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')) as { options: { mode: string } };
      assert.equal(ckpt.options.mode, c.mode);

      // other settings: refused, nothing changed
      const ckBefore = readFileSync(join(out, 'checkpoint.json'));
      const metricsBefore = readFileSync(join(out, 'metrics.jsonl'));
      const bad = await cli(['reconstruct', star, '-o', out, '--resume', '--no-report', ...c.changed]);
      assert.equal(bad.code, 2, `${c.mode}: resume with other ${c.changedField}: ${bad.stderr}`);
      const badLines = bad.stderr.trim().split('\n');
      assert.equal(badLines.length, 1, bad.stderr);
      assert.match(badLines[0]!, new RegExp(`checkpoint\\.json.*${c.changedField}`));
      // another mode: refused
      const other = await cli(['reconstruct', star, '-o', out, '--resume', '--no-report', '--epochs', '2', '--search-rotations', '60']);
      assert.equal(other.code, 2, `${c.mode}: resume as semi-amortized: ${other.stderr}`);
      assert.match(other.stderr, new RegExp(`from a ${c.mode} run, this run is semi-amortized`));
      assert.ok(readFileSync(join(out, 'checkpoint.json')).equals(ckBefore), `${c.mode}: checkpoint untouched by refused resumes`);
      assert.ok(readFileSync(join(out, 'metrics.jsonl')).equals(metricsBefore), `${c.mode}: metrics untouched by refused resumes`);

      // same settings: continues; temporaries of a killed writer are removed
      const pid = deadPid();
      writeFileSync(join(out, `.map.mrc.${pid}.1.tmp`), 'x');
      writeFileSync(join(out, 'live', `.map.mrc.${pid}.2.tmp`), 'x');
      const r2 = await cli(['reconstruct', star, '-o', out, '--resume', '--no-report', '--json', ...c.more]);
      assert.equal(r2.code, 0, `${c.mode}: ${r2.stderr}`);
      assert.deepEqual(epochsOf(out), [0, 1], `${c.mode}: each epoch once after the resume`);
      assert.deepEqual(tempFiles(out), [], `${c.mode}: temporaries left`);
      assert.equal((JSON.parse(r2.stdout) as { epochs: number }).epochs, 2);
      const log2 = readFileSync(join(out, 'run.log'), 'utf8').trim().split('\n');
      assert.equal(log2.filter((l) => / cryospin .*reconstruct /.test(l)).length, 4, `${c.mode}: run.log appended by every run (first, 2 refused, 1 resumed)`);
      assert.equal(log2.filter((l) => /exit 2 after/.test(l)).length, 2, `${c.mode}: the refused resumes are logged`);
      assert.match(log2.at(-1)!, /exit 0 after/);
      assert.equal((JSON.parse(readFileSync(join(out, 'live', 'status.json'), 'utf8')) as { epoch: number }).epoch, 1);
      assert.equal((JSON.parse(readFileSync(join(out, 'live', 'fsc.json'), 'utf8')) as { epoch: number }).epoch, 1, `${c.mode}: epoch 1 vs epoch 0 live FSC`);
      t.diagnostic(`${c.mode}: 1 epoch, 2 refused resumes, 1 resumed epoch in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('reconstruct --serve on bad input exits 2 and leaves no output folder (the input is validated first)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-serve-bad-'));
  try {
    const badStar = join(root, 'broken.star');
    writeFileSync(badStar, 'data_particles\nloop_\n_rlnImageName\n_rlnDefocusU\n1@a.mrcs 10000\n2@a.mrcs\n');
    for (const mode of ['semi-amortized', 'amortized', 'heterogeneous']) {
      const out = join(root, `out-${mode}`);
      const r = await cli(['reconstruct', badStar, '-o', out, '--serve', '--mode', mode]);
      assert.equal(r.code, 2, `${mode}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!r.stderr.includes('dashboard'), `${mode}: no dashboard was started: ${r.stderr}`);
      assert.equal(existsSync(out), false, `${mode}: no output folder`);
    }
    // good particles, missing ground-truth map: also refused before the folder exists
    const star = simulateBlobSet(join(root, 'sim'), { D: 16, n: 8, seed: 1 });
    const out = join(root, 'out-gt');
    const r = await cli(['reconstruct', star, '-o', out, '--serve', '--gt-map', join(root, 'missing.mrc')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /missing\.mrc/);
    assert.equal(existsSync(out), false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('reconstruct --mode amortized --shift-warmup-epochs holds every origin at 0; the search initialisation refuses the flag', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-shiftwarm-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D: 16, n: 32, snr: 4, seed: 5 });
    const common = ['--no-report', '--json', '--epochs', '1', '--batch-size', '16', '--seed', '1'];
    const held = join(root, 'held');
    const r = await cli(['reconstruct', star, '-o', held, '--mode', 'amortized', '--shift-warmup-epochs', '1', ...common]);
    assert.equal(r.code, 0, r.stderr);
    const heldOrigins = loadParticles(join(held, 'poses.star'), { allowOutside: true }).particles.map((p) => p.originPx ?? [0, 0]);
    assert.equal(heldOrigins.length, 32);
    assert.ok(heldOrigins.every(([x, y]) => x === 0 && y === 0), `origins during the warm-up: ${JSON.stringify(heldOrigins.slice(0, 4))}`);
    // the same run without the warm-up trains the shift head: its origins move off 0
    const free = join(root, 'free');
    const f = await cli(['reconstruct', star, '-o', free, '--mode', 'amortized', ...common]);
    assert.equal(f.code, 0, f.stderr);
    const freeOrigins = loadParticles(join(free, 'poses.star'), { allowOutside: true }).particles.map((p) => p.originPx ?? [0, 0]);
    assert.ok(freeOrigins.some(([x, y]) => x !== 0 || y !== 0), 'without the warm-up the shift head moves the origins');
    await assertRefused(star, root, common, [
      [['--shift-warmup-epochs', '1'], /--shift-warmup-epochs applies to --mode amortized and to --init encoder/],
      [['--mode', 'amortized', '--shift-warmup-epochs', '-1'], /--shift-warmup-epochs must be a whole number >= 0/],
      // the heterogeneous mode's consensus stage is the search: these flags would be silently ignored
      [['--mode', 'heterogeneous', '--shift-warmup-epochs', '1'], /not available with --mode heterogeneous/],
      [['--mode', 'heterogeneous', '--init', 'encoder'], /not available with --mode heterogeneous/],
      [['--mode', 'heterogeneous', '--decoder', 'fouriernet'], /not available with --mode heterogeneous/],
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('semi-amortized --resume with another stage schedule (search/local iterations) is refused, naming the setting', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-sched-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D: 16, n: 32, snr: 4, seed: 6 });
    const out = join(root, 'out');
    const base = ['--no-report', '--batch-size', '16', '--search-rotations', '60'];
    const r1 = await cli(['reconstruct', star, '-o', out, ...base, '--epochs', '1', '--search-iterations', '2']);
    assert.equal(r1.code, 0, r1.stderr);
    const ck = readFileSync(join(out, 'checkpoint.json'));
    for (const [extra, field] of [[['--search-iterations', '3'], 'searchIterations'], [['--search-iterations', '2', '--local-iterations', '1'], 'localIterations']] as const) {
      const r = await cli(['reconstruct', star, '-o', out, ...base, '--epochs', '3', '--resume', ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`checkpoint\\.json.*${field}`));
      assert.ok(readFileSync(join(out, 'checkpoint.json')).equals(ck), 'checkpoint untouched');
    }
    const ok = await cli(['reconstruct', star, '-o', out, ...base, '--epochs', '2', '--resume', '--search-iterations', '2']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(epochsOf(out), [0, 1]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('reconstruct --threads 2 runs the semi-amortized slice kernels on two threads (the same map and poses as one); amortized mode refuses it', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-threads-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D: 16, n: 32, snr: 4, seed: 8 });
    const base = ['--no-report', '--json', '--batch-size', '16', '--search-rotations', '60', '--epochs', '2', '--search-iterations', '1', '--local-iterations', '0'];
    const r = await cli(['reconstruct', star, '-o', join(root, 't2'), ...base, '--threads', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(epochsOf(join(root, 't2')), [0, 1]);
    // the slice kernels split work without changing a bit: the same map and poses as one thread
    const r1 = await cli(['reconstruct', star, '-o', join(root, 't1'), ...base, '--threads', '1']);
    assert.equal(r1.code, 0, r1.stderr);
    for (const f of ['map.mrc', 'poses.star']) assert.deepEqual(readFileSync(join(root, 't2', f)), readFileSync(join(root, 't1', f)), f);
    await assertRefused(star, root, base, [
      [['--threads', '2', '--mode', 'amortized'], /--threads is available with --mode semi-amortized and heterogeneous \(its consensus stage\) only/],
      [['--threads', '0'], /--threads must be >= 1/],
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('heterogeneous mode: the consensus stage takes the semi-amortized options (threads, local refinement, Wiener); a resume with another consensus schedule or decoder refit is refused', { timeout: 180_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-hetcons-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D: 16, n: 32, snr: 4, seed: 9 });
    const out = join(root, 'het');
    const args = (local: string, het: string): string[] => ['reconstruct', star, '-o', out, '--no-report', '--json', '--mode', 'heterogeneous', '--zdim', '2',
      '--batch-size', '16', '--search-rotations', '60', '--search-iterations', '1', '--local-iterations', local, '--consensus-epochs', '3',
      '--het-epochs', het, '--threads', '2', '--autodecode-volume', 'wiener'];
    const r = await cli(args('1', '0'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(epochsOf(out), [0, 1, 2]);
    const ck = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')) as { options: Record<string, unknown> };
    // the schedule the consensus trainer resolved from the flags (1 search, 1 local, then auto-decoding with the Wiener volume)
    assert.equal(ck.options['consensusSearchIterations'], 1);
    assert.equal(ck.options['consensusLocalIterations'], 1);
    assert.equal(ck.options['consensusAutodecodeVolume'], 'wiener');
    assert.equal(ck.options['hetRefit'], 'wiener', 'the closed-form decoder refit is the default');
    const before = readFileSync(join(out, 'checkpoint.json'));
    const b = await cli([...args('0', '1'), '--resume']);
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, /consensusLocalIterations = 1, this run has 0/);
    const bRefit = await cli([...args('1', '1'), '--het-refit', 'none', '--resume']);
    assert.equal(bRefit.code, 2, bRefit.stderr);
    assert.match(bRefit.stderr, /hetRefit = "wiener", this run has "none"/);
    assert.deepEqual(readFileSync(join(out, 'checkpoint.json')), before, 'a refused resume changes nothing');
    const c = await cli([...args('1', '1'), '--resume']);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(epochsOf(out), [0, 1, 2, 3]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
