/**
 * A BatchMatMul kernel for the tfjs wasm backend that always reaches the backend's fast path.
 *
 * tfjs-backend-wasm runs a matrix product through XNNPACK only for a single, untransposed product;
 * transposed operands (every matmul gradient) and batched products (the encoder's M pose heads) go
 * through a slow loop, 5-20x slower here. This kernel transposes operands explicitly (a cheap copy;
 * for a b^T with few rows in a it computes (b a^T)^T, copying only the small operand) and splits a
 * batch into single products, then calls the backend's own kernel for each. Registered over the
 * original (kept as `inner`); results are identical up to float32 summation order.
 */
import { tf } from '../tfjsSetup.js';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';

interface BackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
  /** tfjs-backend-wasm's own helpers (every wasm kernel uses them): a fresh output, a heap view. */
  makeOutput?(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap?(t: TensorInfo): Float32Array;
}

/**
 * Batch item i of a [batch, r, c] float32 tensor as a new [r, c] tensor: one contiguous copy on the
 * backend's heap. (The wasm Slice kernel took ~1.7 ms per head weight here, 60% of a batched
 * product; this copy is a memcpy.) Falls back to Slice + Reshape on other backends.
 */
function batchItem(t3: TensorInfo, i: number, r: number, c: number, backendName: string, be: BackendLike): TensorInfo {
  if (be.makeOutput !== undefined && be.typedArrayFromHeap !== undefined && t3.dtype === 'float32') {
    const out = be.makeOutput([r, c], 'float32');
    be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(t3).subarray(i * r * c, (i + 1) * r * c));
    return out;
  }
  const s = run('Slice', backendName, { x: t3 }, { begin: [i, 0, 0], size: [1, r, c] }, be);
  const t2 = run('Reshape', backendName, { x: s }, { shape: [r, c] }, be);
  be.disposeData(s.dataId);
  return t2;
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
    const a = inputs['a'] as TensorInfo;
    const b = inputs['b'] as TensorInfo;
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    if (!transposeA && !transposeB && batchA === 1 && batchB === 1) return inner(args) as TensorInfo;
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return inner(args) as TensorInfo; // general broadcast
    const plain = { transposeA: false, transposeB: false };
    const T = (t: TensorInfo): TensorInfo => run('Transpose', backendName, { x: t }, { perm: [1, 0] }, be);
    const mul = (x: TensorInfo, y: TensorInfo): TensorInfo => inner({ inputs: { a: x, b: y }, attrs: plain, backend }) as TensorInfo;
    /** One 2D product of a2 (as stored) and b2 (as stored) with the transposes applied. */
    const product = (a2: TensorInfo, b2: TensorInfo): TensorInfo => {
      const tmp: TensorInfo[] = [];
      const keep = (t: TensorInfo): TensorInfo => { tmp.push(t); return t; };
      let out: TensorInfo;
      if (!transposeA && !transposeB) out = mul(a2, b2);
      else if (transposeA && !transposeB) out = mul(keep(T(a2)), b2);
      else if (!transposeA && transposeB) {
        const [m] = a2.shape as [number, number];
        const [n] = b2.shape as [number, number];
        // a b^T: when a has fewer rows, compute (b a^T)^T so that only the small operand is copied.
        out = m < n ? T(keep(mul(b2, keep(T(a2))))) : mul(a2, keep(T(b2)));
      } else out = T(keep(mul(b2, a2))); // a^T b^T = (b a)^T
      for (const t of tmp) be.disposeData(t.dataId);
      return out;
    };
    const nb = Math.max(batchA, batchB);
    const [ar, ac] = a.shape.slice(-2) as [number, number];
    const [br, bc] = b.shape.slice(-2) as [number, number];
    const a3 = run('Reshape', backendName, { x: a }, { shape: [batchA, ar, ac] }, be);
    const b3 = run('Reshape', backendName, { x: b }, { shape: [batchB, br, bc] }, be);
    const parts: TensorInfo[] = [];
    for (let i = 0; i < nb; i++) {
      const pick = (t3: TensorInfo, batch: number, r: number, c: number): TensorInfo =>
        batch === 1 ? run('Reshape', backendName, { x: t3 }, { shape: [r, c] }, be) : batchItem(t3, i, r, c, backendName, be);
      const a2 = pick(a3, batchA, ar, ac);
      const b2 = pick(b3, batchB, br, bc);
      parts.push(product(a2, b2));
      be.disposeData(a2.dataId);
      be.disposeData(b2.dataId);
    }
    be.disposeData(a3.dataId);
    be.disposeData(b3.dataId);
    const [m, n] = parts[0]!.shape as [number, number];
    const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), m, n];
    const cat = parts.length === 1 ? parts[0]! : run('Concat', backendName, parts as unknown as Record<string, TensorInfo>, { axis: 0 }, be);
    if (parts.length > 1) for (const p of parts) be.disposeData(p.dataId);
    const out = run('Reshape', backendName, { x: cat }, { shape: outShape }, be);
    be.disposeData(cat.dataId);
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
