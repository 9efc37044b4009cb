/**
 * `cryospin serve OUTDIR [--host 127.0.0.1] [--port 0] [--json]`: the live dashboard of a running
 * or finished reconstruction (src/server/server.ts). Prints the URL on stderr, and with --json
 * one JSON line {url, host, port, outdir} on stdout as soon as the server listens; runs until
 * interrupted (SIGINT/SIGTERM close it cleanly).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { RunningServer } from '../../server/server.js';
import { jsonOption, parseNumber } from '../options.js';

export interface ServeOptions {
  host?: string;
  port?: number;
  json?: boolean;
}

export async function runServe(outdir: string, o: ServeOptions = {}): Promise<RunningServer> {
  const { startServer } = await import('../../server/server.js'); // loaded when used: `--help` stays fast
  const s = await startServer(outdir, { host: o.host ?? '127.0.0.1', port: o.port ?? 0, log: (l) => process.stderr.write(l + '\n') });
  if (o.json) process.stdout.write(JSON.stringify({ url: s.url, host: s.host, port: s.port, outdir: resolve(outdir) }) + '\n');
  if (o.host && o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1') {
    process.stderr.write(`cryospin serve: WARNING: listening on ${o.host}: anyone who can reach this address can read the run folder\n`);
  }
  return s;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('live dashboard of a running or finished run: loss, FSC, slices, 3D map, viewing directions (read-only local web server)')
    .argument('<outdir>', 'the run folder (reconstruct -o)')
    .option('--host <address>', 'address to listen on (default 127.0.0.1: this machine only)', '127.0.0.1')
    .option('--port <N>', 'port (0 = a free port)', parseNumber('--port', { int: true, min: 0, max: 65535 }), 0)
    .addOption(jsonOption())
    .action(async (outdir: string, o: { host: string; port: number; json?: boolean }) => {
      const s = await runServe(outdir, { host: o.host, port: o.port, json: o.json === true });
      await new Promise<void>((done) => {
        const stop = (): void => { void s.close().then(done); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
