/**
 * decoder.json for the heterogeneous mode's coordinate-network decoder (kind 'het-mlp') and the
 * resume of the mlp decoder + z encoder:
 *   - the plain-TypeScript evaluation used by eval-vol/analyze (hetMlpEval.ts) agrees with the
 *     tfjs forward pass used in training (random weights, to float32 rounding);
 *   - a decoder written to decoder.json and read back by eval-vol gives maps bit-identical to the
 *     in-memory decoder's, for several z (and different maps for different z);
 *   - a linear decoder.json in the format of earlier versions still loads; an unknown kind or a
 *     network with a missing/short weight is an InputError naming the file and the field;
 *   - a run resumed from a checkpoint (mlp decoder + encoder z) is bit-identical to an
 *     uninterrupted one; without the saved Adam moments it is not (the check is sensitive).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEvalVol } from '../../src/cli/commands/evalVol.js';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { InputError } from '../../src/io/errors.js';
import { readMrc } from '../../src/io/mrc.js';
import { createHetDecoder, hetVolumeMap } from '../../src/model/hetDecoder.js';
import { HetMlpDecoder } from '../../src/model/hetMlpDecoder.js';
import { HetMlpModel } from '../../src/model/hetMlpEval.js';
import { createHartleyGrid, hartleyGridSize } from '../../src/model/hartleyVolume.js';
import { initTfjs } from '../../src/model/tfjsSetup.js';
import { readCheckpoint, writeCheckpoint } from '../../src/recon/checkpoint.js';
import { readDecoderFile, writeDecoderFile } from '../../src/recon/hetDecoderFile.js';
import { HeterogeneousTrainer, type HetTrainerState } from '../../src/recon/heterogeneous.js';
import { MemorySource } from '../../src/recon/memorySource.js';

/** A small decoder with random weights everywhere (training starts the output layer at 0), a random envelope and base. */
function randomDecoder(D: number, zdim: number, seed: number): HetMlpDecoder {
  const dec = new HetMlpDecoder(D, zdim, { hidden: 16, nFeatures: 8, blocks: 2, seed });
  const rng = new Rng(seed + 11);
  const st = dec.getState();
  for (const w of Object.values(st.params)) for (let i = 0; i < w.length; i++) w[i] = 0.5 * rng.normal();
  for (let i = 0; i < st.envelope.length; i++) st.envelope[i] = 0.5 + rng.uniform();
  st.base = Float32Array.from({ length: hartleyGridSize(D) ** 3 }, () => rng.normal());
  dec.setState(st);
  return dec;
}

test('het-mlp evaluation in TypeScript agrees with the tfjs forward pass', async (t) => {
  await initTfjs('wasm');
  const D = 12, zdim = 3;
  const dec = randomDecoder(D, zdim, 4);
  const rng = new Rng(2);
  const coords = Float32Array.from({ length: 3 * 500 }, () => (rng.uniform() - 0.5) * D);
  const z = [0.7, -1.3, 0.2];
  const tfjs = dec.values(coords, z, 1);
  const ts = new HetMlpModel(dec.getState()).values(coords, z);
  let err = 0, mx = 0;
  for (let i = 0; i < ts.length; i++) { err = Math.max(err, Math.abs(ts[i]! - tfjs[i]!)); mx = Math.max(mx, Math.abs(tfjs[i]!)); }
  t.diagnostic(`max |TS - tfjs| ${err.toExponential(2)}, max |value| ${mx.toFixed(2)}`);
  assert.ok(mx > 1 && err <= 2e-6 * mx, `max |TS - tfjs| ${err} (max value ${mx})`);
  dec.dispose();
});

