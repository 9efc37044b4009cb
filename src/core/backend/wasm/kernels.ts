/**
 * Loads the WebAssembly SIMD kernels (wasm/*.c, built by scripts/build-wasm.sh and embedded as
 * base64 in kernelsBinary.ts so that dist/ needs no asset files) and lists their exports.
 */
import { KERNELS_WASM_BASE64 } from './kernelsBinary.js';

/** Export names every kernels.wasm must have, in the index order the thread pool protocol uses. */
export const KERNEL_NAMES = [
  'gather_r', 'scatter_r', 'rotgrad_r', 'add_f32', 'zero_f32', 'fft_axis',
  'gather_slabs', 'scatter_slabs', 'rotgrad_slabs', 'gather_h', 'scatter_h_slabs', 'rotgrad_h',
] as const;
/**
 * Exports that a kernels.wasm built from older sources may lack (the backend then keeps its older
 * path: see hasKernel); their pool indices follow KERNEL_NAMES'.
 */
export const OPTIONAL_KERNEL_NAMES = ['hgather_slabs', 'hgather_combine', 'hrotgrad_slabs'] as const;
/** All names handed to the thread pool: required, then optional. */
export const POOL_KERNEL_NAMES: readonly string[] = [...KERNEL_NAMES, ...OPTIONAL_KERNEL_NAMES];
export type KernelName = (typeof KERNEL_NAMES)[number] | (typeof OPTIONAL_KERNEL_NAMES)[number];
export const FN: Record<KernelName, number> = Object.fromEntries(POOL_KERNEL_NAMES.map((n, i) => [n, i])) as Record<KernelName, number>;

let exported: Set<string> | undefined;

/** Does the loaded kernels.wasm export this kernel? */
export function hasKernel(name: KernelName): boolean {
  exported ??= new Set(WebAssembly.Module.exports(kernelModule()).map((e) => e.name));
  return exported.has(name);
}

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
