/**
 * Evaluation of the heterogeneous mode's coordinate-network decoder (hetMlpDecoder.ts) in plain
 * TypeScript, from its saved state: the volume at any latent z, without tfjs.
 *
 *   h(k; z) = base(k) + env(|k|) · MLP([sin 2pi pW, cos 2pi pW], z),   p = k / (D/2)
 *
 * The network is small (a few thousand weights); one box-64 volume (hidden 32, 24 features, the
 * defaults) is ~0.5 G multiply-adds. Cost: 4-6x tfjs's wasm forward pass (6.2-8.0 s vs 1.4-1.5 s
 * measured in one run at nice 19 beside a benchmark; noisy), acceptable for the few maps of
 * eval-vol/analyze. Why a second implementation of the forward pass rather than tfjs: `eval-vol`
 * and `analyze` then read decoder.json synchronously and start without loading tfjs, and the
 * result does not depend on the tfjs backend or the CPU's SIMD paths (float64 arithmetic, the
 * same order on every machine). HetMlpDecoder.volumeGrid uses this evaluator too, so the run's
 * map.mrc, its live maps and `eval-vol` agree bit for bit; training (render/backward of slices)
 * stays on tfjs. test/recon/hetMlpFile.test.ts checks both forward passes against each other.
 */
import type { HetMlpState } from './hetMlpDecoder.js';
import { createHartleyGrid, hartleyGridSize, type HartleyGrid } from './hartleyVolume.js';

/** Names and shapes ([rows, cols]) of the network's weights for these options. */
export function hetMlpParamShapes(zdim: number, o: { nFeatures: number; hidden: number; blocks: number }): Record<string, [number, number]> {
  const H = o.hidden;
  const shapes: Record<string, [number, number]> = { w0x: [2 * o.nFeatures, H], w0z: [zdim, H], b0: [1, H] };
  for (let k = 1; k <= o.blocks; k++) { shapes[`w${k}`] = [H, H]; shapes[`b${k}`] = [1, H]; }
  shapes.wout = [H, 1];
  shapes.bout = [1, 1];
  return shapes;
}

/** A coordinate-network decoder evaluated from its state (implements hetDecoder.ts: ZVolumeModel). */
export class HetMlpModel {
  readonly D: number;
  readonly zdim: number;
  private readonly s: HetMlpState;

  constructor(state: HetMlpState) {
    this.s = state;
    this.D = state.D;
    this.zdim = state.zdim;
  }

  private envAt(r: number): number {
    const e = this.s.envelope;
    const R = e.length;
    const i = Math.min(R - 2, Math.floor(r));
    const f = Math.min(1, r - i);
    return (1 - f) * e[i]! + f * e[i + 1]!;
  }

  /** The network part (envelope included, base excluded) at N points (coordsPx: 3 N, Fourier px) for one latent z. */
  values(coordsPx: ArrayLike<number>, z: ArrayLike<number>): Float32Array {
    if (z.length !== this.zdim) throw new Error(`z has ${z.length} values, the decoder has zdim ${this.zdim}`);
    const { nFeatures: F, hidden: H, blocks } = this.s.options;
    const P = this.s.params;
    const W = this.s.features;
    const N = coordsPx.length / 3;
    // z enters through one bias per latent: zb = z W_z + b_0
    const zb = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      let a = P.b0![j]!;
      for (let d = 0; d < this.zdim; d++) a += z[d]! * P.w0z![d * H + j]!;
      zb[j] = a;
    }
    const w0x = P.w0x!, wout = P.wout!, bout = P.bout![0]!;
    const feat = new Float64Array(2 * F);
    const h = new Float64Array(H), t = new Float64Array(H);
    const out = new Float32Array(N);
    const sc = (2 * Math.PI * 2) / this.D;
    for (let i = 0; i < N; i++) {
      const x = coordsPx[3 * i]!, y = coordsPx[3 * i + 1]!, zz = coordsPx[3 * i + 2]!;
      for (let f = 0; f < F; f++) {
        const a = sc * (x * W[f]! + y * W[F + f]! + zz * W[2 * F + f]!);
        // rounded to float32 as the training path's features are
        feat[f] = Math.fround(Math.sin(a));
        feat[F + f] = Math.fround(Math.cos(a));
      }
      h.set(zb);
      for (let c = 0; c < 2 * F; c++) {
        const v = feat[c]!;
        const o = c * H;
        for (let j = 0; j < H; j++) h[j] += v * w0x[o + j]!;
      }
      for (let j = 0; j < H; j++) if (h[j]! < 0) h[j] = 0;
      for (let k = 1; k <= blocks; k++) {
        const w = P[`w${k}`]!, b = P[`b${k}`]!;
        t.set(b);
        for (let c = 0; c < H; c++) {
          const v = h[c]!;
          if (v === 0) continue;
          const o = c * H;
          for (let j = 0; j < H; j++) t[j] += v * w[o + j]!;
        }
        for (let j = 0; j < H; j++) if (t[j]! > 0) h[j] += t[j]!;
      }
      let s = bout;
      for (let j = 0; j < H; j++) s += h[j]! * wout[j]!;
      out[i] = s * Math.fround(this.envAt(Math.hypot(x, y, zz)));
    }
    return out;
  }

  /** The volume at latent z on the Hartley grid of box D (network 0 outside the Nyquist sphere, plus the base). */
  volumeGrid(z: ArrayLike<number>): HartleyGrid {
    const D = this.D;
    const Dv = hartleyGridSize(D);
    const cv = Math.floor(Dv / 2);
    const idx: number[] = [];
    const c: number[] = [];
    for (let zz = 0; zz < Dv; zz++) for (let y = 0; y < Dv; y++) for (let x = 0; x < Dv; x++) {
      if (Math.hypot(x - cv, y - cv, zz - cv) > D / 2) continue;
      idx.push((zz * Dv + y) * Dv + x);
      c.push(x - cv, y - cv, zz - cv);
    }
    const h = this.values(c, z);
    const vals = new Float32Array(Dv * Dv * Dv);
    for (let i = 0; i < idx.length; i++) vals[idx[i]!] = h[i]!;
    const base = this.s.base;
    if (base.length) for (let i = 0; i < vals.length; i++) vals[i] += base[i]!;
    return createHartleyGrid(D, vals);
  }
}
