/**
 * Particle loading tests. Numbers are checked against independent references:
 * - cryoDRGN's own parse of the same files (pose .rot/.trans and CTF .npy in ../shared/data):
 *   RELION 3.0 STAR (PfCRT), cryoSPARC .cs, the cryo-ET STAR, and .mrcs + pickles;
 * - the raw STAR columns (3.1 origins in Angstrom / pixel size), and 3.0 vs 3.1 copies of the same data;
 * - images with known contents written to temporary stacks.
 * Plus the error paths: outside paths, unknown optics group, box/stack mismatch, index past the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eulerToMatrix } from '../../src/core/rotation.js';
import { InputError } from '../../src/io/errors.js';
import { openMrcStack, writeMrc } from '../../src/io/mrc.js';
import { readNpyFloat64 } from '../../src/io/npy.js';
import {
  loadParticles, ParticleImageReader, readParticleImages, type ParticleSet,
} from '../../src/io/particles.js';
import { readRelionParticles, writeParticlesStar } from '../../src/io/relionStar.js';
import { getBlock, readStar } from '../../src/io/star.js';

const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data');
const haveData = existsSync(DATA);
const d = (p: string): string => join(DATA, p);

/** Max |a - b| / max(1, |b|) over CTF columns in cryoDRGN order [D, Apix, dfU, dfV, dfang, kV, Cs, w, phase]. */
function compareToCryodrgn(set: ParticleSet, rotNpy: string, transNpy: string | null, ctfNpy: string | null, ctfFrom = 0): { rot: number; trans: number; ctf: number } {
  const rot = readNpyFloat64(rotNpy).data;
  assert.equal(rot.length, 9 * set.particles.length);
  const trans = transNpy ? readNpyFloat64(transNpy).data : null;
  const ctf = ctfNpy ? readNpyFloat64(ctfNpy).data : null;
  let er = 0, et = 0, ec = 0;
  set.particles.forEach((p, i) => {
    const A = eulerToMatrix(...p.eulerDeg!);
    for (let k = 0; k < 9; k++) er = Math.max(er, Math.abs(A[k] - rot[9 * i + k]));
    if (trans) {
      const o = p.originPx ?? [0, 0];
      for (let k = 0; k < 2; k++) et = Math.max(et, Math.abs(o[k] / set.boxPx - trans[2 * i + k]));
    }
    if (ctf) {
      const c = p.ctf!;
      const mine = [set.boxPx, set.apixAngstrom, c.defocusUAngstrom, c.defocusVAngstrom, c.defocusAngleDeg, c.voltageKv, c.csMm, c.amplitudeContrast, c.phaseShiftDeg];
      for (let k = ctfFrom; k < 9; k++) ec = Math.max(ec, Math.abs(mine[k] - ctf[9 * i + k]) / Math.max(1, Math.abs(ctf[9 * i + k])));
    }
  });
  return { rot: er, trans: et, ctf: ec };
}

test('RELION 3.0 STAR (PfCRT) matches cryoDRGN parse_pose_star / parse_ctf_star', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  // cryoDRGN ran with -D 300 --Apix 1.035 -w 0.1; the file gives Apix via DetectorPixelSize/Magnification.
  const set = loadParticles(d('star_and_cs_formats/FinalRefinement-OriginalParticles-PfCRT.star'),
    { checkStacks: false, boxPx: 300, amplitudeContrast: 0.1 });
  assert.equal(set.particles.length, 5);
  assert.ok(Math.abs(set.apixAngstrom - 1.035) < 1e-12);
  assert.deepEqual(set.particles.map((p) => p.stackIndex), [0, 1, 2, 3, 4]);
  assert.ok(set.particles[0].stackPath.endsWith('star_and_cs_formats/Extract/job012/FinalRefinement-OriginalParticles-PfCRT.mrcs'));
  const e = compareToCryodrgn(set, d('star_and_cs_formats/pose.star.rot.npy'), d('star_and_cs_formats/pose.star.trans.npy'), d('star_and_cs_formats/ctf1.npy'));
  assert.ok(e.rot < 1e-12, `rotation max diff ${e.rot}`);
  assert.ok(e.trans < 1e-12, `translation max diff ${e.trans}`);
  assert.ok(e.ctf < 1e-6, `CTF max rel diff ${e.ctf} (cryoDRGN stores float32)`);
  assert.equal(set.particles[1].classNumber, 1);
});

