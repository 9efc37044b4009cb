/**
 * Complex arrays in cryospin are split planes: one Float32Array for the real parts, one for
 * the imaginary parts, same length and the same index layout as the real-valued grid they
 * transform (see grid.ts). Split planes keep the kernels SIMD-friendly.
 */
export interface Complex {
  re: Float32Array;
  im: Float32Array;
}

export function complexZeros(n: number): Complex {
  return { re: new Float32Array(n), im: new Float32Array(n) };
}

export function complexClone(c: Complex): Complex {
  return { re: c.re.slice(), im: c.im.slice() };
}
