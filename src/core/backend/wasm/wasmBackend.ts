/**
 * The WebAssembly SIMD backend: the kernels of wasm/*.c (trilinear slice gather, its adjoint
 * scatter-add, the rotation gradient, centred power-of-two FFTs) on a shared WebAssembly
 * memory (plus fused Hartley-volume kernels, wasm/hartley.c), optionally split over worker threads (src/core/parallel/pool.ts):
 *   - complex slice kernels (wasm/slices_pairs.c): volumes as interleaved (re, im) pairs (4 vector
 *     loads per trilinear sample instead of 16 scalar ones), the work split by z-SLABS of the volume
 *     (slabBounds: K slabs with about equal numbers of sample points, each small enough for one
 *     core's L2 cache, a contiguous run of slabs per thread): a slab's call interleaves its own
 *     planes and then gathers (or takes the rotation gradient of) the pixels whose cell lies in
 *     the slab, so each thread reads a compact part of the volume that it wrote itself; scatter:
 *     each slab's call clears, fills and adds into the output only its own planes of ONE shared
 *     pair accumulator (a cell on a slab boundary is done by both slabs, each adding its own
 *     corners), so there are no private volumes and no reduction pass. Gather and scatter give
 *     the same bits for any split; the rotation gradient adds per-slab float64 partial sums in
 *     slab order (K is the same for 1 and 2 threads, so they give the same bits too);
 *   - Hartley scatter (wasm/hartley.c): the same z-slab split, each thread adding straight into its
 *     own planes of the output (a pixel's +q and -q samples may fall in different slabs);
 *   - Hartley gather and rotation gradient of volumes >= HARTLEY_SLAB_MIN_BYTES where kernels.wasm
 *     has them (hgather_slabs, hrotgrad_slabs; else the slice-split kernels below): z-slabs too, ONE sample of H per pixel
 *     (pixel k's -q sample is pixel -k's +q sample, bit for bit; only even images' row 0 and column 0
 *     sample -q themselves); the gather writes the samples per slab and forms F by slices in a second
 *     pass (same bits for any split), the rotation gradient weights each sample by a(k) + b(-k) and
 *     adds per-slab float64 partial sums in slab order (1 and 2 threads give the same bits);
 *   - real-plane kernels (and the older Hartley gather and rotation gradient): slices shared out in chunks from a
 *     counter (disjoint outputs, so results are bit-identical whatever thread takes a chunk, and a
 *     thread that another job keeps off its core does not hold up the others); real scatter:
 *     every thread adds its particles into its own private accumulation volume (thread 0 writes
 *     the output directly), then all threads reduce disjoint voxel ranges into the output (equal
 *     to one thread's result up to float32 summation order); clearing and reduction cover only the
 *     z-slabs the slices can reach (scatterVoxelRange: with a radius limit r, 2 r + 3 slabs, not Dv);
 *   - FFT: each axis pass split by groups of 4 lines.
 * FFT lengths that are not powers of two >= 8 fall back to the TypeScript reference.
 */
import type { Complex } from '../../complex.js';
import { KernelPool, splitRange } from '../../parallel/pool.js';
import type { KernelCall } from '../../parallel/pool.js';
import { TsBackend } from '../ts/tsBackend.js';
import { batchSize, checkVolume, rescaledRotations } from '../types.js';
import type { Backend, BackendOptions, SliceOptions } from '../types.js';
import { hartleyOptions } from '../hartleySlices.js';
import { Staging, WasmHeap } from './heap.js';
import { FN, POOL_KERNEL_NAMES, hasKernel, kernelModule } from './kernels.js';
import { scatterVoxelRange, slabBounds, uniformSlabBounds } from './slabs.js';
import type { SlabTuning } from './slabs.js';

export { scatterVoxelRange, slabBounds, uniformSlabBounds };
export type { SlabTuning };

function r2(opts?: SliceOptions): number {
  return opts?.radiusMax !== undefined ? opts.radiusMax * opts.radiusMax : Infinity;
}

/**
 * Slab size the split aims at: one core's L2 cache here (2 MiB). Measured at D = 128 (B = 64,
 * 2026-11-22, loaded machine): 8 slabs of 2 MiB instead of 2 of 8 MiB made gather / scatter /
 * rotation gradient ~1.3x / 1.5x / 1.25x faster on 1 thread and ~1.3x / 1.2x / 1.1x on 2.
 */