test('cryoSPARC .cs matches cryoDRGN parse_pose_csparc / parse_ctf_csparc', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const set = loadParticles(d('cryodrgn_cryosparc_cs/cryosparc_P12_J24_001_particles.cs'), { checkStacks: false });
  assert.equal(set.particles.length, 2019);
  const e = compareToCryodrgn(set, d('cryodrgn_cryosparc_cs/pose.cs.rot.npy'), d('cryodrgn_cryosparc_cs/pose.cs.trans.npy'), d('cryodrgn_cryosparc_cs/ctf2.npy'));
  assert.ok(e.rot < 2e-6, `rotation max diff ${e.rot} (float32 reference)`);
  assert.ok(e.trans < 1e-7, `translation max diff ${e.trans}`);
  assert.ok(e.ctf < 1e-6, `CTF max rel diff ${e.ctf}`);
  // Without --checkStacks=false the images are required, and they are not shipped.
  assert.throws(() => loadParticles(d('cryodrgn_cryosparc_cs/cryosparc_P12_J24_001_particles.cs')),
    (err: unknown) => err instanceof InputError && err.record === '0' && err.field === 'blob/path' && /not found/.test(err.message));
});

test('old-style STAR with stack (cryo-ET tilts) matches cryoDRGN, images readable', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const set = loadParticles(d('cryodrgn_sta_ribosome_tilts_real/sta_testing_bin8.star'));
  assert.equal(set.particles.length, 219);
  assert.equal(set.boxPx, 64);
  // cryoDRGN's test ran with the unbinned D=512 / 1.82 A (so columns 0-1 differ from the bin-8
  // file's 64 px / 1.96 A) and its stored translations are uninitialised; compare the rest.
  const e = compareToCryodrgn(set, d('cryodrgn_sta_ribosome_tilts_real/sta_pose.rot.npy'), null, d('cryodrgn_sta_ribosome_tilts_real/sta_ctf.npy'), 2);
  assert.ok(e.rot < 1e-12 && e.ctf < 1e-6, JSON.stringify(e));
  assert.ok(Math.abs(set.apixAngstrom - 1.96) < 1e-12); // DetectorPixelSize 1.96 um * 1e4 / Magnification 10000
  assert.equal(set.particles[0].originPx, null);
  const stack = openMrcStack(d('cryodrgn_sta_ribosome_tilts_real/ay19102021_L3_position6_ribo_it09_bin8_1.82A.mrcs'));
  assert.deepEqual(readParticleImages(set, [218, 0]), Float32Array.from([...stack.readOne(218), ...stack.readOne(0)]));
  stack.close();
  assert.equal(set.particles[218].ctf!.bFactor, -312);
});

test('.mrcs + cryoDRGN ctf/pose pickles match the .npy copies', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const set = loadParticles(d('cryodrgn_toy_synthetic/toy_projections.mrcs'), {
    ctfPkl: d('cryodrgn_toy_synthetic/test_ctf.pkl'), posePkl: d('cryodrgn_toy_synthetic/toy_rot_trans.pkl'),
  });
  assert.equal(set.particles.length, 1000);
  assert.equal(set.boxPx, 30);
  const e = compareToCryodrgn(set, d('cryodrgn_toy_synthetic/toy_rot_trans.rot.npy'), d('cryodrgn_toy_synthetic/toy_rot_trans.trans.npy'), d('cryodrgn_toy_synthetic/test_ctf.npy'));
  assert.ok(e.rot < 1e-5, `rotation round trip through Euler angles: ${e.rot}`);
  assert.ok(e.trans < 1e-12 && e.ctf < 1e-12, JSON.stringify(e));
  // Rotations only, no CTF: pixel size must then be given.
  assert.throws(() => loadParticles(d('cryodrgn_hand_synthetic/hand.mrcs'), { posePkl: d('cryodrgn_hand_synthetic/hand_rot.pkl') }), /pixel size unknown/);
  const hand = loadParticles(d('cryodrgn_hand_synthetic/hand.mrcs'), { posePkl: d('cryodrgn_hand_synthetic/hand_rot.pkl'), apixAngstrom: 2 });
  assert.equal(hand.apixAngstrom, 2);
  assert.ok(compareToCryodrgn(hand, d('cryodrgn_hand_synthetic/hand_rot.npy'), null, null).rot < 1e-5);
});