test('het-mlp decoder.json round trip: eval-vol maps bit-identical to the in-memory decoder', async () => {
  await initTfjs('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-hetmlp-file-'));
  try {
    const D = 12, zdim = 3;
    const dec = randomDecoder(D, zdim, 7);
    writeDecoderFile(join(dir, 'decoder.json'), dec, 2.5);
    const saved = readCheckpoint<{ kind: string; mlp: { adam?: unknown } }>(join(dir, 'decoder.json'));
    assert.equal(saved.kind, 'het-mlp');
    assert.equal(saved.mlp.adam, undefined, 'the optimiser state is not part of decoder.json');
    const zs = [[0, 0, 0], [1.5, -0.5, 0.25], [-2, 1, 3]];
    writeFileSync(join(dir, 'z.txt'), zs.map((z) => z.join(' ')).join('\n') + '\n');
    const r = runEvalVol({ outdir: dir, zFile: join(dir, 'z.txt'), output: join(dir, 'm.mrc') });
    assert.equal(r.maps.length, 3);
    assert.equal(r.decoder, 'het-mlp');
    const maps = r.maps.map((f) => readMrc(f));
    maps.forEach((m, j) => {
      assert.equal(m.apix, 2.5);
      const ref = dec.volumeMap(zs[j]!);
      assert.ok(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).equals(Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength)), `map ${j} differs from the in-memory decoder's`);
    });
    let diff = 0;
    for (let i = 0; i < maps[0]!.data.length; i++) diff = Math.max(diff, Math.abs(maps[0]!.data[i]! - maps[1]!.data[i]!));
    assert.ok(diff > 1e-3, `maps for different z should differ (max diff ${diff})`);
    dec.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('linear decoder.json of earlier versions loads; bad kinds and weights are input errors naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-hetdec-file-'));
  try {
    const D = 8, zdim = 2;
    const rng = new Rng(3);
    const lin = createHetDecoder(D, zdim);
    for (const g of lin.grids) for (let i = 0; i < g.values.length; i++) g.values[i] = rng.normal();
    // the file exactly as earlier versions wrote it
    writeCheckpoint(join(dir, 'decoder.json'), { kind: 'linear-hartley', D, zdim, apixAngstrom: 3, grids: lin.grids.map((g) => g.values) });
    const r = runEvalVol({ outdir: dir, z: '0.5,-1', output: join(dir, 'lin.mrc') });
    assert.equal(r.decoder, 'linear-hartley');
    // H0 + 0.5 H1 - H2 summed here, then the library's map
    const v = Float32Array.from(lin.grids[0]!.values, (x, i) => x + 0.5 * lin.grids[1]!.values[i]! - lin.grids[2]!.values[i]!);
    const want = hetVolumeMap({ D, zdim: 0, grids: [createHartleyGrid(D, v)] }, []);
    const got = readMrc(r.maps[0]!).data;
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
    assert.ok(err < 1e-5, `linear decoder map off by ${err}`);

    const bad = join(dir, 'bad', 'decoder.json');
    const expectInputError = (field: string, re: RegExp): void => {
      assert.throws(() => runEvalVol({ outdir: join(dir, 'bad'), z: '0,0', output: join(dir, 'x.mrc') }), (e: unknown) => {
        assert.ok(e instanceof InputError, String(e));
        assert.equal(e.file, bad);
        assert.equal(e.field, field);
        assert.match(e.message, re);
        return true;
      });
    };
    mkdirSync(join(dir, 'bad'));
    writeCheckpoint(bad, { kind: 'quantum-foam', D, zdim, apixAngstrom: 3 });
    expectInputError('kind', /unknown decoder kind "quantum-foam"/);
    const mlpState = zeroStateFor(D, zdim);
    mlpState.params.w1 = mlpState.params.w1!.subarray(0, 5);
    writeCheckpoint(bad, { kind: 'het-mlp', D, zdim, apixAngstrom: 3, mlp: mlpState });
    expectInputError('mlp.params.w1', /weight w1 missing or not 16 x 16/);
    writeCheckpoint(bad, { kind: 'linear-hartley', D, zdim, apixAngstrom: 3, grids: lin.grids.slice(0, 2).map((g) => g.values) });
    expectInputError('grids', /zdim \+ 1 = 3 grids/);
    // readDecoderFile names the file too
    assert.throws(() => readDecoderFile(join(dir, 'nowhere.json')), (e: unknown) => e instanceof InputError && e.file === join(dir, 'nowhere.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A het-mlp state (hidden 16, 8 features, 2 blocks) with zero weights, without tfjs. */
function zeroStateFor(D: number, zdim: number): import('../../src/model/hetMlpDecoder.js').HetMlpState {
  const H = 16, F = 8;
  const params: Record<string, Float32Array> = {
    w0x: new Float32Array(2 * F * H), w0z: new Float32Array(zdim * H), b0: new Float32Array(H),
    w1: new Float32Array(H * H), b1: new Float32Array(H), w2: new Float32Array(H * H), b2: new Float32Array(H),
    wout: new Float32Array(H), bout: new Float32Array(1),
  };
  return { format: 'cryospin-het-mlp-v1', D, zdim, options: { nFeatures: F, featureSigma: 0, hidden: H, blocks: 2, learningRate: 5e-3, seed: 0 },
    envelope: new Float32Array(Math.floor(D / 2) + 2).fill(1), base: new Float32Array(0), features: new Float32Array(3 * F), params };
}

test('mlp decoder + encoder z: a resumed run is bit-identical to an uninterrupted one (Adam moments checkpointed)', { timeout: 120_000 }, async () => {
  await initTfjs('wasm');
  const D = 12, n = 32;
  const rng = new Rng(5);
  const imgs = Float32Array.from({ length: n * D * D }, () => rng.normal());
  const src = new MemorySource(imgs, D, 2, null);
  const rots = Float32Array.from(randomRotations(n, new Rng(9)));
  const fresh = (): HeterogeneousTrainer => {
    const tr = new HeterogeneousTrainer(src, {
      zdim: 2, consensusEpochs: 1, hetEpochs: 3, batchSize: 8, seed: 1, consensus: { poseSteps: 0 }, hetDecoder: 'mlp', zSource: 'encoder',
      zWarmupEpochs: 0, hetMarchStartPx: 3, hetMarchEpochs: 2, mlp: { hidden: 16, nFeatures: 8 }, encoder: { hidden: [16], radiusPx: 3 },
    });
    tr.consensus.stage = 'autodecode';
    tr.poses.rot.set(rots);
    return tr;
  };
  const snapshot = (tr: HeterogeneousTrainer): number[] => [...tr.z, ...Object.values(tr.mlp!.getState(false).params).flatMap((w) => [...w]), ...tr.encoder!.getState().params.flatMap((w) => [...w])];
  const a = fresh();
  while (!a.done) a.trainEpoch();
  const b = fresh();
  for (let e = 0; e < 3; e++) b.trainEpoch(); // consensus + 2 heterogeneous epochs
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-hetmlp-resume-'));
  try {
    writeCheckpoint(join(dir, 'c.json'), { trainer: b.getState() });
    const saved = readCheckpoint<{ trainer: HetTrainerState }>(join(dir, 'c.json')).trainer;
    assert.ok(saved.mlp?.adam && saved.mlp.adam.iterations > 0 && saved.encoder?.adam && saved.encoder.adam.iterations > 0, 'the checkpoint holds both Adam states');
    const c = fresh();
    c.setState(saved);
    while (!c.done) c.trainEpoch();
    assert.deepEqual(snapshot(c), snapshot(a), 'resumed run differs from the uninterrupted one');
    // control: the same resume with the moments dropped (as before they were saved) does differ
    const noAdam = readCheckpoint<{ trainer: HetTrainerState }>(join(dir, 'c.json')).trainer;
    delete noAdam.mlp!.adam;
    delete noAdam.encoder!.adam;
    const d = fresh();
    d.setState(noAdam);
    while (!d.done) d.trainEpoch();
    assert.notDeepEqual(snapshot(d), snapshot(a), 'restarting the moments should change the result');
    for (const t of [a, b, c, d]) t.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
