/**
 * The state of a tfjs Adam optimiser (tf.train.adam) as plain arrays, so that a checkpoint can
 * hold it and a resumed run continues exactly where an uninterrupted one would (used by the
 * heterogeneous mode's coordinate-network decoder and z encoder).
 *
 * Why not tfjs's own optimizer.getWeights/setWeights: both are async, and the checkpoints are
 * written and restored synchronously (HeterogeneousTrainer.getState/setState). This module
 * reads and writes the fields tfjs-core 4.x keeps (AdamOptimizer: accumulatedFirstMoment and
 * accumulatedSecondMoment, one {originalName, variable} per position of the gradient list passed
 * to applyGradients; accBeta1/accBeta2, scalar variables holding beta^t; Optimizer.iterations_).
 * They are checked at run time: if a tfjs upgrade changes them, this throws instead of silently
 * restarting the moments (test/recon/hetMlpFile.test.ts compares a resumed run bit for bit).
 */
import { tf } from './tfjsSetup.js';

/** Adam's moments, one pair per trained variable in the order the gradients are applied. */
export interface AdamMoments {
  iterations: number;
  accBeta1: number;
  accBeta2: number;
  m: Float32Array[];
  v: Float32Array[];
}

interface Slot { originalName: string; variable: tf.Variable }

/** The AdamOptimizer fields read here (private in tfjs's typings). */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
  iterations_: number | undefined;
}

function internals(opt: tf.AdamOptimizer): AdamInternals {
  const o = opt as unknown as AdamInternals;
  if (!(o.accBeta1 instanceof tf.Variable) || !(o.accBeta2 instanceof tf.Variable) || !Array.isArray(o.accumulatedFirstMoment) || !Array.isArray(o.accumulatedSecondMoment)) {
    throw new Error('adamState: this tfjs AdamOptimizer does not keep its moments where tfjs-core 4.x does; update src/model/adamState.ts');
  }
  return o;
}

/** A copy of the optimiser's state. */
export function getAdamMoments(opt: tf.AdamOptimizer): AdamMoments {
  const o = internals(opt);
  const read = (s: Slot[]): Float32Array[] => s.map((x) => Float32Array.from(x.variable.dataSync() as Float32Array));
  return {
    iterations: o.iterations_ ?? 0,
    accBeta1: (o.accBeta1.dataSync() as Float32Array)[0]!,
    accBeta2: (o.accBeta2.dataSync() as Float32Array)[0]!,
    m: read(o.accumulatedFirstMoment),
    v: read(o.accumulatedSecondMoment),
  };
}

/**
 * Load a saved state into `opt`, whose gradients are applied in the order of `vars` (the moments
 * of position i must have vars[i]'s size). Replaces (and disposes) the moments it had.
 */
export function setAdamMoments(opt: tf.AdamOptimizer, vars: tf.Variable[], s: AdamMoments): void {
  const o = internals(opt);
  if (s.m.length !== s.v.length || s.m.length > vars.length) throw new RangeError(`adam state: ${s.m.length} moments for ${vars.length} variables`);
  s.m.forEach((m, i) => {
    if (m.length !== vars[i]!.size || s.v[i]!.length !== vars[i]!.size) throw new RangeError(`adam state: moment ${i} has ${m.length} values, variable ${vars[i]!.name} has ${vars[i]!.size}`);
  });
  for (const x of [...o.accumulatedFirstMoment, ...o.accumulatedSecondMoment]) x.variable.dispose();
  const slots = (arr: Float32Array[], tag: string): Slot[] => arr.map((a, i) => {
    const t = tf.tensor(Float32Array.from(a), vars[i]!.shape);
    const variable = t.variable(false);
    t.dispose(); // the variable holds its own reference to the data
    return { originalName: `${vars[i]!.name}/${tag}`, variable };
  });
  o.accumulatedFirstMoment = slots(s.m, 'm');
  o.accumulatedSecondMoment = slots(s.v, 'v');
  tf.tidy(() => {
    o.accBeta1.assign(tf.scalar(s.accBeta1));
    o.accBeta2.assign(tf.scalar(s.accBeta2));
  });
  o.iterations_ = s.iterations;
}