test('RELION 3.1: origins in Angstrom / pixel size, block order irrelevant, images read', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const a = loadParticles(d('cryodrgn_relion31_real/relion31.star'));
  const b = loadParticles(d('cryodrgn_relion31_real/relion31.v2.star'));
  assert.deepEqual(b.particles, a.particles);
  assert.equal(a.apixAngstrom, 2.806);
  assert.equal(a.boxPx, 256);
  const loop = getBlock(readStar(d('cryodrgn_relion31_real/relion31.star')), 'particles')!.loops[0];
  const col = (name: string, r: number): number => Number(loop.rows[r][loop.columns.indexOf(name)]);
  a.particles.forEach((p, r) => {
    assert.ok(Math.abs(p.originPx![0] - col('_rlnOriginXAngst', r) / 2.806) < 1e-12);
    assert.ok(Math.abs(p.originPx![1] - col('_rlnOriginYAngst', r) / 2.806) < 1e-12);
    assert.deepEqual(p.eulerDeg, [col('_rlnAngleRot', r), col('_rlnAngleTilt', r), col('_rlnAnglePsi', r)]);
    assert.equal(p.ctf!.defocusVAngstrom, col('_rlnDefocusV', r));
    assert.equal(p.ctf!.csMm, 0.01); // from the optics group
    assert.equal(p.stackIndex, r);
  });
  const imgs = readParticleImages(a, [4, 0, 2]);
  const stack = openMrcStack(d('cryodrgn_relion31_real/relion31.mrcs'));
  const per = 256 * 256;
  assert.deepEqual(imgs.subarray(0, per), stack.readOne(4));
  assert.deepEqual(imgs.subarray(per, 2 * per), stack.readOne(0));
  assert.deepEqual(imgs.subarray(2 * per), stack.readOne(2));
  stack.close();
});

