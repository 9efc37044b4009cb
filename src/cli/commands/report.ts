/**
 * `cryospin report OUTDIR [--json]`: writes OUTDIR/report.html (self-contained) and the PNGs
 * (fsc.png, slices.png, poses.png, loss.png, ...) of a finished or running reconstruction
 * (src/report/report.ts).
 */
import type { Command } from 'commander';
import { writeReport, type ReportResult } from '../../report/report.js';
import { printResult } from '../output.js';
import { jsonOption } from '../options.js';

export function runReport(outdir: string, o: { json?: boolean } = {}): ReportResult {
  const r = writeReport(outdir);
  printResult(o.json === true, r, () => [`report: ${r.html}`, ...r.images.map((f) => `  ${f}`)].join('\n'));
  return r;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('write OUTDIR/report.html (self-contained) and PNGs of the FSC, map slices, viewing directions and loss')
    .argument('<outdir>', 'the run folder (reconstruct -o)')
    .addOption(jsonOption())
    .action((outdir: string, o: { json?: boolean }) => { runReport(outdir, { json: o.json === true }); });
}
