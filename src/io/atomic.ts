/**
 * Atomic file output: every file cryospin writes goes to a temporary name in the same
 * folder, is flushed to disk, then renamed over the target, so a crash never leaves a
 * half-written output behind and readers never see a partial file.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

let counter = 0;

function tempNameFor(path: string): string {
  counter += 1;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${counter}.tmp`);
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
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
}
