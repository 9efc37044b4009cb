/**
 * Amortized mode (cryoAI): the symmetric loss's pose bookkeeping (an in-plane pi rotation of the
 * image composes with the predicted pose as diag(-1,-1,1)·A, origin -> -origin; checked against
 * the forward model, Euler angles and a real-space rotation of an image), a tiny end-to-end run
 * that lowers the loss and writes valid outputs, and the predict-poses round trip (the
 * checkpointed encoder gives the poses the run wrote), for the grid and the FourierNet decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fft2Centered } from '../../src/core/fft.js';
import { Rng } from '../../src/core/rng.js';
import { eulerToMatrix, matrixToEuler, randomRotations } from '../../src/core/rotation.js';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { runPredictPoses } from '../../src/cli/commands/predictPoses.js';
import { readPoseSet } from '../../src/cli/commands/poseError.js';
import { readMrc, writeMrc } from '../../src/io/mrc.js';
import { symmetricDisc } from '../../src/model/fourierNet.js';
import { createHartleyGrid, renderSlices } from '../../src/model/hartleyVolume.js';
import { composeInPlanePi, mirrorComplex, mirrorPlanes } from '../../src/model/symmetricLoss.js';
import { scoreBranches } from '../../src/recon/amortized.js';
import { runAmortizedJob } from '../../src/recon/amortizedJob.js';
import { fourierLoss } from '../../src/recon/fourierLoss.js';
import { assembleBatch } from '../../src/recon/batch.js';

test('symmetric loss: the winning pi branch composes with the pose exactly (forward model, Euler, real space)', () => {
  const D = 16;
  const P = D * D;
  const rng = new Rng(4);
  const grid = createHartleyGrid(D);
  for (let i = 0; i < grid.values.length; i++) grid.values[i] = rng.normal();
  const disc = symmetricDisc(D);
  const [R] = [randomRotations(1, rng)];
  const o = new Float32Array([1.3, -0.7]);
  // an asymmetric "CTF" plane (so the CTF mirroring is exercised too)
  const ctf = new Float32Array(P);
  for (let i = 0; i < P; i++) ctf[i] = 0.5 + rng.uniform();
  // Z: what pose (R, o) predicts; the observed image Y is Z rotated in-plane by pi
  const slice = { re: new Float32Array(P), im: new Float32Array(P) };
  renderSlices(grid, R, 1, slice, disc);
  const shiftPhase = (S: typeof slice, c: Float32Array, org: Float32Array) => {
    const out = { re: new Float32Array(P), im: new Float32Array(P) };
    for (let i = 0; i < disc.pix.length; i++) {
      const p = disc.pix[i]!;
      const ph = (2 * Math.PI / D) * (disc.kx[i]! * org[0]! + disc.ky[i]! * org[1]!);
      out.re[p] = c[p]! * (Math.cos(ph) * S.re[p]! - Math.sin(ph) * S.im[p]!);
      out.im[p] = c[p]! * (Math.cos(ph) * S.im[p]! + Math.sin(ph) * S.re[p]!);
    }
    return out;
  };
  const Z = shiftPhase(slice, ctf, o);
  const Y = mirrorComplex(Z, 1, D);
  const ctfY = mirrorPlanes(ctf, 1, D);
  // the composed pose explains Y through the forward model
  const A2 = Float64Array.from(R);
  const o2 = Float32Array.from(o);
  composeInPlanePi(A2, 0, o2, 0);
  const s2 = { re: new Float32Array(P), im: new Float32Array(P) };
  renderSlices(grid, A2, 1, s2, disc);
  const pred = shiftPhase(s2, ctfY, o2);
  let err = 0;
  let mag = 0;
  for (const p of disc.pix) { err = Math.max(err, Math.abs(pred.re[p]! - Y.re[p]!), Math.abs(pred.im[p]! - Y.im[p]!)); mag = Math.max(mag, Math.abs(Y.re[p]!)); }
  assert.ok(err < 1e-5 * mag, `composed pose reproduces the observation (${err} vs ${mag})`);
  assert.deepEqual(Array.from(o2), [Math.fround(-1.3), Math.fround(0.7)]);
  // the composition is RELION's psi + 180 deg
  const e = matrixToEuler(R);
  const A3 = eulerToMatrix(e[0], e[1], e[2] + 180);
  for (let k = 0; k < 9; k++) assert.ok(Math.abs(A3[k]! - A2[k]!) < 1e-9, `psi+180 entry ${k}`);
  // scoring: with the symmetric loss the pi branch wins with ~0 loss; plain L2 sees a large error
  const batch = { ...assembleBatch(new Uint32Array([0]), D, new Float32Array(P), ctfY), obs: Y };
  const plain = scoreBranches(batch, D, slice, o, disc, false, null);
  const sym = scoreBranches(batch, D, slice, o, disc, true, { obs: mirrorComplex(Y, 1, D), ctf: mirrorPlanes(ctfY, 1, D) });
  assert.equal(sym.flipped[0], 1);
  assert.ok(sym.loss[0]! < 1e-9 * plain.loss[0]!, `sym ${sym.loss[0]} vs plain ${plain.loss[0]}`);
  // fourierLoss of the composed pose agrees
  const l = fourierLoss({ D, obs: Y, ctf: ctfY, B: 1 }, s2, disc, { M: 1, originsPx: o2 });
  assert.ok(l[0]! < 1e-9 * plain.loss[0]!);
  // real space: the transform of an image rotated by pi about the centre is the mirrored transform
  const img = new Float32Array(P);
  for (let y = 1; y < D; y++) for (let x = 1; x < D; x++) img[y * D + x] = rng.normal(); // row/col 0 empty: no partner
  const rot = new Float32Array(P);
  for (let y = 1; y < D; y++) for (let x = 1; x < D; x++) rot[y * D + x] = img[(D - y) * D + (D - x)]!;
  const F1 = mirrorComplex(fft2Centered(img, D), 1, D);
  const F2 = fft2Centered(rot, D);
  for (let y = 1; y < D; y++) for (let x = 1; x < D; x++) {
    const p = y * D + x;
    assert.ok(Math.abs(F1.re[p]! - F2.re[p]!) < 1e-4 && Math.abs(F1.im[p]! - F2.im[p]!) < 1e-4, `pixel ${x},${y}`);
  }
});

/** A small asymmetric blob volume (no shared data needed). */
function blobVolume(N: number): Float32Array {
  const v = new Float32Array(N * N * N);
  const c = N / 2;
  const blobs = [[0, 0, 0, 3, 1], [5, 2, -1, 2, 0.8], [-3, 4, 3, 2, 0.6], [1, -5, 2, 1.5, 0.9], [-4, -2, -4, 2, 0.7]];
  for (let z = 0; z < N; z++) for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
    let s = 0;
    for (const [bx, by, bz, r, a] of blobs) {
      const d2 = (x - c - bx!) ** 2 + (y - c - by!) ** 2 + (z - c - bz!) ** 2;
      s += a! * Math.exp(-d2 / (2 * r! * r!));
    }
    v[(z * N + y) * N + x] = s;
  }
  return v;
}

