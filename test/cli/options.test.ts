/**
 * Every command spells the common options the same way (issue 7): `-o` is the output
 * (`--outdir` for a folder, `--output` for a file), `--box <N>`, `--apix <A>`, `--seed <K>`
 * (default 0), and `--json` with one description; every command reading particle images
 * (argument <particles>) has `--allow-outside`; bad numbers are usage errors (exit 2);
 * a command with an output folder writes OUTDIR/run.log, and one that fails on bad input
 * before creating its folder leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildProgram, main } from '../../src/cli/main.js';
import { ALLOW_OUTSIDE_DESCRIPTION, JSON_DESCRIPTION } from '../../src/cli/options.js';

const commands = buildProgram().commands;

test('common options have one spelling across commands', () => {
  assert.ok(commands.length >= 8);
  const problems: string[] = [];
  for (const c of commands) {
    const opts = c.options;
    const json = opts.find((o) => o.long === '--json');
    if (!json) problems.push(`${c.name()}: no --json`);
    else if (json.description !== JSON_DESCRIPTION) problems.push(`${c.name()}: --json described as "${json.description}"`);
    for (const o of opts) {
      if (o.short === '-o' && o.long !== '--outdir' && o.long !== '--output') problems.push(`${c.name()}: -o is ${o.long}`);
      if ((o.long === '--outdir' || o.long === '--output') && o.short !== '-o') problems.push(`${c.name()}: ${o.long} without -o`);
      if (o.long === '--out') problems.push(`${c.name()}: --out (use --outdir or --output)`);
      const want: Record<string, string> = { '--box': '--box <N>', '--apix': '--apix <A>', '--seed': '--seed <K>' };
      const w = o.long !== undefined ? want[o.long] : undefined;
      if (w !== undefined && !o.flags.endsWith(w)) problems.push(`${c.name()}: "${o.flags}" should be "${w}"`);
      if (o.long === '--seed' && o.defaultValue !== 0) problems.push(`${c.name()}: --seed default ${String(o.defaultValue)}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every command reading particles has --allow-outside, described alike', () => {
  const readers = commands.filter((c) => c.registeredArguments.some((a) => a.name() === 'particles'));
  assert.deepEqual(readers.map((c) => c.name()).sort(), ['backproject', 'downsample', 'predict-poses', 'reconstruct']);
  const problems: string[] = [];
  for (const c of readers) {
    const o = c.options.find((x) => x.long === '--allow-outside');
    if (!o) problems.push(`${c.name()}: no --allow-outside`);
    else if (o.description !== ALLOW_OUTSIDE_DESCRIPTION) problems.push(`${c.name()}: --allow-outside described as "${o.description}"`);
  }
  assert.deepEqual(problems, []);
});

test('a bad number is a usage error (exit 2), and a failed command leaves no output folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-opt-'));
  const err = process.stderr.write.bind(process.stderr);
  try {
    process.stderr.write = (() => true) as typeof process.stderr.write;
    const out = join(dir, 'sim');
    assert.equal(await main(['simulate', '--map', resolve('examples/data/ribosome70S_box32.mrc'), '-o', out, '--n', 'ten']), 2);
    assert.equal(existsSync(out), false);
    assert.equal(await main(['simulate', '--map', join(dir, 'missing.mrc'), '-o', out, '--n', '4']), 2);
    assert.equal(existsSync(out), false, 'nothing is left behind by a failed command');
  } finally {
    process.stderr.write = err;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a command with an output folder keeps OUTDIR/run.log: command line, log lines, exit status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-runlog-'));
  const err = process.stderr.write.bind(process.stderr);
  const outWrite = process.stdout.write.bind(process.stdout);
  try {
    process.stderr.write = (() => true) as typeof process.stderr.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    const out = join(dir, 'sim');
    const code = await main(['simulate', '--map', resolve('examples/data/ribosome70S_box32.mrc'), '-o', out, '--n', '8', '--box', '16', '--json']);
    assert.equal(code, 0);
    const text = readFileSync(join(out, 'run.log'), 'utf8');
    const lines = text.trim().split('\n');
    assert.match(lines[0]!, /^\[\d{4}-\d\d-\d\dT[^\]]+\] cryospin .*simulate/);
    assert.match(lines[0]!, /--n 8/);
    assert.match(lines.at(-1)!, /exit 0 after [\d.]+ s$/);
    assert.ok(lines.length >= 3, `log lines recorded: ${text}`);
  } finally {
    process.stderr.write = err;
    process.stdout.write = outWrite;
    rmSync(dir, { recursive: true, force: true });
  }
});
