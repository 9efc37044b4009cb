/**
 * `cryospin downsample IN -D 64 -o out.mrcs|out.star`: Fourier-crop a particle set once.
 */
import { Command, InvalidArgumentError } from 'commander';
import { downsampleParticles } from '../../preprocess/downsample.js';
import { log, printResult } from '../output.js';

export function register(program: Command): void {
  program
    .command('downsample')
    .description('Fourier-downsample particles to a smaller box (chunked; .star output keeps the metadata)')
    .argument('<particles>', 'particles: RELION STAR, cryoSPARC .cs, or .mrcs (with --ctf ctf.pkl)')
    .requiredOption('-D, --box <N>', 'new box size (px)', (v: string) => {
      const x = Number(v);
      if (!Number.isInteger(x) || x < 2) throw new InvalidArgumentError(`-D expects an integer >= 2, got "${v}"`);
      return x;
    })
    .requiredOption('-o, --outdir <file>', 'output: out.mrcs (stack) or out.star (stack beside it + metadata)')
    .option('--apix <A>', 'pixel size when the input has none', (v: string) => Number(v))
    .option('--ctf <ctf.pkl>', 'cryoDRGN CTF pickle (for a .mrcs input)')
    .option('--json', 'print one JSON object on stdout')
    .action((input: string, o: { box: number; outdir: string; apix?: number; ctf?: string; json?: boolean }) => {
      const r = downsampleParticles({ input, boxPx: o.box, output: o.outdir, apixAngstrom: o.apix, ctfPkl: o.ctf,
        onProgress: (d, n) => { if (d === n || d % 10000 === 0) log(`downsample: ${d}/${n} images`); } });
      printResult(o.json ?? false, r, () => `downsampled ${r.n} particles to box ${r.boxPx} (${r.apixAngstrom.toFixed(4)} A/px)\n  stack: ${r.stack}` + (r.star ? `\n  star:  ${r.star}` : ''));
    });
}
