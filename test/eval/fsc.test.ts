/**
 * FSC tests with analytic truths: a map against itself (1 everywhere, Nyquist), independent
 * noise (0 within sampling error), and signal + noise of a known radial spectrum, whose
 * expected FSC per shell is 1/sqrt(1 + <P_noise/P_signal>_shell).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { fft3Centered, ifft3Centered } from '../../src/core/fft.js';
import { crossingShell, fsc, fscReport, resolutionFromCurve } from '../../src/eval/fsc.js';
import { applyMask, softSphericalMask } from '../../src/eval/mask.js';

function noise(D: number, rng: Rng): Float32Array {
  const v = new Float32Array(D * D * D);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  return v;
}

/** Shell voxel counts and mean |k|^2 per shell (shell j+1 holds j <= |k| < j+1). */
function shellStats(D: number): { count: Float64Array; meanK2: Float64Array } {
  const n = Math.floor(D / 2), c = Math.floor(D / 2);
  const count = new Float64Array(n), sum = new Float64Array(n);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    const r2 = (x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2;
    const j = Math.floor(Math.sqrt(r2) + 1e-12);
    if (j < n) { count[j]! += 1; sum[j]! += r2; }
  }
  return { count, meanK2: sum.map((s, j) => s / count[j]!) };
}

test('FSC of a map with itself is 1 in every shell; resolution = Nyquist (2 px)', () => {
  const D = 24;
  const a = noise(D, new Rng(1));
  const curve = fsc(a, a, D);
  assert.equal(curve.length, 12);
  for (const v of curve) assert.ok(Math.abs(v - 1) < 1e-9, `${v}`);
  const rep = fscReport(a, a, D, 1.5);
  assert.equal(rep.res05_px, 2);
  assert.equal(rep.res0143_px, 2);
  assert.equal(rep.res05_A, 3);
  assert.deepEqual(rep.curve[0], [1, rep.curve[0]![1]]);
  assert.equal(rep.curve[11]![0], 12);
  assert.equal(fscReport(a, a, D, null).res05_A, null);
  // scaling one map does not change the FSC; negating it flips the sign
  const b = a.map((v) => -3 * v);
  for (const v of fsc(a, b, D)) assert.ok(Math.abs(v + 1) < 1e-9);
});

test('FSC of independent noise maps is ~0 (within 4 sigma of sampling error)', () => {
  const D = 32;
  const a = noise(D, new Rng(2)), b = noise(D, new Rng(3));
  const curve = fsc(a, b, D);
  const { count } = shellStats(D);
  for (let j = 2; j < curve.length; j++) {
    const sigma = 1 / Math.sqrt(count[j]! / 2); // Hermitian pairs are not independent
    assert.ok(Math.abs(curve[j]!) < 4 * sigma, `shell ${j + 1}: ${curve[j]} (sigma ${sigma})`);
  }
  assert.ok(resolutionFromCurve(curve, D, 0.5) > 6, 'noise must not give a high resolution');
});

test('signal + noise with power alpha·|k|^2 crosses where 1/sqrt(1 + alpha<k^2>) predicts', () => {
  const D = 32, alpha = 3 / 64; // continuous crossing of 0.5 at |k| = 8
  const { count, meanK2 } = shellStats(D);
  const expected = Float64Array.from(meanK2, (k2) => 1 / Math.sqrt(1 + alpha * k2));
  const rng = new Rng(4);
  const S = noise(D, rng);
  const W = fft3Centered(noise(D, rng), D);
  const c = D / 2;
  let i = 0;
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
    const f = Math.sqrt(alpha * ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2));
    W.re[i]! *= f; W.im[i]! *= f;
  }
  const N = ifft3Centered(W, D);
  const b = S.map((v, k) => v + N[k]!);
  const curve = fsc(S, b, D);
  for (let j = 2; j < curve.length; j++) {
    const sigma = 1 / Math.sqrt(count[j]! / 2);
    assert.ok(Math.abs(curve[j]! - expected[j]!) < 4 * sigma, `shell ${j + 1}: ${curve[j]} vs ${expected[j]}`);
  }
  const sExp = crossingShell(expected, 0.5)!;
  const sGot = crossingShell(curve, 0.5)!;
  // expected crossing: mean |k| in shell i is ~ i - 0.5, so the shell number is ~ 8.5
  assert.ok(sExp > 8.2 && sExp < 8.8, `expected crossing ${sExp}`);
  assert.ok(Math.abs(sGot - sExp) < 0.5, `crossing ${sGot} vs ${sExp}`);
  assert.ok(Math.abs(resolutionFromCurve(curve, D, 0.5) - D / sExp) < 0.25);
});

