/**
 * The options every cryospin command spells the same way, so that `--help` reads alike across
 * commands (as cryoDRGN's and RELION's users expect):
 *   -o, --outdir <dir>   a command that writes a folder      -o, --output <file>  one that writes a file
 *   --box <N>            working / output box (px)            --apix <A>           pixel size (Angstrom)
 *   --seed <K>           random seed (default 0)              --json               one JSON object on stdout
 *   --allow-outside      (commands reading particle images) accept image paths outside the particle file's folder
 * and the number parsers that turn a bad value into a one-line usage error (exit 2).
 */
import { InvalidArgumentError, Option } from 'commander';

export interface NumberRule { int?: boolean; min?: number; max?: number }

/** A commander parser for a number option; a bad value gives "--name: expected ..., got "v"". */
export function parseNumber(name: string, rule: NumberRule = {}): (v: string) => number {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError(`${name}: expected a number, got "${v}"`);
    if (rule.int && !Number.isInteger(x)) throw new InvalidArgumentError(`${name}: expected an integer, got "${v}"`);
    if (rule.min !== undefined && x < rule.min) throw new InvalidArgumentError(`${name}: must be >= ${rule.min}, got ${x}`);
    if (rule.max !== undefined && x > rule.max) throw new InvalidArgumentError(`${name}: must be <= ${rule.max}, got ${x}`);
    return x;
  };
}

/** A comma-separated list of numbers ("1,2.5,3"). */
export function parseNumberList(name: string): (v: string) => number[] {
  return (v: string): number[] => {
    const xs = v.split(',').map((s) => Number(s.trim()));
    if (xs.length === 0 || xs.some((x, i) => !Number.isFinite(x) || v.split(',')[i]!.trim() === '')) {
      throw new InvalidArgumentError(`${name}: expected comma-separated numbers, got "${v}"`);
    }
    return xs;
  };
}

export const JSON_DESCRIPTION = 'print one JSON object on stdout at the end (progress and logs go to stderr)';

export const jsonOption = (): Option => new Option('--json', JSON_DESCRIPTION);

export const outdirOption = (description = 'output folder (created if absent)'): Option =>
  new Option('-o, --outdir <dir>', description).makeOptionMandatory();

export const outputFileOption = (description: string): Option =>
  new Option('-o, --output <file>', description);

export const boxOption = (description = 'working box in px (Fourier cropping)'): Option =>
  new Option('--box <N>', description).argParser(parseNumber('--box', { int: true, min: 2 }));

export const apixOption = (description = 'pixel size in Angstrom when the input has none'): Option =>
  new Option('--apix <A>', description).argParser(parseNumber('--apix', { min: Number.MIN_VALUE }));

export const seedOption = (description = 'random seed'): Option =>
  new Option('--seed <K>', description).argParser(parseNumber('--seed', { int: true, min: 0 })).default(0);

export const ALLOW_OUTSIDE_DESCRIPTION = 'accept image paths outside the particle file folder';

export const allowOutsideOption = (): Option => new Option('--allow-outside', ALLOW_OUTSIDE_DESCRIPTION);
