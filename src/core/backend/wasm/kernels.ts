/**
 * Loads the WebAssembly SIMD kernels (wasm/*.c, built by scripts/build-wasm.sh and embedded as
 * base64 in kernelsBinary.ts so that dist/ needs no asset files) and lists their exports.
 */
import { KERNELS_WASM_BASE64 } from './kernelsBinary.js';

/** Export names, in the index order the thread pool protocol uses. */
export const KERNEL_NAMES = [
  'gather_r', 'scatter_r', 'rotgrad_r', 'add_f32', 'zero_f32', 'fft_axis',
  'gather_slabs', 'scatter_slabs', 'rotgrad_slabs', 'gather_h', 'scatter_h_slabs', 'rotgrad_h',
] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];
export const FN: Record<KernelName, number> = Object.fromEntries(KERNEL_NAMES.map((n, i) => [n, i])) as Record<KernelName, number>;

let cached: WebAssembly.Module | undefined;

/** The compiled module (compiled once per process; synchronous, fine under Node). */
export function kernelModule(): WebAssembly.Module {
  if (!cached) {
    if (typeof WebAssembly === 'undefined') throw new Error('wasm backend: WebAssembly is not available');
    const m = new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    const have = new Set(WebAssembly.Module.exports(m).map((e) => e.name));
    const missing = KERNEL_NAMES.filter((n) => !have.has(n));
    if (missing.length) throw new Error(`wasm backend: kernels.wasm lacks ${missing.join(', ')} (run npm run build:wasm)`);
    cached = m;
  }
  return cached;
}
