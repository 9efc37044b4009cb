/**
 * `cryospin report`: options and action only. The work (runReport, src/report/report.ts) is
 * imported when the command runs, so `cryospin --help` and the other commands do not load the
 * plotting and PNG libraries (resvg, pngjs, d3-scale).
 */
import type { Command } from 'commander';
import { jsonOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('write OUTDIR/report.html (self-contained) and PNGs of the FSC, map slices, viewing directions and loss')
    .argument('<outdir>', 'the run folder (reconstruct -o)')
    .addOption(jsonOption())
    .action(async (outdir: string, o: { json?: boolean }) => {
      const { runReport } = await import('./report.js');
      runReport(outdir, { json: o.json === true });
    });
}
