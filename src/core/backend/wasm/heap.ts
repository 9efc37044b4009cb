/**
 * JavaScript-side memory manager for the WebAssembly kernels: one SHARED WebAssembly.Memory
 * (so worker threads can use it too), a bump allocator with per-size free lists (hot loops
 * allocate the same sizes again and again), and typed views that stay valid when the memory
 * grows (shared memories never detach their buffers).
 */

const PAGE = 65536;
/** Maximum pages; must equal the module's --max-memory (scripts/build-wasm.sh): 2 GiB. */
export const MAX_PAGES = 32768;
/** Allocations start above the linker's (unused) data and stack area. */
const HEAP_BASE = 1 << 20;
const ALIGN = 64;

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  private top = HEAP_BASE;
  private readonly freeLists = new Map<number, number[]>();
  private readonly buffers = new Set<ArrayBufferLike>();

  constructor(initialBytes = 32 << 20) {
    const pages = Math.ceil(initialBytes / PAGE);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    this.buffers.add(this.memory.buffer);
  }

  /** Allocate `bytes` (64-byte aligned); the block is NOT zeroed. Returns its byte offset. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const list = this.freeLists.get(size);
    if (list && list.length) return list.pop()!;
    const off = this.top;
    this.top += size;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      const need = Math.ceil((this.top - have) / PAGE);
      if (have / PAGE + need > MAX_PAGES) throw new RangeError(`wasm heap: out of memory (${this.top} bytes requested)`);
      this.memory.grow(Math.max(need, Math.min(MAX_PAGES - have / PAGE, have / PAGE / 4)));
      this.buffers.add(this.memory.buffer);
    }
    return off;
  }

  free(off: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(off);
  }

  f32(off: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, off, n);
  }

  f64(off: number, n: number): Float64Array {
    return new Float64Array(this.memory.buffer, off, n);
  }

  /** Does this typed array live in the heap's memory? */
  owns(a: ArrayBufferView): boolean {
    return this.buffers.has(a.buffer);
  }
}

/**
 * Staging for one kernel call: arrays already in the heap are used in place, others are copied
 * into temporary blocks (and copied back for outputs) — `finish()` does the copy-back and frees.
 */
export class Staging {
  private readonly temps: Array<{ off: number; bytes: number; copyBack?: Float32Array | Float64Array }> = [];
  constructor(private readonly heap: WasmHeap) {}

  private place(a: Float32Array | Float64Array, copyIn: boolean, copyBack: boolean): number {
    if (this.heap.owns(a)) return a.byteOffset;
    const off = this.heap.alloc(a.byteLength);
    if (copyIn) new Uint8Array(this.heap.memory.buffer, off, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    this.temps.push({ off, bytes: a.byteLength, copyBack: copyBack ? a : undefined });
    return off;
  }

  /** Input only. */
  in(a: Float32Array | Float64Array): number {
    return this.place(a, true, false);
  }

  /** Output only (contents on entry are ignored by the kernel). */
  out(a: Float32Array | Float64Array): number {
    return this.place(a, false, true);
  }

  /** Read and written (accumulators). */
  inout(a: Float32Array | Float64Array): number {
    return this.place(a, true, true);
  }

  finish(): void {
    for (const t of this.temps) {
      if (t.copyBack) {
        const dst = t.copyBack;
        new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(new Uint8Array(this.heap.memory.buffer, t.off, dst.byteLength));
      }
      this.heap.free(t.off, t.bytes);
    }
    this.temps.length = 0;
  }
}