test('resolutionFromCurve: first crossing, linear interpolation, Nyquist when never crossed', () => {
  const curve = [1, 0.9, 0.7, 0.3, 0.6, 0.1];
  assert.equal(crossingShell(curve, 0.5), 3.5); // between shell 3 (0.7) and shell 4 (0.3)
  assert.equal(resolutionFromCurve(curve, 20, 0.5), 20 / 3.5);
  assert.equal(resolutionFromCurve(curve, 20, 0.05), 2);
  // The DC-only shell 1 never decides the crossing (its value is set by the maps' means):
  assert.equal(crossingShell(curve, 0.95), 2); // shell 2 (0.9) is already below
  assert.equal(resolutionFromCurve([0.2, 0.1], 20, 0.5), 10);
  assert.equal(crossingShell([-1, 0.9, 0.8, 0.4], 0.5), 3.75); // anti-correlated DC (mean-subtracted map) ignored
});

test('soft spherical mask: 1 inside, 0.5 mid-edge, 0 outside; FSC mask option = masking first', () => {
  const D = 20, c = 10;
  const m = softSphericalMask(D, 5, 4);
  const at = (x: number, y: number, z: number) => m[(z * D + y) * D + x]!;
  assert.equal(at(c, c, c), 1);
  assert.equal(at(c + 5, c, c), 1);
  assert.ok(Math.abs(at(c + 7, c, c) - 0.5) < 1e-7);
  assert.equal(at(c + 9, c, c), 0);
  assert.equal(at(0, 0, 0), 0);
  const a = noise(D, new Rng(5)), b = noise(D, new Rng(6));
  const c1 = fsc(a, b, D, { mask: m });
  const c2 = fsc(applyMask(a, m), applyMask(b, m), D);
  for (let j = 0; j < c1.length; j++) assert.ok(Math.abs(c1[j]! - c2[j]!) < 1e-12);
});

