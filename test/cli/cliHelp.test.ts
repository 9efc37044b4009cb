/**
 * The command line as a user meets it: `cryospin --help` and every subcommand's help print a
 * complete usage (exit 0), and a command run on a wrong file prints exactly one clear line on
 * stderr (no stack trace) and exits with code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildProgram } from '../../src/cli/main.js';

const BIN = resolve('bin/cryospin.js');
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

test('cryospin --help lists every command, and each command has a complete --help', () => {
  const names = buildProgram().commands.map((c) => c.name());
  assert.ok(names.length >= 7);
  const top = run(['--help']);
  assert.equal(top.status, 0);
  for (const n of names) assert.match(top.stdout, new RegExp(`\\b${n}\\b`), `top-level help lists ${n}`);
  for (const n of names) {
    const r = run([n, '--help']);
    assert.equal(r.status, 0, `${n} --help exit code`);
    assert.match(r.stdout, new RegExp(`Usage: cryospin ${n}`), `${n} usage line`);
    assert.match(r.stdout, /--json/, `${n} documents --json`);
  }
});

test('a command on a wrong file prints one clear line naming the file and exits 2', () => {
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
    for (const args of cases) {
      const r = run(args);
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
