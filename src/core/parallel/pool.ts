/**
 * A worker_threads pool for the WebAssembly kernels. All threads instantiate the same module on
 * one SHARED WebAssembly.Memory (a SharedArrayBuffer), so volumes and slice batches are never
 * copied between threads. `run(calls)` executes calls[0] on the calling (main) thread and
 * calls[t] on worker t, and returns when all are done (synchronous: the main thread blocks in
 * Atomics.wait, which Node allows). Work splitting and per-thread accumulation buffers are the
 * caller's business (see backend/wasm/wasmBackend.ts).
 */
import { Worker } from 'node:worker_threads';
import { CTRL_CHUNK, CTRL_DONE, CTRL_ERROR, CTRL_READY, CTRL_SEQ, CTRL_WORDS, FN_EXIT, SLOT_WORDS, runSlot, writeSlot } from './protocol.js';
import type { KernelCall, WorkerInit } from './protocol.js';

export type { KernelCall };

// runSlot's source runs inside the workers and uses the literal 4 for CTRL_CHUNK.
if (CTRL_CHUNK !== 4) throw new Error('kernel pool: CTRL_CHUNK must be 4');

/**
 * The worker's program, as source text run with `eval: true`: a worker FILE would need the tsx
 * loader under the test runner (workers do not inherit it) and a different path in dist/. The
 * slot decoder is the very function the main thread uses (runSlot), so the protocol has one
 * definition. The worker instantiates the kernels on the shared memory, reports ready, then
 * waits for sequence bumps, runs its slot, and counts itself done.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const runSlot = ${runSlot.toString()};
const SLOT_WORDS = ${SLOT_WORDS}, FN_EXIT = ${FN_EXIT};
const init = workerData;
const ctrl = new Int32Array(init.ctrl);
const slots = new Float64Array(init.slots);
const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
const fns = init.fnNames.map((n) => instance.exports[n]);
Atomics.add(ctrl, ${CTRL_READY}, 1);
Atomics.notify(ctrl, ${CTRL_READY});
let seq = 0; // commands posted before this thread started are seen at once (wait: not-equal)
for (;;) {
  Atomics.wait(ctrl, ${CTRL_SEQ}, seq);
  seq = Atomics.load(ctrl, ${CTRL_SEQ});
  let keepGoing = true;
  try { keepGoing = runSlot(slots, init.index, fns, ctrl); } catch (e) { Atomics.store(ctrl, ${CTRL_ERROR}, init.index + 1); }
  Atomics.add(ctrl, ${CTRL_DONE}, 1);
  Atomics.notify(ctrl, ${CTRL_DONE});
  if (!keepGoing) break;
}
`;

export class KernelPool {
  /** Total threads including the main thread. */
  readonly threads: number;
  private readonly workers: Worker[] = [];
  private readonly ctrl: Int32Array;
  private readonly slots: Float64Array;
  private readonly mainFns: Array<(...a: number[]) => void>;
  private disposed = false;

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, fnNames: string[], mainInstance: WebAssembly.Instance, threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`KernelPool: bad thread count ${threads}`);
    this.threads = threads;
    const ctrlBuf = new SharedArrayBuffer(4 * CTRL_WORDS);
    const slotBuf = new SharedArrayBuffer(8 * SLOT_WORDS * threads);
    this.ctrl = new Int32Array(ctrlBuf);
    this.slots = new Float64Array(slotBuf);
    this.mainFns = fnNames.map((n) => mainInstance.exports[n] as (...a: number[]) => void);
    for (let t = 1; t < threads; t++) {
      const init: WorkerInit = { module, memory, fnNames, ctrl: ctrlBuf, slots: slotBuf, index: t };
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: init });
      w.unref();
      this.workers.push(w);
    }
    // Block until every worker has instantiated the kernels (about 0.1 s), so a broken worker
    // is an error here rather than a hang in run().
    const t0 = Date.now();
    for (;;) {
      const r = Atomics.load(this.ctrl, CTRL_READY);
      if (r >= threads - 1) break;
      if (Date.now() - t0 > 30_000) {
        this.dispose();
        throw new Error('KernelPool: worker threads did not start within 30 s');
      }
      Atomics.wait(this.ctrl, CTRL_READY, r, 100);
    }
  }

  /** Run calls[t] on thread t (t = 0: this thread); `undefined`/empty entries idle. Blocks until done. */
  run(calls: Array<KernelCall[] | undefined>): void {
    if (this.disposed) throw new Error('KernelPool: used after dispose()');
    if (calls.length > this.threads) throw new RangeError(`KernelPool: ${calls.length} call lists for ${this.threads} threads`);
    const nw = this.threads - 1;
    Atomics.store(this.ctrl, CTRL_CHUNK, 0);
    if (nw > 0) {
      for (let t = 1; t <= nw; t++) writeSlot(this.slots, t, calls[t] ?? []);
      Atomics.store(this.ctrl, CTRL_DONE, 0);
      Atomics.store(this.ctrl, CTRL_ERROR, 0);
      Atomics.add(this.ctrl, CTRL_SEQ, 1);
      Atomics.notify(this.ctrl, CTRL_SEQ);
    }
    let mainError: unknown;
    try {
      writeSlot(this.slots, 0, calls[0] ?? []);
      runSlot(this.slots, 0, this.mainFns, this.ctrl);
    } catch (e) {
      mainError = e;
    }
    if (nw > 0) {
      for (;;) {
        const d = Atomics.load(this.ctrl, CTRL_DONE);
        if (d >= nw) break;
        Atomics.wait(this.ctrl, CTRL_DONE, d, 60_000);
      }
    }
    if (mainError !== undefined) throw mainError;
    const err = Atomics.load(this.ctrl, CTRL_ERROR);
    if (err) throw new Error(`KernelPool: a kernel failed on worker ${err - 1}`);
  }

  /**
   * Run one dynamic call on every thread: they share out [0, total) in chunks (see protocol.ts).
   * Blocks until done.
   */
  runDynamic(call: KernelCall): void {
    const calls: KernelCall[][] = [];
    for (let t = 0; t < this.threads; t++) calls.push([call]);
    this.run(calls);
  }

  /** Stop the workers (they exit their loop; terminate() as a fallback). */
  dispose(): void {
    if (this.disposed) return;
    const nw = this.threads - 1;
    if (nw > 0) {
      for (let t = 1; t <= nw; t++) writeSlot(this.slots, t, [{ fn: FN_EXIT, args: [] }]);
      Atomics.store(this.ctrl, CTRL_DONE, 0);
      Atomics.add(this.ctrl, CTRL_SEQ, 1);
      Atomics.notify(this.ctrl, CTRL_SEQ);
      for (const w of this.workers) void w.terminate();
    }
    this.disposed = true;
  }
}

/** Split [0, n) into `parts` contiguous ranges as equal as possible. */
export function splitRange(n: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = 0; p < parts; p++) out.push([Math.floor((n * p) / parts), Math.floor((n * (p + 1)) / parts)]);
  return out;
}
