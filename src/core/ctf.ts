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
 * The CTF on the centred D*D Fourier grid (x fastest) for pixel size apixAngstrom. Writes into
 * `out` when given (length D*D) and returns it.
 */
export function ctf2D(p: CtfParams, D: number, apixAngstrom: number, out?: Float32Array): Float32Array {
  if (!(apixAngstrom > 0)) throw new RangeError(`ctf2D: pixel size must be positive, got ${apixAngstrom}`);
  const res = out ?? new Float32Array(D * D);
  if (res.length !== D * D) throw new RangeError(`ctf2D: out has length ${res.length}, expected ${D * D}`);
  const c = constantsOf(p);
  const centre = Math.floor(D / 2);
  const scale = 1 / (D * apixAngstrom);
  for (let y = 0; y < D; y++) {
    const ky = (y - centre) * scale;
    for (let x = 0; x < D; x++) {
      res[y * D + x] = evaluate(c, (x - centre) * scale, ky);
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
