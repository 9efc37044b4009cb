/**
 * The WebGPU kernels with an ASYNC API (WebGPU reads results back with mapAsync, so a result is
 * a Promise): slice gather / scatter-add / rotation gradient (real, complex, Hartley) and
 * centred 2D / 3D FFTs, same contracts and argument order as the `Backend` interface
 * (types.ts). Usable directly where the caller can await (the browser build, tests); the
 * synchronous `Backend` adapter (webgpuBackend.ts) runs this class in a worker thread.
 *
 * Every call uploads its inputs, runs one command buffer and reads the outputs back: simple and
 * correct; volumes are not cached on the GPU between calls (an optimisation left for later).
 */
import type { Complex } from '../../complex.js';
import { batchSize, checkVolume, type SliceOptions } from '../types.js';
import { flags, requestGpu, type GpuContext } from './device.js';
import { FFT_LINES, GATHER_HARTLEY, GATHER_REAL, SCATTER_HARTLEY, SCATTER_REAL, rotGradSource, type RotGradMode } from './shaders.js';

const WG = 64;
const MAX_GROUPS = 65535;

export class WebGpuKernels {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private constructor(readonly device: GPUDevice, readonly description: string) {}

  static async create(ctx?: GpuContext): Promise<WebGpuKernels> {
    const c = ctx ?? (await requestGpu());
    return new WebGpuKernels(c.device, c.description);
  }

  private pipeline(key: string, code: string): GPUComputePipeline {
    let pl = this.pipelines.get(key);
    if (!pl) {
      pl = this.device.createComputePipeline({ layout: 'auto', compute: { module: this.device.createShaderModule({ code }), entryPoint: 'main' } });
      this.pipelines.set(key, pl);
    }
    return pl;
  }

  private storage(data: Float32Array | number): GPUBuffer {
    const n = typeof data === 'number' ? data : data.length;
    const buf = this.device.createBuffer({ size: Math.max(16, 4 * n), usage: flags.STORAGE | flags.COPY_SRC | flags.COPY_DST });
    if (typeof data !== 'number' && n > 0) this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  private uniform(words: ArrayBuffer): GPUBuffer {
    const buf = this.device.createBuffer({ size: words.byteLength, usage: flags.UNIFORM | flags.COPY_DST });
    this.device.queue.writeBuffer(buf, 0, words);
    return buf;
  }

  /** Run passes [pipeline, buffers, groups] in one submission, then read back `reads`. */
  private async run(passes: Array<[GPUComputePipeline, GPUBuffer[], [number, number]]>, reads: Array<[GPUBuffer, Float32Array]>, temps: GPUBuffer[]): Promise<void> {
    const enc = this.device.createCommandEncoder();
    for (const [pl, bufs, [gx, gy]] of passes) {
      const bg = this.device.createBindGroup({ layout: pl.getBindGroupLayout(0), entries: bufs.map((b, i) => ({ binding: i, resource: { buffer: b } })) });
      const pass = enc.beginComputePass();
      pass.setPipeline(pl);
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(gx, gy);
      pass.end();
    }
    const staging = reads.map(([src, dst]) => {
      const st = this.device.createBuffer({ size: Math.max(16, dst.byteLength), usage: flags.MAP_READ | flags.COPY_DST });
      if (dst.byteLength > 0) enc.copyBufferToBuffer(src, 0, st, 0, dst.byteLength);
      return st;
    });
    this.device.queue.submit([enc.finish()]);
    try {
      await Promise.all(staging.map((s) => s.mapAsync(flags.READ)));
      reads.forEach(([, dst], k) => { if (dst.length > 0) dst.set(new Float32Array(staging[k]!.getMappedRange(), 0, dst.length)); });
    } finally {
      for (const s of staging) s.destroy();
      for (const t of temps) t.destroy();
    }
  }

  /** Groups for n items of `per` each, spread over x and y (x at most 65535). */
  private static grid(n: number, per: number): [number, number, number] {
    const groups = Math.max(1, Math.ceil(n / per));
    const gx = Math.min(groups, MAX_GROUPS);
    const gy = Math.ceil(groups / gx);
    return [gx, gy, gx * per];
  }

  /** Uniform block and rows (first two rows of A times the step, float64 -> float32). */
  private sliceSetup(rots: Float64Array, Dv: number, Di: number, sliceLen: number, step: number, opts: SliceOptions | undefined, what: string,
    perThread: boolean): { B: number; params: GPUBuffer; rows: GPUBuffer; groups: [number, number] } {
    const B = batchSize(rots, sliceLen, Di, what);
    const rows = new Float32Array(6 * Math.max(1, B));
    for (let b = 0; b < B; b++) for (let j = 0; j < 6; j++) rows[6 * b + j] = step * rots[9 * b + j]!;
    const [gx, gy, rowStride] = perThread ? WebGpuKernels.grid(B * Di * Di, WG) : [Math.min(B, MAX_GROUPS), Math.ceil(B / MAX_GROUPS), 0];
    const ab = new ArrayBuffer(32);
    const u = new Uint32Array(ab), f = new Float32Array(ab), i = new Int32Array(ab);
    u[0] = Dv; u[1] = Di; u[2] = B; u[3] = rowStride;
    f[4] = Math.floor(Dv / 2); i[5] = Math.floor(Di / 2);
    const r = opts?.radiusMax;
    f[6] = r === undefined || !Number.isFinite(r) ? 3e38 : r * r;
    return { B, params: this.uniform(ab), rows: this.storage(rows), groups: [gx, Math.max(1, gy)] };
  }

  private static step(Dv: number, Di: number, opts: SliceOptions | undefined, hartley: boolean): number {
    const s = opts?.scale ?? (hartley ? 1 : Dv / Di);
    if (!(s > 0)) throw new RangeError(`slice scale must be > 0, got ${s}`);
    return s;
  }

  async gatherSlicesReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Float32Array, opts?: SliceOptions): Promise<void> {
    checkVolume(vol.length, Dv, 'gatherSlicesReal');
    const s = this.sliceSetup(rots, Dv, Di, out.length, WebGpuKernels.step(Dv, Di, opts, false), opts, 'gatherSlicesReal', true);
    const v = this.storage(vol), o = this.storage(out.length);
    await this.run([[this.pipeline('gather', GATHER_REAL), [s.params, s.rows, v, o], s.groups]], [[o, out]], [s.params, s.rows, v, o]);
  }

