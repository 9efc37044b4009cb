/**
 * Contrast transfer function, in RELION's sign convention (see /work/shared/docs/conventions.md):
 *
 *   CTF(k) = sin(chi(k) + atan(Q / sqrt(1 - Q^2)) + phaseShift) · exp(-B k^2 / 4)
 *   chi(k) = pi·lambda·df(theta)·k^2 - (pi/2)·Cs·lambda^3·k^4
 *   df(theta) = 0.5·(dfU + dfV + (dfU - dfV)·cos(2(theta - dfAngle))),  theta = atan2(ky, kx)
 *
 * k in 1/Angstrom, Cs in Angstrom (mm x 1e7), positive defocus = underfocus. CTF(0) = +Q:
 * no contrast inversion (RELION's choice; cryoDRGN inverts data by default, cryoAI's CTF is the
 * negative). ctf2D evaluates it on cryospin's centred Fourier grid (grid.ts): pixel (x, y)
 * has kx = (x - floor(D/2)) / (D·apix), likewise ky.
 */

export interface CtfParams {
  /** Defocus along the U axis, Angstrom (positive = underfocus). */
  defocusUAngstrom: number;
  /** Defocus along the V axis, Angstrom. */
  defocusVAngstrom: number;
  /** Angle of the U axis from the x axis, degrees. */
  defocusAngleDeg: number;
  /** Acceleration voltage, kV. */
  voltageKv: number;
  /** Spherical aberration, mm. */
  csMm: number;
  /** Amplitude contrast Q (fraction, e.g. 0.1). */
  amplitudeContrast: number;
  /** Phase-plate shift, degrees (0 = none). */
  phaseShiftDeg: number;
  /** B-factor of the envelope exp(-B k^2 / 4), Angstrom^2 (0 = no envelope). */
  bFactor: number;
}

/** Relativistic electron wavelength in Angstrom for an acceleration voltage in kV. */
export function electronWavelengthAngstrom(voltageKv: number): number {
  const v = voltageKv * 1e3;
  return 12.2643 / Math.sqrt(v * (1 + 0.978466e-6 * v));
}

/** Constants of one CTF, precomputed once per parameter set. */
interface CtfConstants {
  k1: number; // pi * lambda
  k2: number; // (pi/2) * Cs * lambda^3
  phase0: number; // atan(Q / sqrt(1 - Q^2)) + phase shift (rad)
  dfMean: number;
  dfHalfDiff: number;
  angleRad: number;
  bQuarter: number;
}

function constantsOf(p: CtfParams): CtfConstants {
  const lambda = electronWavelengthAngstrom(p.voltageKv);
  const csA = p.csMm * 1e7;
  const q = p.amplitudeContrast;
  return {
    k1: Math.PI * lambda,
    k2: (Math.PI / 2) * csA * lambda * lambda * lambda,
    phase0: Math.atan(q / Math.sqrt(1 - q * q)) + (p.phaseShiftDeg * Math.PI) / 180,
    dfMean: 0.5 * (p.defocusUAngstrom + p.defocusVAngstrom),
    dfHalfDiff: 0.5 * (p.defocusUAngstrom - p.defocusVAngstrom),
    angleRad: (p.defocusAngleDeg * Math.PI) / 180,
    bQuarter: p.bFactor / 4,
  };
}

function evaluate(c: CtfConstants, kx: number, ky: number): number {
  const k2 = kx * kx + ky * ky;
  const theta = Math.atan2(ky, kx);
  const df = c.dfMean + c.dfHalfDiff * Math.cos(2 * (theta - c.angleRad));
  const chi = c.k1 * df * k2 - c.k2 * k2 * k2;
  let v = Math.sin(chi + c.phase0);
  if (c.bQuarter !== 0) v *= Math.exp(-c.bQuarter * k2);
  return v;
}

/** CTF at one spatial frequency (kx, ky) in 1/Angstrom. */
export function ctfValueAt(p: CtfParams, kxPerA: number, kyPerA: number): number {
  return evaluate(constantsOf(p), kxPerA, kyPerA);
}

