/**
 * The small pieces that make a killed run resumable (used by reconstructJob): the metrics log is
 * cut back to the checkpointed epochs (a kill between the log line and the checkpoint, or a torn
 * last line), temporaries of dead writers are removed (live ones kept), a checkpoint written with
 * other settings is refused, and an atomic write leaves either the old or the new file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleTempFiles, writeFileAtomic } from '../../src/io/atomic.js';
import { InputError } from '../../src/io/errors.js';
import { checkResumeCompatible, prepareRunLog } from '../../src/recon/checkpoint.js';

test('prepareRunLog keeps exactly the checkpointed epochs and drops a torn line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-log-'));
  try {
    const p = join(dir, 'metrics.jsonl');
    const line = (e: number): string => JSON.stringify({ epoch: e, loss: 1 / (e + 1) });
    writeFileSync(p, [0, 1, 2, 3].map(line).join('\n') + '\n{"epoch":4,"lo');
    prepareRunLog(p, 2);
    assert.equal(readFileSync(p, 'utf8'), `${line(0)}\n${line(1)}\n`);
    prepareRunLog(p, 0);
    assert.equal(readFileSync(p, 'utf8'), '');
    prepareRunLog(join(dir, 'absent.jsonl'), 3); // no log yet: an empty one
    assert.equal(readFileSync(join(dir, 'absent.jsonl'), 'utf8'), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('removeStaleTempFiles removes temporaries of dead processes only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-tmp-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const names = [`.map.mrc.${dead}.3.tmp`, `.stack.mrcs.${dead}.1.partial`, `.map.mrc.${process.pid}.9.tmp`, 'map.mrc', '.hidden'];
    for (const n of names) writeFileSync(join(dir, n), 'x');
    assert.deepEqual(removeStaleTempFiles(dir).sort(), [names[0], names[1]].sort());
    assert.deepEqual(readdirSync(dir).sort(), [names[2], names[3], names[4]].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint written with other settings is refused, naming the setting', () => {
  const saved = { input: 'a.star', box: 32, heads: 7, seed: 3, particles: 200 };
  checkResumeCompatible('c.json', saved, { box: 32, heads: 7, seed: 3, particles: 200 });
  checkResumeCompatible('c.json', { box: 32 }, { box: 32, seed: 5 }); // older checkpoints lack keys: not compared
  assert.throws(() => checkResumeCompatible('c.json', saved, { box: 32, heads: 7, seed: 4, particles: 200 }),
    (e) => e instanceof InputError && e.field === 'seed' && /c\.json: field seed: the checkpoint was written with seed = 3, this run has 4/.test(e.message));
  assert.throws(() => checkResumeCompatible('c.json', saved, { box: 64 }), (e) => e instanceof InputError && e.field === 'box');
});

test('writeFileAtomic replaces the file whole and leaves no temporary; a failed write keeps the old file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-atomic-'));
  try {
    const p = join(dir, 'out.json');
    writeFileAtomic(p, 'old\n');
    writeFileAtomic(p, ['new', ' ', Buffer.from('content\n')]);
    assert.equal(readFileSync(p, 'utf8'), 'new content\n');
    assert.deepEqual(readdirSync(dir), ['out.json']);
    assert.throws(() => writeFileAtomic(join(dir, 'missing-folder', 'x.json'), 'x'));
    assert.deepEqual(readdirSync(dir), ['out.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
