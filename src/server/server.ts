/**
 * The dashboard server (`cryospin serve`, `reconstruct --serve`): node:http, read-only.
 *   GET /                 web/index.html (the page; web/*.js plain ES modules)
 *   GET /vendor/three/... three.js and two of its addons from node_modules (fixed list)
 *   GET /api/<route>      JSON / SVG views of the run folder (api.ts)
 *   GET /api/events       Server-Sent Events: `version` whenever a watched output changes
 *   GET /files/<path>     a file of the run folder, checked by safePath.ts
 * Security: only GET and HEAD (405 otherwise, no write endpoint exists); binds 127.0.0.1
 * unless a host is given; with a loopback bind the Host header must name a loopback host
 * (blocks DNS rebinding); files only from inside the run folder (realpath-checked); strict
 * Content-Security-Policy (scripts from this origin only), nosniff, no framing.
 */
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../io/errors.js';
import { RunApi, runVersion } from './api.js';
import { resolveInside } from './safePath.js';

export interface ServerOptions {
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** How often the run folder is checked for changes (ms). */
  pollMs?: number;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8', '.jsonl': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.star': 'text/plain; charset=utf-8', '.txt': 'text/plain; charset=utf-8', '.log': 'text/plain; charset=utf-8',
};

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** web/ beside src/ (or dist/src/): searched upwards from this module. */
export function webRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'web', 'index.html'))) return realpathSync(join(d, 'web'));
    d = dirname(d);
  }
  throw new Error('cryospin: the dashboard page (web/index.html) was not found');
}

/** The vendored browser modules: URL path -> file, plus the bare `three` import rewritten to its URL. */
function vendorFiles(): Map<string, string> {
  const req = createRequire(import.meta.url);
  const threeBuild = dirname(req.resolve('three'));
  const threeRoot = dirname(threeBuild);
  const m = new Map<string, string>();
  m.set('/vendor/three/build/three.module.js', join(threeBuild, 'three.module.js'));
  m.set('/vendor/three/build/three.core.js', join(threeBuild, 'three.core.js'));
  m.set('/vendor/three/addons/MarchingCubes.js', join(threeRoot, 'examples', 'jsm', 'objects', 'MarchingCubes.js'));
  m.set('/vendor/three/addons/OrbitControls.js', join(threeRoot, 'examples', 'jsm', 'controls', 'OrbitControls.js'));
  return m;
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}

function hostHeaderName(h: string | undefined): string {
  if (!h) return '';
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.split(':')[0]!;
}

export async function startServer(outdirIn: string, opts: ServerOptions = {}): Promise<RunningServer> {
  const outdir = resolve(outdirIn);
  if (!existsSync(outdir) || !statSync(outdir).isDirectory()) throw new InputError(outdirIn, 'run folder does not exist (start the run first, or give its -o folder)');
  const realOut = realpathSync(outdir);
  const host = opts.host ?? '127.0.0.1';
  const web = webRoot();
  const vendor = vendorFiles();
  const api = new RunApi(realOut);
  const log = opts.log ?? (() => {});
  const sse = new Set<ServerResponse>();
  let version = runVersion(realOut);

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, head: boolean, extra: Record<string, string> = {}): void => {
    const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(buf.length), 'Cache-Control': 'no-store', ...extra });
    res.end(head ? undefined : buf);
  };
  const fail = (res: ServerResponse, status: number, msg: string, head: boolean, extra: Record<string, string> = {}): void =>
    send(res, status, 'text/plain; charset=utf-8', `${status} ${msg}\n`, head, extra);

  const sendFile = (res: ServerResponse, path: string, size: number, head: boolean): void => {
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': String(size), 'Cache-Control': 'no-store' });
    if (head) { res.end(); return; }
    createReadStream(path).on('error', () => res.destroy()).pipe(res);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? '';
    const head = method === 'HEAD';
    if (method !== 'GET' && method !== 'HEAD') { fail(res, 405, 'method not allowed (read-only server)', false, { Allow: 'GET, HEAD' }); return; }
    if (isLoopback(host) && !isLoopback(hostHeaderName(req.headers.host))) { fail(res, 403, 'forbidden host', head); return; }
    const raw = req.url ?? '/';
    if (!raw.startsWith('/') || raw.startsWith('//')) { fail(res, 400, 'bad request', head); return; }
    const qi = raw.indexOf('?');
    const rawPath = qi < 0 ? raw : raw.slice(0, qi);
    const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    try {
      if (rawPath === '/' || rawPath === '/index.html') {
        send(res, 200, TYPES['.html']!, readFileSync(join(web, 'index.html')), head);
      } else if (rawPath.startsWith('/vendor/')) {
        const f = vendor.get(rawPath);
        if (!f) { fail(res, 404, 'not found', head); return; }
        const text = readFileSync(f, 'utf8').replace(/from\s+'three'/g, "from '/vendor/three/build/three.module.js'");
        send(res, 200, TYPES['.js']!, text, head, { 'Cache-Control': 'max-age=3600' });
      } else if (rawPath === '/api/events') {
        if (head) { send(res, 200, 'text/event-stream', '', true); return; }
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
        res.write(`retry: 2000\nevent: version\ndata: ${version}\n\n`);
        sse.add(res);
        req.on('close', () => sse.delete(res));
      } else if (rawPath.startsWith('/api/')) {
        const r = api.handle(rawPath.slice(5), query);
        if (!r) { fail(res, 404, 'no such endpoint', head); return; }
        send(res, r.status, r.type, r.body, head);
      } else if (rawPath.startsWith('/files/')) {
        const p = resolveInside(realOut, rawPath.slice('/files'.length));
        if (!p.ok) { fail(res, p.status, p.reason, head); return; }
        sendFile(res, p.path, p.size, head);
      } else {
        const p = resolveInside(web, rawPath);
        if (!p.ok) { fail(res, p.status, p.reason, head); return; }
        sendFile(res, p.path, p.size, head);
      }
    } catch (e) {
      log(`cryospin serve: ${req.method} ${raw}: ${(e as Error).message}`);
      if (!res.headersSent) fail(res, 500, 'internal error', head); else res.destroy();
    }
  };

  const server = createServer(handler);
  server.on('clientError', (_e, socket) => { socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'); });
  await new Promise<void>((ok, bad) => {
    server.once('error', bad);
    server.listen(opts.port ?? 0, host, () => { server.off('error', bad); ok(); });
  });
  const timer = setInterval(() => {
    const v = runVersion(realOut);
    if (v === version) return;
    version = v;
    for (const r of sse) r.write(`event: version\ndata: ${v}\n\n`);
  }, opts.pollMs ?? 1000);
  timer.unref();
  const addr = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${urlHost}:${addr.port}/`;
  log(`cryospin serve: dashboard of ${outdir} at ${url}`);
  return {
    url, host, port: addr.port,
    close: () => new Promise<void>((ok) => {
      clearInterval(timer);
      for (const r of sse) r.end();
      sse.clear();
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}
