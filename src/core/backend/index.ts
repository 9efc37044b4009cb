/**
 * Backend registry: `getBackend('ts' | 'wasm', {threads})` returns a fresh backend (call
 * dispose() when done; worker threads are unref'd, so a forgotten backend never keeps the
 * process alive). 'webgpu': WGSL kernels through the `webgpu` npm package (webgpu/).
 */
import { InputError } from '../../io/errors.js';
import { TsBackend } from './ts/tsBackend.js';
import type { Backend, BackendName, BackendOptions } from './types.js';
import { WasmBackend } from './wasm/wasmBackend.js';
import { WebGpuBackend } from './webgpu/webgpuBackend.js';

export type { Backend, BackendName, BackendOptions, SliceOptions } from './types.js';
export { phaseShiftBatch, shiftGradient } from './shiftOps.js';

export const BACKEND_NAMES: readonly BackendName[] = ['ts', 'wasm', 'webgpu'];

export function getBackend(name: BackendName, opts: BackendOptions = {}): Backend {
  switch (name) {
    case 'ts':
      return new TsBackend();
    case 'wasm':
      return new WasmBackend(opts);
    case 'webgpu':
      // WGSL kernels on a GPU device in a worker thread (sync adapter; throws WebGpuUnavailableError without an adapter)
      return new WebGpuBackend();
    default:
      throw new InputError('--backend', `unknown backend "${String(name)}" (expected one of ${BACKEND_NAMES.join(', ')})`);
  }
}
export { gatherHartleySlices, hartleySlicesBackward } from './hartleySlices.js';
