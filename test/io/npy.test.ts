/**
 * NumPy .npy reader/writer. Independent truths: numpy itself (python3 writes files of many
 * dtypes/layouts and prints their values; it also loads what we write), the cryoDRGN .npy
 * files in shared/data, and hand-built byte fixtures for malformed input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, encodeStructuredNpy, parseNpy, readNpy, readNpyFloat64, writeNpy, type NpyField, type NpyValues } from '../../src/io/npy.js';
import { InputError } from '../../src/io/errors.js';

const DATA = join(import.meta.dirname, '../../../shared/data');

function python(script: string, args: string[] = []): string | undefined {
  try {
    return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { status?: number; stderr?: string };
    if (err.status === 3 || String(err.stderr ?? '').includes('No module named') || (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
const PY_PRELUDE = 'import sys, json\ntry:\n    import numpy as np\nexcept ImportError:\n    sys.exit(3)\n';

function findFiles(dir: string, re: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findFiles(p, re));
    else if (re.test(name)) out.push(p);
  }
  return out;
}

function asNumbers(v: NpyValues): number[] {
  return Array.isArray(v) ? v.map(Number) : Array.from(v as ArrayLike<number | bigint>, Number);
}

test('every .npy/.cs in shared/data parses and matches numpy (shape, dtype, sum, first values)', (t) => {
  if (!existsSync(DATA)) return t.skip('shared/data absent');
  const files = findFiles(DATA, /\.(npy|cs)$/);
  assert.ok(files.length >= 15, `found ${files.length} files`);
  const out = python(PY_PRELUDE + `
res = {}
for f in sys.argv[1:]:
    a = np.load(f)
    if a.dtype.names:
        cols = {}
        for n in a.dtype.names:
            c = a[n]
            if c.dtype.kind in 'fiub':
                cols[n] = [list(c.shape), float(np.asarray(c, dtype=np.float64).sum())]
            else:
                cols[n] = [list(c.shape), [x.decode('utf-8') for x in c.reshape(-1)[:3]]]
        res[f] = {'rows': int(a.size), 'names': list(a.dtype.names), 'cols': cols}
    else:
        res[f] = {'shape': list(a.shape), 'descr': a.dtype.str, 'sum': float(a.astype(np.float64).sum()), 'head': [float(x) for x in a.reshape(-1)[:5]]}
print(json.dumps(res))
`, files);
  for (const f of files) {
    const a = readNpy(f);
    if (!out) { assert.ok(a.structured ? a.fieldNames.length > 0 : a.shape.length > 0); continue; }
    const ref = JSON.parse(out)[f];
    if (a.structured) {
      assert.equal(a.rows, ref.rows, f);
      assert.deepEqual(a.fieldNames, ref.names, f);
      for (const name of a.fieldNames) {
        const [shape, summary] = ref.cols[name];
        const field: NpyField = a.fields[name]!;
        assert.deepEqual([a.rows, ...field.shape], shape, `${f} ${name}`);
        const v = field.values;
        if (Array.isArray(v)) assert.deepEqual(v.slice(0, 3), summary, `${f} ${name}`);
        else {
          const sum = asNumbers(v).reduce((x, y) => x + y, 0);
          assert.ok(Math.abs(sum - summary) <= 1e-9 * Math.max(1, Math.abs(summary)) + 1e-6, `${f} ${name}: ${sum} vs ${summary}`);
        }
      }
    } else {
      assert.deepEqual(a.shape, ref.shape, f);
      assert.equal(a.dtype.descr, ref.descr, f);
      const vals = asNumbers(a.data);
      assert.deepEqual(vals.slice(0, 5), ref.head, f);
      const sum = vals.reduce((x, y) => x + y, 0);
      assert.ok(Math.abs(sum - ref.sum) <= 1e-9 * Math.max(1, Math.abs(ref.sum)), `${f}: ${sum} vs ${ref.sum}`);
    }
  }
});

test('dtypes, byte orders, Fortran order, strings, sub-arrays and v2/v3 headers written by numpy', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'npy-'));
  try {
    const out = python(PY_PRELUDE + `
import os
d = sys.argv[1]
rng = np.random.default_rng(0)
cases = {
  'be_f4': np.arange(12, dtype='>f4').reshape(3, 4) * 0.5 - 2,
  'le_f8': rng.normal(size=(2, 3, 4)),
  'i8': np.array([-2**40, 5, 2**62], dtype='<i8'),
  'u4': np.array([0, 1, 4294967295], dtype='<u4'),
  'be_i2': np.array([-300, 7], dtype='>i2'),
  'u1': np.array([0, 200, 255], dtype='|u1'),
  'b1': np.array([True, False, True]),
  'f2': np.array([0.5, -1.25, 65504.0], dtype='<f2'),
  'fortran': np.asfortranarray(np.arange(24, dtype='<f4').reshape(2, 3, 4)),
  'scalar': np.array(3.25),
}
res = {}
for k, a in cases.items():
    np.save(os.path.join(d, k + '.npy'), a)
    res[k] = {'shape': list(a.shape), 'values': [float(x) for x in np.ascontiguousarray(a).reshape(-1)]}
rec = np.zeros(3, dtype=[('uid', '<u8'), ('blob/path', '|S12'), ('pose', '>f4', (3,)), ('name', '<U5'), ('flag', '?')])
rec['uid'] = [2**63 + 5, 1, 2]
rec['blob/path'] = [b'>a/b.mrc', b'xyz', b'']
rec['pose'] = np.arange(9).reshape(3, 3) / 4
rec['name'] = ['alpha', 'b', '']
rec['flag'] = [True, False, True]
np.save(os.path.join(d, 'rec.npy'), rec)
big = np.zeros(2, dtype=[('f%05d' % i, '<f4') for i in range(4000)])
big['f03999'] = [1.5, -2]
np.save(os.path.join(d, 'v2.npy'), big)
uni = np.zeros(1, dtype=[('\u03b1\u03b2', '<f8')]); uni[0] = 7
np.save(os.path.join(d, 'v3.npy'), uni)
print(json.dumps(res))
`, [dir]);
    if (out === undefined) return t.skip('python3 with numpy not available');
    const ref = JSON.parse(out) as Record<string, { shape: number[]; values: number[] }>;
    for (const [k, r] of Object.entries(ref)) {
      const a = readNpy(join(dir, `${k}.npy`));
      assert.equal(a.structured, false, k);
      if (a.structured) continue;
      assert.deepEqual(a.shape, r.shape, k);
      assert.deepEqual(asNumbers(a.data), r.values, k);
    }
    assert.ok(readNpy(join(dir, 'i8.npy')).structured === false);
    const rec = readNpy(join(dir, 'rec.npy'));
    assert.ok(rec.structured);
    if (!rec.structured) return;
    assert.equal(rec.rows, 3);
    assert.deepEqual(rec.fields['uid']!.values, BigUint64Array.from([2n ** 63n + 5n, 1n, 2n]));
    assert.deepEqual(rec.fields['blob/path']!.values, ['>a/b.mrc', 'xyz', '']);
    assert.deepEqual(rec.fields['pose']!.shape, [3]);
    assert.deepEqual(asNumbers(rec.fields['pose']!.values), [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]);
    assert.deepEqual(rec.fields['name']!.values, ['alpha', 'b', '']);
    assert.deepEqual(asNumbers(rec.fields['flag']!.values), [1, 0, 1]);
    assert.equal(readFileSync(join(dir, 'v2.npy'))[6], 2, 'numpy wrote a version 2 header');
    const v2 = readNpy(join(dir, 'v2.npy'));
    assert.ok(v2.structured && v2.fieldNames.length === 4000);
    if (v2.structured) assert.deepEqual(asNumbers(v2.fields['f03999']!.values), [1.5, -2]);
    const v3 = readNpy(join(dir, 'v3.npy'));
    assert.equal(readFileSync(join(dir, 'v3.npy'))[6], 3, 'numpy wrote a version 3 header');
    assert.ok(v3.structured && v3.fields['αβ'] !== undefined);
    if (v3.structured) assert.deepEqual(asNumbers(v3.fields['αβ']!.values), [7]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeNpy round trip, header alignment, and numpy loads what we write', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'npy-'));
  try {
    const z = Float32Array.from({ length: 5 * 8 }, (_, i) => Math.sin(i) * 1e3);
    const d = Float64Array.from({ length: 7 }, (_, i) => Math.PI * i - 1e-300);
    const n = Int32Array.from([-5, 0, 2147483647]);
    writeNpy(join(dir, 'z.npy'), z, [5, 8]);
    writeNpy(join(dir, 'd.npy'), d, [7]);
    writeNpy(join(dir, 'n.npy'), n, [3, 1]);
    for (const [name, data, shape] of [['z', z, [5, 8]], ['d', d, [7]], ['n', n, [3, 1]]] as const) {
      const bytes = readFileSync(join(dir, `${name}.npy`));
      const headerEnd = 10 + bytes.readUInt16LE(8);
      assert.equal(headerEnd % 64, 0, 'data starts 64-byte aligned');
      assert.equal(bytes[headerEnd - 1], 0x0a, 'header ends with newline');
      const a = readNpy(bytes);
      assert.ok(!a.structured);
      if (!a.structured) { assert.deepEqual(a.shape, shape); assert.deepEqual(a.data, data); }
    }
    const rec = encodeStructuredNpy([
      { name: 'blob/idx', descr: '<u4', values: Uint32Array.from([3, 4]) },
      { name: 'alignments3D/shift', descr: '<f4', shape: [2], values: Float32Array.from([1, 2, 3, 4]) },
      { name: 'blob/path', descr: '|S8', values: ['>s.mrcs', 't.mrcs'] },
    ], 2);
    const r = parseNpy(rec);
    assert.ok(r.structured);
    if (r.structured) {
      assert.deepEqual(r.fields['alignments3D/shift']!.values, Float32Array.from([1, 2, 3, 4]));
      assert.deepEqual(r.fields['blob/path']!.values, ['>s.mrcs', 't.mrcs']);
    }
    writeNpy(join(dir, 'rec.npy'), new Uint8Array(0), [0]); // 0-size array
    const check = python(PY_PRELUDE + `
d = sys.argv[1]
z = np.load(d + '/z.npy'); dd = np.load(d + '/d.npy'); n = np.load(d + '/n.npy'); e = np.load(d + '/rec.npy')
assert z.dtype == np.float32 and z.shape == (5, 8)
assert np.array_equal(z.reshape(-1), (np.sin(np.arange(40)) * 1e3).astype(np.float32))
assert dd.dtype == np.float64 and np.array_equal(dd, np.pi * np.arange(7) - 1e-300)
assert n.dtype == np.int32 and n.shape == (3, 1) and n[2, 0] == 2147483647
assert e.shape == (0,) and e.dtype == np.uint8
print('ok')
`, [dir]);
    if (check === undefined) return t.skip('python3 with numpy not available for the cross-check');
    assert.equal(check.trim(), 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readNpyFloat64 converts and checks dimensions', () => {
  const bytes = encodeNpy(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const a = readNpyFloat64(bytes, 2);
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(a.data, Float64Array.from([1, 2, 3, 4, 5, 6]));
  assert.throws(() => readNpyFloat64(bytes, 3), InputError);
});

test('malformed .npy input gives InputErrors', () => {
  const good = encodeNpy(Float32Array.from([1, 2, 3, 4]), [2, 2]);
  const bad = (b: Uint8Array, re: RegExp): void => assert.throws(() => parseNpy(b, 'x.npy'), (e: unknown) => e instanceof InputError && e.file === 'x.npy' && re.test(e.message));
  const magic = good.slice(); magic[1] = 0x58;
  bad(magic, /bad magic/);
  bad(good.subarray(0, 40), /truncated .npy header/);
  bad(good.subarray(0, 8), /bad magic|truncated/);
  bad(good.subarray(0, good.length - 1), /truncated data/);
  const version = good.slice(); version[6] = 9;
  bad(version, /version 9/);
  const mkHeader = (dict: string): Uint8Array => {
    const h = Buffer.from(dict.padEnd(118, ' ') + '\n', 'latin1');
    return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length, 0]), h, Buffer.alloc(64)]);
  };
  bad(mkHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"), /object dtype/);
  bad(mkHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"), /unsupported NumPy dtype/);
  bad(mkHeader("{'descr': '<f4', 'shape': (2,), }"), /fortran_order/);
  bad(mkHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }"), /shape/);
  bad(mkHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,"), /bad .npy header/);
  bad(mkHeader("{'descr': [('a', [('b', '<f4')])], 'fortran_order': False, 'shape': (1,), }"), /nested/);
  // A shape that needs more data than the file holds (shape mismatch).
  bad(mkHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }"), /needs 96 bytes, file has 64/);
  assert.throws(() => readNpy('/nonexistent/file.npy'), InputError);
});
