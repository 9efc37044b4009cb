/**
 * `cryospin info`. Truths: analytic statistics of maps we write; numpy's statistics of the raw
 * float32 data of a real EMDB map; row/field counts stated in shared/data PROVENANCE files
 * (from numpy / pickle); and the one-JSON-object stdout contract.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { register, runInfo, formatInfo } from '../../src/cli/commands/info.js';
import { InputError } from '../../src/io/errors.js';
import { writeMrc } from '../../src/io/mrc.js';
import { writeNpy } from '../../src/io/npy.js';
import { writeArraysPickle } from '../../src/io/pickle.js';
import { writeStar } from '../../src/io/star.js';

const DATA = join(import.meta.dirname, '../../../shared/data');

function near(a: unknown, b: number, tol: number, what: string): void {
  assert.equal(typeof a, 'number', what);
  assert.ok(Math.abs((a as number) - b) <= tol, `${what}: ${a} vs ${b}`);
}

test('MRC: dims, mode, pixel size, origin and statistics of a map we write', () => {
  const dir = mkdtempSync(join(tmpdir(), 'info-'));
  try {
    const nx = 6, ny = 5, nz = 4;
    const data = Float32Array.from({ length: nx * ny * nz }, (_, i) => i); // 0..119
    const path = join(dir, 'v.mrc');
    writeMrc(path, data, { nx, ny, nz, apixAngstrom: 1.5, origin: [3, -4.5, 6] });
    const r = runInfo(path, { json: true });
    assert.equal(r.format, 'mrc');
    assert.deepEqual([r['nx'], r['ny'], r['nz'], r['mode'], r['apix']], [6, 5, 4, 2, 1.5]);
    assert.deepEqual(r['origin'], [3, -4.5, 6]);
    const s = r['stats'] as { min: number; max: number; mean: number; std: number };
    const n = 120;
    assert.deepEqual([s.min, s.max], [0, 119]);
    near(s.mean, (n - 1) / 2, 1e-12, 'mean');
    near(s.std, Math.sqrt((n * n - 1) / 12), 1e-9, 'std'); // population std of 0..n-1
    // A stack, streamed in chunks: same statistics rule.
    const stackPath = join(dir, 's.mrcs');
    writeMrc(stackPath, data, { nx, ny, nz, isStack: true });
    const st = runInfo(stackPath);
    assert.equal(st['isStack'], true);
    assert.equal(st['apix'], null);
    near((st['stats'] as { std: number }).std, Math.sqrt((n * n - 1) / 12), 1e-9, 'stack std');
    assert.equal(runInfo(stackPath, { stats: false })['stats'], undefined);
    assert.match(formatInfo(r), /6 x 5 x 4, mode 2, pixel 1\.50000 A/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('MRC: EMD-3197 statistics agree with numpy on the raw float32 data', (t) => {
  const path = join(DATA, 'emdb_maps_small/EMD-3197.map');
  if (!existsSync(path)) return t.skip('shared/data absent');
  const r = runInfo(path);
  assert.deepEqual([r['nx'], r['ny'], r['nz'], r['mode']], [20, 20, 20, 2]);
  near(r['apix'], 11.4, 1e-4, 'apix');
  let out: string;
  try {
    out = execFileSync('python3', ['-c', `
import sys, struct, json
import numpy as np
b = open(sys.argv[1], 'rb').read()
nsymbt = struct.unpack('<i', b[92:96])[0]
a = np.frombuffer(b, dtype='<f4', offset=1024 + nsymbt).astype(np.float64)
print(json.dumps([a.min(), a.max(), a.mean(), a.std()]))
`, path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch { return t.skip('python3 with numpy not available'); }
  const [mn, mx, mean, std] = JSON.parse(out) as number[];
  const s = r['stats'] as { min: number; max: number; mean: number; std: number };
  assert.equal(s.min, mn);
  assert.equal(s.max, mx);
  near(s.mean, mean!, 1e-12 * Math.abs(mean!) + 1e-12, 'mean');
  near(s.std, std!, 1e-10 * std!, 'std');
});

test('STAR, .cs, .npy and .pkl summaries match the PROVENANCE facts', (t) => {
  if (!existsSync(DATA)) return t.skip('shared/data absent');
  const star = runInfo(join(DATA, 'cryodrgn_relion31_real/relion31.6opticsgroups.star'));
  const blocks = star['blocks'] as Record<string, { rows: number; columns: number }>;
  assert.equal(blocks['particles']!.rows, 139);
  assert.equal(blocks['optics']!.rows, 6);
  assert.equal((star['opticsGroups'] as unknown[]).length, 6);
  const cs = runInfo(join(DATA, 'cryodrgn_cryosparc_cs/cryosparc_P12_J24_001_particles.cs'));
  assert.equal(cs['rows'], 2019);
  assert.equal((cs['fields'] as string[]).length, 34);
  assert.equal((cs['dtypes'] as Record<string, string>)['alignments3D/pose'], '<f4(3)');
  const empty = runInfo(join(DATA, 'cryodrgn_cryosparc_cs/4k_dataset.cs'));
  assert.deepEqual([empty['rows'], (empty['fields'] as string[]).length], [0, 106]);
  const pkl = runInfo(join(DATA, 'cryodrgn_cryosparc_cs/pose.cs.pkl'));
  assert.deepEqual(pkl['shapes'], [[2019, 3, 3], [2019, 2]]);
  assert.deepEqual(pkl['dtypes'], ['<f4', '<f4']);
  const npy = runInfo(join(DATA, 'cryodrgn_cryosparc_cs/ctf2.npy'));
  assert.deepEqual([npy['dtype'], npy['shape']], ['<f4', [2019, 9]]);
});

test('files we write, format sniffing without extension, and bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'info-'));
  try {
    writeStar(join(dir, 'a.star'), [
      { name: 'optics', loops: [{ columns: ['_rlnOpticsGroup', '_rlnVoltage'], rows: [['1', '300']] }] },
      { name: 'particles', loops: [{ columns: ['_rlnImageName', '_rlnDefocusU', '_rlnOpticsGroup'], rows: [['1@s.mrcs', '1e4', '1'], ['2@s.mrcs', '2e4', '1']] }] },
    ]);
    const s = runInfo(join(dir, 'a.star'));
    assert.deepEqual((s['blocks'] as Record<string, unknown>)['particles'], { rows: 2, columns: 3, loop: true, columnNames: ['_rlnImageName', '_rlnDefocusU', '_rlnOpticsGroup'] });
    assert.deepEqual(s['opticsGroups'], [{ OpticsGroup: '1', Voltage: '300' }]);
    writeNpy(join(dir, 'z'), new Float32Array(12), [4, 3]);
    assert.deepEqual([runInfo(join(dir, 'z')).format, runInfo(join(dir, 'z'))['shape']], ['npy', [4, 3]]);
    writeArraysPickle(join(dir, 'p'), { data: new Float64Array(6), shape: [3, 2] });
    assert.deepEqual(runInfo(join(dir, 'p'))['shapes'], [[3, 2]]);
    writeFileSync(join(dir, 'bad.npy'), 'not numpy at all');
    assert.throws(() => runInfo(join(dir, 'bad.npy')), (e: unknown) => e instanceof InputError && e.file === join(dir, 'bad.npy'));
    writeFileSync(join(dir, 'bad.pkl'), Uint8Array.from([0x80, 3, 0xff]));
    assert.throws(() => runInfo(join(dir, 'bad.pkl')), InputError);
    assert.throws(() => runInfo(join(dir, 'missing.mrc')), InputError);
    assert.throws(() => runInfo(join(dir, 'missing')), InputError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: --json prints exactly one JSON object on stdout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'info-'));
  const orig = process.stdout.write.bind(process.stdout);
  let captured = '';
  try {
    writeNpy(join(dir, 'x.npy'), new Float64Array(10), [2, 5]);
    const program = new Command().exitOverride();
    register(program);
    process.stdout.write = ((chunk: string | Uint8Array): boolean => { captured += String(chunk); return true; }) as typeof process.stdout.write;
    await program.parseAsync(['info', join(dir, 'x.npy'), '--json'], { from: 'user' });
  } finally {
    process.stdout.write = orig;
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = captured.trim().split('\n');
  assert.equal(lines.length, 1);
  const obj = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual([obj['format'], obj['dtype'], obj['shape']], ['npy', '<f8', [2, 5]]);
});
