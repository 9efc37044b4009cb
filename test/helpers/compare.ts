/** Array comparisons shared by tests (kept independent of the library code under test). */

/** Pearson correlation of two equally long arrays. */
export function corr(a: Float32Array, b: Float32Array): number {
  let ma = 0, mb = 0;
  for (let i = 0; i < a.length; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= a.length; mb /= b.length;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Largest |a - b| relative to the peak |b|. */
export function maxRelErr(a: Float32Array, b: Float32Array): number {
  let m = 0, peak = 0;
  for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i]! - b[i]!)); peak = Math.max(peak, Math.abs(b[i]!)); }
  return m / peak;
}
