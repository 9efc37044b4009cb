/**
 * Peak memory of writing a checkpoint with a large pose table (issue #9): the in-memory writer
 * (the whole JSON text built first: what writeCheckpoint did up to session 4, checkpointText +
 * writeFileAtomic) against the streaming writer (writeCheckpoint: base64 in chunks to the file).
 *
 *   node --import tsx bench/checkpointMemory.ts [--n 1000000] [--box 64] [--dir /tmp] [--out bench/results/checkpoint-memory.md]
 *
 * Each writer runs in its own child process (maxRSS is a per-process high-water mark): build a
 * trainer-shaped state (pose table of N particles, float32, filled with numbers; a (box+1)^3
 * volume and its optimiser moments), GC, read maxRSS, write the checkpoint, read maxRSS again,
 * check the two files are byte-identical, read the streamed one back (maxRSS after reading), delete them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

interface Row { writer: string; n: number; rssBeforeMiB: number; maxRssBeforeMiB: number; maxRssAfterMiB: number; fileMiB: number; seconds: number; maxRssAfterReadMiB?: number; readS?: number }

async function child(): Promise<void> {
  const writer = arg('writer', 'stream');
  const n = Number(arg('n', '1000000'));
  const box = Number(arg('box', '64'));
  const path = arg('path', '');
  const { createPoseTable } = await import('../src/recon/poseTable.js');
  const { writeCheckpoint, checkpointText, readCheckpoint } = await import('../src/recon/checkpoint.js');
  const { writeFileAtomic } = await import('../src/io/atomic.js');
  const pt = createPoseTable(n);
  for (const a of [pt.rot, pt.origin, pt.adamM, pt.adamV]) for (let i = 0; i < a.length; i++) a[i] = Math.sin(i) * 0.7;
  pt.adamT.fill(5);
  const nv = (box + 1) ** 3;
  const vol = (): Float32Array => Float32Array.from({ length: nv }, (_, i) => Math.cos(i));
  const state = { trainer: { epoch: 1, stage: 'autodecode', volume: vol(), volOpt: { m: vol(), w: vol(), t: 10, lr: 0.1 },
    poses: { rot: pt.rot, origin: pt.origin, adamM: pt.adamM, adamV: pt.adamV, adamT: pt.adamT }, rng: { s: [1, 2, 3, 4] }, monitorPrev: null, switchedAtEpoch: 0 } };
  (globalThis as { gc?: () => void }).gc?.();
  const rssBeforeMiB = process.memoryUsage().rss / 2 ** 20;
  const maxRssBeforeMiB = process.resourceUsage().maxRSS / 1024;
  const t0 = performance.now();
  if (writer === 'json') writeFileAtomic(path, checkpointText(state));
  else writeCheckpoint(path, state);
  const seconds = (performance.now() - t0) / 1000;
  const row: Row = { writer, n, rssBeforeMiB, maxRssBeforeMiB, maxRssAfterMiB: process.resourceUsage().maxRSS / 1024, fileMiB: statSync(path).size / 2 ** 20, seconds };
  if (writer === 'stream') {
    // read it back (what --resume does); the state is still held, as a resuming trainer holds its own
    const t1 = performance.now();
    const back = readCheckpoint<typeof state>(path);
    row.readS = (performance.now() - t1) / 1000;
    row.maxRssAfterReadMiB = process.resourceUsage().maxRSS / 1024;
    if (back.trainer.poses.rot.length !== pt.rot.length) throw new Error('read back a different pose table');
  }
  process.stdout.write(JSON.stringify(row) + '\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child();
  const n = arg('n', '1000000');
  const dir = resolve(arg('dir', '/tmp'));
  const rows: Row[] = [];
  const files: string[] = [];
  for (const writer of ['json', 'stream']) {
    const path = join(dir, `cryospin-ckpt-mem-${process.pid}-${writer}.json`);
    files.push(path);
    const r = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), '--child', '--writer', writer, '--n', n, '--box', arg('box', '64'), '--path', path],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${writer} child failed (${r.status})`);
    rows.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Row);
  }
  const same = readFileSync(files[0]!).equals(readFileSync(files[1]!));
  for (const f of files) rmSync(f, { force: true });
  const f = (x: number, d = 0): string => x.toFixed(d);
  const md = `# Checkpoint write: peak memory (pose table of ${Number(n).toLocaleString('en-US')} particles, box ${arg('box', '64')})\n\n` +
    '| writer | RSS before write MiB | maxRSS before write MiB | maxRSS after write MiB | file MiB | write s |\n|---|---|---|---|---|---|\n' +
    rows.map((r) => `| ${r.writer === 'json' ? 'whole JSON text in memory (before)' : 'streamed base64 chunks (writeCheckpoint)'} | ${f(r.rssBeforeMiB)} | ${f(r.maxRssBeforeMiB)} | ${f(r.maxRssAfterMiB)} | ${f(r.fileMiB, 1)} | ${f(r.seconds, 1)} |`).join('\n') +
    `\n\nFiles byte-identical: ${same}. Reading the streamed file back (readCheckpoint, as --resume does, while the written state is still held): ` +
    `maxRSS ${f(rows[1]!.maxRssAfterReadMiB ?? NaN)} MiB, ${f(rows[1]!.readS ?? NaN, 1)} s. ${new Date().toISOString()}, ${process.version}; shared machine (times noisy).\n` +
    `Command: \`node --import tsx bench/checkpointMemory.ts ${process.argv.slice(2).join(' ')}\`\n`;
  const out = arg('out', '');
  if (out) writeFileSync(resolve(out), md);
  process.stdout.write(md);
  if (!same) process.exitCode = 1;
}

await main();
