/**
 * Per-epoch live snapshot of a running reconstruction, for the dashboard (`cryospin serve`):
 *   OUTDIR/live/map.mrc        current decoder map, Fourier-cropped to at most LIVE_BOX_MAX
 *   OUTDIR/live/fsc.json       FSC of this epoch's live map against the previous epoch's
 *                              (a convergence curve: no half maps exist during training)
 *   OUTDIR/live/directions.json viewing directions (rot, tilt in degrees) of up to
 *                              LIVE_DIRECTIONS_MAX particles under the current poses
 *   OUTDIR/live/status.json    epoch, box sizes, time written (written last: a reader that sees
 *                              it for epoch e sees the other files of epoch e or later)
 * Every file is written atomically (src/io/atomic.ts), so readers never see a partial file.
 * Cost per epoch: one Fourier crop and one FSC at the live box (milliseconds at box <= 64).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fourierCropVolume } from '../core/resample.js';
import { matrixToEuler } from '../core/rotation.js';
import { fscReport } from '../eval/fsc.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readMrc, writeMrc } from '../io/mrc.js';

export const LIVE_BOX_MAX = 64;
export const LIVE_DIRECTIONS_MAX = 4000;

export interface LiveSnapshotInput {
  epoch: number;
  /** Real-space map, D^3, x fastest. */
  map: Float32Array;
  D: number;
  apixAngstrom: number | null;
  /** Current rotations, 9 per particle (RELION A, row-major), optional. */
  rots?: ArrayLike<number>;
}

export interface LiveStatus {
  epoch: number;
  box: number;
  live_box: number;
  apix_angstrom: number | null;
  written_at: string;
}

/** Viewing directions (rot = azimuth, tilt = polar angle of A^T z) of an evenly spaced subset. */
export function directionsFromRotations(rots: ArrayLike<number>, maxCount: number): { rotDeg: number[]; tiltDeg: number[] } {
  const n = Math.floor(rots.length / 9);
  const step = Math.max(1, n / maxCount);
  const rotDeg: number[] = [];
  const tiltDeg: number[] = [];
  for (let f = 0; Math.floor(f) < n; f += step) {
    const i = Math.floor(f);
    const R = new Float64Array(9);
    for (let k = 0; k < 9; k++) R[k] = rots[9 * i + k]!;
    const e = matrixToEuler(R);
    rotDeg.push(Math.round(e[0] * 100) / 100);
    tiltDeg.push(Math.round(e[1] * 100) / 100);
  }
  return { rotDeg, tiltDeg };
}

/** Write the live snapshot of one epoch into OUTDIR/live/. */
export function writeLiveSnapshot(outdir: string, s: LiveSnapshotInput): LiveStatus {
  const dir = join(outdir, 'live');
  mkdirSync(dir, { recursive: true });
  const liveBox = Math.min(s.D, LIVE_BOX_MAX) - (Math.min(s.D, LIVE_BOX_MAX) % 2);
  const map = liveBox === s.D ? s.map : fourierCropVolume(s.map, s.D, liveBox);
  const apixLive = s.apixAngstrom !== null && s.apixAngstrom > 0 ? s.apixAngstrom * (s.D / liveBox) : null;
  const mapPath = join(dir, 'map.mrc');
  if (existsSync(mapPath)) {
    try {
      const prev = readMrc(mapPath);
      if (prev.nx === liveBox && prev.ny === liveBox && prev.nz === liveBox) {
        const rep = fscReport(prev.data, map, liveBox, apixLive);
        writeFileAtomic(join(dir, 'fsc.json'), JSON.stringify({ kind: 'epoch-to-epoch', epoch: s.epoch, box: liveBox, ...rep }) + '\n');
      }
    } catch { /* a damaged previous snapshot is simply replaced */ }
  }
  writeMrc(mapPath, map, { nx: liveBox, ny: liveBox, nz: liveBox, apixAngstrom: apixLive });
  if (s.rots && s.rots.length >= 9) {
    const d = directionsFromRotations(s.rots, LIVE_DIRECTIONS_MAX);
    writeFileAtomic(join(dir, 'directions.json'), JSON.stringify({ epoch: s.epoch, ...d }) + '\n');
  }
  const status: LiveStatus = { epoch: s.epoch, box: s.D, live_box: liveBox, apix_angstrom: apixLive, written_at: new Date().toISOString() };
  writeFileAtomic(join(dir, 'status.json'), JSON.stringify(status) + '\n');
  return status;
}
