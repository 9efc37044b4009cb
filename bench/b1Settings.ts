/**
 * The semi-amortized reconstruction settings of the B1/B2 benchmark runs (bench/b1.ts), shared with
 * bench/amortizedVsSemi.ts (its `semi-b1` config). See docs/architecture.md "search initialisation"
 * and src/recon/localRefine.ts.
 */
import type { ReconstructJobOptions } from '../src/recon/reconstructJob.js';

export const B1_RECON: Partial<ReconstructJobOptions> = {
  init: 'search',
  searchIterations: 14, searchRadiusStartPx: 3, searchRadiusEndPx: 10, searchShiftRangePx: 3, searchSubset: 4000,
  localIterations: 2, localResearch: true, localRadiusStartPx: 12, localRadiusEndPx: 20, localRotStepDeg: 6, localShiftStepPx: 1,
  epochs: 18, lrPose: 0.01, autodecodeVolume: 'wiener', seed: 0,
};
