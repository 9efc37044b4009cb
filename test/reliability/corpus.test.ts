/**
 * Malformed-input corpus (issue 8, items 1 and 5): >= 200 damaged MRC maps and stacks, RELION
 * 3.0/3.1 STAR files, cryoSPARC .cs tables and cryoDRGN pickles (see corpus.ts) are each run
 * through the real CLI entry in-process (`main(argv)` of src/cli/main.ts: info, fsc,
 * backproject, downsample, reconstruct). Every case must end with a non-zero exit (2: bad input)
 * and exactly one stderr line `cryospin: <damaged file>: ...` naming the record/field where the
 * case knows it, no stack trace, no file left in the output folder, and every input byte-identical
 * afterwards (sha256). Undamaged controls must succeed, so the errors are caused by the damage.
 * A few cases also run as real subprocesses (node + tsx) to check the exit code and stderr there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/main.js';
import { readMrc } from '../../src/io/mrc.js';
import { buildCorpus, type CorpusCase } from './corpus.js';

const SHARED = resolve('../shared/data');

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => join(e.parentPath ?? dir, e.name));
}

/** Files left in an output folder after a failed command, except a complete run log (the CLI keeps OUTDIR/run.log). */
function leftovers(dir: string): string[] {
  return filesUnder(dir).filter((p) => !(p.endsWith('/run.log') && readFileSync(p, 'utf8').endsWith('\n')));
}

interface Outcome { code: number; stderr: string; stdout: string; threw: unknown }

/** Run the CLI in-process with stdout/stderr captured. */
async function runCli(argv: string[]): Promise<Outcome> {
  const out: string[] = [], err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout), ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => { out.push(String(c)); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => { err.push(String(c)); return true; }) as typeof process.stderr.write;
  let code = -1;
  let threw: unknown = null;
  try {
    code = await main(argv);
  } catch (e) {
    threw = e;
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  return { code, stderr: err.join(''), stdout: out.join(''), threw };
}

/** Why a failed case is not a clear error (null: it is one). */
function judge(c: CorpusCase, o: Outcome): string | null {
  if (o.threw) return `main() threw: ${String(o.threw)}`;
  if (o.code === 0) return 'exit 0 (accepted the damaged input)';
  if (/^\s+at .*:\d+:\d+\)?$/m.test(o.stderr)) return 'stack trace on stderr';
  const errLines = o.stderr.split('\n').filter((l) => l.startsWith('cryospin:'));
  if (errLines.length !== 1) return `${errLines.length} error lines`;
  const line = errLines[0]!;
  if (o.code !== 2) return `exit ${o.code} (not an input error): ${line}`;
  if (!line.includes(c.file)) return `error does not name ${c.file}: ${line}`;
  if (c.where && !c.where.test(line)) return `error does not match ${c.where}: ${line}`;
  return null;
}

