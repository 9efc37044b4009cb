/**
 * A read-only file opened once and read with positioned reads (fs.readSync with a position),
 * so any byte range of a file of any size (beyond 2 GiB too: offsets are plain numbers, exact
 * up to 2^53) can be read without loading the rest. Reads are split into chunks well below
 * the 2 GiB limit of a single read call. Open/read failures become InputError naming the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InputError } from './errors.js';

/** Largest single read call (bytes); < 1 GiB as the MRC brief requires. */
export const MAX_READ_CHUNK_BYTES = 256 * 1024 * 1024;

export class ReadOnlyFile {
  readonly path: string;
  readonly sizeBytes: number;
  private fd: number | null;

  private constructor(path: string, fd: number, sizeBytes: number) {
    this.path = path;
    this.fd = fd;
    this.sizeBytes = sizeBytes;
  }

  /** Open `path` for reading; throws InputError if it does not exist or is not a regular file. */
  static open(path: string): ReadOnlyFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new InputError(path, `cannot open file (${code})`);
    }
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw new InputError(path, 'not a regular file');
    }
    return new ReadOnlyFile(path, fd, st.size);
  }

  /**
   * Fill `dest` with the bytes starting at `positionBytes`. Throws InputError (field `field`)
   * if the file ends first.
   */
  readAt(dest: Uint8Array, positionBytes: number, field = 'data', chunkBytes = MAX_READ_CHUNK_BYTES): void {
    if (this.fd === null) throw new Error(`${this.path}: read after close`);
    let done = 0;
    while (done < dest.length) {
      const want = Math.min(chunkBytes, dest.length - done);
      const got = readSync(this.fd, dest, done, want, positionBytes + done);
      if (got === 0) {
        throw new InputError(this.path, `unexpected end of file at byte ${positionBytes + done} ` +
          `(wanted ${dest.length} bytes from byte ${positionBytes}; file has ${this.sizeBytes})`, { field });
      }
      done += got;
    }
  }

  /** Close the file; further reads throw. Closing twice is harmless. */
  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