const SLAB_CACHE_BYTES = 2 << 20;

/**
 * Smallest Hartley volume (bytes) for which the z-slab gather / rotation gradient are used by
 * default. They sample H once per pixel but with scalar code; where H fits a core's L2 the older
 * SIMD kernels are faster (1 thread, CPU time, loaded machine, B = 64, radius D/2, 2026-11-22:
 * D=32 gather 1.25 vs 1.91 ms, rotgrad 1.76 vs 2.78; D=64 4.23 vs 6.38, 7.10 vs 9.52; D=128 (8 MiB)
 * gather 37.1 vs 31.6, rotgrad 48.6 vs 49.2). A size rule, so 1 and 2 threads take the same path.
 */
const HARTLEY_SLAB_MIN_BYTES = 8 << 20;

interface Twiddles { re: number; im: number }

/** dR[9b + j] = sc * (sum over slabs k in order of part[6 (k B + b) + j]) for j < 6; row 2 = 0. */
function addSlabParts(part: Float64Array, K: number, B: number, sc: number, out: Float64Array): void {
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < 6; j++) {
      let sum = part[6 * b + j]!;
      for (let k = 1; k < K; k++) sum += part[6 * (k * B + b) + j]!;
      out[9 * b + j] = sum * sc;
    }
    out[9 * b + 6] = 0; out[9 * b + 7] = 0; out[9 * b + 8] = 0;
  }
}

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly threads: number;
  private readonly heap: WasmHeap;
  private readonly pool: KernelPool;
  private readonly fallback = new TsBackend();
  private readonly twiddles = new Map<number, Twiddles>();
  /** Per-thread (t >= 1) accumulation blocks for scatter, by byte size. */
  private readonly privateAcc = new Map<number, number[]>();
  /** Per-thread FFT scratch (4 planes of 4n floats), by n. */
  private readonly fftScratch = new Map<number, number[]>();
  private readonly owned = new Map<Float32Array, number>();
  /** Interleaved (re, im) scratch volumes by voxel count: 'v' the gathered volume, 'a' the scatter accumulator. */
  private readonly pairBuffers = new Map<string, number>();

  private readonly tuning: SlabTuning;
  /** kernels.wasm has the z-slab Hartley gather and rotation gradient. */
  readonly hartleySlabKernels: boolean;

  constructor(opts: BackendOptions = {}, tuning: SlabTuning = {}) {
    this.threads = opts.threads ?? 1;
    this.tuning = tuning;
    this.heap = new WasmHeap();
    const module = kernelModule();
    const instance = new WebAssembly.Instance(module, { env: { memory: this.heap.memory } });
    this.pool = new KernelPool(module, this.heap.memory, [...POOL_KERNEL_NAMES], instance, this.threads);
    this.hartleySlabKernels = hasKernel('hgather_slabs') && hasKernel('hgather_combine') && hasKernel('hrotgrad_slabs');
  }

  allocFloat32(n: number): Float32Array {
    const off = this.heap.alloc(4 * n);
    const a = this.heap.f32(off, n);
    a.fill(0);
    this.owned.set(a, off);
    return a;
  }

  release(buf: Float32Array): void {
    const off = this.owned.get(buf);
    if (off === undefined) return;
    this.owned.delete(buf);
    this.heap.free(off, buf.byteLength);
  }

  /**
   * Run kernel `fn` with arguments [...before, b0, b1, ...after] over the particle range [0, B).
   * With threads, [0, B) is shared out dynamically in chunks (outputs per slice are disjoint, so
   * the result does not depend on which thread took which chunk).
   */
  private splitBatch(B: number, fn: number, before: number[], after: number[]): void {
    const call: KernelCall = { fn, args: [...before, 0, B, ...after] };
    if (this.threads === 1 || B <= 1) {
      this.pool.run([[call]]);
      return;
    }
    this.pool.runDynamic({ ...call, dynamic: { argIndex: before.length, total: B, chunk: Math.max(1, Math.ceil(B / (8 * this.threads))) } });
  }

  private staged<T>(fn: (s: Staging) => T): T {
    const s = new Staging(this.heap);
    try {
      return fn(s);
    } finally {
      s.finish();
    }
  }

  gatherSlices(vol: Complex, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
    checkVolume(vol.re.length, Dv, 'gatherSlices');
    const B = batchSize(rots, out.re.length, Di, 'gatherSlices');
    const scaled = rescaledRotations(rots, Dv, Di, opts);
    this.staged((s) => {
      const re = s.in(vol.re), im = s.in(vol.im), vc = this.pairBuffer('v', Dv ** 3);
      const R = s.in(scaled.rots), or = s.out(out.re), oi = s.out(out.im);
      const K = this.slabCount(Dv, 8), bounds = s.in(this.bounds(scaled.rots, B, Dv, Di, r2(opts), K));
      this.runSlabs(K, FN.gather_slabs, [re, im, vc, Dv, R, B, Di, or, oi, r2(opts), bounds, K]);
    });
  }

  gatherSlicesReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Float32Array, opts?: SliceOptions): void {
    checkVolume(vol.length, Dv, 'gatherSlicesReal');
    const B = batchSize(rots, out.length, Di, 'gatherSlicesReal');
    const scaled = rescaledRotations(rots, Dv, Di, opts);
    this.staged((s) => {
      const v = s.in(vol), R = s.in(scaled.rots), o = s.out(out);
      this.splitBatch(B, FN.gather_r, [v, Dv, R], [Di, o, r2(opts)]);
    });
  }

  /** Voxel ranges (multiples of 16 from v0) of [v0, v1) for T threads. */
  private voxelChunks(nVox: number, T: number, v0 = 0): Array<readonly [number, number]> {
    return splitRange(Math.ceil((nVox - v0) / 16), T).map(([a, b]) => [v0 + 16 * a, Math.min(nVox, v0 + 16 * b)] as const);
  }

  /** The interleaved scratch volume `kind` of nVox pairs (allocated once per size; 'h': the Hartley gather's two sample planes). */
  private pairBuffer(kind: 'v' | 'a' | 'h', nVox: number): number {
    const key = `${kind}${nVox}`;
    let off = this.pairBuffers.get(key);
    if (off === undefined) {
      off = this.heap.alloc(8 * nVox);
      this.pairBuffers.set(key, off);
    }
    return off;
  }

  /**
   * Slabs per call, unless tuned: enough that one slab of the volume (bytesPerVoxel each) fits in
   * SLAB_CACHE_BYTES, at least one per thread, rounded up to a multiple of max(2, threads), so 1 and
   * 2 threads use the same split (the rotation gradient's sums then agree to the bit).
   */
  private slabCount(Dv: number, bytesPerVoxel: number): number {
    if (this.tuning.slabs !== undefined) return this.tuning.slabs;
    const step = Math.max(2, this.threads);
    const byCache = Math.ceil((bytesPerVoxel * Dv ** 3) / SLAB_CACHE_BYTES);
    return Math.ceil(Math.max(byCache, this.threads) / step) * step;
  }

  private bounds(rots: Float64Array, B: number, Dv: number, Di: number, r2max: number, K: number): Float64Array {
    return (this.tuning.uniform ? uniformSlabBounds : slabBounds)(rots, B, Dv, Di, r2max, K);
  }

  /** Run a slab kernel (last two arguments k0, k1) over K slabs, contiguous runs of slabs per thread. */
  private runSlabs(K: number, fn: number, args: number[]): void {
    const T = Math.min(this.threads, K);
    this.pool.run(splitRange(K, T).map(([k0, k1]) => (k1 > k0 ? [{ fn, args: [...args, k0, k1] }] : [])));
  }

  /** Per-thread accumulation blocks of `bytes` for threads 1..T-1. */
  private accBlocks(bytes: number): number[] {
    let blocks = this.privateAcc.get(bytes);
    if (!blocks) {
      blocks = [];
      for (let t = 1; t < this.threads; t++) blocks.push(this.heap.alloc(bytes));
      this.privateAcc.set(bytes, blocks);
    }
    return blocks;
  }

  /** Scatter planes with the given kernel: thread 0 into the target, others privately, then reduce. */
  private scatterPlanes(B: number, planes: number[], targets: number[], nVox: number, make: (b0: number, b1: number, dst: number[]) => KernelCall,
    range: [number, number] = [0, nVox]): void {
    const [v0, v1] = range;
    const T = Math.min(this.threads, Math.max(1, B));
    if (T === 1) {
      this.pool.run([[make(0, B, targets)]]);
      return;
    }
    // private blocks: for each plane, T-1 blocks
    const priv = planes.map((_, p) => this.accBlocks(4 * nVox * planes.length).slice(0, T - 1).map((off) => off + 4 * nVox * p));
    const parts = splitRange(B, T);
    this.pool.run(parts.map(([b0, b1], t) => {
      if (t === 0) return [make(b0, b1, targets)];
      const dst = priv.map((blocks) => blocks[t - 1]!);
      return [...dst.map((d) => ({ fn: FN.zero_f32, args: [d + 4 * v0, v1 - v0] })), make(b0, b1, dst)];
    }));
    // reduction over disjoint voxel ranges of the touched slabs
    this.pool.run(this.voxelChunks(v1, T, v0).map(([a, b]) => {
      const calls: KernelCall[] = [];
      if (b <= a) return calls;
      planes.forEach((_, p) => {
        for (let t = 1; t < T; t++) calls.push({ fn: FN.add_f32, args: [targets[p]! + 4 * a, priv[p]![t - 1]! + 4 * a, b - a] });
      });
      return calls;
    }));
  }

  scatterSlices(slices: Complex, Di: number, rots: Float64Array, Dv: number, volOut: Complex, opts?: SliceOptions): void {
    checkVolume(volOut.re.length, Dv, 'scatterSlices');
    const B = batchSize(rots, slices.re.length, Di, 'scatterSlices');
    const scaled = rescaledRotations(rots, Dv, Di, opts);
    this.staged((s) => {
      const sr = s.in(slices.re), si = s.in(slices.im), R = s.in(scaled.rots), vr = s.inout(volOut.re), vi = s.inout(volOut.im);
      const acc = this.pairBuffer('a', Dv ** 3);
      const K = this.slabCount(Dv, 8), bounds = s.in(this.bounds(scaled.rots, B, Dv, Di, r2(opts), K));
      this.runSlabs(K, FN.scatter_slabs, [sr, si, Di, R, B, Dv, acc, vr, vi, r2(opts), bounds, K]);
    });
  }

  scatterSlicesReal(slices: Float32Array, Di: number, rots: Float64Array, Dv: number, volOut: Float32Array, opts?: SliceOptions): void {
    checkVolume(volOut.length, Dv, 'scatterSlicesReal');
    const B = batchSize(rots, slices.length, Di, 'scatterSlicesReal');
    const scaled = rescaledRotations(rots, Dv, Di, opts);
    this.staged((s) => {
      const sr = s.in(slices), R = s.in(scaled.rots), v = s.inout(volOut);
      this.scatterPlanes(B, [0], [v], Dv ** 3, (b0, b1, d) => ({ fn: FN.scatter_r, args: [sr, Di, R, b0, b1, Dv, d[0]!, r2(opts)] }),
        scatterVoxelRange(scaled.rots, B, Dv, Di, r2(opts)));
    });
  }

  sliceRotationGradient(vol: Complex, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    checkVolume(vol.re.length, Dv, 'sliceRotationGradient');
    const B = batchSize(rots, dSlices.re.length, Di, 'sliceRotationGradient');
    const out = dR ?? new Float64Array(9 * B);
    if (out.length !== 9 * B) throw new RangeError(`sliceRotationGradient: dR has ${out.length} values, expected ${9 * B}`);
    const scaled = rescaledRotations(rots, Dv, Di, opts);
    // the per-slab partial sums are added in slab order: 1 and 2 threads agree (same K)
    const K = this.slabCount(Dv, 8), part = new Float64Array(6 * K * B);
    this.staged((s) => {
      const re = s.in(vol.re), im = s.in(vol.im), vc = this.pairBuffer('v', Dv ** 3);
      const R = s.in(scaled.rots), gr = s.in(dSlices.re), gi = s.in(dSlices.im), p = s.out(part);
      const bounds = s.in(this.bounds(scaled.rots, B, Dv, Di, r2(opts), K));
      this.runSlabs(K, FN.rotgrad_slabs, [re, im, vc, Dv, R, B, Di, gr, gi, p, r2(opts), bounds, K]);
    });
    addSlabParts(part, K, B, Dv / Di, out);
    if (scaled.factor !== 1) for (let i = 0; i < out.length; i++) out[i] = out[i]! * scaled.factor;
    return out;
  }

  sliceRotationGradientReal(vol: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Float32Array, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    checkVolume(vol.length, Dv, 'sliceRotationGradientReal');
    const B = batchSize(rots, dSlices.length, Di, 'sliceRotationGradientReal');
    const out = dR ?? new Float64Array(9 * B);
    if (out.length !== 9 * B) throw new RangeError(`sliceRotationGradientReal: dR has ${out.length} values, expected ${9 * B}`);
    const scaled = rescaledRotations(rots, Dv, Di, opts);
    this.staged((s) => {
      const v = s.in(vol), R = s.in(scaled.rots), g = s.in(dSlices), o = s.out(out);
      this.splitBatch(B, FN.rotgrad_r, [v, Dv, R], [Di, g, o, r2(opts)]);
    });
    if (scaled.factor !== 1) for (let i = 0; i < out.length; i++) out[i] = out[i]! * scaled.factor;
    return out;
  }

  /** Do the Hartley gather / rotation gradient of a Dv^3 volume run by z-slabs? (tuning, else the size rule) */
  hartleyBySlabs(Dv: number): boolean {
    const split = this.tuning.hartleySplit ?? 'auto';
    if (split === 'slices' || !this.hartleySlabKernels) return false;
    return split === 'slabs' || 4 * Dv ** 3 >= HARTLEY_SLAB_MIN_BYTES;
  }

  gatherHartley(H: Float32Array, Dv: number, rots: Float64Array, Di: number, out: Complex, opts?: SliceOptions): void {
    checkVolume(H.length, Dv, 'gatherHartley');
    const B = batchSize(rots, out.re.length, Di, 'gatherHartley');
    const o = hartleyOptions(opts);
    const scaled = rescaledRotations(rots, Dv, Di, o);
    this.staged((s) => {
      const h = s.in(H), R = s.in(scaled.rots), or = s.out(out.re), oi = s.out(out.im);
      if (!this.hartleyBySlabs(Dv)) {
        this.splitBatch(B, FN.gather_h, [h, Dv, R], [Di, or, oi, r2(o)]);
        return;
      }
      // one sample per pixel by z-slabs (hp: +q samples, hm: -q samples of pixels without a mirror), then F by slices
      const n = B * Di * Di, hp = this.pairBuffer('h', n), hm = hp + 4 * n;
      const K = this.slabCount(Dv, 4), bounds = s.in(this.bounds(scaled.rots, B, Dv, Di, r2(o), K));
      this.runSlabs(K, FN.hgather_slabs, [h, Dv, R, B, Di, hp, hm, r2(o), bounds, K]);
      this.splitBatch(B, FN.hgather_combine, [hp, hm], [Di, or, oi, r2(o)]);
    });
  }

  scatterHartley(dSlices: Complex, Di: number, rots: Float64Array, Dv: number, dH: Float32Array, opts?: SliceOptions): void {
    checkVolume(dH.length, Dv, 'scatterHartley');
    const B = batchSize(rots, dSlices.re.length, Di, 'scatterHartley');
    const o = hartleyOptions(opts);
    const scaled = rescaledRotations(rots, Dv, Di, o);
    this.staged((s) => {
      const gr = s.in(dSlices.re), gi = s.in(dSlices.im), R = s.in(scaled.rots), v = s.inout(dH);
      const K = this.slabCount(Dv, 4), bounds = s.in(this.bounds(scaled.rots, B, Dv, Di, r2(o), K));
      this.runSlabs(K, FN.scatter_h_slabs, [gr, gi, Di, R, B, Dv, v, r2(o), bounds, K]);
    });
  }

  hartleyRotationGradient(H: Float32Array, Dv: number, rots: Float64Array, Di: number, dSlices: Complex, dR?: Float64Array, opts?: SliceOptions): Float64Array {
    checkVolume(H.length, Dv, 'hartleyRotationGradient');
    const B = batchSize(rots, dSlices.re.length, Di, 'hartleyRotationGradient');
    const out = dR ?? new Float64Array(9 * B);
    if (out.length !== 9 * B) throw new RangeError(`hartleyRotationGradient: dR has ${out.length} values, expected ${9 * B}`);
    const o = hartleyOptions(opts);
    const scaled = rescaledRotations(rots, Dv, Di, o);
    if (this.hartleyBySlabs(Dv)) {
      // per-slab float64 partial sums added in slab order (K is the same for 1 and 2 threads)
      const K = this.slabCount(Dv, 4), part = new Float64Array(6 * K * B);
      this.staged((s) => {
        const h = s.in(H), R = s.in(scaled.rots), gr = s.in(dSlices.re), gi = s.in(dSlices.im), p = s.out(part);
        const bounds = s.in(this.bounds(scaled.rots, B, Dv, Di, r2(o), K));
        this.runSlabs(K, FN.hrotgrad_slabs, [h, Dv, R, B, Di, gr, gi, p, r2(o), bounds, K]);
      });
      addSlabParts(part, K, B, Dv / Di, out);
    } else {
      this.staged((s) => {
        const h = s.in(H), R = s.in(scaled.rots), gr = s.in(dSlices.re), gi = s.in(dSlices.im), d = s.out(out);
        this.splitBatch(B, FN.rotgrad_h, [h, Dv, R], [Di, gr, gi, d, r2(o)]);
      });
    }
    if (scaled.factor !== 1) for (let i = 0; i < out.length; i++) out[i] = out[i]! * scaled.factor;
    return out;
  }

  /** Twiddle planes exp(-2 pi i t/n), t < n, computed in float64, stored as float32. */
  private twiddleTable(n: number): Twiddles {
    let tw = this.twiddles.get(n);
    if (!tw) {
      tw = { re: this.heap.alloc(4 * n), im: this.heap.alloc(4 * n) };
      const re = this.heap.f32(tw.re, n), im = this.heap.f32(tw.im, n);
      for (let t = 0; t < n; t++) {
        re[t] = Math.cos((2 * Math.PI * t) / n);
        im[t] = -Math.sin((2 * Math.PI * t) / n);
      }
      this.twiddles.set(n, tw);
    }
    return tw;
  }

  private scratch(n: number): number[] {
    let s = this.fftScratch.get(n);
    if (!s) {
      s = [];
      for (let t = 0; t < this.threads; t++) s.push(this.heap.alloc(4 * 4 * 4 * n));
      this.fftScratch.set(n, s);
    }
    return s;
  }

  /** One centred FFT pass along the middle axis of [outer][n][inner] planes (re, im already swapped for inverse). */
  private fftPass(re: number, im: number, outer: number, n: number, inner: number, scale: number): void {
    const groups = inner === 1 ? outer / 4 : (outer * inner) / 4;
    const tw = this.twiddleTable(n);
    const scr = this.scratch(n);
    // Each thread needs its own scratch, so the groups are split statically (one range per thread).
    const parts = splitRange(groups, Math.min(this.threads, groups));
    this.pool.run(parts.map(([g0, g1], t) => {
      if (g1 <= g0) return [];
      const s = scr[t]!, q = 4 * 4 * n;
      return [{ fn: FN.fft_axis, args: [re, im, outer, n, inner, g0, g1, scale, tw.re, tw.im, s, s + q, s + 2 * q, s + 3 * q] }];
    }));
  }

  private static fastLength(D: number): boolean {
    return D >= 8 && (D & (D - 1)) === 0;
  }

  fft2Batch(c: Complex, D: number, B: number, inverse: boolean): void {
    if (c.re.length !== B * D * D || c.im.length !== B * D * D) throw new RangeError(`fft2Batch: ${c.re.length} values, expected ${B}*${D}^2`);
    if (!WasmBackend.fastLength(D)) return this.fallback.fft2Batch(c, D, B, inverse);
    this.staged((s) => {
      let re = s.inout(c.re), im = s.inout(c.im);
      if (inverse) [re, im] = [im, re];
      const scale = inverse ? 1 / D : 1;
      this.fftPass(re, im, B * D, D, 1, scale);
      this.fftPass(re, im, B, D, D, scale);
    });
  }

  fft3(c: Complex, D: number, inverse: boolean): void {
    if (c.re.length !== D ** 3 || c.im.length !== D ** 3) throw new RangeError(`fft3: ${c.re.length} values, expected ${D}^3`);
    if (!WasmBackend.fastLength(D)) return this.fallback.fft3(c, D, inverse);
    this.staged((s) => {
      let re = s.inout(c.re), im = s.inout(c.im);
      if (inverse) [re, im] = [im, re];
      const scale = inverse ? 1 / D : 1;
      this.fftPass(re, im, D * D, D, 1, scale);
      this.fftPass(re, im, D, D, D, scale);
      this.fftPass(re, im, 1, D, D * D, scale);
    });
  }

  dispose(): void {
    this.pool.dispose();
  }
}
