/**
 * The two volume decoders of the amortized loop behind one interface: the explicit Hartley grid
 * (cryoSPIN's; curvature-preconditioned steps, src/recon/volumeOptimizer.ts) and FourierNet
 * (cryoAI's neural field, src/model/fourierNet.ts; Adam). Both render Hermitian slices on a loss
 * disc, accumulate their parameter gradient from dL/dslice, return dL/dA for the encoder, and
 * take one step per batch.
 */
import type { Complex } from '../core/complex.js';
import { Rng } from '../core/rng.js';
import { FourierNet, type FourierNetOptions, type FourierNetState } from '../model/fourierNet.js';
import { createHartleyGrid, type DiscIndex, type HartleyGrid } from '../model/hartleyVolume.js';
import { tf } from '../model/tfjsSetup.js';
import { createSlicer, type Slicer } from './slicer.js';
import { PreconditionedMomentum } from './volumeOptimizer.js';

export type DecoderKind = 'grid' | 'fouriernet';

export interface GridDecoderState { kind: 'grid'; values: Float32Array; opt: { m: Float32Array; w: Float32Array; t: number; lr: number }; good?: Float32Array }
export interface FourierNetDecoderState { kind: 'fouriernet'; net: FourierNetState }
export type DecoderState = GridDecoderState | FourierNetDecoderState;

export interface SliceDecoder {
  readonly kind: DecoderKind;
  /** B slices (B D^2) for rotations rots (9B), 0 outside the disc. */
  render(rots: Float64Array, B: number, out: Complex, disc: DiscIndex): void;
  /** Accumulates the parameter gradient of dL/dslice; writes dL/dA (9B) into dRots when given. */
  backward(rots: Float64Array, B: number, dSlices: Complex, disc: DiscIndex, dRots: Float64Array | null): void;
  /** One optimiser step with the accumulated gradient (ctf: the batch's CTF, B D^2, for the grid's curvature). */
  step(rots: Float64Array, B: number, ctf: Float32Array, disc: DiscIndex): void;
  /**
   * The divergence guard's hooks (absent when not applicable): markGood keeps a copy of the
   * current parameters; dampStep returns to that copy, drops the accumulated gradient, multiplies
   * the step size by factor and clears the optimiser's momentum.
   */
  markGood?(): void;
  dampStep?(factor: number): void;
  /** The current volume as an explicit Hartley grid (maps, FSC). */
  toGrid(): HartleyGrid;
  getState(): DecoderState;
  setState(s: DecoderState): void;
  dispose(): void;
}

export class GridDecoder implements SliceDecoder {
  readonly kind = 'grid' as const;
  readonly grid: HartleyGrid;
  private readonly slicer: Slicer;
  private opt: PreconditionedMomentum;
  private dH: Float32Array;
  /** The divergence guard's copy of the values at the lowest running loss (markGood), null before one. */
  private good: Float32Array | null = null;

  constructor(D: number, o: { lr: number; initScale: number; seed: number; backend: 'ts' | 'wasm' }) {
    this.grid = createHartleyGrid(D);
    const rng = new Rng(o.seed + 7919);
    for (let i = 0; i < this.grid.values.length; i++) this.grid.values[i] = o.initScale * rng.normal();
    this.slicer = createSlicer(o.backend);
    // same box scaling of the step as the semi-amortized loop (see semiAmortized.ts volumeLr)
    this.opt = new PreconditionedMomentum(this.grid.values.length, { lr: D <= 32 ? o.lr : o.lr * (32 / D) ** 2 });
    this.dH = new Float32Array(this.grid.values.length);
  }

  render(rots: Float64Array, B: number, out: Complex, disc: DiscIndex): void {
    this.slicer.render(this.grid, rots, B, out, disc);
  }

  backward(rots: Float64Array, B: number, dS: Complex, disc: DiscIndex, dRots: Float64Array | null): void {
    this.slicer.backward(this.grid, rots, B, dS, this.dH, dRots, disc);
  }

  step(rots: Float64Array, B: number, ctf: Float32Array, disc: DiscIndex): void {
    // diagonal curvature of the batch-mean loss: slice adjoint of CTF^2 / (n B) (volumeOptimizer.ts)
    const P = this.grid.D * this.grid.D;
    const s = 1 / (disc.pix.length * B);
    const w: Complex = { re: new Float32Array(B * P), im: new Float32Array(B * P) };
    for (let i = 0; i < B * P; i++) { const c = ctf[i]!; w.re[i] = c * c * s; }
    const curv = new Float32Array(this.grid.values.length);
    this.slicer.backward(this.grid, rots, B, w, curv, null, disc);
    this.opt.step(this.grid.values, this.dH, curv);
    this.dH.fill(0);
  }

  markGood(): void {
    if (!this.good) this.good = new Float32Array(this.grid.values.length);
    this.good.set(this.grid.values);
  }

  dampStep(factor: number): void {
    if (this.good) this.grid.values.set(this.good);
    this.dH.fill(0);
    this.opt = new PreconditionedMomentum(this.grid.values.length, { lr: this.opt.lr * factor });
  }

  toGrid(): HartleyGrid { return this.grid; }

  getState(): GridDecoderState {
    return { kind: 'grid', values: this.grid.values, opt: { ...this.opt.state, lr: this.opt.lr }, ...(this.good ? { good: this.good } : {}) };
  }

  setState(s: DecoderState): void {
    if (s.kind !== 'grid') throw new RangeError(`decoder state is ${s.kind}, expected grid`);
    this.grid.values.set(s.values);
    this.opt = new PreconditionedMomentum(this.grid.values.length, { lr: s.opt.lr });
    this.opt.state = { m: s.opt.m, w: s.opt.w, t: s.opt.t };
    this.good = s.good ? Float32Array.from(s.good) : null;
  }

  dispose(): void { this.slicer.dispose(); }
}

export class FourierNetDecoder implements SliceDecoder {
  readonly kind = 'fouriernet' as const;
  readonly net: FourierNet;
  private pending: Map<string, tf.Tensor> | null = null;

  constructor(o: FourierNetOptions) {
    this.net = new FourierNet(o);
  }

  render(rots: Float64Array, B: number, out: Complex, disc: DiscIndex): void {
    this.net.render(rots, B, out, disc);
  }

  backward(rots: Float64Array, B: number, dS: Complex, disc: DiscIndex, dRots: Float64Array | null): void {
    const g = this.net.backward(rots, B, dS, disc, dRots);
    if (!this.pending) { this.pending = g; return; }
    for (const [k, v] of g) {
      const prev = this.pending.get(k)!;
      this.pending.set(k, tf.keep(prev.add(v)));
      prev.dispose();
      v.dispose();
    }
  }

  step(): void {
    if (this.pending) this.net.applyGradients(this.pending);
    this.pending = null;
  }

  toGrid(): HartleyGrid { return this.net.toGrid(); }

  getState(): FourierNetDecoderState { return { kind: 'fouriernet', net: this.net.getState() }; }

  setState(s: DecoderState): void {
    if (s.kind !== 'fouriernet') throw new RangeError(`decoder state is ${s.kind}, expected fouriernet`);
    this.net.setState(s.net);
  }

  dispose(): void {
    if (this.pending) for (const v of this.pending.values()) v.dispose();
    this.net.dispose();
  }
}