test('fsc and align CLI: self FSC, InputErrors, and --align undoing a rotation + mirror', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeMrc, readMrc } = await import('../../src/io/mrc.js');
  const { runFsc } = await import('../../src/cli/commands/fsc.js');
  const { runAlign } = await import('../../src/cli/commands/align.js');
  const { transformVolume } = await import('../../src/eval/align.js');
  const { eulerToMatrix, matMul } = await import('../../src/core/rotation.js');
  const { InputError } = await import('../../src/io/errors.js');
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-fsc-'));
  try {
    const D = 24, c = 12;
    // a chiral smooth map: five Gaussian blobs, not coplanar (three alone would be achiral)
    const A = new Float32Array(D ** 3);
    const blobs = [[3, -2, 1, 1], [-4, 3, -2, 0.7], [1, 4, 4, 0.5], [-2, -4, 3, 0.9], [4, 2, -4, 0.6]];
    let i = 0;
    for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++, i++) {
      for (const [bx, by, bz, w] of blobs) A[i]! += w! * Math.exp(-((x - c - bx!) ** 2 + (y - c - by!) ** 2 + (z - c - bz!) ** 2) / 8);
    }
    const pa = join(dir, 'a.mrc'), pb = join(dir, 'b.mrc'), pc = join(dir, 'c.mrc'), po = join(dir, 'out.mrc');
    writeMrc(pa, A, { nx: D, ny: D, nz: D, apixAngstrom: 2 });
    const self = runFsc({ mapA: pa, mapB: pa });
    assert.equal(self.res05_px, 2);
    assert.equal(self.res05_A, 4);
    assert.equal(self.curve.length, 12);
    // B(p) = A(R M p + t): a rotated, mirrored, shifted copy
    const L = matMul(new Float64Array(9), eulerToMatrix(40, 70, -30), new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, -1]));
    writeMrc(pb, transformVolume(A, D, L, [0.5, -1, 1]), { nx: D, ny: D, nz: D, apixAngstrom: 2 });
    const raw = runFsc({ mapA: pa, mapB: pb });
    const al = runFsc({ mapA: pa, mapB: pb, align: true, maskRadiusPx: 10 });
    assert.equal(al.aligned!.mirrored, true);
    assert.ok(al.aligned!.correlation > 0.99);
    assert.ok(al.res05_px < raw.res05_px && al.res05_px < 4, `${al.res05_px} vs unaligned ${raw.res05_px}`);
    const out = runAlign({ mapA: pa, mapB: pb, output: po });
    assert.equal(out.mirrored, true);
    const back = readMrc(po);
    assert.equal(back.nx, D);
    assert.equal(back.apix, 2);
    writeMrc(pc, new Float32Array(16 * 16 * 16), { nx: 16, ny: 16, nz: 16 });
    assert.throws(() => runFsc({ mapA: pa, mapB: pc }), InputError);
    assert.throws(() => runFsc({ mapA: pa, mapB: pa, maskRadiusPx: -1 }), InputError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('commands register on a commander program; fsc --json prints exactly one JSON object', async () => {
  const { Command } = await import('commander');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeMrc } = await import('../../src/io/mrc.js');
  const fscCmd = await import('../../src/cli/commands/fsc.js');
  const alignCmd = await import('../../src/cli/commands/align.js');
  const poseCmd = await import('../../src/cli/commands/poseError.js');
  const program = new Command().exitOverride();
  for (const m of [fscCmd, alignCmd, poseCmd]) m.register(program);
  assert.deepEqual(program.commands.map((c) => c.name()).sort(), ['align', 'fsc', 'pose-error']);
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-fsccli-'));
  const write = process.stdout.write.bind(process.stdout);
  let captured = '';
  try {
    const D = 16, p = join(dir, 'a.mrc');
    writeMrc(p, noise(D, new Rng(9)), { nx: D, ny: D, nz: D, apixAngstrom: 1.5 });
    process.stdout.write = ((s: string | Uint8Array) => { captured += String(s); return true; }) as typeof process.stdout.write;
    await program.parseAsync(['fsc', p, p, '--json', '--mask-radius', '6', '--apix', '3'], { from: 'user' });
  } finally {
    process.stdout.write = write;
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = captured.trim().split('\n');
  assert.equal(lines.length, 1);
  const obj = JSON.parse(lines[0]!) as { res05_px: number; res05_A: number; curve: Array<[number, number]> };
  assert.equal(obj.res05_px, 2);
  assert.equal(obj.res05_A, 6);
  assert.equal(obj.curve.length, 8);
});

test('oracle: fscRelionBinning equals relion_image_handler --fsc to 1e-5 (skipped without RELION)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const probe = spawnSync('relion_image_handler', ['--version'], { encoding: 'utf8' });
  if (probe.error) { t.skip('relion_image_handler not installed'); return; }
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeMrc } = await import('../../src/io/mrc.js');
  const { fscRelionBinning } = await import('../../src/eval/fsc.js');
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-rfsc-'));
  try {
    for (const D of [32, 25]) {
      const rng = new Rng(D);
      const a = noise(D, rng), b = a.map((v) => v + 1.5 * rng.normal());
      const pa = join(dir, `a${D}.mrc`), pb = join(dir, `b${D}.mrc`);
      writeMrc(pa, a, { nx: D, ny: D, nz: D, apixAngstrom: 1 });
      writeMrc(pb, b, { nx: D, ny: D, nz: D, apixAngstrom: 1 });
      const r = spawnSync('relion_image_handler', ['--i', pa, '--fsc', pb, '--angpix', '1'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').filter((l) => /^\s*\d/.test(l)).map((l) => l.trim().split(/\s+/).map(Number));
      const ours = fscRelionBinning(a, b, D);
      assert.ok(rows.length >= Math.floor(D / 2), `RELION printed ${rows.length} shells`);
      for (let j = 1; j < Math.min(rows.length, ours.length); j++) {
        assert.equal(rows[j]![0], j);
        assert.ok(Math.abs(rows[j]![3]! - ours[j]!) < 1e-5, `D ${D} shell ${j}: RELION ${rows[j]![3]} vs ${ours[j]}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
