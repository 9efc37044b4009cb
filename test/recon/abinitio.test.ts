/**
 * End-to-end ab-initio check on a tiny case: the ASPIRE 70S map (shared test data) at box 32,
 * 1000 particles, SNR 1, CTF, shifts within +-1 px. From random poses, `reconstruct` (search
 * initialisation, then auto-decoding) must recover the poses and the map: median rotation error
 * (after the global alignment incl. hand) below 3 degrees and FSC(0.5) against the ground truth
 * (after map alignment) better than 2.5 px (measured at 18 epochs: 1.06 deg, 2.05 px in 61 s;
 * the known-pose reconstruction reaches Nyquist, 2 px).
 * Takes ~1-2 minutes on 2 cores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { runReconstructJob } from '../../src/recon/reconstructJob.js';

const MAP = resolve('../shared/data/aspire_70S_synthetic/clean70SRibosome_vol_65p.mrc');

test('reconstruct recovers poses and map of a tiny simulated 70S set from random poses', { timeout: 600_000 }, async (t) => {
  if (!existsSync(MAP)) { t.skip('shared data not present'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-abinitio-'));
  try {
    runSimulate({ map: MAP, out: join(dir, 'sim'), apix: 4.5, crop: 64, box: 32, n: 1000, snr: 1, shiftPx: 1, defocus: [1.0, 2.5], astigmatism: 0, voltage: 300, cs: 2.7, ampContrast: 0.1, seed: 0, chunk: 500, quiet: true });
    const r = await runReconstructJob({
      input: join(dir, 'sim', 'particles.star'), outdir: join(dir, 'out'), epochs: 16, searchIterations: 8,
      searchRadiusStartPx: 3, searchRadiusEndPx: 10, searchRotations: 3000, searchShiftRangePx: 1, seed: 0,
      gtMap: join(dir, 'sim', 'gt.mrc'), gtPoses: join(dir, 'sim', 'particles.star'),
    });
    t.diagnostic(`rotation error median ${r.rot_median_deg_vs_gt?.toFixed(2)} deg, FSC0.5 vs gt ${r.res05_px_vs_gt?.toFixed(2)} px, ${r.wall_s.toFixed(0)} s`);
    assert.ok(r.rot_median_deg_vs_gt !== undefined && r.rot_median_deg_vs_gt < 3, `rotation error ${r.rot_median_deg_vs_gt}`);
    assert.ok(r.res05_px_vs_gt !== undefined && r.res05_px_vs_gt < 2.5, `FSC 0.5 at ${r.res05_px_vs_gt} px`);
    for (const f of ['map.mrc', 'half1.mrc', 'half2.mrc', 'poses.star', 'pose.pkl', 'metrics.jsonl', 'checkpoint.json']) {
      assert.ok(existsSync(join(dir, 'out', f)), `missing output ${f}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
