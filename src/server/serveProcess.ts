/**
 * The dashboard server in its own process, for `reconstruct --serve`: an epoch of training
 * blocks the event loop of the process running it, so a server sharing that process could not
 * answer during the run. The child (serveMain.ts) runs the same code as `cryospin serve`; it
 * ends when this process ends (its standard input closes) or on close().
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ServerProcess {
  url: string;
  host: string;
  port: number;
  pid: number;
  close(): Promise<void>;
}

export function startServerProcess(outdir: string, opts: { host?: string; port?: number } = {}): Promise<ServerProcess> {
  mkdirSync(resolve(outdir), { recursive: true });
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const main = fileURLToPath(new URL(`./serveMain${ext}`, import.meta.url));
  // process.execArgv carries the TypeScript loader (--import tsx) when running from sources
  const child = spawn(process.execPath, [...process.execArgv, main, resolve(outdir), opts.host ?? '127.0.0.1', String(opts.port ?? 0)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((ok, bad) => {
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      child.stdout!.off('data', onData);
      let info: { url?: string; host?: string; port?: number; error?: string };
      try { info = JSON.parse(buf.slice(0, nl)) as typeof info; } catch { info = { error: `unexpected output: ${buf.slice(0, 200)}` }; }
      if (!info.url) { child.kill(); bad(new Error(`dashboard server did not start: ${info.error ?? 'unknown error'}`)); return; }
      // do not keep this process alive for the child's sake
      child.unref();
      (child.stdout as unknown as { unref?: () => void }).unref?.();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      ok({
        url: info.url, host: info.host ?? '127.0.0.1', port: info.port ?? 0, pid: child.pid ?? -1,
        close: () => new Promise<void>((done) => {
          if (child.exitCode !== null) { done(); return; }
          child.ref(); // keep this process alive until the child has gone
          child.once('exit', () => done());
          child.stdin!.end();
        }),
      });
    };
    child.stdout!.on('data', onData);
    child.once('error', bad);
    child.once('exit', (code) => bad(new Error(`dashboard server exited (code ${code}) before listening`)));
  });
}
