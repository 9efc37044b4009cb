/**
 * The shared-memory protocol between the main thread and the kernel workers (pool.ts,
 * worker.ts). A command is a list of WebAssembly kernel calls per worker, written into a
 * Float64Array slot; the main thread bumps a sequence number and wakes the workers with
 * Atomics.notify, each worker runs its calls and increments a done counter. No postMessage in the
 * hot path, so a dispatch costs a few microseconds.
 */

/** Int32 control words. */
export const CTRL_SEQ = 0;
export const CTRL_DONE = 1;
export const CTRL_ERROR = 2;
export const CTRL_READY = 3;
export const CTRL_WORDS = 4;

/** Float64 words per worker slot: [nCalls, (fnIndex, nArgs, args...)*]. */
export const SLOT_WORDS = 128;
/** fnIndex meaning "leave the loop". */
export const FN_EXIT = -1;

/** One kernel call: index into the pool's function-name list, numeric arguments. */
export interface KernelCall {
  fn: number;
  args: number[];
}

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  fnNames: string[];
  ctrl: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  index: number;
}

/** Encode calls into a worker slot. */
export function writeSlot(slots: Float64Array, index: number, calls: KernelCall[]): void {
  const base = index * SLOT_WORDS;
  let p = base + 1;
  for (const c of calls) {
    if (p + 2 + c.args.length > base + SLOT_WORDS) throw new RangeError('kernel pool: too many call arguments for one slot');
    slots[p++] = c.fn;
    slots[p++] = c.args.length;
    for (const a of c.args) slots[p++] = a;
  }
  slots[base] = calls.length;
}

/** Decode and run the calls in a worker slot with the given kernel functions. */
export function runSlot(slots: Float64Array, index: number, fns: Array<(...a: number[]) => void>): boolean {
  const base = index * SLOT_WORDS;
  const n = slots[base]!;
  let p = base + 1;
  for (let c = 0; c < n; c++) {
    const fn = slots[p++]!;
    const na = slots[p++]!;
    if (fn === FN_EXIT) return false;
    const args: number[] = new Array(na);
    for (let i = 0; i < na; i++) args[i] = slots[p++]!;
    fns[fn]!(...args);
  }
  return true;
}
