/**
 * The shared-memory protocol between the main thread and the kernel workers (pool.ts). A
 * command is a list of WebAssembly kernel calls per thread, written into a Float64Array slot;
 * the main thread bumps a sequence number and wakes the workers with Atomics.notify, each worker
 * runs its calls and increments a done counter. No postMessage in the hot path, so a dispatch
 * costs a few microseconds.
 *
 * A call may be DYNAMIC: its arguments argIndex, argIndex+1 are a range [i0, i1) of work items
 * (slices, FFT line groups), and every thread given the same call grabs chunks of that range from
 * a shared counter until none are left. On a machine where another job holds a core, the running
 * threads simply take more chunks instead of waiting for a descheduled one. Only for kernels whose
 * outputs per item are disjoint and independent of the thread (results stay deterministic).
 */

/** Int32 control words. */
export const CTRL_SEQ = 0;
export const CTRL_DONE = 1;
export const CTRL_ERROR = 2;
export const CTRL_READY = 3;
/** Next free chunk of the current dynamic call. */
export const CTRL_CHUNK = 4;
export const CTRL_WORDS = 5;

/** Float64 words per thread slot: [nCalls, (fnIndex, nArgs, args..., argIndex, total, chunk)*]. */
export const SLOT_WORDS = 128;
/** fnIndex meaning "leave the loop". */
export const FN_EXIT = -1;

/** One kernel call: index into the pool's function-name list, numeric arguments. */
export interface KernelCall {
  fn: number;
  args: number[];
  /** Dynamic range: args[argIndex], args[argIndex + 1] are set per chunk of [0, total). */
  dynamic?: { argIndex: number; total: number; chunk: number };
}

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  fnNames: string[];
  ctrl: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  index: number;
}

/** Encode calls into a thread slot. */
export function writeSlot(slots: Float64Array, index: number, calls: KernelCall[]): void {
  const base = index * SLOT_WORDS;
  let p = base + 1;
  for (const c of calls) {
    if (p + 5 + c.args.length > base + SLOT_WORDS) throw new RangeError('kernel pool: too many call arguments for one slot');
    slots[p++] = c.fn;
    slots[p++] = c.args.length;
    for (const a of c.args) slots[p++] = a;
    slots[p++] = c.dynamic ? c.dynamic.argIndex : -1;
    slots[p++] = c.dynamic ? c.dynamic.total : 0;
    slots[p++] = c.dynamic ? c.dynamic.chunk : 0;
  }
  slots[base] = calls.length;
}

/**
 * Decode and run the calls in a thread slot with the given kernel functions; dynamic calls take
 * chunks from ctrl[4] (CTRL_CHUNK; a literal, since this function's source also runs in the
 * workers). Returns false for the exit command.
 */
export function runSlot(slots: Float64Array, index: number, fns: Array<(...a: number[]) => void>, ctrl: Int32Array): boolean {
  const base = index * SLOT_WORDS;
  const n = slots[base]!;
  let p = base + 1;
  for (let c = 0; c < n; c++) {
    const fn = slots[p++]!;
    const na = slots[p++]!;
    if (fn === FN_EXIT) return false;
    const args: number[] = new Array(na);
    for (let i = 0; i < na; i++) args[i] = slots[p++]!;
    const argIndex = slots[p++]!, total = slots[p++]!, chunk = slots[p++]!;
    if (argIndex < 0) {
      fns[fn]!(...args);
      continue;
    }
    for (;;) {
      const i0 = Atomics.add(ctrl, 4, 1) * chunk;
      if (i0 >= total) break;
      args[argIndex] = i0;
      args[argIndex + 1] = Math.min(total, i0 + chunk);
      fns[fn]!(...args);
    }
  }
  return true;
}
