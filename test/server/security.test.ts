/**
 * The dashboard server lets nobody out of the run folder and writes nothing (issue 8, item 4).
 * Requests are sent as raw bytes over TCP so that no client library normalises `..`, percent
 * escapes, backslashes or NUL bytes first. A secret file sits beside the run folder, in a
 * sibling folder whose name extends the run folder's (prefix trick), and behind symbolic links
 * placed inside the run folder; no response may carry its content.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { resolveInside } from '../../src/server/safePath.js';

const SECRET = `TOP-SECRET-${process.pid}-${Date.now()}`;
let base = '';
let run = '';
let server: RunningServer;

before(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'cryospin-sec-')));
  run = join(base, 'run');
  mkdirSync(join(run, 'sub'), { recursive: true });
  mkdirSync(join(base, 'run-evil'));
  mkdirSync(join(base, 'outside-dir'));
  writeFileSync(join(base, 'secret.txt'), SECRET);
  writeFileSync(join(base, 'run-evil', 'secret.txt'), SECRET);
  writeFileSync(join(base, 'outside-dir', 'secret.txt'), SECRET);
  writeFileSync(join(run, 'result.json'), '{"ok":true}\n');
  writeFileSync(join(run, 'sub', 'ok.txt'), 'inside\n');
  writeFileSync(join(run, '.hidden'), SECRET);
  symlinkSync(join(base, 'secret.txt'), join(run, 'escape-link'));
  symlinkSync('../secret.txt', join(run, 'relative-escape-link'));
  symlinkSync(join(base, 'outside-dir'), join(run, 'escape-dir'));
  symlinkSync('/etc/passwd', join(run, 'passwd-link'));
  symlinkSync(join(run, 'sub', 'ok.txt'), join(run, 'inside-link'));
  server = await startServer(run);
});

after(async () => {
  await server?.close();
  rmSync(base, { recursive: true, force: true });
});

/** One raw HTTP/1.1 request; resolves with the status (0 if the connection was closed) and the whole response text. */
function raw(requestLine: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; text: string }> {
  const { port } = server;
  return new Promise((ok, bad) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', bad);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      ok({ status: m ? Number(m[1]) : 0, text });
    });
    const h = { Host: `127.0.0.1:${port}`, Connection: 'close', ...headers };
    const head = `${requestLine}\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}${body ? `\r\nContent-Length: ${Buffer.byteLength(body)}` : ''}\r\n\r\n`;
    sock.write(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)])); // no half-close: like a browser, wait for the server to close
    sock.setTimeout(5000, () => sock.destroy());
  });
}

const TRAVERSALS = [
  '/files/../secret.txt', '/files/../../secret.txt', '/files/../../../../../../etc/passwd',
  '/files/%2e%2e/secret.txt', '/files/%2E%2E/secret.txt', '/files/.%2e/secret.txt', '/files/%2e./secret.txt',
  '/files/%252e%252e/secret.txt', '/files/%25252e%25252e/secret.txt', '/files/%252e%252e%252fsecret.txt',
  '/files/..%2fsecret.txt', '/files/..%2Fsecret.txt', '/files/%2e%2e%2fsecret.txt', '/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '/files/..\\secret.txt', '/files/..%5csecret.txt', '/files/..%5Csecret.txt', '/files/%5c..%5csecret.txt', '/files/sub\\..\\..\\secret.txt',
  `/files/${base}/secret.txt`, `/files//${base}/secret.txt`, `/files/${encodeURIComponent(join(base, 'secret.txt'))}`, '/files/%2fetc%2fpasswd',
  '/files//etc/passwd', '/files/C:%5cWindows%5cwin.ini', '/files/C:/Windows/win.ini',
  '/files/escape-link', '/files/relative-escape-link', '/files/escape-dir/secret.txt', '/files/passwd-link',
  '/files/sub/../../secret.txt', '/files/sub/%2e%2e/%2e%2e/secret.txt', '/files/sub/./../../secret.txt',
  '/files/result.json%00.txt', '/files/result.json%00/../../secret.txt', '/files/%00../secret.txt',
  '/files/..%c0%afsecret.txt', '/files/..%c1%9csecret.txt', '/files/%e0%80%ae%e0%80%ae/secret.txt', '/files/..%u2216secret.txt',
  '/files/.hidden', '/files/%2ehidden', '/files/../run-evil/secret.txt', '/files/%2e%2e/run-evil/secret.txt',
  '/..%2fsecret.txt', '/%2e%2e/%2e%2e/secret.txt', '/../../secret.txt', '/..%5c..%5csecret.txt',
  '/vendor/../../secret.txt', '/vendor/three/../../../package.json', '/vendor/three/build/..%2f..%2f..%2fpackage.json',
  '/api/../files/../secret.txt', '/api/..%2f..%2fsecret.txt', '/api/plot/..%2f..%2fsecret.txt',
  '/files/', '/files', '/files/sub', '/files/sub/',
];

