/**
 * Convolution gradients for the tfjs WebAssembly backend, written as forward convolutions.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel, so `tf.conv2d` cannot be trained on
 * it, and its `Conv2DBackpropInput` is a plain strided loop. Both gradients of a convolution are
 * themselves convolutions, which the backend runs fast through XNNPACK:
 *  - filter gradient: dW[a,b,ci,co] = sum_{n,i,j} xpad[n, s*i+a, s*j+b, ci] dy[n,i,j,co] is a 'valid'
 *    convolution of the transposed input xT[ci, y, x, n] (batch = input channels, channels = images)
 *    with the transposed dy as the filter, dyT[i, j, n, co], dilated by the stride;
 *  - input gradient (stride 1): dx = 'valid' convolution of dy, padded by (k-1-pad), with the
 *    180-degree-rotated filter whose in/out channels are swapped.
 * The kernels are registered under tfjs's own kernel names (the tfjs way to replace a kernel), so
 * tfjs's autodiff (`Conv2D_grad`) and every model using `tf.conv2d` pick them up unchanged.
 * Hand-written because no published package provides these kernels for the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';

/** The slice of the wasm backend object these kernels use. */
interface BackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
}

type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

function callKernel(name: string, backendName: string, inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap, backend: BackendLike): TensorInfo {
  const k = tf.getKernel(name, backendName);
  if (k === undefined) throw new Error(`tfjs kernel ${name} missing for backend ${backendName}`);
  return k.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
}

function strideOf(s: [number, number] | number): [number, number] {
  return typeof s === 'number' ? [s, s] : s;
}

/** Conv2DBackpropFilter (NHWC) as a forward 'valid' convolution; any stride, any padding. */
export function makeBackpropFilterKernel(backendName: string): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const be = backend as BackendLike;
    const x = inputs['x'] as TensorInfo;
    const dy = inputs['dy'] as TensorInfo;
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter: only NHWC is supported');
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number],
      a.filterShape, a.strides, 1, a.pad as PadAttr, a.dimRoundingMode, false, 'channelsLast');
    const [kh, kw, cin, cout] = a.filterShape;
    const [sh, sw] = strideOf(a.strides);
    const p = info.padInfo;
    const xT = callKernel('Transpose', backendName, { x }, { perm: [3, 1, 2, 0] }, be);
    const dyT = callKernel('Transpose', backendName, { x: dy }, { perm: [1, 2, 0, 3] }, be);
    // Output [cin, kh', kw', cout] with kh' >= kh when the strided window does not reach the end.
    const g = callKernel('Conv2D', backendName, { x: xT, filter: dyT }, {
      strides: [1, 1], dilations: [sh, sw], dataFormat: 'NHWC',
      pad: [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]],
    }, be);
    be.disposeData(xT.dataId);
    be.disposeData(dyT.dataId);
    let gc = g;
    if (g.shape[1] !== kh || g.shape[2] !== kw) {
      gc = callKernel('Slice', backendName, { x: g }, { begin: [0, 0, 0, 0], size: [cin, kh, kw, cout] }, be);
      be.disposeData(g.dataId);
    }
    const out = callKernel('Transpose', backendName, { x: gc }, { perm: [1, 2, 0, 3] }, be);
    be.disposeData(gc.dataId);
    return out;
  };
}

/**
 * Conv2DBackpropInput (NHWC) as a forward convolution for stride 1; other strides go to
 * `fallback` (the backend's own kernel).
 */
export function makeBackpropInputKernel(backendName: string, fallback: KernelFunc | undefined): KernelFunc {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const be = backend as BackendLike;
    const dy = inputs['dy'] as TensorInfo;
    const filter = inputs['filter'] as TensorInfo;
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const [sh, sw] = strideOf(a.strides);
    if (a.dataFormat === 'NCHW' || sh !== 1 || sw !== 1) {
      if (fallback === undefined) throw new Error('Conv2DBackpropInput: only NHWC stride 1 is supported');
      return fallback(args);
    }
    const [kh, kw] = filter.shape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as [number, number, number, number],
      1, 1, a.pad as PadAttr, a.dimRoundingMode, false, 'channelsLast');
    const p = info.padInfo;
    const [, H, W] = a.inputShape;
    const [, Ho, Wo] = dy.shape as [number, number, number, number];
    const top = kh - 1 - p.top;
    const left = kw - 1 - p.left;
    const bottom = H + kh - 1 - Ho - top;
    const right = W + kw - 1 - Wo - left;
    if (top < 0 || left < 0 || bottom < 0 || right < 0) {
      if (fallback === undefined) throw new Error('Conv2DBackpropInput: padding larger than the filter');
      return fallback(args);
    }
    const fr = callKernel('Reverse', backendName, { x: filter }, { dims: [0, 1] }, be);
    const fs = callKernel('Transpose', backendName, { x: fr }, { perm: [0, 1, 3, 2] }, be);
    be.disposeData(fr.dataId);
    const out = callKernel('Conv2D', backendName, { x: dy, filter: fs }, {
      strides: [1, 1], dilations: [1, 1], dataFormat: 'NHWC',
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    }, be);
    be.disposeData(fs.dataId);
    return out;
  };
}

let registered = false;

/**
 * Register the two convolution-gradient kernels for the 'wasm' backend (idempotent). Replaces the
 * backend's own Conv2DBackpropInput (kept as the fallback for strides > 1).
 */
export function registerWasmConvGradients(backendName = 'wasm'): void {
  if (registered) return;
  registered = true;
  const filterCfg: KernelConfig = {
    kernelName: 'Conv2DBackpropFilter', backendName, kernelFunc: makeBackpropFilterKernel(backendName),
  };
  if (tf.getKernel('Conv2DBackpropFilter', backendName) !== undefined) tf.unregisterKernel('Conv2DBackpropFilter', backendName);
  tf.registerKernel(filterCfg);
  const old = tf.getKernel('Conv2DBackpropInput', backendName);
  if (old !== undefined) tf.unregisterKernel('Conv2DBackpropInput', backendName);
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput', backendName,
    kernelFunc: makeBackpropInputKernel(backendName, old?.kernelFunc),
  });
}
