/**
 * Entry point of the dashboard server as a child process (see serveProcess.ts): argv = OUTDIR
 * HOST PORT. Prints one JSON line {url, host, port} on stdout once listening, and exits when its
 * standard input closes (the parent process ended) or on SIGTERM/SIGINT.
 */
import { startServer } from './server.js';

const [outdir, host, port] = process.argv.slice(2);
try {
  const s = await startServer(outdir ?? '.', { host: host || '127.0.0.1', port: Number(port ?? 0) });
  process.stdout.write(JSON.stringify({ url: s.url, host: s.host, port: s.port }) + '\n');
  const stop = (): void => { void s.close().then(() => process.exit(0)); };
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (e) {
  process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
  process.exit(1);
}
