/**
 * The command line as a user meets it: `cryospin --help` and every subcommand's help print a
 * complete usage (exit 0), and a command run on a wrong file prints exactly one clear line on
 * stderr (no stack trace) and exits with code 2. The processes run as many at a time as there
 * are cores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildProgram } from '../../src/cli/main.js';

const BIN = resolve('bin/cryospin.js');

interface Ran { status: number | null; stdout: string; stderr: string }

const run = (args: string[]): Promise<Ran> => new Promise((done) => {
  execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
    const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
    done({ status: code, stdout, stderr });
  });
});

/** Run the CLI once per argument list, as many at a time as there are cores (each is one process). */
async function runAll(list: string[][]): Promise<Ran[]> {
  const out: Ran[] = new Array<Ran>(list.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const i = next++;
      out[i] = await run(list[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(availableParallelism(), 4)) }, worker));
  return out;
}

test('cryospin --help lists every command, and each command has a complete --help', async () => {
  const names = buildProgram().commands.map((c) => c.name());
  assert.ok(names.length >= 7);
  const [top, ...each] = await runAll([['--help'], ...names.map((n) => [n, '--help'])]);
  assert.equal(top!.status, 0);
  for (const n of names) assert.match(top!.stdout, new RegExp(`\\b${n}\\b`), `top-level help lists ${n}`);
  for (const [i, n] of names.entries()) {
    const r = each[i]!;
    assert.equal(r.status, 0, `${n} --help exit code`);
    assert.match(r.stdout, new RegExp(`Usage: cryospin ${n}`), `${n} usage line`);
    assert.match(r.stdout, /--json/, `${n} documents --json`);
  }
});

test('a command on a wrong file prints one clear line naming the file and exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-cli-'));
  try {
    const bad = join(dir, 'not-a-map.mrc');
    writeFileSync(bad, 'this is not an MRC file at all, just text that is long enough to be read as a header'.repeat(20));
    const badStar = join(dir, 'broken.star');
    writeFileSync(badStar, 'data_particles\nloop_\n_rlnImageName\n_rlnDefocusU\n1@a.mrcs 10000\n2@a.mrcs\n');
    const cases: string[][] = [
      ['info', bad],
      ['fsc', bad, bad],
      ['info', join(dir, 'missing.mrc')],
      ['reconstruct', badStar, '-o', join(dir, 'out')],
      ['backproject', badStar, '-o', join(dir, 'map.mrc')],
    ];
    const results = await runAll(cases);
    for (const [i, args] of cases.entries()) {
      const r = results[i]!;
      const lines = r.stderr.trim().split('\n').filter((l) => l.length > 0);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
      assert.equal(lines.length, 1, `${args.join(' ')}: one stderr line, got ${JSON.stringify(r.stderr)}`);
      assert.match(lines[0]!, /^cryospin: /);
      assert.ok(!/\bat .*\.(ts|js):\d+/.test(r.stderr), 'no stack trace');
      assert.ok(lines[0]!.includes(dir), `the message names the file: ${lines[0]}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