test('RELION 3.0 and 3.1 copies of the same particles give the same numbers', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const old = loadParticles(d('cryodrgn_toy_synthetic/toy_projections.star'), { apixAngstrom: 1 });
  // The 3.1 copy claims a 300 px box for 30 px images: metadata only.
  const r31 = readRelionParticles(d('cryodrgn_toy_synthetic/toy_projections_13.star'));
  assert.equal(r31.layout, '3.1');
  assert.equal(r31.particles.length, 13);
  for (const p of r31.particles) {
    const q = old.particles[p.stackIndex];
    assert.equal(q.stackPath, p.stackPath);
    assert.deepEqual(q.ctf, p.ctf);
  }
  assert.throws(() => loadParticles(d('cryodrgn_toy_synthetic/toy_projections_13.star')),
    (e: unknown) => e instanceof InputError && e.record === '0' && /30x30 images but the image size is 300/.test(e.message));

  // PfCRT (3.0, origins in px) written as 3.1 (origins in Angstrom) and read back.
  const dir = mkdtempSync(join(tmpdir(), 'particles-'));
  try {
    const pf = loadParticles(d('star_and_cs_formats/FinalRefinement-OriginalParticles-PfCRT.star'), { checkStacks: false, boxPx: 300, amplitudeContrast: 0.1 });
    const out = join(dir, 'pf31.star');
    writeParticlesStar(out, pf);
    const back = loadParticles(out, { checkStacks: false, allowOutside: true });
    assert.equal(back.boxPx, 300);
    assert.equal(back.apixAngstrom, 1.035);
    back.particles.forEach((p, i) => {
      const q = pf.particles[i];
      assert.equal(p.stackPath, q.stackPath);
      assert.equal(p.stackIndex, q.stackIndex);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(p.eulerDeg![k] - q.eulerDeg![k]) < 1e-6);
      for (let k = 0; k < 2; k++) assert.ok(Math.abs(p.originPx![k] - q.originPx![k]) < 1e-6);
      assert.ok(Math.abs(p.ctf!.defocusUAngstrom - q.ctf!.defocusUAngstrom) < 1e-6);
      assert.deepEqual({ ...p.ctf!, defocusUAngstrom: 0, defocusVAngstrom: 0, defocusAngleDeg: 0 }, { ...q.ctf!, defocusUAngstrom: 0, defocusVAngstrom: 0, defocusAngleDeg: 0 });
      assert.equal(p.classNumber, q.classNumber);
    });
    const star = readStar(out);
    assert.deepEqual(star.blocks.map((b) => b.name), ['optics', 'particles']);
    const pl = getBlock(star, 'particles')!.loops[0];
    assert.ok(pl.columns.includes('_rlnOriginXAngst') && !pl.columns.includes('_rlnCtfBfactor'));
    assert.match(pl.rows[0][0], /^000001@\.\.\//);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RELION 5, optics after particles, several optics groups', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const r5 = readRelionParticles(d('star_and_cs_formats/relion5.star'), { datadir: d('star_and_cs_formats/toy_datadir') });
  assert.equal(r5.particles.length, 17);
  assert.equal(r5.particles[1].stackPath, d('star_and_cs_formats/toy_datadir/toy_images_b.mrcs'));
  assert.equal(r5.particles[1].stackIndex, 1);
  assert.equal(r5.particles[0].ctf!.voltageKv, 100);
  assert.ok(Math.abs(r5.particles[0].originPx![0] - -3.12578 / 0.89) < 1e-12);
  // Its optics group says 448 px, the stacks hold 30 px images.
  assert.throws(() => loadParticles(d('star_and_cs_formats/relion5.star'), { datadir: d('star_and_cs_formats/toy_datadir') }),
    (e: unknown) => e instanceof InputError && e.file.endsWith('relion5.star') && e.record === '0' && /toy_images_a\.mrcs holds 30x30 images but the image size is 448/.test(e.message));

  const cj = readRelionParticles(d('star_and_cs_formats/cryojax_test_starfile.star'));
  assert.equal(cj.particles.length, 3);
  assert.equal(cj.particles[2].boxPx, 16);
  assert.ok(Math.abs(cj.particles[0].originPx![0] - 32.05603 / 12) < 1e-12);
  assert.equal(cj.particles[0].ctf!.amplitudeContrast, 0.1);

  const six = readRelionParticles(d('cryodrgn_relion31_real/relion31.6opticsgroups.star'));
  assert.equal(six.opticsGroups.length, 6);
  assert.equal(six.particles.length, 139);
  for (const p of six.particles) {
    const g = six.opticsGroups.find((x) => x.opticsGroup === p.opticsGroup)!;
    assert.equal(p.apixAngstrom, g.apixAngstrom);
    assert.equal(p.ctf!.amplitudeContrast, g.amplitudeContrast);
  }
  // One ParticleSet holds one pixel size.
  assert.throws(() => loadParticles(d('cryodrgn_relion31_real/relion31.6opticsgroups.star'), { checkStacks: false }), /one set needs one pixel size/);
});

// ---------------------------------------------------------------- fixtures written on the fly

const OPTICS = `data_optics
loop_
_rlnOpticsGroup #1
_rlnImagePixelSize #2
_rlnImageSize #3
_rlnVoltage #4
_rlnSphericalAberration #5
_rlnAmplitudeContrast #6
1 1.5 8 300 2.7 0.1
`;

function particlesStar(rows: string[], cols = ['_rlnImageName', '_rlnOpticsGroup']): string {
  return `${OPTICS}\ndata_particles\nloop_\n${cols.map((c, i) => `${c} #${i + 1}`).join('\n')}\n${rows.join('\n')}\n`;
}

