/**
 * `cryospin predict-poses model.ckpt particles.star -o poses.star`: the amortized promise — poses
 * for particles the encoder never saw, by one inference pass (no optimisation). The checkpoint
 * comes from `reconstruct --mode amortized` (encoder + decoder state and the preprocessing
 * settings: working box, inversion, mask) or `reconstruct --init encoder` (semi-amortized: the
 * multi-head encoder, best head by the loss against the run's volume); see recon/poseModel.ts.
 * With a symmetric-loss model the decoder picks, per image, between the predicted pose and its
 * in-plane pi rotation (as the run itself did).
 * Writes RELION 3.1 STAR (angles, origins in the input's pixels) and, with --pkl, a cryoDRGN pose.pkl.
 * tfjs and the model code are imported when the command runs (so `--help` starts fast).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { matrixToEuler } from '../../core/rotation.js';
import { writePosePkl } from '../../io/cryodrgnPkl.js';
import { loadParticles, type ParticleSet } from '../../io/particles.js';
import { writeParticlesStar } from '../../io/relionStar.js';
import { log, printResult } from '../output.js';
import { jsonOption } from '../options.js';

export interface PredictPosesOptions {
  checkpoint: string;
  particles: string;
  output: string;
  pkl?: string;
  batchSize?: number;
  ctfPkl?: string;
  apixAngstrom?: number;
  allowOutside?: boolean;
  quiet?: boolean;
}

export interface PredictPosesResult {
  n: number;
  output: string;
  pkl: string | null;
  /** The checkpoint's mode: 'amortized' (single head) or 'semi-amortized' (best of `heads` against its volume). */
  mode: 'amortized' | 'semi-amortized';
  heads: number;
  box: number;
  decoder: string;
  symmetric_loss: boolean;
  seconds: number;
  mean_loss: number;
}

export async function runPredictPoses(o: PredictPosesOptions): Promise<PredictPosesResult> {
  const t0 = performance.now();
  const [{ initTfjs }, { loadPoseModel }, { DiskSource }] = await Promise.all([
    import('../../model/tfjsSetup.js'), import('../../recon/poseModel.js'), import('../../recon/diskSource.js'),
  ]);
  await initTfjs('wasm');
  const set = loadParticles(o.particles, { ctfPkl: o.ctfPkl, apixAngstrom: o.apixAngstrom, allowOutside: o.allowOutside });
  const opt = loadPoseModel(o.checkpoint);
  let p: ReturnType<typeof opt.predict>;
  try {
    const source = new DiskSource(set, { box: opt.box, invert: opt.invert, maskFraction: opt.maskFraction, seed: opt.seed });
    try {
      const all = new Uint32Array(source.n);
      for (let i = 0; i < all.length; i++) all[i] = i;
      p = opt.predict(source, all, o.batchSize ?? opt.batchSize);
    } finally {
      source.close();
    }
  } finally {
    opt.dispose();
  }
  const n = set.particles.length;
  const scale = set.boxPx / opt.box; // working px -> input px
  const out: ParticleSet = {
    ...set,
    particles: set.particles.map((q, i) => {
      const e = matrixToEuler(p.rots.subarray(9 * i, 9 * i + 9));
      return { ...q, eulerDeg: [e[0], e[1], e[2]] as [number, number, number], originPx: [p.origins[2 * i]! * scale, p.origins[2 * i + 1]! * scale] as [number, number] };
    }),
  };
  writeParticlesStar(o.output, out);
  if (o.pkl) {
    const t = new Float64Array(2 * n);
    for (let i = 0; i < 2 * n; i++) t[i] = p.origins[i]! / opt.box;
    writePosePkl(o.pkl, p.rots, t);
  }
  let ls = 0;
  for (let i = 0; i < n; i++) ls += p.loss[i]!;
  const seconds = (performance.now() - t0) / 1000;
  if (!o.quiet) log(`predicted ${n} poses in ${seconds.toFixed(1)} s`);
  return { n, output: o.output, pkl: o.pkl ?? null, mode: opt.kind, heads: opt.heads, box: opt.box, decoder: opt.decoder, symmetric_loss: opt.symmetricLoss, seconds, mean_loss: ls / n };
}

function posInt(name: string): (v: string) => number {
  return (v: string) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) throw new InvalidArgumentError(`${name}: expected a positive integer, got "${v}"`);
    return x;
  };
}

export function register(program: Command): void {
  program
    .command('predict-poses')
    .description('Poses for (new) particles from a trained encoder (checkpoint of reconstruct --mode amortized, or --mode semi-amortized --init encoder)')
    .argument('<model.ckpt>', 'checkpoint.json of a reconstruct --mode amortized or --init encoder run')
    .argument('<particles>', 'particles: RELION STAR, cryoSPARC .cs, or .mrcs with --ctf ctf.pkl')
    .requiredOption('-o, --output <poses.star>', 'output RELION 3.1 STAR with the predicted poses')
    .option('--pkl <pose.pkl>', 'also write a cryoDRGN pose pickle')
    .option('--batch-size <B>', 'images per inference batch', posInt('--batch-size'))
    .option('--ctf <ctf.pkl>', 'cryoDRGN CTF pickle (for a .mrcs input)')
    .option('--apix <A>', 'pixel size when the particle file has none', (v: string) => {
      const x = Number(v);
      if (!(x > 0)) throw new InvalidArgumentError(`--apix: expected a positive number, got "${v}"`);
      return x;
    })
    .option('--allow-outside', 'accept image paths outside the particle file folder')
    .addOption(jsonOption())
    .action(async (ckpt: string, particles: string, o: { output: string; pkl?: string; batchSize?: number; ctf?: string; apix?: number; allowOutside?: boolean; json?: boolean }) => {
      const r = await runPredictPoses({ checkpoint: ckpt, particles, output: o.output, pkl: o.pkl, batchSize: o.batchSize, ctfPkl: o.ctf, apixAngstrom: o.apix, allowOutside: o.allowOutside });
      printResult(o.json ?? false, r, () => `poses: ${r.output}${r.pkl ? `\npkl: ${r.pkl}` : ''}\n${r.n} particles, box ${r.box}, ${r.seconds.toFixed(1)} s`);
    });
}
