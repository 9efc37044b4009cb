/**
 * `cryospin simulate`: a synthetic particle stack (RELION 3.1 STAR + .mrcs + ground-truth map)
 * from a map or an atomic model, or a mixture of several (heterogeneity benchmarks; the class
 * of each particle goes to _rlnClassNumber). Library: src/sim/simulate.ts.
 * In the --json summary a clean simulation (--snr inf) shows "snr": null (JSON has no Infinity).
 */
import { Command, InvalidArgumentError } from 'commander';
import { InputError } from '../../io/errors.js';
import { loadSimulationVolumes, simulateParticles, type DefocusDistribution, type SimulateSummary } from '../../sim/simulate.js';
import { log, printResult } from '../output.js';
import { jsonOption, outdirOption } from '../options.js';
import { stepProgress } from '../progress.js';

export interface SimulateCliOptions {
  /** One map, or several for a mixture (one class each). */
  map?: string | string[];
  /** One atomic model, or several for a mixture. */
  model?: string | string[];
  /** Mixtures: class probabilities (default equal). */
  fractions?: number[];
  /** Mixtures of models: superpose each onto the first by C-alpha atoms. */
  superpose?: boolean;
  out: string;
  box?: number;
  apix?: number;
  crop?: number;
  n: number;
  snr: number;
  shiftPx: number;
  /** [min, max] um (uniform). */
  defocus: number[];
  /** [median um, sigma of ln]: log-normal defocus instead of uniform. */
  defocusLognormal?: number[];
  astigmatism: number;
  voltage: number;
  cs: number;
  ampContrast: number;
  bfactor?: number;
  chains?: string[];
  proteinOnly?: boolean;
  noCtf?: boolean;
  seed: number;
  chunk: number;
  json?: boolean;
  quiet?: boolean;
}

export interface SimulateCliResult extends SimulateSummary {
  notes: string[];
}

function num(name: string, opts: { int?: boolean; min?: number; allowInf?: boolean } = {}) {
  return (v: string): number => {
    const x = opts.allowInf && /^(inf|infinity)$/i.test(v.trim()) ? Infinity : Number(v);
    if (v.trim() === '' || Number.isNaN(x) || (!opts.allowInf && !Number.isFinite(x))) throw new InvalidArgumentError(`${name}: expected a number, got "${v}"`);
    if (opts.int && !Number.isInteger(x)) throw new InvalidArgumentError(`${name}: expected an integer, got "${v}"`);
    if (opts.min !== undefined && x < opts.min) throw new InvalidArgumentError(`${name}: must be >= ${opts.min}, got ${x}`);
    return x;
  };
}

function numList(name: string) {
  return (v: string, prev: number[] | undefined): number[] => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError(`${name}: expected a number, got "${v}"`);
    return [...(prev ?? []), x];
  };
}

/** "0.5,0.5" -> [0.5, 0.5] (class probabilities of a mixture). */
export function weightList(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  const xs = parts.map(Number);
  if (parts.some((s) => s === '') || xs.some((x) => !Number.isFinite(x) || x < 0)) throw new InvalidArgumentError(`--weights: expected non-negative numbers separated by commas, got "${v}"`);
  return xs;
}

