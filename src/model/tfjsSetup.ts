/**
 * One place that starts TensorFlow.js for cryospin: the WebAssembly backend (XNNPACK, SIMD,
 * single-threaded under Node), with its .wasm binaries found on disk in node_modules (never fetched
 * over the network), plus the kernels the wasm backend lacks for training a CNN (convolution
 * gradients, see convGrad.ts) or runs slowly (transposed / batched matmul, see encoder/matMulKernel.ts). The 'cpu' backend is available only so tests can compare the two.
 *
 * Training a conv + BatchNorm + ReLU + max/avg-pool + dense network needs, on wasm: Conv2D (present),
 * Conv2DBackpropFilter (registered here), Conv2DBackpropInput (present; replaced by a faster one),
 * MaxPoolGrad and AvgPoolGrad (present), FusedBatchNorm and its gradient ops (present), and the
 * elementwise/reduction/matmul kernels (present). `tf.gather` gradients need UnsortedSegmentSum, which
 * wasm lacks, so model code selects with one-hot masks instead of gather.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { registerWasmConvGradients } from './convGrad.js';
import { registerWasmBatchMatMul } from './encoder/matMulKernel.js';

export { tf };
export type TfBackendName = 'wasm' | 'cpu';

let wasmPathsSet = false;
let wasmReady: Promise<void> | null = null;

/** Directory holding tfjs-backend-wasm's .wasm files (as a path prefix ending in '/'). */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return join(dirname(pkg), 'dist') + '/';
}

async function startWasm(): Promise<void> {
  if (!wasmPathsSet) {
    setWasmPaths(wasmBinaryDir());
    wasmPathsSet = true;
  }
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('tfjs: the wasm backend failed to initialise');
  await tf.ready();
  // Register after the backend is initialised so the replaced kernel's setup has already run.
  registerWasmConvGradients('wasm');
  registerWasmBatchMatMul('wasm');
}

/**
 * Make `backend` the active tfjs backend (default 'wasm'). Safe to call repeatedly; switching back
 * and forth between 'wasm' and 'cpu' (tests) is allowed.
 */
export async function initTfjs(backend: TfBackendName = 'wasm'): Promise<void> {
  if (backend === 'wasm') {
    if (wasmReady === null) wasmReady = startWasm();
    await wasmReady;
    if (tf.getBackend() !== 'wasm') {
      const ok = await tf.setBackend('wasm');
      if (!ok) throw new Error('tfjs: could not switch to the wasm backend');
    }
  } else {
    const ok = await tf.setBackend('cpu');
    if (!ok) throw new Error('tfjs: could not switch to the cpu backend');
    await tf.ready();
  }
}