function withFixtures(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'particles-'));
  try {
    const img = (n: number, D: number, base: number): Float32Array => {
      const a = new Float32Array(n * D * D);
      for (let i = 0; i < n; i++) a.fill(base + i, i * D * D, (i + 1) * D * D);
      return a;
    };
    mkdirSync(join(dir, 'stacks'));
    mkdirSync(join(dir, 'sub'));
    writeMrc(join(dir, 'stacks/a.mrcs'), img(3, 8, 100), { nx: 8, ny: 8, nz: 3, isStack: true });
    writeMrc(join(dir, 'stacks/b.mrcs'), img(2, 8, 200), { nx: 8, ny: 8, nz: 2, isStack: true });
    writeMrc(join(dir, 'stacks/c.mrcs'), img(1, 10, 300), { nx: 10, ny: 10, nz: 1, isStack: true, apixAngstrom: 3 });
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function throwsInput(fn: () => unknown, check: (e: InputError) => boolean): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof InputError)) return false;
    assert.ok(check(e), e.message);
    return true;
  });
}

test('image reading groups runs across stacks and matches known contents', () => {
  withFixtures((dir) => {
    const star = join(dir, 'p.star');
    writeFileSync(star, particlesStar(['000002@stacks/b.mrcs 1', '1@stacks/a.mrcs 1', '2@stacks/a.mrcs 1', '3@stacks/a.mrcs 1', '1@stacks/b.mrcs 1']));
    const set = loadParticles(star);
    assert.equal(set.boxPx, 8);
    assert.equal(set.apixAngstrom, 1.5);
    const want = [201, 100, 101, 102, 200];
    const check = (imgs: Float32Array, ids: number[]): void => {
      ids.forEach((id, k) => {
        const im = imgs.subarray(k * 64, (k + 1) * 64);
        assert.ok(im.every((v) => v === want[id]), `particle ${id}`);
      });
    };
    check(readParticleImages(set, { start: 0, count: 5 }), [0, 1, 2, 3, 4]);
    check(readParticleImages(set, [4, 3, 1, 2, 0, 2]), [4, 3, 1, 2, 0, 2]);
    const reader = new ParticleImageReader(set, 1); // forces evictions
    try {
      for (let rep = 0; rep < 3; rep++) check(reader.read([0, 1, 4, 2]), [0, 1, 4, 2]);
    } finally {
      reader.close();
    }
  });
});

test('errors: outside paths, unknown optics group, box mismatch, index past the end, pixel size', () => {
  withFixtures((dir) => {
    const write = (name: string, text: string): string => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    // A path escaping the STAR's folder is refused unless allowOutside.
    const outside = write('sub/out.star', particlesStar(['1@stacks/a.mrcs 1', '2@../stacks/a.mrcs 1']));
    throwsInput(() => loadParticles(outside), (e) => e.record === '1' && e.field === '_rlnImageName' && /outside/.test(e.message));
    const abs = write('sub/abs.star', particlesStar([`1@${join(dir, 'stacks/a.mrcs')} 1`]));
    throwsInput(() => loadParticles(abs), (e) => e.record === '0' && /outside/.test(e.message));
    assert.equal(loadParticles(abs, { allowOutside: true }).particles[0].stackPath, join(dir, 'stacks/a.mrcs'));
    // The first row of sub/out.star is inside sub/ but does not exist.
    throwsInput(() => loadParticles(outside, { allowOutside: true }), (e) => e.record === '0' && /not found/.test(e.message));
    // datadir: paths resolve there instead.
    assert.equal(loadParticles(write('sub/dd.star', particlesStar(['3@a.mrcs 1'])), { datadir: join(dir, 'stacks') }).particles[0].stackIndex, 2);

    throwsInput(() => loadParticles(write('og.star', particlesStar(['1@stacks/a.mrcs 1', '2@stacks/a.mrcs 2']))),
      (e) => e.record === '1' && e.field === '_rlnOpticsGroup' && /optics group 2/.test(e.message));
    throwsInput(() => loadParticles(write('box.star', particlesStar(['1@stacks/a.mrcs 1', '1@stacks/c.mrcs 1']))),
      (e) => e.file.endsWith('box.star') && e.record === '1' && /c\.mrcs holds 10x10 images but the image size is 8/.test(e.message));
    throwsInput(() => loadParticles(write('end.star', particlesStar(['3@stacks/a.mrcs 1', '4@stacks/a.mrcs 1']))),
      (e) => e.record === '1' && /image 4 \(1-based\) is beyond the end/.test(e.message) && /3 images/.test(e.message));
    throwsInput(() => loadParticles(write('zero.star', particlesStar(['0@stacks/a.mrcs 1']))), (e) => e.record === '0' && /positive integer/.test(e.message));
    throwsInput(() => loadParticles(write('nan.star', particlesStar(['1@stacks/a.mrcs 1 abc'], ['_rlnImageName', '_rlnOpticsGroup', '_rlnDefocusU']))),
      (e) => e.record === '0' && e.field === '_rlnDefocusU');

    // RELION 3.0 style (no optics): box from the stacks, pixel size from opts or the header.
    const old = (name: string, rows: string[]): string => write(name, `data_\nloop_\n_rlnImageName\n${rows.join('\n')}\n`);
    throwsInput(() => loadParticles(old('mixed.star', ['1@stacks/a.mrcs', '1@stacks/c.mrcs'])), (e) => e.record === '1' && /10x10 images but the image size is 8/.test(e.message));
    throwsInput(() => loadParticles(old('noapix.star', ['1@stacks/a.mrcs'])), (e) => /pixel size unknown/.test(e.message));
    assert.equal(loadParticles(old('apix.star', ['1@stacks/a.mrcs']), { apixAngstrom: 2 }).apixAngstrom, 2);
    assert.equal(loadParticles(old('hdr.star', ['1@stacks/c.mrcs'])).apixAngstrom, 3); // MRC header
    throwsInput(() => loadParticles(write('conflict.star', particlesStar(['1@stacks/a.mrcs 1'])), { apixAngstrom: 2 }), (e) => /1.5 A but 2 A was given/.test(e.message));
    // CTF values must be complete: no voltage anywhere.
    const noKv = write('nokv.star', `data_\nloop_\n_rlnImageName\n_rlnDefocusU\n_rlnSphericalAberration\n_rlnAmplitudeContrast\n1@stacks/a.mrcs 10000 2.7 0.1\n`);
    throwsInput(() => loadParticles(noKv, { apixAngstrom: 1 }), (e) => e.field === '_rlnVoltage' && e.record === '0');
  });
});

