/**
 * Worker thread of the synchronous WebGPU backend (webgpuBackend.ts): owns the GPU device and
 * runs WebGpuKernels calls sent on a MessagePort; after each reply it sets ctrl[0] = 1 and
 * notifies, so the calling thread (blocked in Atomics.wait) wakes and reads the reply with
 * receiveMessageOnPort. Dawn wants its thread's event loop to keep turning (a main thread that
 * computes synchronously between GPU calls crashed it on llvmpipe), which this thread does.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { WebGpuKernels } from './gpuKernels.js';

export interface WorkerRequest { op: string; args: unknown[]; result: 'args' | 'return' }
export interface WorkerReply { ok: boolean; message?: string; description?: string; args?: unknown[]; value?: unknown }

const { ctrl, port } = workerData as { ctrl: Int32Array; port: MessagePort };

function reply(r: WorkerReply): void {
  port.postMessage(r);
  Atomics.store(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
}

let kernels: WebGpuKernels | null = null;
try {
  kernels = await WebGpuKernels.create();
  reply({ ok: true, description: kernels.description });
} catch (e) {
  reply({ ok: false, message: (e as Error).message });
}

type KernelFn = (...a: unknown[]) => Promise<unknown>;

port.on('message', (req: WorkerRequest) => {
  void (async () => {
    try {
      if (!kernels) throw new Error('WebGPU worker has no device');
      if (req.op === 'dispose') {
        kernels.dispose();
        kernels = null;
        reply({ ok: true });
        port.close();
        return;
      }
      const fn = (kernels as unknown as Record<string, KernelFn>)[req.op];
      if (typeof fn !== 'function') throw new Error(`unknown WebGPU op ${req.op}`);
      const value = await fn.apply(kernels, req.args);
      reply({ ok: true, args: req.result === 'args' ? req.args : undefined, value: req.result === 'return' ? value : undefined });
    } catch (e) {
      reply({ ok: false, message: (e as Error).message });
    }
  })();
});
