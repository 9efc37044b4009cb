/**
 * Dashboard endpoints on a run folder whose files appear over time (as during a real run):
 * empty folder -> first epoch (metrics + live snapshot) -> final map. Checks the Server-Sent
 * Events version changes with the files, slices and volume match the MRC file's voxels read
 * independently, the map shown switches to map.mrc when it appears, and `cryospin serve --json`
 * prints exactly one JSON line with the URL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServe } from '../../src/cli/commands/serve.js';
import { readMrc, writeMrc } from '../../src/io/mrc.js';
import { writeLiveSnapshot } from '../../src/server/liveSnapshot.js';
import { startServer } from '../../src/server/server.js';

function blob(D: number, c: [number, number, number], r: number): Float32Array {
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    v[x + D * (y + D * z)] = Math.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / (2 * r * r)) + 0.001 * x;
  }
  return v;
}

/** Collects `version` events of /api/events. */
function events(url: string): { versions: string[]; next(after: number, timeoutMs: number): Promise<string>; close(): void } {
  const versions: string[] = [];
  let res: IncomingMessage | null = null;
  const req = get(`${url}api/events`, (r) => {
    res = r;
    let buf = '';
    r.on('data', (c: Buffer) => {
      buf += c.toString();
      let k: number;
      while ((k = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, k);
        buf = buf.slice(k + 2);
        const m = /event: version\ndata: (\S+)/.exec(block);
        if (m) versions.push(m[1]!);
      }
    });
  });
  req.on('error', () => {});
  return {
    versions,
    next: async (after, timeoutMs) => {
      const t0 = Date.now();
      while (versions.length <= after) {
        if (Date.now() - t0 > timeoutMs) throw new Error('no version event');
        await new Promise((r) => setTimeout(r, 20));
      }
      return versions[after]!;
    },
    close: () => { res?.destroy(); req.destroy(); },
  };
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

test('endpoints follow a run folder that fills up over time; SSE announces each change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-api-'));
  const s = await startServer(dir, { pollMs: 50 });
  const ev = events(s.url);
  try {
    const v0 = await ev.next(0, 5000);
    const st0 = await getJson(`${s.url}api/status`);
    assert.equal(st0.status, 200);
    assert.equal(st0.body.epochs, 0);
    assert.equal(st0.body.finished, false);
    assert.equal((await getJson(`${s.url}api/slices`)).status, 404);
    assert.equal((await getJson(`${s.url}api/volume`)).status, 404);
    assert.match(await (await fetch(`${s.url}api/plot/fsc.svg`)).text(), /no FSC yet/);

    // epoch 0 finishes: a metrics line and the live snapshot
    const D = 20;
    const map = blob(D, [12, 8, 10], 2.5);
    appendFileSync(join(dir, 'metrics.jsonl'), JSON.stringify({ epoch: 0, stage: 'search', loss: 1.5, wall_s: 3, head_usage: [0.5, 0.5] }) + '\n');
    writeLiveSnapshot(dir, { epoch: 0, map, D, apixAngstrom: 4 });
    const v1 = await ev.next(1, 5000);
    assert.notEqual(v1, v0);
    const st1 = await getJson(`${s.url}api/status`);
    assert.equal(st1.body.epochs, 1);
    const sl = (await getJson(`${s.url}api/slices`)).body as { D: number; file: string; z: number[]; y: number[]; x: number[] };
    assert.equal(sl.D, D);
    assert.equal(sl.file, join('live', 'map.mrc'));
    const file = readMrc(join(dir, 'live', 'map.mrc'));
    const c = D / 2;
    for (let j = 0; j < D; j++) {
      for (let i = 0; i < D; i++) {
        const rel = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(1e-3, Math.abs(b));
        assert.ok(rel(sl.z[j * D + i]!, file.data[i + D * (j + D * c)]!), 'z section');
        assert.ok(rel(sl.y[j * D + i]!, file.data[i + D * (c + D * j)]!), 'y section');
        assert.ok(rel(sl.x[j * D + i]!, file.data[c + D * (i + D * j)]!), 'x section');
      }
    }
    const vol = (await getJson(`${s.url}api/volume`)).body as { D: number; data: string; mean: number };
    const values = new Float32Array(new Uint8Array(Buffer.from(vol.data, 'base64')).buffer);
    assert.equal(vol.D, D);
    assert.deepEqual(Array.from(values), Array.from(file.data));
    const heads = await (await fetch(`${s.url}api/plot/heads.svg`)).text();
    assert.equal((heads.match(/class="series"/g) ?? []).length, 2);

    // epoch 1: the live FSC appears
    writeLiveSnapshot(dir, { epoch: 1, map, D, apixAngstrom: 4 });
    await ev.next(2, 5000);
    const fsc = (await getJson(`${s.url}api/fsc`)).body as { live: { kind: string; curve: number[][] } | null };
    assert.equal(fsc.live?.kind, 'epoch-to-epoch');

    // the run ends: map.mrc (a different map) takes over the 3D view
    const final = blob(D, [6, 6, 6], 2);
    writeMrc(join(dir, 'map.mrc'), final, { nx: D, ny: D, nz: D, apixAngstrom: 4 });
    writeFileSync(join(dir, 'result.json'), JSON.stringify({ map: 'map.mrc', epochs: 2 }));
    await ev.next(3, 5000);
    const st2 = await getJson(`${s.url}api/status`);
    assert.equal(st2.body.finished, true);
    const vol2 = (await getJson(`${s.url}api/volume`)).body as { file: string; data: string };
    assert.equal(vol2.file, 'map.mrc');
    assert.deepEqual(Array.from(new Float32Array(new Uint8Array(Buffer.from(vol2.data, 'base64')).buffer)), Array.from(final));
    const liveChoice = (await getJson(`${s.url}api/volume?map=live`)).body as { file: string };
    assert.equal(liveChoice.file, join('live', 'map.mrc'));
  } finally {
    ev.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cryospin serve --json prints one JSON line with the URL; a missing folder is an InputError', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-serve-'));
  await new Promise((ok) => setTimeout(ok, 100)); // let the runner's pending report writes go out first
  const lines: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  (process.stdout as unknown as { write: (s: unknown) => boolean }).write = (x: unknown) => { lines.push(typeof x === 'string' ? x : Buffer.from(x as Uint8Array).toString()); return true; };
  (process.stderr as unknown as { write: (s: string) => boolean }).write = () => true;
  let s;
  try {
    s = await runServe(dir, { json: true });
  } finally {
    process.stdout.write = orig;
    process.stderr.write = origErr;
  }
  // the test runner reports through the same stdout: pass its captured reports on (they were lost, and with
  // them the previous test's result: the run counted one test fewer)
  for (const l of lines) if (!l.startsWith('{"url"')) orig(l);
  try {
    const ours = lines.map(String).filter((l) => l.startsWith('{"url"'));
    assert.equal(ours.length, 1);
    assert.ok(ours[0]!.endsWith('}\n'));
    const o = JSON.parse(ours[0]!) as { url: string; host: string; port: number };
    assert.equal(o.url, s.url);
    assert.equal(o.host, '127.0.0.1');
    assert.equal((await fetch(o.url)).status, 200);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(() => startServer(join(dir, 'nope')), { name: 'InputError' });
});
