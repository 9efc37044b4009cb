/**
 * Streaming checkpoint writer: the file is byte for byte JSON.stringify of the encoded state
 * (large typed arrays base64-encoded in chunks, across chunk boundaries and from subarray views),
 * files in the format of earlier versions (a hand-made literal) still read, a write that fails
 * midway leaves the previous checkpoint and no temporary, and an auto-decoding run resumed from a
 * streamed checkpoint is bit-identical to an uninterrupted one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { randomRotations } from '../../src/core/rotation.js';
import { MemorySource } from '../../src/recon/memorySource.js';
import { SemiAmortizedTrainer, type TrainerState } from '../../src/recon/semiAmortized.js';
import { checkpointText, readCheckpoint, writeCheckpoint } from '../../src/recon/checkpoint.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-ckpt-stream-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

function bigState() {
  const rng = new Rng(4);
  // 1.1 M floats = 4.4 MB: two base64 chunks of 3 MiB raw, the second partial
  const big = new Float32Array(1_100_001);
  for (let i = 0; i < big.length; i++) big[i] = rng.normal();
  const backing = new Uint32Array(400_003);
  for (let i = 0; i < backing.length; i++) backing[i] = Math.floor(rng.uniform() * 2 ** 32) >>> 0;
  return {
    epoch: 7,
    stage: 'autodecode',
    note: 'ünïcode "quoted" \\ \n tab\t',
    skipped: undefined,
    fn: () => 1,
    nan: NaN,
    poses: { rot: big, adamT: backing.subarray(1, 300_002), small: Float32Array.from([1.5, -2]) },
    list: [big.subarray(5, 400_005), undefined, { x: Float64Array.from([0.25, 3]) }, null, () => 2],
    d64: Float64Array.from([1e-300, -0]),
    i32: Int32Array.from([-4, 5]),
    date: new Date(0),
  };
}

test('streamed checkpoint bytes equal JSON.stringify of the encoded state; reading gives the arrays bit for bit', () => {
  withDir((dir) => {
    const state = bigState();
    const p = join(dir, 'checkpoint.json');
    for (const streamMinBytes of [undefined, 0]) {
      writeCheckpoint(p, state, { streamMinBytes });
      assert.ok(readFileSync(p).equals(Buffer.from(checkpointText(state), 'utf8')), `streamMinBytes ${streamMinBytes}`);
    }
    assert.deepEqual(readdirSync(dir), ['checkpoint.json'], 'no temporaries left');
    const back = readCheckpoint<{ poses: { rot: Float32Array; adamT: Uint32Array }; list: [Float32Array]; note: string; epoch: number }>(p);
    assert.ok(back.poses.rot instanceof Float32Array && back.poses.adamT instanceof Uint32Array);
    assert.equal(back.poses.rot.buffer.byteLength, back.poses.rot.byteLength);
    assert.ok(Buffer.from(back.poses.rot.buffer).equals(Buffer.from(state.poses.rot.buffer)));
    assert.deepEqual(Array.from(back.poses.adamT), Array.from(state.poses.adamT));
    assert.deepEqual(Array.from(back.list[0]), Array.from(state.list[0] as Float32Array));
    assert.equal(back.note, state.note);
    assert.equal(back.epoch, 7);
  });
});

test('a checkpoint in the format of earlier versions (hand-written JSON + base64) still reads', () => {
  withDir((dir) => {
    const p = join(dir, 'old.json');
    // f32 [1, 2] = bytes 00 00 80 3f 00 00 00 40; u32 [1] = 01 00 00 00; Float64Array was a plain JSON list
    writeFileSync(p, '{"epoch":3,"volume":{"__f32__":"AACAPwAAAEA="},"adamT":{"__u32__":"AQAAAA=="},"monitorPrev":[0.5,2],"rng":{"s":[1,2,3,4]}}');
    const s = readCheckpoint<{ epoch: number; volume: Float32Array; adamT: Uint32Array; monitorPrev: number[]; rng: { s: number[] } }>(p);
    assert.equal(s.epoch, 3);
    // decoded arrays own their buffer (small decodes come out of Node's shared Buffer pool)
    assert.equal(s.volume.buffer.byteLength, 8);
    assert.equal(s.adamT.buffer.byteLength, 4);
    assert.ok(s.volume instanceof Float32Array);
    assert.deepEqual(Array.from(s.volume), [1, 2]);
    assert.ok(s.adamT instanceof Uint32Array);
    assert.deepEqual(Array.from(s.adamT), [1]);
    assert.deepEqual(s.monitorPrev, [0.5, 2]);
    assert.deepEqual(s.rng, { s: [1, 2, 3, 4] });
  });
});

test('a streamed write that fails midway keeps the previous checkpoint and leaves no temporary', () => {
  withDir((dir) => {
    const p = join(dir, 'checkpoint.json');
    writeCheckpoint(p, { epoch: 1 });
    const before = readFileSync(p);
    const bad = { epoch: 2, big: new Float32Array(300_000), get later(): number { throw new Error('boom'); } };
    assert.throws(() => writeCheckpoint(p, bad), /boom/);
    assert.ok(readFileSync(p).equals(before));
    assert.deepEqual(readdirSync(dir), ['checkpoint.json']);
  });
});

test('auto-decoding resumed from a streamed checkpoint (every typed array chunked) is bit-identical to an uninterrupted run', () => {
  const D = 12, N = 40;
  const rng = new Rng(5);
  const imgs = new Float32Array(N * D * D);
  for (let i = 0; i < imgs.length; i++) imgs[i] = rng.normal();
  const src = new MemorySource(imgs, D, 2, null);
  const fresh = (): SemiAmortizedTrainer => {
    const tr = new SemiAmortizedTrainer(src, null, { epochs: 2, batchSize: 8, seed: 3, lrVolumeAutodecode: 0.3 });
    tr.poses.rot.set(Float32Array.from(randomRotations(src.n, new Rng(9))));
    return tr;
  };
  const a = fresh();
  a.trainEpoch();
  a.trainEpoch();
  const b = fresh();
  b.trainEpoch();
  withDir((dir) => {
    const p = join(dir, 'c.json');
    writeCheckpoint(p, { trainer: b.getState() }, { streamMinBytes: 0 });
    const c = fresh();
    c.setState(readCheckpoint<{ trainer: TrainerState }>(p).trainer);
    assert.equal(c.epoch, 1);
    c.trainEpoch();
    assert.deepEqual(Array.from(c.grid.values), Array.from(a.grid.values));
    assert.deepEqual(Array.from(c.poses.rot), Array.from(a.poses.rot));
    assert.deepEqual(Array.from(c.poses.origin), Array.from(a.poses.origin));
    assert.deepEqual(Array.from(c.poses.adamV), Array.from(a.poses.adamV));
    assert.notDeepEqual(Array.from(fresh().grid.values), Array.from(a.grid.values));
  });
});
