/**
 * Pickle reader/writer and cryoDRGN pose/ctf pickles. Independent truths: the .npy copies
 * of each shared/data .pkl (saved by numpy from the unpickled arrays), pickles that Python
 * writes at every protocol, and Python's pickle.load of what we write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/io/errors.js';
import { readNpyFloat64 } from '../../src/io/npy.js';
import { NdArray, PyTuple, encodeArraysPickle, parsePickle, readPickle, writeArraysPickle, type PickleValue } from '../../src/io/pickle.js';
import { eulerToMatrix } from '../../src/core/rotation.js';
import { readStar } from '../../src/io/star.js';
import { ctfFromRows, ctfParamsAt, readCtfPkl, readPosePkl, writeCtfPkl, writePosePkl } from '../../src/io/cryodrgnPkl.js';

const DATA = join(import.meta.dirname, '../../../shared/data');

function python(script: string, args: string[] = []): string | undefined {
  try {
    return execFileSync('python3', ['-c', 'import sys, json, pickle\ntry:\n    import numpy as np\nexcept ImportError:\n    sys.exit(3)\n' + script, ...args],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if ((e as { status?: number }).status === 3 || (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function arrays(v: PickleValue): NdArray[] {
  if (v instanceof NdArray) return [v];
  if (v instanceof PyTuple) return v.items.map((x) => { assert.ok(x instanceof NdArray); return x; });
  assert.fail('expected an array or a tuple of arrays');
}

function nums(a: NdArray): number[] {
  return Array.from(a.data as ArrayLike<number>, Number);
}

test('every .pkl in shared/data equals its .npy copy exactly', (t) => {
  if (!existsSync(DATA)) return t.skip('shared/data absent');
  let checked = 0;
  for (const dir of readdirSync(DATA).map((d) => join(DATA, d)).filter((d) => statSync(d).isDirectory())) {
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.pkl'))) {
      const base = join(dir, name.slice(0, -4));
      const refs = existsSync(`${base}.npy`) ? [`${base}.npy`] : [`${base}.rot.npy`, `${base}.trans.npy`].filter(existsSync);
      const got = arrays(readPickle(join(dir, name)));
      assert.ok(refs.length > 0 && refs.length <= got.length, name);
      refs.forEach((r, k) => {
        const ref = readNpyFloat64(r);
        assert.deepEqual(got[k]!.shape, ref.shape, name);
        assert.deepEqual(Float64Array.from(nums(got[k]!)), ref.data, name);
      });
      checked++;
    }
  }
  assert.ok(checked >= 10, `checked ${checked} pickles`);
});

test('cryoDRGN pose/ctf pickles: shapes, units and rotations', (t) => {
  const dir = join(DATA, 'cryodrgn_cryosparc_cs');
  if (!existsSync(dir)) return t.skip('shared/data absent');
  const pose = readPosePkl(join(dir, 'pose.cs.pkl'));
  assert.equal(pose.n, 2019);
  assert.equal(pose.rotations.length, 9 * 2019);
  assert.equal(pose.translationsFrac!.length, 2 * 2019);
  for (let i = 0; i < pose.n; i += 97) { // R R^T = I within float32 rounding
    const R = pose.rotations.subarray(9 * i, 9 * i + 9);
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) {
      const dot = R[3 * r]! * R[3 * c]! + R[3 * r + 1]! * R[3 * c + 1]! + R[3 * r + 2]! * R[3 * c + 2]!;
      assert.ok(Math.abs(dot - (r === c ? 1 : 0)) < 1e-6);
    }
  }
  const ctf = readCtfPkl(join(dir, 'ctf2.pkl'));
  assert.equal(ctf.n, 2019);
  assert.equal(ctf.boxPx[0], 180);
  assert.ok(Math.abs(ctf.apixAngstrom[0]! - 2.95) < 1e-6);
  assert.equal(ctf.voltageKv[0], 200);
  const hand = readPosePkl(join(DATA, 'cryodrgn_hand_synthetic/hand_rot.pkl'));
  assert.equal(hand.n, 100);
  assert.equal(hand.translationsFrac, undefined);
  // Shape validation: a CTF table is not a pose file and vice versa.
  assert.throws(() => readPosePkl(join(dir, 'ctf2.pkl')), (e: unknown) => e instanceof InputError && /\(N, 3, 3\)/.test(e.message));
  assert.throws(() => readCtfPkl(join(dir, 'pose.cs.pkl')), (e: unknown) => e instanceof InputError && /numpy array/.test(e.message));
});

test('cryoDRGN pose.star.pkl / ctf1.pkl = RELION A (eulerToMatrix), origin / D and STAR CTF values', (t) => {
  const dir = join(DATA, 'star_and_cs_formats');
  if (!existsSync(dir)) return t.skip('shared/data absent');
  const loop = readStar(join(dir, 'FinalRefinement-OriginalParticles-PfCRT.star')).blocks.find((b) => b.name === 'images')!.loops[0]!;
  const col = (name: string, i: number): number => Number(loop.rows[i]![loop.columns.indexOf(name)]);
  const pose = readPosePkl(join(dir, 'pose.star.pkl'));
  const ctf = readCtfPkl(join(dir, 'ctf1.pkl'));
  assert.equal(pose.n, loop.rows.length);
  const D = 300; // cryoDRGN's test used -D 300 --Apix 1.035 -w 0.1 (PROVENANCE.md)
  for (let i = 0; i < pose.n; i++) {
    const A = eulerToMatrix(col('_rlnAngleRot', i), col('_rlnAngleTilt', i), col('_rlnAnglePsi', i));
    for (let k = 0; k < 9; k++) assert.ok(Math.abs(A[k]! - pose.rotations[9 * i + k]!) < 1e-12, `particle ${i}`);
    assert.ok(Math.abs(pose.translationsFrac![2 * i]! - col('_rlnOriginX', i) / D) < 1e-15);
    assert.ok(Math.abs(pose.translationsFrac![2 * i + 1]! - col('_rlnOriginY', i) / D) < 1e-15);
    assert.equal(ctf.boxPx[i], D);
    assert.ok(Math.abs(ctf.defocusUAngstrom[i]! - col('_rlnDefocusU', i)) < 4e-3);
    assert.ok(Math.abs(ctf.defocusVAngstrom[i]! - col('_rlnDefocusV', i)) < 4e-3);
    assert.ok(Math.abs(ctf.defocusAngleDeg[i]! - col('_rlnDefocusAngle', i)) < 1e-5);
    assert.ok(Math.abs(ctf.voltageKv[i]! - col('_rlnVoltage', i)) < 1e-4);
    assert.ok(Math.abs(ctf.csMm[i]! - col('_rlnSphericalAberration', i)) < 1e-6);
    assert.ok(Math.abs(ctf.amplitudeContrast[i]! - 0.1) < 1e-7);
    const p = ctfParamsAt(ctf, i);
    assert.equal(p.defocusUAngstrom, ctf.defocusUAngstrom[i]);
    assert.equal(p.bFactor, 0);
  }
});

test('pickles written by Python at protocols 0-5 (Fortran, big-endian, ints, containers)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pkl-'));
  try {
    const out = python(`
d = sys.argv[1]
a = np.arange(24, dtype='<f4').reshape(2, 3, 4) / 8
objs = {
  'f': np.asfortranarray(a),
  'be': np.arange(6, dtype='>f8').reshape(3, 2) - 2.5,
  'i4': np.array([[-1, 2], [3, 2**31 - 1]], dtype=np.int32),
}
for p in range(6):
    for k, v in objs.items():
        with open(f'{d}/{k}{p}.pkl', 'wb') as fh:
            pickle.dump(v, fh, protocol=p)
    with open(f'{d}/mix{p}.pkl', 'wb') as fh:
        pickle.dump({'a': [1, -7, 2**40, 1.5, None, True, 'x\\u00e9', b'by'], 'b': (a[0], 3)}, fh, protocol=p)
print(json.dumps({k: [list(v.shape), np.ascontiguousarray(v).reshape(-1).astype(float).tolist()] for k, v in objs.items()}))
`, [dir]);
    if (out === undefined) return t.skip('python3 with numpy not available');
    const ref = JSON.parse(out) as Record<string, [number[], number[]]>;
    for (let p = 0; p <= 5; p++) {
      for (const [k, [shape, values]] of Object.entries(ref)) {
        const [a] = arrays(readPickle(join(dir, `${k}${p}.pkl`)));
        assert.deepEqual(a!.shape, shape, `${k} protocol ${p}`);
        assert.deepEqual(nums(a!), values, `${k} protocol ${p}`);
      }
      const mix = readPickle(join(dir, `mix${p}.pkl`));
      assert.ok(mix instanceof Map, `protocol ${p}`);
      const list = (mix as Map<PickleValue, PickleValue>).get('a') as PickleValue[];
      assert.deepEqual(list.slice(0, 7), [1, -7, 2 ** 40, 1.5, null, true, 'xé'], `protocol ${p}`);
      assert.deepEqual(Array.from(list[7] as Uint8Array), [98, 121]);
      const b = (mix as Map<PickleValue, PickleValue>).get('b');
      assert.ok(b instanceof PyTuple && b.items[0] instanceof NdArray && b.items[1] === 3);
      assert.deepEqual((b.items[0] as NdArray).shape, [3, 4]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('written pickles round-trip and Python/numpy loads them', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pkl-'));
  try {
    const n = 4;
    const R = Float64Array.from({ length: 9 * n }, (_, i) => ((i * 7) % 11 - 5) / 3); // not float32-exact: checks the cast
    const tr = Float64Array.from({ length: 2 * n }, (_, i) => (i - 3) / 64);
    writePosePkl(join(dir, 'pose.pkl'), R, tr);
    writePosePkl(join(dir, 'pose64.pkl'), R, tr, { dtype: 'float64' });
    const ctfRows = Float64Array.from({ length: 9 * n }, (_, i) => 1000 + 17.25 * i);
    const ctf = ctfFromRows(ctfRows, n);
    writeCtfPkl(join(dir, 'ctf.pkl'), ctf);
    const z = Float32Array.from({ length: n * 3 }, (_, i) => -i / 3);
    writeArraysPickle(join(dir, 'z.pkl'), { data: z, shape: [n, 3] });
    writeArraysPickle(join(dir, 'big.pkl'), { data: new Float32Array(70), shape: [1, 70] }); // BINBYTES path
    const back = readPosePkl(join(dir, 'pose.pkl'));
    assert.deepEqual(back.rotations, Float64Array.from(Float32Array.from(R)));
    assert.deepEqual(back.translationsFrac, Float64Array.from(Float32Array.from(tr)));
    const back64 = readPosePkl(join(dir, 'pose64.pkl'));
    assert.deepEqual(back64.rotations, R);
    assert.deepEqual(back64.translationsFrac, tr);
    const ctfBack = readCtfPkl(join(dir, 'ctf.pkl'));
    assert.deepEqual(ctfBack.defocusUAngstrom, ctf.defocusUAngstrom); // exact in float32
    assert.deepEqual(arrays(readPickle(join(dir, 'z.pkl')))[0]!.data, z);
    const check = python(`
d = sys.argv[1]
def load(f):
    with open(f'{d}/{f}', 'rb') as fh:
        return pickle.load(fh)
R, t = load('pose.pkl')
assert isinstance(R, np.ndarray) and R.dtype == np.float32 and R.shape == (4, 3, 3) and t.shape == (4, 2)
ref = ((np.arange(36) * 7) % 11 - 5) / 3
assert np.array_equal(R.reshape(-1), ref.astype(np.float32)), 'R32'
assert np.array_equal(t.reshape(-1), ((np.arange(8) - 3) / 64).astype(np.float32))
R64, t64 = load('pose64.pkl')
assert R64.dtype == np.float64 and np.array_equal(R64.reshape(-1), ref), 'R64'
c = load('ctf.pkl')
assert c.dtype == np.float32 and c.shape == (4, 9) and np.array_equal(c.reshape(-1), 1000 + 17.25 * np.arange(36))
z = load('z.pkl')
assert z.shape == (4, 3) and np.array_equal(z.reshape(-1), (-np.arange(12) / 3).astype(np.float32))
assert load('big.pkl').shape == (1, 70)
print('ok')
`, [dir]);
    if (check === undefined) return t.skip('python3 with numpy not available for the cross-check');
    assert.equal(check.trim(), 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Python 2 style pickle (BINSTRING data, bytes dtype and byte order) reads big-endian data', () => {
  const be = Buffer.alloc(16);
  be.writeDoubleBE(1.5, 0);
  be.writeDoubleBE(-2, 8);
  const parts: Array<Buffer | number[]> = [
    [0x80, 2], Buffer.from('cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n', 'latin1'),
    [0x4b, 0, 0x85, 0x55, 1, 0x62, 0x87, 0x52], // (0,), 'b', TUPLE3, REDUCE
    [0x28, 0x4b, 1, 0x4b, 2, 0x85], Buffer.from('cnumpy\ndtype\n', 'latin1'),
    [0x55, 2, 0x66, 0x38, 0x4b, 0, 0x4b, 1, 0x87, 0x52], // dtype('f8', 0, 1)
    [0x28, 0x4b, 3, 0x55, 1, 0x3e, 0x4e, 0x4e, 0x4e, 0x4a, 255, 255, 255, 255, 0x4a, 255, 255, 255, 255, 0x4b, 0, 0x74, 0x62],
    [0x89, 0x54, 16, 0, 0, 0], be, [0x74, 0x62, 0x2e],
  ];
  const bytes = Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
  const [a] = arrays(parsePickle(bytes, 'py2.pkl'));
  assert.equal(a!.descr, '>f8');
  assert.deepEqual(a!.shape, [2]);
  assert.deepEqual(nums(a!), [1.5, -2]);
});

test('malformed pickles and wrong shapes give InputErrors', () => {
  const good = encodeArraysPickle({ data: Float32Array.from([1, 2, 3]), shape: [3] });
  const unknown = Uint8Array.from([0x80, 3, 0x4b, 1, 0xff, 0x2e]);
  assert.throws(() => parsePickle(unknown, 'u.pkl'),
    (e: unknown) => e instanceof InputError && e.file === 'u.pkl' && /opcode 0xff at byte offset 4/.test(e.message));
  assert.throws(() => parsePickle(good.subarray(0, good.length - 20), 't.pkl'), (e: unknown) => e instanceof InputError && /truncated/.test(e.message));
  assert.throws(() => parsePickle(Uint8Array.from([0x80, 3, 0x68, 5, 0x2e]), 'm.pkl'), (e: unknown) => e instanceof InputError && /memo key 5/.test(e.message));
  const ctf8 = encodeArraysPickle({ data: new Float32Array(16), shape: [2, 8] });
  assert.throws(() => readCtfPkl(ctf8, 'c.pkl'), (e: unknown) => e instanceof InputError && e.file === 'c.pkl' && /\(N, 9\).*\(2, 8\)/.test(e.message));
  const poseBad = encodeArraysPickle([{ data: new Float32Array(18), shape: [3, 3, 2] }, { data: new Float32Array(6), shape: [3, 2] }]);
  assert.throws(() => readPosePkl(poseBad, 'p.pkl'), (e: unknown) => e instanceof InputError && /\(3, 3, 2\)/.test(e.message));
  const mismatch = encodeArraysPickle([{ data: new Float32Array(18), shape: [2, 3, 3] }, { data: new Float32Array(6), shape: [3, 2] }]);
  assert.throws(() => readPosePkl(mismatch, 'p.pkl'), (e: unknown) => e instanceof InputError && /2 rotations but 3 translations/.test(e.message));
  assert.throws(() => readPickle('/nonexistent.pkl'), InputError);
  // Data shorter than the declared shape.
  const short = Buffer.from(encodeArraysPickle({ data: Float32Array.from([1, 2]), shape: [2] }));
  const at = short.indexOf(Buffer.from([0x43, 8])); // SHORT_BINBYTES of 8 bytes
  short[at + 1] = 4;
  const cut = Buffer.concat([short.subarray(0, at + 6), short.subarray(at + 10)]);
  assert.throws(() => parsePickle(cut, 's.pkl'), (e: unknown) => e instanceof InputError && /needs 8/.test(e.message));
});