/** 96 particles (box 16, SNR 10, CTF, origins within +-1 px, seed 0) of blobVolume(32) in dir/sim; the STAR path. */
function simulateBlobStack(dir: string): string {
  const N = 32;
  writeMrc(join(dir, 'blobs.mrc'), blobVolume(N), { nx: N, ny: N, nz: N, apixAngstrom: 4 });
  runSimulate({ map: join(dir, 'blobs.mrc'), out: join(dir, 'sim'), apix: 4, box: 16, n: 96, snr: 10, shiftPx: 1, defocus: [1.0, 2.0], astigmatism: 0, voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: 96, quiet: true });
  return join(dir, 'sim', 'particles.star');
}

test('tiny amortized run lowers the loss, writes valid outputs, and predict-poses reproduces its poses', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-amortized-'));
  try {
    const star = simulateBlobStack(dir);
    const losses: number[] = [];
    const r = await runAmortizedJob({
      input: star, outdir: join(dir, 'out'), epochs: 3, batchSize: 16, seed: 1, symmetricLoss: true, lrEncoder: 1e-3,
      gtPoses: star, onEpoch: (m) => losses.push(m.loss),
    });
    assert.equal(r.epochs, 3);
    assert.ok(losses[2]! < losses[0]!, `loss ${losses.join(' -> ')}`);
    const m = readMrc(r.map);
    assert.deepEqual([m.nx, m.ny, m.nz], [16, 16, 16]);
    assert.ok(m.data.every(Number.isFinite));
    for (const f of ['half1.mrc', 'half2.mrc', 'map_decoder.mrc']) assert.equal(readMrc(join(dir, 'out', f)).nx, 16);
    const fsc = JSON.parse(readFileSync(join(dir, 'out', 'fsc.json'), 'utf8')) as { res0143_px?: number };
    assert.ok(fsc !== null && typeof fsc === 'object');
    const metrics = readFileSync(join(dir, 'out', 'metrics.jsonl'), 'utf8').trim().split('\n');
    assert.equal(metrics.length, 3);
    const run = readPoseSet(r.poses);
    assert.equal(run.n, 96);
    // predict-poses with the checkpoint on the same particles gives the same poses
    const out = join(dir, 'pred.star');
    const p = await runPredictPoses({ checkpoint: join(dir, 'out', 'checkpoint.json'), particles: star, output: out, quiet: true });
    assert.equal(p.n, 96);
    assert.equal(p.symmetric_loss, true);
    const pred = readPoseSet(out);
    let maxR = 0;
    let maxO = 0;
    for (let i = 0; i < 9 * 96; i++) maxR = Math.max(maxR, Math.abs(pred.rotations[i]! - run.rotations[i]!));
    for (let i = 0; i < 2 * 96; i++) maxO = Math.max(maxO, Math.abs(pred.originsPx![i]! - run.originsPx![i]!));
    assert.ok(maxR < 1e-4, `rotation entries differ by ${maxR}`);
    assert.ok(maxO < 1e-3, `origins differ by ${maxO} px`);
    // the shift head trains: the predicted origins are not all the initial ones (and vary per particle)
    let spread = 0;
    for (let i = 2; i < 2 * 96; i += 2) spread = Math.max(spread, Math.abs(run.originsPx![i]! - run.originsPx![0]!));
    assert.ok(spread > 1e-3, 'origins vary');
    // FourierNet decoder in the same loop (its gradients run inside the encoder's gradient tape):
    // finite losses, and predict-poses from its checkpoint reproduces the run's poses
    const fl: number[] = [];
    const rf = await runAmortizedJob({ input: star, outdir: join(dir, 'fn'), epochs: 1, batchSize: 32, seed: 2, decoder: 'fouriernet', onEpoch: (m) => fl.push(m.loss) });
    assert.ok(fl.length === 1 && Number.isFinite(fl[0]!));
    const outF = join(dir, 'predF.star');
    await runPredictPoses({ checkpoint: join(dir, 'fn', 'checkpoint.json'), particles: star, output: outF, quiet: true });
    const a = readPoseSet(rf.poses);
    const b = readPoseSet(outF);
    let d = 0;
    for (let i = 0; i < 9 * 96; i++) d = Math.max(d, Math.abs(a.rotations[i]! - b.rotations[i]!));
    assert.ok(d < 1e-4, `FourierNet run: rotation entries differ by ${d}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('divergence guard: a decoder step that blows the loss up is undone and halved; a healthy run is unchanged', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-guard-'));
  try {
    const star = simulateBlobStack(dir);
    const run = async (name: string, lrVolume: number, divergenceGuard: number): Promise<{ losses: number[]; halvings: number[]; error: string | null }> => {
      const losses: number[] = [];
      const halvings: number[] = [];
      try {
        await runAmortizedJob({ input: star, outdir: join(dir, name), epochs: 4, batchSize: 16, seed: 1, lrVolume, divergenceGuard,
          onEpoch: (m) => { losses.push(m.loss); halvings.push(m.decoder_step_halvings); } });
        return { losses, halvings, error: null };
      } catch (e) {
        return { losses, halvings, error: (e as Error).message };
      }
    };
    // a step 100x the default: without the guard the loss explodes (or turns non-finite)
    const off = await run('off', 30, 0);
    assert.ok(off.error !== null || off.losses.at(-1)! > 1e6, `unguarded: ${off.losses.join(' -> ')} ${off.error ?? ''}`);
    const on = await run('on', 30, 3);
    assert.equal(on.error, null);
    assert.ok(on.halvings.reduce((a, b) => a + b, 0) >= 1, `halvings ${on.halvings.join(',')}`);
    assert.ok(on.losses.every(Number.isFinite) && on.losses.at(-1)! < 10 && on.losses.at(-1)! < on.losses[0]!, `guarded: ${on.losses.join(' -> ')}`);
    // the default step never trips the guard: the same losses with and without it, to the last bit
    const a = await run('a', 0.3, 3);
    const b = await run('b', 0.3, 0);
    assert.deepEqual(a.halvings, [0, 0, 0, 0]);
    assert.deepEqual(a.losses, b.losses);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
