/**
 * Read-ahead for particle stacks: a worker thread reads the byte ranges of the NEXT batches
 * (positioned reads into one reused scratch buffer), so that when the loop asks for them the
 * main thread's reads (src/io/particles.ts, the one decoding path) are served from the OS page
 * cache while the worker's I/O overlapped the current batch's compute. Nothing is kept in our
 * memory: RSS does not grow; at most `maxPending` requests are in flight (a slow disk cannot
 * queue up work). Plain-JS worker (eval), so it runs the same from the TypeScript sources and
 * from dist/.
 */
import { Worker } from 'node:worker_threads';
import { readMrcHeader } from '../io/mrc.js';
import type { ParticleSet } from '../io/particles.js';
import { particleStack } from '../io/particleTable.js';

const WORKER = `const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const done = workerData.done;
const fds = new Map();
let scratch = Buffer.alloc(1 << 20);
parentPort.on('message', (req) => {
  try {
    for (const [path, pos, len] of req) {
      let fd = fds.get(path);
      if (fd === undefined) {
        if (fds.size >= 16) { const [p0, f0] = fds.entries().next().value; fs.closeSync(f0); fds.delete(p0); }
        fd = fs.openSync(path, 'r');
        fds.set(path, fd);
      }
      if (scratch.length < len) scratch = Buffer.alloc(len);
      let off = 0;
      while (off < len) {
        const n = fs.readSync(fd, scratch, off, len - off, pos + off);
        if (n <= 0) break;
        off += n;
      }
    }
  } catch (e) { /* read-ahead is only a hint: the main thread's read reports real errors */ }
  Atomics.add(done, 0, 1);
});`;

interface StackLayout { offset: number; bytesPerImage: number }

export class ReadAhead {
  private worker: Worker | null = null;
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private posted = 0;
  private readonly layouts = new Map<string, StackLayout>();

  constructor(private readonly set: ParticleSet, private readonly maxPending = 2) {}

  private layout(path: string): StackLayout {
    let l = this.layouts.get(path);
    if (!l) {
      const info = readMrcHeader(path);
      l = { offset: info.dataOffsetBytes, bytesPerImage: info.header.nx * info.header.ny * info.bytesPerVoxel };
      this.layouts.set(path, l);
    }
    return l;
  }

  /** Byte ranges [path, position, length] covering the images of `indices` (runs merged). */
  ranges(indices: Uint32Array): Array<[string, number, number]> {
    const out: Array<[string, number, number]> = [];
    const set = this.set;
    let k = 0;
    while (k < indices.length) {
      const p = particleStack(set, indices[k]!);
      if (p === undefined) throw new RangeError(`particle ${indices[k]} is not in the set`);
      let m = k + 1;
      while (m < indices.length) {
        const q = particleStack(set, indices[m]!);
        if (q === undefined || q.stackPath !== p.stackPath || q.stackIndex !== p.stackIndex + (m - k)) break;
        m++;
      }
      const l = this.layout(p.stackPath);
      out.push([p.stackPath, l.offset + p.stackIndex * l.bytesPerImage, (m - k) * l.bytesPerImage]);
      k = m;
    }
    return out;
  }

  /** Ask the worker to read these particles' bytes; dropped if maxPending requests are in flight. Returns whether it was queued. */
  request(indices: Uint32Array): boolean {
    if (this.posted - Atomics.load(this.done, 0) >= this.maxPending) return false;
    if (!this.worker) {
      this.worker = new Worker(WORKER, { eval: true, workerData: { done: this.done } });
      this.worker.unref();
    }
    this.worker.postMessage(this.ranges(indices));
    this.posted++;
    return true;
  }

  close(): void {
    const w = this.worker;
    this.worker = null;
    if (w) void w.terminate();
  }
}
