/**
 * `cryospin align A.mrc B.mrc -o B_aligned.mrc`: align map B onto reference A (rotation, shift
 * and hand) and write the aligned copy of B. Convention (src/eval/align.ts):
 * aligned(x) = B(M·R^T·(x - t)), M = diag(1,1,-1) when mirrored.
 */
import type { Command } from 'commander';
import { matrixToEuler } from '../../core/rotation.js';
import { alignMaps } from '../../eval/align.js';
import { writeMrc } from '../../io/mrc.js';
import { log, printResult } from '../output.js';
import { apixOption, jsonOption, outputFileOption } from '../options.js';
import { readMapPair } from './fsc.js';

export interface AlignCommandOptions {
  mapA: string;
  mapB: string;
  output: string;
  apixAngstrom?: number;
  noMirror?: boolean;
}

export interface AlignCommandResult {
  output: string;
  mirrored: boolean;
  correlation: number;
  /** R, row-major: B rotated actively by R (after the mirror, if any). */
  rotation: number[];
  /** R as RELION Euler angles [rot, tilt, psi] (deg) of the matrix R. */
  rotation_euler_deg: [number, number, number];
  shift_px: [number, number, number];
}

export function runAlign(o: AlignCommandOptions): AlignCommandResult {
  const { a, b, apixAngstrom } = readMapPair(o.mapA, o.mapB, o.apixAngstrom);
  const r = alignMaps(a.data, b.data, a.D, { log, tryMirror: !o.noMirror });
  writeMrc(o.output, r.aligned, { nx: a.D, ny: a.D, nz: a.D, apixAngstrom });
  return {
    output: o.output, mirrored: r.mirrored, correlation: r.correlation,
    rotation: Array.from(r.rotation), rotation_euler_deg: matrixToEuler(r.rotation), shift_px: r.shiftPx,
  };
}

export function register(program: Command): void {
  program
    .command('align')
    .description('align map B onto reference map A (rotation, shift and hand) and write the aligned B')
    .argument('<mapA>', 'reference map (MRC)')
    .argument('<mapB>', 'map to move (MRC, same box)')
    .addOption(outputFileOption('aligned copy of B (MRC)').makeOptionMandatory())
    .addOption(apixOption('pixel size in Angstrom written to the output (default: from the headers)'))
    .option('--no-mirror', 'do not consider the mirrored hand')
    .addOption(jsonOption())
    .action((mapA: string, mapB: string, opts: { output: string; apix?: number; mirror: boolean; json?: boolean }) => {
      const r = runAlign({ mapA, mapB, output: opts.output, apixAngstrom: opts.apix, noMirror: !opts.mirror });
      printResult(opts.json ?? false, r, () =>
        `wrote ${r.output}\nmirrored: ${r.mirrored}\ncorrelation: ${r.correlation.toFixed(4)}\n` +
        `rotation (rot, tilt, psi): ${r.rotation_euler_deg.map((v) => v.toFixed(2)).join(', ')} deg\n` +
        `shift: ${r.shift_px.map((v) => v.toFixed(2)).join(', ')} px`);
    });
}
