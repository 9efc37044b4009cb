/**
 * Shared CLI output helpers: `--json` prints exactly one JSON object on stdout; human-readable
 * text otherwise. Progress and logs go to stderr so stdout stays machine-readable.
 *
 * Run log: a command that writes an output folder keeps `OUTDIR/run.log` (appended, so a resumed
 * run adds to it): the command line, every `log()` line with a timestamp, and the exit status.
 * Lines are held in memory until the command itself has created the folder, so a command that
 * fails on bad input leaves nothing behind.
 */
import { appendFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function printResult(json: boolean, obj: object, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify(obj) + '\n');
  else process.stdout.write(human() + '\n');
}

interface RunLog { dir: string; pending: string[]; open: boolean }
let runLog: RunLog | null = null;

function stamp(line: string): string {
  return `[${new Date().toISOString()}] ${line}\n`;
}

function flushRunLog(): void {
  if (runLog === null) return;
  if (!runLog.open) {
    if (!existsSync(runLog.dir) || !statSync(runLog.dir).isDirectory()) return;
    runLog.open = true;
  }
  if (runLog.pending.length === 0) return;
  try {
    appendFileSync(join(runLog.dir, 'run.log'), runLog.pending.join(''));
  } catch {
    // the log is a convenience: a full disk or a vanished folder must not fail the run
  }
  runLog.pending = [];
}

/** Start the run log of a command writing into `dir` (the first line is `header`). */
export function startRunLog(dir: string, header: string): void {
  runLog = { dir, pending: [stamp(header)], open: false };
  flushRunLog();
}

/** Record the end of the command (exit code and, on failure, its message) and stop logging. */
export function endRunLog(trailer: string): void {
  if (runLog === null) return;
  runLog.pending.push(stamp(trailer));
  flushRunLog();
  runLog = null;
}

export function log(msg: string): void {
  process.stderr.write(msg + '\n');
  if (runLog !== null) {
    runLog.pending.push(stamp(msg));
    flushRunLog();
  }
}