test(`${TRAVERSALS.length} traversal variants are refused (400/403/404) and never return the secret`, async (t) => {
  const counts = new Map<number, number>();
  for (const p of TRAVERSALS) {
    const r = await raw(`GET ${p} HTTP/1.1`);
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    assert.ok([400, 403, 404].includes(r.status), `${p} -> ${r.status}`);
    assert.ok(!r.text.includes(SECRET), `${p} leaked the secret`);
    assert.ok(!r.text.includes('root:x:0:0'), `${p} leaked /etc/passwd`);
  }
  const heads = await Promise.all(TRAVERSALS.slice(0, 10).map((p) => raw(`HEAD ${p} HTTP/1.1`)));
  for (const r of heads) assert.ok([400, 403, 404].includes(r.status));
  t.diagnostic(`traversal: ${TRAVERSALS.length} GET + 10 HEAD refused; statuses ${[...counts].map(([s, n]) => `${s}x${n}`).join(' ')}`);
});

test('request lines with raw NUL bytes, spaces or absolute-form URLs are refused', async () => {
  for (const line of ['GET /files/result.json\0/../../secret.txt HTTP/1.1', 'GET /files/../secret.txt\0 HTTP/1.1',
    `GET http://127.0.0.1:${server.port}/../secret.txt HTTP/1.1`, 'GET ../secret.txt HTTP/1.1', 'GET //etc/passwd HTTP/1.1', 'GET * HTTP/1.1']) {
    const r = await raw(line);
    assert.ok([0, 400, 403, 404].includes(r.status), `${JSON.stringify(line)} -> ${r.status}`);
    assert.ok(!r.text.includes(SECRET) && !r.text.includes('root:x:0:0'));
  }
});

test('files inside the run folder are served (positive controls)', async () => {
  const a = await raw('GET /files/result.json HTTP/1.1');
  assert.equal(a.status, 200);
  assert.ok(a.text.endsWith('{"ok":true}\n'));
  const b = await raw('GET /files/sub/ok.txt HTTP/1.1');
  assert.equal(b.status, 200);
  const c = await raw('GET /files/inside-link HTTP/1.1');
  assert.equal(c.status, 200, 'a link that stays inside the folder is fine');
  assert.ok(c.text.endsWith('inside\n'));
  const d = await raw('GET /files/sub%2fok.txt HTTP/1.1');
  assert.equal(d.status, 200);
  const h = await raw('HEAD /files/result.json HTTP/1.1');
  assert.equal(h.status, 200);
  assert.ok(/content-security-policy: default-src 'none'/i.test(h.text));
  assert.ok(/x-content-type-options: nosniff/i.test(h.text));
});

test('no write endpoints: every other method answers 405 and the folder is unchanged', async () => {
  const before = readdirSync(run).sort();
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL']) {
    for (const p of ['/files/new.txt', '/files/result.json', '/api/status', '/']) {
      const r = await raw(`${m} ${p} HTTP/1.1`, {}, 'payload');
      assert.equal(r.status, 405, `${m} ${p} -> ${r.status}`);
      assert.ok(/allow: GET, HEAD/i.test(r.text));
    }
  }
  assert.deepEqual(readdirSync(run).sort(), before);
  assert.ok(!existsSync(join(run, 'new.txt')));
});

test('binds 127.0.0.1 by default and refuses foreign Host headers (DNS rebinding)', async () => {
  assert.equal(server.host, '127.0.0.1');
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  for (const host of ['evil.example', 'evil.example:80', `attacker.test:${server.port}`, '10.0.0.1']) {
    const r = await raw('GET /api/status HTTP/1.1', { Host: host });
    assert.equal(r.status, 403, `Host ${host}`);
  }
  for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`]) {
    const r = await raw('GET /api/status HTTP/1.1', { Host: host });
    assert.equal(r.status, 200, `Host ${host}`);
  }
});

test('resolveInside: the rules directly', () => {
  const root = realpathSync(run);
  assert.equal(resolveInside(root, '/result.json').ok, true);
  assert.deepEqual(resolveInside(root, '/../secret.txt'), { ok: false, status: 400, reason: 'dot segment' });
  assert.equal((resolveInside(root, '/%252e%252e/x') as { status: number }).status, 400);
  assert.equal((resolveInside(root, '/escape-link') as { status: number }).status, 403);
  assert.equal((resolveInside(root, '/nope.txt') as { status: number }).status, 404);
  assert.equal((resolveInside(root, '/sub') as { status: number }).status, 404);
});
