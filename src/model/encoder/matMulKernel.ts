/**
 * A BatchMatMul kernel for the tfjs wasm backend that always reaches the backend's fast path.
 *
 * tfjs-backend-wasm runs a matrix product through XNNPACK only for a single, untransposed product;
 * transposed operands (every matmul gradient) and batched products (the encoder's M pose heads) go
 * through a slow loop, 5-20x slower here. This kernel transposes operands explicitly (a cheap copy)
 * and splits a batch into single products, then calls the backend's own kernel for each. Registered
 * over the original (kept as `inner`); results are identical up to float32 summation order.
 */
import { tf } from '../tfjsSetup.js';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';

interface BackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
}

function run(name: string, backendName: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap,
  backend: BackendLike): TensorInfo {
  const k = tf.getKernel(name, backendName);
  if (k === undefined) throw new Error(`tfjs kernel ${name} missing for backend ${backendName}`);
  return k.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

export function makeBatchMatMulKernel(backendName: string, inner: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const be = backend as BackendLike;
    let a = inputs['a'] as TensorInfo;
    let b = inputs['b'] as TensorInfo;
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const plain = { transposeA: false, transposeB: false };
    if (!transposeA && !transposeB && batchA === 1 && batchB === 1) return inner(args) as TensorInfo;
    const temps: TensorInfo[] = [];
    const swapLast = (t: TensorInfo): TensorInfo => {
      const r = t.shape.length;
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
      const o = run('Transpose', backendName, { x: t }, { perm }, be);
      temps.push(o);
      return o;
    };
    if (transposeA) a = swapLast(a);
    if (transposeB) b = swapLast(b);
    let out: TensorInfo;
    if ((batchA === 1 && batchB === 1) || (batchA !== batchB && batchA !== 1 && batchB !== 1)) {
      out = inner({ inputs: { a, b }, attrs: plain, backend }) as TensorInfo;
    } else {
      const nb = Math.max(batchA, batchB);
      const [m, k] = a.shape.slice(-2) as [number, number];
      const n = b.shape[b.shape.length - 1]!;
      const a3 = run('Reshape', backendName, { x: a }, { shape: [batchA, m, k] }, be);
      const b3 = run('Reshape', backendName, { x: b }, { shape: [batchB, k, n] }, be);
      temps.push(a3, b3);
      const parts: TensorInfo[] = [];
      for (let i = 0; i < nb; i++) {
        const ai = batchA === 1 ? a3 : run('Slice', backendName, { x: a3 }, { begin: [i, 0, 0], size: [1, m, k] }, be);
        const bi = batchB === 1 ? b3 : run('Slice', backendName, { x: b3 }, { begin: [i, 0, 0], size: [1, k, n] }, be);
        const a2 = run('Reshape', backendName, { x: ai }, { shape: [m, k] }, be);
        const b2 = run('Reshape', backendName, { x: bi }, { shape: [k, n] }, be);
        parts.push(inner({ inputs: { a: a2, b: b2 }, attrs: plain, backend }) as TensorInfo);
        for (const t of [ai, bi]) if (t !== a3 && t !== b3) be.disposeData(t.dataId);
        be.disposeData(a2.dataId);
        be.disposeData(b2.dataId);
      }
      const cat = run('Concat', backendName, parts as unknown as Record<string, TensorInfo>, { axis: 0 }, be);
      for (const p of parts) be.disposeData(p.dataId);
      const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), m, n];
      out = run('Reshape', backendName, { x: cat }, { shape: outShape }, be);
      be.disposeData(cat.dataId);
    }
    for (const t of temps) be.disposeData(t.dataId);
    return out;
  };
}

let registered = false;

/** Replace the wasm backend's BatchMatMul by the wrapper above (idempotent). */
export function registerWasmBatchMatMul(backendName = 'wasm'): void {
  if (registered) return;
  const old = tf.getKernel('BatchMatMul', backendName);
  if (old === undefined) return;
  registered = true;
  tf.unregisterKernel('BatchMatMul', backendName);
  tf.registerKernel({ kernelName: 'BatchMatMul', backendName, kernelFunc: makeBatchMatMulKernel(backendName, old.kernelFunc) });
}
