/**
 * `cryospin fsc A.mrc B.mrc`: Fourier shell correlation of two maps and the resolution at
 * 0.5 and 0.143 (first crossing, interpolated; see src/eval/fsc.ts for the shell convention).
 * Options: a soft spherical mask, the pixel size, and `--align` to first align B onto A
 * (rotation, shift and hand; src/eval/align.ts).
 */
import type { Command } from 'commander';
import { alignMaps } from '../../eval/align.js';
import { fscReport, type FscReport } from '../../eval/fsc.js';
import { softSphericalMask } from '../../eval/mask.js';
import { InputError } from '../../io/errors.js';
import { readMrc } from '../../io/mrc.js';
import { log, printResult } from '../output.js';
import { apixOption, jsonOption, parseNumber as num } from '../options.js';

export interface CubicMap {
  data: Float32Array;
  D: number;
  apixAngstrom: number | null;
}

/** Read an MRC map that must be a cube (InputError otherwise). */
export function readCubicMap(path: string): CubicMap {
  const m = readMrc(path);
  if (m.nx !== m.ny || m.nx !== m.nz) throw new InputError(path, `map must be cubic, found ${m.nx} x ${m.ny} x ${m.nz}`, { field: 'nx/ny/nz' });
  return { data: m.data, D: m.nx, apixAngstrom: m.apix };
}

/** Read two cubic maps of the same box; pixel size: `apix` if given, else A's header, else B's. */
export function readMapPair(pathA: string, pathB: string, apix?: number): { a: CubicMap; b: CubicMap; apixAngstrom: number | null } {
  const a = readCubicMap(pathA), b = readCubicMap(pathB);
  if (a.D !== b.D) throw new InputError(pathB, `box ${b.D} differs from ${pathA} (box ${a.D})`, { field: 'nx' });
  if (apix !== undefined && !(apix > 0)) throw new InputError(pathA, `--apix must be > 0, got ${apix}`);
  const apixAngstrom = apix ?? a.apixAngstrom ?? b.apixAngstrom;
  if (apix === undefined && a.apixAngstrom !== null && b.apixAngstrom !== null && Math.abs(a.apixAngstrom - b.apixAngstrom) > 1e-3 * a.apixAngstrom) {
    log(`fsc: warning: pixel sizes differ (${a.apixAngstrom} vs ${b.apixAngstrom} A); using ${a.apixAngstrom}`);
  }
  return { a, b, apixAngstrom };
}

export interface FscCommandOptions {
  mapA: string;
  mapB: string;
  maskRadiusPx?: number;
  maskEdgePx?: number;
  apixAngstrom?: number;
  align?: boolean;
}

export interface FscCommandResult extends FscReport {
  apix_A: number | null;
  aligned?: { mirrored: boolean; correlation: number; rotation: number[]; shift_px: [number, number, number] };
}

export function runFsc(o: FscCommandOptions): FscCommandResult {
  const { a, b, apixAngstrom } = readMapPair(o.mapA, o.mapB, o.apixAngstrom);
  const D = a.D;
  let mapB = b.data;
  let alignInfo: FscCommandResult['aligned'];
  if (o.align) {
    const r = alignMaps(a.data, b.data, D, { log });
    mapB = r.aligned;
    alignInfo = { mirrored: r.mirrored, correlation: r.correlation, rotation: Array.from(r.rotation), shift_px: r.shiftPx };
  }
  let mask: Float32Array | undefined;
  if (o.maskRadiusPx !== undefined) {
    if (!(o.maskRadiusPx > 0)) throw new InputError(o.mapA, `--mask-radius must be > 0, got ${o.maskRadiusPx}`);
    mask = softSphericalMask(D, o.maskRadiusPx, o.maskEdgePx ?? 3);
  }
  const rep = fscReport(a.data, mapB, D, apixAngstrom, mask ? { mask } : {});
  return { ...rep, apix_A: apixAngstrom, ...(alignInfo ? { aligned: alignInfo } : {}) };
}

export function register(program: Command): void {
  program
    .command('fsc')
    .description('Fourier shell correlation of two maps; resolution at FSC 0.5 and 0.143 (first crossing)')
    .argument('<mapA>', 'reference map (MRC)')
    .argument('<mapB>', 'second map (MRC, same box)')
    .option('--mask-radius <px>', 'soft spherical mask radius (px)', num('--mask-radius', { min: Number.MIN_VALUE }))
    .option('--mask-edge <px>', 'cosine edge width of the mask (px)', num('--mask-edge', { min: 0 }), 3)
    .addOption(apixOption('pixel size in Angstrom (default: from the map header)'))
    .option('--align', 'align B onto A (rotation, shift, hand) before the FSC', false)
    .addOption(jsonOption())
    .action((mapA: string, mapB: string, opts: { maskRadius?: number; maskEdge: number; apix?: number; align: boolean; json?: boolean }) => {
      const r = runFsc({ mapA, mapB, maskRadiusPx: opts.maskRadius, maskEdgePx: opts.maskEdge, apixAngstrom: opts.apix, align: opts.align });
      printResult(opts.json ?? false, r, () => {
        const fmtA = (v: number | null) => (v === null ? 'n/a (no pixel size)' : `${v.toFixed(2)} A`);
        const lines = [
          `FSC 0.5:   ${r.res05_px.toFixed(3)} px, ${fmtA(r.res05_A)}`,
          `FSC 0.143: ${r.res0143_px.toFixed(3)} px, ${fmtA(r.res0143_A)}`,
        ];
        if (r.aligned) lines.push(`aligned: mirrored ${r.aligned.mirrored}, correlation ${r.aligned.correlation.toFixed(4)}`);
        lines.push('shell  fsc', ...r.curve.map(([s, v]) => `${String(s).padStart(5)}  ${v.toFixed(4)}`));
        return lines.join('\n');
      });
    });
}