/**
 * What the CTF needs of the centred D*D grid, independent of the particle: per pixel the squared
 * frequency radius in index units and cos/sin of twice its polar angle (cos 2theta = (x^2 - y^2)/r^2,
 * sin 2theta = 2xy/r^2; theta = 0 at the origin like atan2(0, 0)). Cached per D.
 */
interface CtfGrid { r2: Float64Array; cos2: Float64Array; sin2: Float64Array }
const gridCache = new Map<number, CtfGrid>();

function ctfGrid(D: number): CtfGrid {
  let g = gridCache.get(D);
  if (g) return g;
  const centre = Math.floor(D / 2);
  const r2 = new Float64Array(D * D);
  const cos2 = new Float64Array(D * D);
  const sin2 = new Float64Array(D * D);
  for (let y = 0; y < D; y++) {
    const j = y - centre;
    for (let x = 0; x < D; x++) {
      const i = x - centre;
      const q = i * i + j * j;
      const k = y * D + x;
      r2[k] = q;
      cos2[k] = q === 0 ? 1 : (i * i - j * j) / q;
      sin2[k] = q === 0 ? 0 : (2 * i * j) / q;
    }
  }
  g = { r2, cos2, sin2 };
  if (gridCache.size > 16) gridCache.clear();
  gridCache.set(D, g);
  return g;
}

/**
 * The CTF on the centred D*D Fourier grid (x fastest) for pixel size apixAngstrom. Writes into
 * `out` when given (length D*D) and returns it. The astigmatic defocus uses
 * cos(2(theta - a)) = cos 2theta cos 2a + sin 2theta sin 2a with the grid's cached cos/sin 2theta
 * (no atan2/cos per pixel), and each pixel whose mirror -k is on the grid copies it (CTF is even);
 * equal to ctfValueAt to ~1e-15 before float32 storage (test/core/ctf.test.ts).
 */
export function ctf2D(p: CtfParams, D: number, apixAngstrom: number, out?: Float32Array): Float32Array {
  if (!(apixAngstrom > 0)) throw new RangeError(`ctf2D: pixel size must be positive, got ${apixAngstrom}`);
  const res = out ?? new Float32Array(D * D);
  if (res.length !== D * D) throw new RangeError(`ctf2D: out has length ${res.length}, expected ${D * D}`);
  const c = constantsOf(p);
  const { r2, cos2, sin2 } = ctfGrid(D);
  const scale = 1 / (D * apixAngstrom);
  const s2 = scale * scale;
  const ca = Math.cos(2 * c.angleRad);
  const sa = Math.sin(2 * c.angleRad);
  const { k1, k2: kc, phase0, dfMean, dfHalfDiff, bQuarter } = c;
  const centre = Math.floor(D / 2);
  for (let y = 0; y < D; y++) {
    // CTF(-k) = CTF(k): a pixel whose mirror through the centre was computed already copies it
    const my = 2 * centre - y;
    for (let x = 0; x < D; x++) {
      const k = y * D + x;
      const mx = 2 * centre - x;
      if ((y > centre || (y === centre && x > centre)) && mx < D) {
        res[k] = res[my * D + mx]!;
        continue;
      }
      const k2 = r2[k]! * s2;
      const df = dfMean + dfHalfDiff * (cos2[k]! * ca + sin2[k]! * sa);
      const chi = k1 * df * k2 - kc * k2 * k2;
      let v = Math.sin(chi + phase0);
      if (bQuarter !== 0) v *= Math.exp(-bQuarter * k2);
      res[k] = v;
    }
  }
  return res;
}

/** CTFs of B particles on the centred grid, back to back (B*D*D). */
export function ctf2DBatch(ps: readonly CtfParams[], D: number, apixAngstrom: number, out?: Float32Array): Float32Array {
  const n = D * D;
  const res = out ?? new Float32Array(ps.length * n);
  ps.forEach((p, b) => ctf2D(p, D, apixAngstrom, res.subarray(b * n, (b + 1) * n)));
  return res;
}