  async gatherSlices(vol: Complex, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): Promise<void> {
    checkVolume(vol.re.length, Dv, 'gatherSlices');
    checkVolume(vol.im.length, Dv, 'gatherSlices');
    const s = this.sliceSetup(rots, Dv, Di, out.re.length, WebGpuKernels.step(Dv, Di, opts, false), opts, 'gatherSlices', true);
    const vr = this.storage(vol.re), vi = this.storage(vol.im), or = this.storage(out.re.length), oi = this.storage(out.im.length);
    const pl = this.pipeline('gather', GATHER_REAL);
    await this.run([[pl, [s.params, s.rows, vr, or], s.groups], [pl, [s.params, s.rows, vi, oi], s.groups]],
      [[or, out.re], [oi, out.im]], [s.params, s.rows, vr, vi, or, oi]);
  }

  async gatherHartley(H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): Promise<void> {
    checkVolume(H.length, Dv, 'gatherHartley');
    const s = this.sliceSetup(rots, Dv, Di, out.re.length, WebGpuKernels.step(Dv, Di, opts, true), opts, 'gatherHartley', true);
    const v = this.storage(H), or = this.storage(out.re.length), oi = this.storage(out.im.length);
    await this.run([[this.pipeline('gatherH', GATHER_HARTLEY), [s.params, s.rows, v, or, oi], s.groups]], [[or, out.re], [oi, out.im]], [s.params, s.rows, v, or, oi]);
  }

  async scatterSlicesReal(slices: Float32Array, Di: number, rots: Float64Array, Dv: number, volOut: Float32Array, opts?: SliceOptions): Promise<void> {
    checkVolume(volOut.length, Dv, 'scatterSlicesReal');
    const s = this.sliceSetup(rots, Dv, Di, slices.length, WebGpuKernels.step(Dv, Di, opts, false), opts, 'scatterSlicesReal', true);
    const g = this.storage(slices), acc = this.storage(volOut);
    await this.run([[this.pipeline('scatter', SCATTER_REAL), [s.params, s.rows, g, acc], s.groups]], [[acc, volOut]], [s.params, s.rows, g, acc]);
  }

  async scatterSlices(slices: Complex, Di: number, rots: Float64Array, Dv: number, volOut: Complex, opts?: SliceOptions): Promise<void> {
    checkVolume(volOut.re.length, Dv, 'scatterSlices');
    checkVolume(volOut.im.length, Dv, 'scatterSlices');
    const s = this.sliceSetup(rots, Dv, Di, slices.re.length, WebGpuKernels.step(Dv, Di, opts, false), opts, 'scatterSlices', true);
    const gr = this.storage(slices.re), gi = this.storage(slices.im), ar = this.storage(volOut.re), ai = this.storage(volOut.im);
    const pl = this.pipeline('scatter', SCATTER_REAL);
    await this.run([[pl, [s.params, s.rows, gr, ar], s.groups], [pl, [s.params, s.rows, gi, ai], s.groups]],
      [[ar, volOut.re], [ai, volOut.im]], [s.params, s.rows, gr, gi, ar, ai]);
  }