export function runSimulate(o: SimulateCliOptions): SimulateCliResult {
  let defocus: DefocusDistribution;
  if (o.defocusLognormal !== undefined) {
    if (o.defocusLognormal.length !== 2) throw new InputError('simulate', '--defocus-lognormal needs MEDIAN_UM SIGMA');
    defocus = { kind: 'lognormal', medianUm: o.defocusLognormal[0]!, logSigma: o.defocusLognormal[1]! };
  } else {
    if (o.defocus.length !== 2) throw new InputError('simulate', `--defocus needs MIN MAX (um), got ${o.defocus.length} value(s)`);
    defocus = { kind: 'uniform', minUm: o.defocus[0]!, maxUm: o.defocus[1]! };
  }
  const v = loadSimulationVolumes({
    map: o.map, model: o.model, boxPx: o.box, apixAngstrom: o.apix, cropPx: o.crop,
    bFactorAngstrom2: o.bfactor, chains: o.chains, proteinOnly: o.proteinOnly, superpose: o.superpose,
  });
  if (!o.quiet) for (const note of v.notes) log(`simulate: ${note}`);
  const progress = stepProgress('simulate', o.n, 'images', { quiet: o.quiet });
  let summary: SimulateSummary;
  try {
    summary = simulateParticles(v.vols, v.boxPx, v.apixAngstrom, {
      classFractions: o.fractions,
      outDir: o.out, n: o.n, snr: o.snr, shiftPx: o.shiftPx, defocus, astigmatismUm: o.astigmatism,
      voltageKv: o.voltage, csMm: o.cs, amplitudeContrast: o.ampContrast, noCtf: o.noCtf, seed: o.seed, chunk: o.chunk,
      onProgress: (done) => progress.update(done),
    });
  } finally {
    progress.stop();
  }
  return { ...summary, notes: v.notes };
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('Simulate a particle stack (RELION 3.1 STAR + .mrcs + gt.mrc) from a map or an atomic model')
    .option('--map <files...>', 'input map (MRC); several maps make a mixture (one class each)')
    .option('--model <files...>', 'input atomic model (PDB or mmCIF), file:A,B for chains of one file; several make a mixture')
    .option('--fractions <f...>', 'mixtures: class probabilities (default equal)', numList('--fractions'))
    .option('--weights <w,w,...>', 'mixtures: class probabilities as one comma list, e.g. 0.5,0.5 (same as --fractions)', weightList)
    .option('--superpose', 'mixtures of models: superpose each model onto the first by C-alpha atoms')
    .addOption(outdirOption())
    .option('--box <N>', 'output box: resample the map by Fourier crop/pad (pixel size scales); grid size for models (default 64)', num('--box', { int: true, min: 2 }))
    .option('--apix <A>', "map: pixel size if the header has none (overrides it); model: output pixel size", num('--apix', { min: 0 }))
    .option('--crop <N>', 'map: drop trailing planes on each axis to reach N first (e.g. 65 -> 64)', num('--crop', { int: true, min: 2 }))
    .option('--n <count>', 'number of particles', num('--n', { int: true, min: 1 }), 1000)
    .option('--snr <S>', 'var(clean image) / var(noise) per image; "inf" for clean images', num('--snr', { allowInf: true }), 0.1)
    .option('--shift-px <P>', 'origins uniform within +-P pixels', num('--shift-px', { min: 0 }), 3)
    .option('--defocus <um...>', 'defocus MIN MAX in um (uniform)', numList('--defocus'))
    .option('--defocus-lognormal <v...>', 'log-normal defocus: MEDIAN_UM SIGMA (of ln)', numList('--defocus-lognormal'))
    .option('--astigmatism <um>', 'max dfU - dfV in um (0 = none)', num('--astigmatism', { min: 0 }), 0)
    .option('--voltage <kV>', 'acceleration voltage', num('--voltage', { min: 0 }), 300)
    .option('--cs <mm>', 'spherical aberration', num('--cs'), 2.7)
    .option('--amp-contrast <Q>', 'amplitude contrast', num('--amp-contrast', { min: 0 }), 0.1)
    .option('--no-ctf', 'do not apply a CTF')
    .option('--bfactor <A2>', 'model: blur B in A^2 (default 16 apix^2)', num('--bfactor', { min: 0 }))
    .option('--chains <ids...>', 'model: chains to keep')
    .option('--protein-only', 'model: keep only standard amino-acid residues')
    .option('--seed <K>', 'random seed', num('--seed', { int: true, min: 0 }), 0)
    .option('--chunk <N>', 'images per chunk written to disk', num('--chunk', { int: true, min: 1 }), 500)
    .addOption(jsonOption())
    .action((raw: Record<string, unknown>) => {
      if (raw['weights'] !== undefined && raw['fractions'] !== undefined) throw new InvalidArgumentError('give --weights or --fractions, not both');
      if (raw['weights'] !== undefined) raw = { ...raw, fractions: raw['weights'] };
      const o = { ...raw, out: raw['outdir'], defocus: (raw['defocus'] as number[] | undefined) ?? [1.0, 2.5], noCtf: raw['ctf'] === false } as unknown as SimulateCliOptions;
      const res = runSimulate(o);
      printResult(o.json ?? false, res, () => [
        `simulated ${res.n} particles, box ${res.boxPx}, ${res.apixAngstrom} A/px, SNR ${res.snr}, seed ${res.seed}`,
        `  particles: ${res.particlesStar}`,
        `  stack:     ${res.particlesMrcs}`,
        `  map(s):    ${res.gtMaps.join(', ')}`,
      ].join('\n'));
    });
}
