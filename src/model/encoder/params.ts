/**
 * The encoder's tensors: trainable parameters (tfjs variables, initialised deterministically from a
 * seed with cryospin's own Rng, so the same seed gives the same network on any backend) and
 * non-trainable buffers (BatchNorm running mean / variance). Copied to and from plain Float32Arrays
 * for checkpoints.
 */
import { Rng } from '../../core/rng.js';
import { tf } from '../tfjsSetup.js';

export type InitKind = 'he' | 'glorot' | 'zeros' | 'ones';

export class ParamStore {
  /** Trainable parameters in creation order (the order fixes the checkpoint layout). */
  readonly params = new Map<string, tf.Variable>();
  /** Non-trainable buffers (BatchNorm running statistics). */
  readonly buffers = new Map<string, tf.Variable>();
  private readonly rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /**
   * A trainable parameter of `shape`. 'he': normal, std sqrt(2 / fanIn); 'glorot': normal,
   * std sqrt(2 / (fanIn + fanOut)) times `gain`.
   */
  param(name: string, shape: number[], kind: InitKind, fanIn = 1, fanOut = 1, gain = 1): tf.Variable {
    if (this.params.has(name)) throw new Error(`duplicate parameter ${name}`);
    const t = tf.tensor(this.initValues(shape, kind, fanIn, fanOut, gain), shape);
    const v = tf.variable(t, true);
    t.dispose();
    this.params.set(name, v);
    return v;
  }

  /** A non-trainable buffer filled with `fill`. */
  buffer(name: string, shape: number[], fill: number): tf.Variable {
    if (this.buffers.has(name)) throw new Error(`duplicate buffer ${name}`);
    const t = tf.fill(shape, fill);
    const v = tf.variable(t, false);
    t.dispose();
    this.buffers.set(name, v);
    return v;
  }

  private initValues(shape: number[], kind: InitKind, fanIn: number, fanOut: number, gain: number): Float32Array {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (kind === 'ones') out.fill(1);
    if (kind === 'he' || kind === 'glorot') {
      const std = gain * (kind === 'he' ? Math.sqrt(2 / fanIn) : Math.sqrt(2 / (fanIn + fanOut)));
      for (let i = 0; i < n; i++) out[i] = std * this.rng.normal();
    }
    return out;
  }

  trainable(): tf.Variable[] {
    return [...this.params.values()];
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const v of this.buffers.values()) v.dispose();
    this.params.clear();
    this.buffers.clear();
  }
}

/** Copy every variable of `m` into a plain object of Float32Arrays. */
export function exportVariables(m: Map<string, tf.Variable>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of m) out[k] = Float32Array.from(v.dataSync() as Float32Array);
  return out;
}

/** Assign arrays to the variables of `m`; every name must be present with the right length. */
export function importVariables(m: Map<string, tf.Variable>, arrays: Record<string, Float32Array>,
  what: string): void {
  for (const [k, v] of m) {
    const a = arrays[k];
    if (a === undefined) throw new Error(`encoder state: ${what} ${k} missing`);
    if (a.length !== v.size) throw new Error(`encoder state: ${what} ${k} has ${a.length} values, expected ${v.size}`);
  }
  for (const [k, v] of m) tf.tidy(() => v.assign(tf.tensor(arrays[k]!, v.shape)));
}
