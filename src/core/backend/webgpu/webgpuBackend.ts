/**
 * The WebGPU backend behind the SYNCHRONOUS `Backend` interface (Node only). WebGPU returns
 * results asynchronously (mapAsync), while the reconstruction loops call the backend
 * synchronously; rather than making every loop async, the GPU device lives in a worker thread
 * (worker.ts) and each call here posts its arguments to the worker and blocks the calling thread
 * in Atomics.wait until the worker has run the kernels and replied (read synchronously with
 * receiveMessageOnPort). Cost per call: one structured-clone copy of the inputs and outputs
 * plus the GPU upload / readback, which is fine for a discrete GPU and measurable on llvmpipe.
 * In a browser (where the main thread may not block) use the async WebGpuKernels directly.
 *
 * The constructor blocks until the worker has a device, and throws WebGpuUnavailableError with
 * the reasons if no adapter can be created (e.g. no GPU and no Mesa EGL/GLES packages).
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Complex } from '../../complex.js';
import type { Backend, SliceOptions } from '../types.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

export class WebGpuUnavailableError extends Error {
  override readonly name = 'WebGpuUnavailableError';
}

const INIT_TIMEOUT_MS = 120_000;

/** Worker bootstrap (plain JS): optionally register tsx, then load worker.ts / worker.js. */
const BOOT = `const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsxApi) (await import(workerData.tsxApi)).register();
  await import(workerData.entry);
})().catch((e) => {
  const { ctrl, port } = workerData;
  port.postMessage({ ok: false, message: 'WebGPU worker failed to start: ' + (e && e.message) });
  Atomics.store(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
});`;

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly threads = 1;
  /** Adapter description, e.g. "OpenGL ES (compatibility): llvmpipe ...". */
  readonly description: string;
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(8));
  private readonly port: MessagePort;
  private worker: Worker | null;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    // EGL reads these from the real process environment, which only the main thread can set.
    process.env['EGL_PLATFORM'] ??= 'surfaceless';
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    const here = import.meta.url;
    // From the TypeScript sources (tsx), the worker must register tsx before importing worker.ts.
    const fromTs = here.endsWith('.ts');
    const entry = new URL(fromTs ? './worker.ts' : './worker.js', here).href;
    const tsxApi = fromTs ? import.meta.resolve('tsx/esm/api') : null;
    this.worker = new Worker(BOOT, { eval: true, workerData: { ctrl: this.ctrl, port: port2, entry, tsxApi }, transferList: [port2] });
    this.worker.unref();
    let r: WorkerReply;
    try {
      r = this.waitReply('init', INIT_TIMEOUT_MS);
    } catch (e) {
      this.terminate();
      throw new WebGpuUnavailableError((e as Error).message);
    }
    if (!r.ok) {
      this.terminate();
      throw new WebGpuUnavailableError(r.message ?? 'WebGPU initialisation failed');
    }
    this.description = r.description ?? 'WebGPU';
  }

  private waitReply(what: string, timeoutMs = 600_000): WorkerReply {
    const t0 = Date.now();
    for (;;) {
      const got = receiveMessageOnPort(this.port);
      if (got) {
        Atomics.store(this.ctrl, 0, 0);
        return got.message as WorkerReply;
      }
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0) throw new Error(`WebGPU worker did not answer ${what} within ${timeoutMs / 1000} s`);
      Atomics.wait(this.ctrl, 0, 0, Math.min(left, 1000));
    }
  }

  private call(op: string, args: unknown[], result: 'args' | 'return'): WorkerReply {
    if (!this.worker) throw new Error('WebGPU backend used after dispose()');
    const req: WorkerRequest = { op, args, result };
    this.port.postMessage(req);
    const r = this.waitReply(op);
    if (!r.ok) {
      const msg = r.message ?? `${op} failed`;
      throw /values|length|expected|multiple|scale/.test(msg) ? new RangeError(msg) : new Error(msg);
    }
    return r;
  }

  allocFloat32(n: number): Float32Array { return new Float32Array(n); }
  release(_buf: Float32Array): void { /* plain arrays */ }

  /** Calls an op whose outputs are some of its array arguments, and copies them back. */
  private inPlace(op: string, args: unknown[], outIdx: number): void {
    const r = this.call(op, args, 'args');
    const got = r.args![outIdx];
    const dst = args[outIdx];
    if (dst instanceof Float32Array) dst.set(got as Float32Array);
    else { (dst as Complex).re.set((got as Complex).re); (dst as Complex).im.set((got as Complex).im); }
  }

  private gradient(op: string, args: unknown[], dR: Float64Array | undefined): Float64Array {
    const value = this.call(op, args, 'return').value as Float64Array;
    if (dR) { dR.set(value); return dR; }
    return value;
  }

  gatherSlices(vol: Complex, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
    this.inPlace('gatherSlices', [vol, Dv, rots, Di, out, opts], 4);
  }
  gatherSlicesReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Float32Array, opts?: SliceOptions): void {
    this.inPlace('gatherSlicesReal', [vol, Dv, rots, Di, out, opts], 4);
  }
  scatterSlices(slices: Complex, Di: number, rots: Float64Array, Dv: number, volOut: Complex, opts?: SliceOptions): void {
    this.inPlace('scatterSlices', [slices, Di, rots, Dv, volOut, opts], 4);
  }
  scatterSlicesReal(slices: Float32Array, Di: number, rots: Float64Array, Dv: number, volOut: Float32Array, opts?: SliceOptions): void {
    this.inPlace('scatterSlicesReal', [slices, Di, rots, Dv, volOut, opts], 4);
  }
  sliceRotationGradient(vol: Complex, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    return this.gradient('sliceRotationGradient', [vol, Dv, rots, Di, dSlices, dR, opts], dR);
  }
  sliceRotationGradientReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Float32Array, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    return this.gradient('sliceRotationGradientReal', [vol, Dv, rots, Di, dSlices, dR, opts], dR);
  }
  gatherHartley(H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
    this.inPlace('gatherHartley', [H, Dv, rots, Di, out, opts], 4);
  }
  scatterHartley(dSlices: Complex, Di: number, rots: Float64Array, Dv: number, dH: Float32Array, opts?: SliceOptions): void {
    this.inPlace('scatterHartley', [dSlices, Di, rots, Dv, dH, opts], 4);
  }
  hartleyRotationGradient(H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    return this.gradient('hartleyRotationGradient', [H, Dv, rots, Di, dSlices, dR, opts], dR);
  }
  fft2Batch(c: Complex, D: number, B: number, inverse: boolean): void {
    this.inPlace('fft2Batch', [c, D, B, inverse], 0);
  }
  fft3(c: Complex, D: number, inverse: boolean): void {
    this.inPlace('fft3', [c, D, inverse], 0);
  }

  private terminate(): void {
    const w = this.worker;
    this.worker = null;
    this.port.close();
    if (w) void w.terminate();
  }

  dispose(): void {
    if (!this.worker) return;
    try { this.call('dispose', [], 'return'); } catch { /* already gone */ }
    this.terminate();
  }
}
