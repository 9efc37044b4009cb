/**
 * backproject and downsample read particle images like reconstruct and predict-poses do: an image
 * path outside the particle file's folder ("../elsewhere/stack.mrcs") is refused (exit 2, one
 * line naming the file) unless --allow-outside is given, and then the result equals the one made
 * from the same particles referenced inside the folder (byte for byte).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { simulateBlobSet } from '../reliability/fixtures.js';

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  await new Promise((ok) => setTimeout(ok, 100)); // let the test runner's report writes go out first
  const errWrite = process.stderr.write.bind(process.stderr);
  const outWrite = process.stdout.write.bind(process.stdout);
  let stderr = '';
  process.stderr.write = ((c: string | Uint8Array) => { stderr += String(c); return true; }) as typeof process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return { code: await main(args), stderr };
  } finally {
    process.stderr.write = errWrite;
    process.stdout.write = outWrite;
  }
}

test('backproject and downsample refuse image paths outside the folder unless --allow-outside', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cryospin-outside-'));
  try {
    const star = simulateBlobSet(join(root, 'sim'), { D: 16, n: 12, seed: 2 });
    const text = readFileSync(star, 'utf8');
    assert.match(text, /@particles\.mrcs/);
    mkdirSync(join(root, 'meta'));
    const outside = join(root, 'meta', 'particles.star');
    writeFileSync(outside, text.replaceAll('@particles.mrcs', '@../sim/particles.mrcs'));
    const runs: [string, string[], string][] = [
      ['backproject', ['backproject', '--seed', '0'], 'map.mrc'],
      ['downsample', ['downsample', '-D', '8'], 'small.mrcs'],
    ];
    for (const [name, args, file] of runs) {
      const refused = join(root, `refused-${file}`);
      const r0 = await cli([...args.slice(0, 1), outside, ...args.slice(1), '-o', refused]);
      assert.equal(r0.code, 2, `${name} without --allow-outside: ${r0.stderr}`);
      assert.equal(r0.stderr.trim().split('\n').length, 1, r0.stderr);
      assert.ok(r0.stderr.includes(outside), `${name}: the message names the particle file: ${r0.stderr}`);
      assert.equal(existsSync(refused), false);
      const allowed = join(root, `allowed-${file}`);
      const r1 = await cli([...args.slice(0, 1), outside, ...args.slice(1), '-o', allowed, '--allow-outside']);
      assert.equal(r1.code, 0, `${name} --allow-outside: ${r1.stderr}`);
      const inside = join(root, `inside-${file}`);
      const r2 = await cli([...args.slice(0, 1), star, ...args.slice(1), '-o', inside]);
      assert.equal(r2.code, 0, r2.stderr);
      assert.ok(readFileSync(allowed).equals(readFileSync(inside)), `${name}: same images, same output`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