test('malformed-input corpus: 100% clear one-line errors, non-zero exit, no partial output, inputs unchanged', { timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-corpus-'));
  try {
    const t0 = performance.now();
    const { cases, controls } = buildCorpus(root, existsSync(SHARED) ? SHARED : null);
    t.diagnostic(`corpus: ${cases.length} malformed cases + ${controls.length} controls built in ${((performance.now() - t0) / 1000).toFixed(1)} s` +
      (existsSync(SHARED) ? '' : ' (../shared/data absent: generated files only)'));
    assert.ok(cases.length >= 200, `only ${cases.length} cases`);

    // Controls: the undamaged inputs succeed through the same commands.
    for (const c of controls) {
      const o = await runCli(c.argv);
      assert.equal(o.code, 0, `control ${c.id} (${c.argv.join(' ')}) failed: ${o.stderr}`);
    }

    const perCategory = new Map<string, { n: number; clear: number; partial: number; modified: number }>();
    const failures: string[] = [];
    let uncaught = 0, partialFiles = 0, modifiedInputs = 0;
    const onUncaught = (): void => { uncaught++; };
    process.on('uncaughtException', onUncaught);
    try {
      for (const c of cases) {
        const before = c.inputs.map(sha);
        const o = await runCli(c.argv);
        if (o.threw) uncaught++;
        const why = judge(c, o);
        const left = leftovers(c.outDir);
        const changed = c.inputs.filter((p, i) => !existsSync(p) || sha(p) !== before[i]);
        const s = perCategory.get(c.category) ?? { n: 0, clear: 0, partial: 0, modified: 0 };
        s.n++;
        if (why === null) s.clear++; else failures.push(`${c.id} [${c.argv[0]}]: ${why}`);
        if (left.length) { s.partial++; partialFiles += left.length; failures.push(`${c.id}: left ${left.join(', ')}`); }
        if (changed.length) { s.modified++; modifiedInputs += changed.length; failures.push(`${c.id}: modified ${changed.join(', ')}`); }
        perCategory.set(c.category, s);
      }
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    const clear = [...perCategory.values()].reduce((a, s) => a + s.clear, 0);
    t.diagnostic('category                         cases  clear-errors');
    for (const [k, s] of [...perCategory.entries()].sort()) t.diagnostic(`${k.padEnd(32)} ${String(s.n).padStart(5)}  ${String(s.clear).padStart(5)}`);
    t.diagnostic(`TOTAL ${cases.length} cases: ${clear} clear one-line errors with non-zero exit (${(100 * clear / cases.length).toFixed(1)}%), ` +
      `${uncaught} uncaught exceptions, ${partialFiles} partial output files, ${modifiedInputs} modified inputs; ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const f of failures.slice(0, 40)) t.diagnostic(`FAIL ${f}`);
    assert.equal(failures.length, 0, `${failures.length} failures, first: ${failures.slice(0, 5).join(' | ')}`);
    assert.equal(uncaught, 0);

    // A few through a real subprocess: exit code 2 and one stderr line, no stack trace.
    const picks = ['mrc unknown mode', 'star idx beyond stack', 'cs wrong dtype', 'pkl wrong shape', 'star path outside folder']
      .map((cat) => cases.find((c) => c.category === cat)).filter((c): c is CorpusCase => c !== undefined);
    for (const c of picks) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), ...c.argv], { encoding: 'utf8', timeout: 60_000 });
      const lines = r.stderr.trim().split('\n').filter((l) => l.length > 0);
      assert.equal(r.status, 2, `${c.id} subprocess exit ${r.status}: ${r.stderr}`);
      assert.equal(lines.length, 1, `${c.id} subprocess stderr: ${r.stderr}`);
      assert.ok(lines[0]!.startsWith('cryospin: ') && lines[0]!.includes(c.file), lines[0]);
      assert.equal(leftovers(c.outDir).length, 0);
    }
    t.diagnostic(`subprocess checks: ${picks.length} cases, exit 2 and one stderr line each`);

    // Byte-order stamps that lie are recovered, not refused: same voxels as the original, with a warning.
    const gt = join(root, 'base', 'gt.mrc');
    const orig = readMrc(gt);
    const lyingStamp = Buffer.from(readFileSync(gt));
    lyingStamp[212] = 0x11; lyingStamp[213] = 0x11; // says big-endian, words are little-endian
    const swapped = Buffer.from(readFileSync(gt)); // big-endian words, stamp still says little-endian
    const swap4 = (at: number): void => { swapped.subarray(at, at + 4).reverse(); };
    for (let at = 0; at < 1024; at += 4) if (!(at === 104 || at === 208 || at === 212 || at >= 224)) swap4(at);
    for (let at = 1024; at < swapped.length; at += 4) swap4(at);
    let recovered = 0;
    for (const [name, bytes] of [['stamp-lies.mrc', lyingStamp], ['swapped-words.mrc', swapped]] as const) {
      const p = join(root, name);
      writeFileSync(p, bytes);
      const v = readMrc(p);
      assert.deepEqual([v.nx, v.ny, v.nz], [orig.nx, orig.ny, orig.nz]);
      assert.ok(Buffer.from(v.data.buffer).equals(Buffer.from(orig.data.buffer)), `${name}: voxels differ`);
      assert.ok(v.warnings.some((w) => /big|little/.test(w)), `${name}: no byte-order warning`);
      const o = await runCli(['fsc', gt, p, '--json']);
      assert.equal(o.code, 0, o.stderr);
      assert.ok((JSON.parse(o.stdout) as { curve: [number, number][] }).curve.every(([, f]) => f > 0.999999));
      recovered++;
    }
    t.diagnostic(`byte-order stamps that lie: ${recovered}/2 files read identically to the original (with a warning), FSC = 1 via the CLI`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