  async scatterHartley(dSlices: Complex, Di: number, rots: Float64Array, Dv: number, dH: Float32Array, opts?: SliceOptions): Promise<void> {
    checkVolume(dH.length, Dv, 'scatterHartley');
    const s = this.sliceSetup(rots, Dv, Di, dSlices.re.length, WebGpuKernels.step(Dv, Di, opts, true), opts, 'scatterHartley', true);
    const gr = this.storage(dSlices.re), gi = this.storage(dSlices.im), acc = this.storage(dH);
    await this.run([[this.pipeline('scatterH', SCATTER_HARTLEY), [s.params, s.rows, gr, gi, acc], s.groups]], [[acc, dH]], [s.params, s.rows, gr, gi, acc]);
  }

  private async rotGrad(mode: RotGradMode, vols: Float32Array[], grads: Float32Array[], Dv: number, rots: Float64Array, Di: number,
    dR: Float64Array | undefined, opts: SliceOptions | undefined, what: string): Promise<Float64Array> {
    for (const v of vols) checkVolume(v.length, Dv, what);
    const step = WebGpuKernels.step(Dv, Di, opts, mode === 'hartley');
    const s = this.sliceSetup(rots, Dv, Di, grads[0]!.length, step, opts, what, false);
    const out = dR ?? new Float64Array(rots.length);
    if (out.length !== 9 * s.B) throw new RangeError(`${what}: dR has ${out.length} values, expected ${9 * s.B}`);
    const vb = vols.map((v) => this.storage(v)), gb = grads.map((g) => this.storage(g)), o = this.storage(6 * s.B);
    const sums = new Float32Array(6 * s.B);
    await this.run([[this.pipeline(`rotgrad-${mode}`, rotGradSource(mode)), [s.params, s.rows, ...vb, ...gb, o], s.groups]], [[o, sums]], [s.params, s.rows, ...vb, ...gb, o]);
    for (let b = 0; b < s.B; b++) {
      for (let j = 0; j < 6; j++) out[9 * b + j] = step * sums[6 * b + j]!;
      out[9 * b + 6] = 0; out[9 * b + 7] = 0; out[9 * b + 8] = 0;
    }
    return out;
  }

  sliceRotationGradientReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Float32Array, dR?: Float64Array, opts?: SliceOptions): Promise<Float64Array> {
    return this.rotGrad('real', [vol], [dSlices], Dv, rots, Di, dR, opts, 'sliceRotationGradientReal');
  }

  sliceRotationGradient(vol: Complex, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Promise<Float64Array> {
    return this.rotGrad('complex', [vol.re, vol.im], [dSlices.re, dSlices.im], Dv, rots, Di, dR, opts, 'sliceRotationGradient');
  }

  hartleyRotationGradient(H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Promise<Float64Array> {
    return this.rotGrad('hartley', [H], [dSlices.re, dSlices.im], Dv, rots, Di, dR, opts, 'hartleyRotationGradient');
  }

  /** Centred FFT over the last `axes` axes of count blocks of N^axes values (in place). */
  private async fftAxes(c: Complex, N: number, blocks: number, axes: 2 | 3, inverse: boolean): Promise<void> {
    if (N > 1024) throw new RangeError(`WebGPU FFT: length ${N} > 1024 is not supported`);
    const per = N ** axes;
    if (c.re.length !== blocks * per || c.im.length !== blocks * per) throw new RangeError(`fft: ${c.re.length} values, expected ${blocks}*${N}^${axes}`);
    if (c.re.length === 0) return;
    const re = this.storage(c.re), im = this.storage(c.im);
    const pow2 = (N & (N - 1)) === 0;
    const log2N = pow2 ? Math.round(Math.log2(N)) : 0;
    const pl = this.pipeline('fft', FFT_LINES);
    const passes: Array<[GPUComputePipeline, GPUBuffer[], [number, number]]> = [];
    const temps: GPUBuffer[] = [re, im];
    const nLines = blocks * per / N;
    for (let a = 0; a < axes; a++) {
      const stride = N ** a; // axis 0 = fastest (x)
      // lines: lo runs over the `stride` positions below this axis, hi over everything above
      const nLo = stride, loStride = 1, hiStride = stride * N;
      const ab = new ArrayBuffer(48);
      const u = new Uint32Array(ab), f = new Float32Array(ab);
      u[0] = N; u[1] = nLo; u[2] = loStride; u[3] = hiStride; u[4] = stride; u[5] = nLines; u[6] = log2N; u[7] = pow2 ? 1 : 0;
      f[8] = inverse ? 1 : -1; f[9] = inverse ? 1 / N : 1;
      const ub = this.uniform(ab);
      temps.push(ub);
      const [gx, gy] = WebGpuKernels.grid(nLines, 1);
      passes.push([pl, [ub, re, im], [gx, gy]]);
    }
    await this.run(passes, [[re, c.re], [im, c.im]], temps);
  }

  fft2Batch(c: Complex, D: number, B: number, inverse: boolean): Promise<void> {
    return this.fftAxes(c, D, B, 2, inverse);
  }

  fft3(c: Complex, D: number, inverse: boolean): Promise<void> {
    return this.fftAxes(c, D, 1, 3, inverse);
  }

  dispose(): void {
    this.pipelines.clear();
    this.device.destroy();
  }
}
