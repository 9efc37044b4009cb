/**
 * Atomic file output: every file cryospin writes goes to a temporary name in the same
 * folder, is flushed to disk (fsync), renamed over the target, and the folder itself is
 * flushed so the rename survives a power cut. A crash (even kill -9) therefore never leaves a
 * half-written output behind and readers never see a partial file; at worst a hidden temporary
 * `.<name>.<pid>.<n>.tmp` stays, which removeStaleTempFiles clears when a run restarts.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

let counter = 0;

/** A fresh temporary name beside `path` (hidden; carries our pid so stale ones can be told apart). */
export function tempNameFor(path: string, suffix = 'tmp'): string {
  counter += 1;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${counter}.${suffix}`);
}

/** Flush a folder's entries (a rename in it) to disk; silently skipped where folders cannot be fsynced. */
export function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* not supported on this platform / file system */
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Rename a flushed temporary file over `path` and flush the folder. */
export function commitTempFile(tmp: string, path: string): void {
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/** Write one buffer (or several, in order) to `path` atomically. */
export function writeFileAtomic(path: string, data: Uint8Array | string | Array<Uint8Array | string>): void {
  const parts = Array.isArray(data) ? data : [data];
  const tmp = tempNameFor(path);
  const fd = openSync(tmp, 'w');
  try {
    for (const p of parts) {
      const buf = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  try {
    commitTempFile(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
}

const TEMP_NAME = /^\..+\.(\d+)\.\d+\.(tmp|partial)$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Delete temporary files left in `dir` by writers that were killed (their process is gone).
 * Returns the names removed. Files of live processes (e.g. another run writing there) are kept.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch { /* raced with someone else */ }
  }
  return removed;
}
