/**
 * Child process of dashboard.test.ts: a short real reconstruction (its own process, because an
 * epoch blocks the event loop and the dashboard server must answer meanwhile).
 * Usage: node --import tsx test/browser/tinyReconstruction.ts PARTICLES_STAR OUTDIR EPOCHS
 */
import { runReconstructJob } from '../../src/recon/reconstructJob.js';

const [input, outdir, epochs] = process.argv.slice(2);
if (!input || !outdir) {
  process.stderr.write('usage: tinyReconstruction.ts PARTICLES_STAR OUTDIR [EPOCHS]\n');
  process.exit(2);
}
const r = await runReconstructJob({
  input, outdir, epochs: Number(epochs ?? 6), searchIterations: 3, searchRotations: 1000, searchShiftRangePx: 1, seed: 0,
  onEpoch: (m) => process.stderr.write(`epoch ${m.epoch} ${m.stage} loss ${m.loss.toFixed(4)} wall ${m.wall_s.toFixed(1)} s\n`),
});
process.stdout.write(JSON.stringify(r) + '\n');
