/**
 * `cryospin downsample IN -D 64 -o out.mrcs|out.star`: Fourier-crop a particle set once.
 */
import { Command, Option } from 'commander';
import { downsampleParticles } from '../../preprocess/downsample.js';
import { printResult } from '../output.js';
import { allowOutsideOption, apixOption, jsonOption, outputFileOption, parseNumber } from '../options.js';
import { stepProgress } from '../progress.js';

export function register(program: Command): void {
  program
    .command('downsample')
    .description('Fourier-downsample particles to a smaller box (chunked; .star output keeps the metadata)')
    .argument('<particles>', 'particles: RELION STAR, cryoSPARC .cs, or .mrcs (with --ctf ctf.pkl)')
    .addOption(new Option('-D, --box <N>', 'new box size in px (Fourier cropping)').argParser(parseNumber('--box', { int: true, min: 2 })).makeOptionMandatory())
    .addOption(outputFileOption('output: out.mrcs (stack) or out.star (stack beside it + metadata)').makeOptionMandatory())
    .addOption(apixOption())
    .option('--ctf <ctf.pkl>', 'cryoDRGN CTF pickle (for a .mrcs input)')
    .addOption(allowOutsideOption())
    .addOption(jsonOption())
    .action((input: string, o: { box: number; output: string; apix?: number; ctf?: string; allowOutside?: boolean; json?: boolean }) => {
      let progress: ReturnType<typeof stepProgress> | null = null;
      try {
        const r = downsampleParticles({ input, boxPx: o.box, output: o.output, apixAngstrom: o.apix, ctfPkl: o.ctf, allowOutside: o.allowOutside,
          onProgress: (d, n) => { progress ??= stepProgress('downsample', n, 'images'); progress.update(d); } });
        printResult(o.json ?? false, r, () => `downsampled ${r.n} particles to box ${r.boxPx} (${r.apixAngstrom.toFixed(4)} A/px)\n  stack: ${r.stack}` + (r.star ? `\n  star:  ${r.star}` : ''));
      } finally {
        (progress as ReturnType<typeof stepProgress> | null)?.stop();
      }
    });
}
