/**
 * `cryospin backproject`: known-pose reconstruction (Fourier backprojection with CTF, pad 2),
 * optionally as two random half maps with their FSC, and the FSC against a reference map.
 * Library: src/recon/backproject.ts.
 */
import { Command } from 'commander';
import { dirname, extname, basename, join } from 'node:path';
import { fscReport, type FscReport } from '../../eval/fsc.js';
import { InputError } from '../../io/errors.js';
import { readMrc, writeMrc } from '../../io/mrc.js';
import { loadParticles } from '../../io/particles.js';
import { backproject, particleSetSource } from '../../recon/backproject.js';
import { printResult } from '../output.js';
import { stepProgress } from '../progress.js';
import { allowOutsideOption, apixOption, boxOption, jsonOption, outputFileOption, parseNumber as num, seedOption } from '../options.js';

export interface BackprojectCliOptions {
  particles: string;
  /** Output map path (the CLI's -o/--output). */
  out: string;
  halves?: boolean;
  box?: number;
  apix?: number;
  seed: number;
  chunk: number;
  reg: number;
  noCtf?: boolean;
  ref?: string;
  /** Accept image paths outside the particle file's folder. */
  allowOutside?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export interface BackprojectCliResult {
  map: string;
  half1?: string;
  half2?: string;
  count: number;
  boxPx: number;
  apixAngstrom: number;
  halfFsc?: FscReport;
  refFsc?: FscReport;
}

export function runBackproject(o: BackprojectCliOptions): BackprojectCliResult {
  const set = loadParticles(o.particles, { apixAngstrom: o.apix, allowOutside: o.allowOutside });
  if (set.particles.length === 0) throw new InputError(o.particles, 'no particles');
  if (o.box !== undefined && o.box > set.boxPx) {
    throw new InputError(o.particles, `--box ${o.box} is larger than the particle box ${set.boxPx} (only Fourier cropping is supported)`);
  }
  const src = particleSetSource(set, { ignoreCtf: o.noCtf });
  const progress = stepProgress('backproject', set.particles.length, 'particles', { quiet: o.quiet });
  let r;
  try {
    r = backproject(src, {
      boxPx: o.box, halves: o.halves, seed: o.seed, chunk: o.chunk, regularization: o.reg,
      onProgress: (done) => progress.update(done),
    });
  } finally {
    progress.stop();
    src.close();
  }
  const D = r.boxPx;
  const geo = { nx: D, ny: D, nz: D, apixAngstrom: r.apixAngstrom };
  writeMrc(o.out, r.map, geo);
  const res: BackprojectCliResult = { map: o.out, count: r.count, boxPx: D, apixAngstrom: r.apixAngstrom };
  if (r.half1 && r.half2 && r.halfFsc) {
    const stem = join(dirname(o.out), basename(o.out, extname(o.out)));
    res.half1 = `${stem}_half1.mrc`;
    res.half2 = `${stem}_half2.mrc`;
    writeMrc(res.half1, r.half1, geo);
    writeMrc(res.half2, r.half2, geo);
    res.halfFsc = r.halfFsc;
  }
  if (o.ref !== undefined) {
    const ref = readMrc(o.ref);
    if (ref.nx !== D || ref.ny !== D || ref.nz !== D) throw new InputError(o.ref, `reference is ${ref.nx}x${ref.ny}x${ref.nz}, the map is ${D}^3`);
    res.refFsc = fscReport(r.map, ref.data, D, r.apixAngstrom);
  }
  return res;
}

export function register(program: Command): void {
  program
    .command('backproject')
    .description('Reconstruct a map from particles with known poses (Fourier backprojection with CTF)')
    .argument('<particles>', 'particle file (RELION STAR, cryoSPARC .cs, ...) with angles')
    .addOption(outputFileOption('output map (MRC)').makeOptionMandatory())
    .option('--halves', 'also write two random half maps (<out>_half1/2.mrc) and report their FSC')
    .addOption(boxOption('reconstruction box in px (Fourier crop of the images; the pixel size scales)'))
    .addOption(apixOption('pixel size in Angstrom when the particle file has none'))
    .option('--ref <map.mrc>', 'report the FSC of the map against this reference')
    .option('--reg <r>', 'regularisation: fraction of the mean weight added to the denominator', num('--reg', { min: 0 }), 1e-3)
    .option('--no-ctf', 'ignore the CTF (images already CTF-free)')
    .addOption(seedOption('random seed of the half-set split'))
    .option('--chunk <N>', 'particles per chunk', num('--chunk', { int: true, min: 1 }), 256)
    .addOption(allowOutsideOption())
    .addOption(jsonOption())
    .action((particles: string, raw: Record<string, unknown>) => {
      const o = { ...raw, particles, out: raw['output'], noCtf: raw['ctf'] === false } as unknown as BackprojectCliOptions;
      const res = runBackproject(o);
      printResult(o.json ?? false, res, () => {
        const lines = [`reconstructed ${res.count} particles -> ${res.map} (box ${res.boxPx}, ${res.apixAngstrom.toFixed(3)} A/px)`];
        if (res.halfFsc) lines.push(`  half maps ${res.half1}, ${res.half2}: FSC 0.143 at ${res.halfFsc.res0143_px.toFixed(2)} px` +
          (res.halfFsc.res0143_A !== null ? ` (${res.halfFsc.res0143_A.toFixed(1)} A)` : ''));
        if (res.refFsc) lines.push(`  vs reference: FSC 0.5 at ${res.refFsc.res05_px.toFixed(2)} px` +
          (res.refFsc.res05_A !== null ? ` (${res.refFsc.res05_A.toFixed(1)} A)` : ''));
        return lines.join('\n');
      });
    });
}