test('writeParticlesStar -> loadParticles round trip (optics groups, B-factor, classes)', () => {
  withFixtures((dir) => {
    const ctf = (dfU: number, kv: number, b: number) => ({
      defocusUAngstrom: dfU, defocusVAngstrom: dfU - 200, defocusAngleDeg: 33.5, voltageKv: kv, csMm: 2.7,
      amplitudeContrast: 0.07, phaseShiftDeg: 12, bFactor: b,
    });
    const set: ParticleSet = {
      source: 'mem', boxPx: 8, apixAngstrom: 1.25,
      particles: [
        { stackPath: join(dir, 'stacks/a.mrcs'), stackIndex: 2, ctf: ctf(15000, 300, 0), eulerDeg: [10, 20, 30], originPx: [1.5, -2.25], classNumber: 2 },
        { stackPath: join(dir, 'stacks/b.mrcs'), stackIndex: 0, ctf: ctf(22000, 200, -50), eulerDeg: [-170, 90, 179.5], originPx: [0, 3], classNumber: 1 },
      ],
    };
    const out = join(dir, 'w.star');
    writeParticlesStar(out, set);
    const back = loadParticles(out);
    assert.equal(back.boxPx, 8);
    assert.equal(back.apixAngstrom, 1.25);
    back.particles.forEach((p, i) => {
      const q = set.particles[i];
      assert.equal(p.stackPath, q.stackPath);
      assert.equal(p.stackIndex, q.stackIndex);
      assert.deepEqual(p.eulerDeg, q.eulerDeg);
      assert.deepEqual(p.originPx, q.originPx);
      assert.deepEqual(p.ctf, q.ctf);
      assert.equal(p.classNumber, q.classNumber);
    });
    const rel = readRelionParticles(out);
    assert.deepEqual(rel.opticsGroups.map((g) => g.voltageKv), [300, 200]);
    assert.deepEqual(rel.particles.map((p) => p.opticsGroup), [1, 2]);
    assert.equal(getBlock(readStar(out), 'particles')!.loops[0].rows[0][0], '000003@stacks/a.mrcs');
  });
});

