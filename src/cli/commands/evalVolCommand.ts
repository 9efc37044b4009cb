/**
 * `cryospin eval-vol`: options and action only. The work (runEvalVol: the decoder's map at a
 * latent z) is in evalVol.ts, imported when the command runs, so `cryospin --help` and the other
 * commands do not load the decoders. (Neither decoder kind needs tfjs to be evaluated.)
 */
import type { Command } from 'commander';
import { printResult } from '../output.js';
import { JSON_DESCRIPTION } from '../options.js';

export function register(program: Command): void {
  program
    .command('eval-vol')
    .description('Generate the map of a heterogeneous run at a latent z')
    .argument('<outdir>', 'output folder of `reconstruct --mode heterogeneous` (decoder.json)')
    .option('--z <values>', 'latent, e.g. "0.1,-0.3,..." (zdim numbers)')
    .option('--z-file <file>', 'latents, one per line')
    .requiredOption('-o, --output <map.mrc>', 'output map (a prefix with several latents)')
    .option('--json', JSON_DESCRIPTION)
    .action(async (outdir: string, raw: { z?: string; zFile?: string; output: string; json?: boolean }) => {
      const { runEvalVol } = await import('./evalVol.js');
      const r = runEvalVol({ outdir, z: raw.z, zFile: raw.zFile, output: raw.output });
      printResult(raw.json ?? false, r, () => r.maps.join('\n'));
    });
}
