/**
 * `cryospin report OUTDIR [--json]`: writes OUTDIR/report.html (self-contained) and the PNGs
 * (fsc.png, slices.png, poses.png, loss.png, ...) of a finished or running reconstruction
 * (src/report/report.ts).
 */
import { writeReport, type ReportResult } from '../../report/report.js';
import { printResult } from '../output.js';

export function runReport(outdir: string, o: { json?: boolean } = {}): ReportResult {
  const r = writeReport(outdir);
  printResult(o.json === true, r, () => [`report: ${r.html}`, ...r.images.map((f) => `  ${f}`)].join('\n'));
  return r;
}

/** The command's options and action live in reportCommand.ts (loaded without the plotting libraries). */
export { register } from './reportCommand.js';
