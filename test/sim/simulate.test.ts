import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulateParticles, loadSimulationVolume } from '../../src/sim/simulate.js';
import { loadParticles, readParticleImages } from '../../src/io/particles.js';
import { readMrc, writeMrc } from '../../src/io/mrc.js';
import { prepareProjector, projectMany } from '../../src/core/project.js';
import { eulerToMatrix } from '../../src/core/rotation.js';
import { InputError } from '../../src/io/errors.js';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { runBackproject } from '../../src/cli/commands/backproject.js';

function blobVolume(D: number): Float32Array {
  const c = Math.floor(D / 2);
  const v = new Float32Array(D ** 3);
  const centres = [[2, 0, -1], [-3, 2, 1], [0, -3, 3], [1, 1, 1]];
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const [a, b, d] of centres) s += Math.exp(-((x - c - a!) ** 2 + (y - c - b!) ** 2 + (z - c - d!) ** 2) / 3);
    v[(z * D + y) * D + x] = s;
  }
  return v;
}

const tmp = mkdtempSync(join(tmpdir(), 'cryospin-sim-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('simulation is deterministic for a seed and independent of the chunk size', () => {
  const D = 16, vol = blobVolume(D);
  const base = { n: 23, snr: 0.5, shiftPx: 2, defocus: { kind: 'uniform' as const, minUm: 1, maxUm: 2.5 }, seed: 7 };
  simulateParticles(vol, D, 2, { ...base, outDir: join(tmp, 'a'), chunk: 5 });
  simulateParticles(vol, D, 2, { ...base, outDir: join(tmp, 'b'), chunk: 100 });
  simulateParticles(vol, D, 2, { ...base, outDir: join(tmp, 'c'), seed: 8 });
  const a = readFileSync(join(tmp, 'a', 'particles.mrcs'));
  assert.ok(a.equals(readFileSync(join(tmp, 'b', 'particles.mrcs'))));
  assert.equal(readFileSync(join(tmp, 'a', 'particles.star'), 'utf8').replace(/\/a\//g, '/'),
    readFileSync(join(tmp, 'b', 'particles.star'), 'utf8').replace(/\/b\//g, '/'));
  assert.ok(!a.equals(readFileSync(join(tmp, 'c', 'particles.mrcs'))));
});

test('STAR metadata describe the images: clean part re-projected from it, noise std 1, SNR as asked', () => {
  const D = 20, vol = blobVolume(D), snr = 0.5, n = 60, P = 3;
  const s = simulateParticles(vol, D, 2.5, { outDir: join(tmp, 'd'), n, snr, shiftPx: P,
    defocus: { kind: 'uniform', minUm: 1, maxUm: 2 }, astigmatismUm: 0.2, seed: 1, chunk: 16 });
  const set = loadParticles(s.particlesStar);
  assert.equal(set.particles.length, n);
  assert.equal(set.boxPx, D);
  assert.equal(set.apixAngstrom, 2.5);
  const gt = readMrc(s.gtMap);
  assert.deepEqual(Array.from(gt.data), Array.from(vol));
  const imgs = readParticleImages(set, { start: 0, count: n });
  const prep = prepareProjector(vol, D, 2);
  let sr = 0, sr2 = 0, ratio = 0;
  set.particles.forEach((p, i) => {
    assert.ok(Math.abs(p.originPx![0]) <= P && Math.abs(p.originPx![1]) <= P);
    const c = p.ctf!;
    assert.ok(c.defocusUAngstrom >= 1e4 && c.defocusUAngstrom <= 2e4, `dfU ${c.defocusUAngstrom}`);
    assert.ok(c.defocusVAngstrom <= c.defocusUAngstrom && c.defocusUAngstrom - c.defocusVAngstrom <= 2000);
    assert.equal(c.voltageKv, 300); assert.equal(c.csMm, 2.7); assert.equal(c.amplitudeContrast, 0.1);
    const A = eulerToMatrix(...p.eulerDeg!);
    const clean = projectMany(prep, A, { origins: p.originPx!, ctfs: [c], apixAngstrom: 2.5 });
    let m = 0;
    for (const v of clean) m += v;
    m /= D * D;
    let vc = 0;
    for (const v of clean) vc += (v - m) ** 2;
    vc /= D * D;
    const sigma = Math.sqrt(vc / snr);
    let vr = 0;
    for (let k = 0; k < D * D; k++) {
      const r = imgs[i * D * D + k]! - clean[k]! / sigma;
      sr += r; sr2 += r * r; vr += r * r;
    }
    ratio += vc / sigma ** 2 / (vr / (D * D));
  });
  const N = n * D * D;
  const mean = sr / N, std = Math.sqrt(sr2 / N - mean * mean);
  assert.ok(Math.abs(mean) < 0.03, `noise mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.03, `noise std ${std}`);
  assert.ok(Math.abs(ratio / n / snr - 1) < 0.06, `measured SNR ${ratio / n}`);
});

test('map loading: --crop drops trailing planes (centre stays), --box rescales the pixel, pixel size needed', () => {
  const D = 9, v = new Float32Array(D ** 3);
  v[(4 * D + 4) * D + 4] = 1; // centre of a 9-box; floor(8/2) = 4 is the centre of the 8-box too
  writeMrc(join(tmp, 'm.mrc'), v, { nx: D, ny: D, nz: D, apixAngstrom: 2 });
  const c = loadSimulationVolume({ map: join(tmp, 'm.mrc'), cropPx: 8 });
  assert.equal(c.boxPx, 8);
  assert.equal(c.vol[(4 * 8 + 4) * 8 + 4], 1);
  const b = loadSimulationVolume({ map: join(tmp, 'm.mrc'), cropPx: 8, boxPx: 4 });
  assert.equal(b.boxPx, 4);
  assert.equal(b.apixAngstrom, 4);
  writeMrc(join(tmp, 'n.mrc'), v, { nx: D, ny: D, nz: D, apixAngstrom: null });
  assert.throws(() => loadSimulationVolume({ map: join(tmp, 'n.mrc') }), InputError);
  assert.equal(loadSimulationVolume({ map: join(tmp, 'n.mrc'), apixAngstrom: 3 }).apixAngstrom, 3);
  assert.throws(() => loadSimulationVolume({}), InputError);
});

test('CLI round trip: simulate the bundled model, backproject with known poses, FSC vs gt', () => {
  const out = join(tmp, 'cli');
  const s = runSimulate({ model: 'examples/data/1akeA.pdb', out, box: 20, apix: 4.5, n: 400, snr: Infinity, shiftPx: 2,
    defocus: [1, 2], astigmatism: 0, voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: 100, quiet: true });
  assert.equal(s.n, 400);
  const r = runBackproject({ particles: s.particlesStar, out: join(out, 'map.mrc'), halves: true, seed: 0, chunk: 128, reg: 1e-3,
    ref: s.gtMap, quiet: true });
  assert.ok(r.refFsc !== undefined && r.halfFsc !== undefined);
  assert.ok(r.refFsc.res05_px < 2.3, `FSC 0.5 vs gt at ${r.refFsc.res05_px} px`);
  assert.ok(r.halfFsc.res0143_px < 2.3, `half-map FSC 0.143 at ${r.halfFsc.res0143_px} px`);
  assert.equal(readMrc(r.half1!).nx, 20);
});

test('mixtures: each image comes from its class volume, class numbers in the STAR', () => {
  const D = 16, a = blobVolume(D), b = new Float32Array(D ** 3);
  for (let i = 0; i < b.length; i++) b[i] = a[b.length - 1 - i]!; // point-reflected: a different map
  const n = 40;
  const s = simulateParticles([a, b], D, 2, { outDir: join(tmp, 'mix'), n, snr: Infinity, shiftPx: 1,
    defocus: { kind: 'uniform', minUm: 1, maxUm: 2 }, seed: 3, classFractions: [1, 3], chunk: 9 });
  assert.deepEqual(s.gtMaps.map((p) => p.split('/').pop()), ['gt_class1.mrc', 'gt_class2.mrc']);
  assert.equal(s.classCounts[0]! + s.classCounts[1]!, n);
  assert.ok(s.classCounts[1]! > s.classCounts[0]!, `counts ${s.classCounts}`);
  const set = loadParticles(s.particlesStar);
  const imgs = readParticleImages(set, { start: 0, count: n });
  const preps = [prepareProjector(a, D, 2), prepareProjector(b, D, 2)];
  let seen = 0;
  set.particles.forEach((p, i) => {
    const k = p.classNumber! - 1;
    assert.ok(k === 0 || k === 1);
    seen += k;
    const A = eulerToMatrix(...p.eulerDeg!);
    const mine = projectMany(preps[k]!, A, { origins: p.originPx!, ctfs: [p.ctf!], apixAngstrom: 2 });
    const other = projectMany(preps[1 - k]!, A, { origins: p.originPx!, ctfs: [p.ctf!], apixAngstrom: 2 });
    let e1 = 0, e2 = 0, nn = 0;
    for (let j = 0; j < D * D; j++) {
      const v = imgs[i * D * D + j]!;
      e1 += (v - mine[j]!) ** 2; e2 += (v - other[j]!) ** 2; nn += v * v;
    }
    assert.ok(e1 < 1e-8 * nn, `particle ${i}: not its class's projection`);
    assert.ok(e2 > 1e-2 * nn, `particle ${i}: the two classes look alike`);
  });
  assert.equal(seen, s.classCounts[1]);
});

test('CTF-free simulation: no defocus columns, but the optics group keeps voltage/Cs/Q (RELION 3.1 needs them)', () => {
  const s = simulateParticles(blobVolume(12), 12, 2, { outDir: join(tmp, 'noctf'), n: 3, snr: 1, shiftPx: 0, noCtf: true,
    defocus: { kind: 'uniform', minUm: 1, maxUm: 2 } });
  const text = readFileSync(s.particlesStar, 'utf8');
  assert.ok(!text.includes('_rlnDefocusU'));
  for (const col of ['_rlnVoltage', '_rlnSphericalAberration', '_rlnAmplitudeContrast']) assert.ok(text.includes(col), col);
  assert.ok(loadParticles(s.particlesStar).particles.every((p) => p.ctf === null));
});

test('CLI mixtures: --map A --map B --weights 0.5,0.5 gives two classes in map order (_rlnClassNumber 1-based)', async () => {
  const { Command } = await import('commander');
  const { register, weightList } = await import('../../src/cli/commands/simulate.js');
  const D = 16, a = blobVolume(D), b = new Float32Array(D ** 3);
  for (let i = 0; i < b.length; i++) b[i] = a[b.length - 1 - i]!;
  const dir = join(tmp, 'cli-mix');
  writeMrc(join(tmp, 'mixA.mrc'), a, { nx: D, ny: D, nz: D, apixAngstrom: 3 });
  writeMrc(join(tmp, 'mixB.mrc'), b, { nx: D, ny: D, nz: D, apixAngstrom: 3 });
  const program = new Command().exitOverride();
  register(program);
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write; // keep the command's summary out of the TAP stream
  try {
    await program.parseAsync(['simulate', '--map', join(tmp, 'mixA.mrc'), '--map', join(tmp, 'mixB.mrc'), '--weights', '0.5,0.5',
      '-o', dir, '--n', '200', '--snr', 'inf', '--seed', '1'], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  const set = loadParticles(join(dir, 'particles.star'));
  const counts = [0, 0];
  for (const p of set.particles) counts[p.classNumber! - 1]! += 1;
  assert.equal(counts[0]! + counts[1]!, 200);
  // 50/50: a binomial(200, 0.5) count lies within 100 +- 30 with probability > 0.9999
  assert.ok(Math.abs(counts[0]! - 100) < 30, `counts ${counts}`);
  // class 1 is the first map given
  const gt1 = readMrc(join(dir, 'gt_class1.mrc')).data;
  let same = 0;
  for (let i = 0; i < gt1.length; i++) same = Math.max(same, Math.abs(gt1[i]! - a[i]!));
  assert.ok(same < 1e-5, 'gt_class1.mrc is not the first --map');
  assert.deepEqual(weightList('0.25, 0.75'), [0.25, 0.75]);
  assert.throws(() => weightList('0.5,x'), /--weights/);
  assert.throws(() => weightList('0.5,-1'), /--weights/);
});

test('mixtures of models are superposed on their common core: a moved domain does not tilt the frame', async () => {
  const { readAtomicModel } = await import('../../src/sim/atomicModel.js');
  const { superposeOnCore } = await import('../../src/sim/simulate.js');
  const ref = readAtomicModel('examples/data/1akeA.pdb', { proteinOnly: true });
  const R = eulerToMatrix(30, 50, -20);
  // mobile: residues 122-159 (the LID domain) moved 12 A, then the whole model rotated by R and shifted
  const mobile = { ...ref, atoms: ref.atoms.map((a) => {
    const lid = a.resSeq >= 122 && a.resSeq <= 159;
    const x = a.xAngstrom + (lid ? 12 : 0), y = a.yAngstrom, z = a.zAngstrom;
    return { ...a, xAngstrom: R[0]! * x + R[1]! * y + R[2]! * z + 5, yAngstrom: R[3]! * x + R[4]! * y + R[5]! * z - 3, zAngstrom: R[6]! * x + R[7]! * y + R[8]! * z + 1 };
  }) };
  const s = superposeOnCore(mobile, ref);
  // every atom outside the LID returns exactly onto the reference
  let maxDev = 0;
  s.model.atoms.forEach((a, i) => {
    const b = ref.atoms[i]!;
    if (a.resSeq >= 122 && a.resSeq <= 159) return;
    maxDev = Math.max(maxDev, Math.hypot(a.xAngstrom - b.xAngstrom, a.yAngstrom - b.yAngstrom, a.zAngstrom - b.zAngstrom));
  });
  assert.ok(maxDev < 1e-3, `core atoms off by ${maxDev} A`);
  assert.ok(s.coreRmsdAngstrom < 1e-3 && s.rmsdAngstrom > 3, `core ${s.coreRmsdAngstrom}, all ${s.rmsdAngstrom}`);
  assert.equal(s.core, s.matched - 38);
});
