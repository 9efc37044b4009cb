/**
 * Where the wasm slice kernels may write and how their work is cut into z-slabs of the volume
 * (wasm/slab.h): the planes a batch of slices reaches, balanced slab bounds, equal-thickness
 * bounds for tests, and the tuning knobs of the split (WasmBackend's second constructor argument).
 */

/**
 * Voxel range [v0, v1) (whole z-slabs) that a scatter of these slices can write: a sample point is
 * q = sc (A_0 kx + A_1 ky) with sc = Dv/Di, so |q_z| <= sc |(A_02, A_12)| |k| and |k| is at most
 * radiusMax and the image's corner radius; trilinear weights reach z0 + 1 (and the Hartley kernels'
 * mirrored points -q the same slabs). Private accumulators are cleared and reduced only here.
 */
export function scatterVoxelRange(rots: Float64Array, B: number, Dv: number, Di: number, r2max: number): [number, number] {
  const ci = Math.floor(Di / 2), cv = Math.floor(Dv / 2);
  let g = 0;
  for (let b = 0; b < B; b++) g = Math.max(g, Math.hypot(rots[9 * b + 2]!, rots[9 * b + 5]!));
  const bound = (Dv / Di) * g * Math.min(Math.sqrt(r2max), Math.SQRT2 * ci) * (1 + 1e-9) + 1e-6;
  if (!Number.isFinite(bound)) return [0, Dv ** 3];
  const z0 = Math.max(0, Math.floor(cv - bound)), z1 = Math.min(Dv - 1, Math.floor(cv + bound) + 1);
  return z1 < z0 ? [0, 0] : [z0 * Dv * Dv, (z1 + 1) * Dv * Dv];
}

/**
 * Plane bounds of K z-slabs for the slab kernels (complex slices, Hartley scatter): K + 1
 * non-decreasing plane indices from the first plane the slices reach to one past the last
 * (scatterVoxelRange), cut so that the slabs get about equal numbers of sample points: for 2 slabs at the centre plane (the disc of pixels is
 * symmetric under k -> -k, which mirrors q_z); otherwise from a per-plane histogram in which each
 * row's unmasked pixels spread evenly over the planes its z runs through (z is linear along a row;
 * ~60-100 us per call for 64 slices of 64-128 pixels). Any non-decreasing cuts give correct
 * results; balance only decides the speed.
 */
export function slabBounds(rots: Float64Array, B: number, Dv: number, Di: number, r2max: number, K: number): Float64Array {
  const plane = Dv * Dv;
  const [v0, v1] = scatterVoxelRange(rots, B, Dv, Di, r2max);
  let p0 = v0 / plane, p1 = v1 / plane;
  if (!(p1 > p0)) { p0 = 0; p1 = Dv; }
  const out = new Float64Array(K + 1).fill(p1);
  out[0] = p0;
  if (K === 1) return out;
  const ci = Math.floor(Di / 2), cv = Math.floor(Dv / 2), sc = Dv / Di;
  if (K === 2) {
    // pixels k and -k sample at cv + q and cv - q: a cut at the centre plane halves every slice
    out[1] = Math.min(p1, Math.max(p0, cv));
    return out;
  }
  const n = p1 - p0, diff = new Float64Array(n + 1);
  let total = 0;
  for (let b = 0; b < B; b++) {
    const az = rots[9 * b + 2]! * sc, bz = rots[9 * b + 5]! * sc;
    for (let y = 0; y < Di; y++) {
      const ky = y - ci;
      let lo = -ci, hi = Di - 1 - ci;
      if (Number.isFinite(r2max)) {
        const rem = r2max - ky * ky;
        if (rem < 0) continue;
        const h = Math.floor(Math.sqrt(rem));
        lo = Math.max(lo, -h); hi = Math.min(hi, h);
      }
      if (hi < lo) continue;
      const za = az * lo + bz * ky + cv, zb = az * hi + bz * ky + cv;
      const a = Math.min(n - 1, Math.max(0, Math.floor(Math.min(za, zb)) - p0));
      const c = Math.min(n - 1, Math.max(0, Math.floor(Math.max(za, zb)) - p0));
      const w = (hi - lo + 1) / (c - a + 1);
      diff[a] += w; diff[c + 1] -= w;
      total += hi - lo + 1;
    }
  }
  let count = 0, cum = 0, k = 1;
  for (let p = 0; p < n && k < K; p++) {
    count += diff[p]!;
    while (k < K && cum + count / 2 >= (k * total) / K) out[k++] = p0 + p;
    cum += count;
  }
  return out;
}

/**
 * Cuts K planes [p0, p1) into K slabs of (almost) equal thickness, ignoring where the sample points
 * are (tests: with K = p1 - p0 every plane is a slab, so every cell straddles a slab boundary).
 */
export function uniformSlabBounds(rots: Float64Array, B: number, Dv: number, Di: number, r2max: number, K: number): Float64Array {
  const plane = Dv * Dv;
  const [v0, v1] = scatterVoxelRange(rots, B, Dv, Di, r2max);
  const p0 = v1 > v0 ? v0 / plane : 0, p1 = v1 > v0 ? v1 / plane : Dv;
  return Float64Array.from({ length: K + 1 }, (_, k) => p0 + Math.floor(((p1 - p0) * k) / K));
}

/** Slab split of the slab kernels; the defaults are the tuned ones, the rest is for tests. */
export interface SlabTuning {
  /** Slabs per call (default: WasmBackend.slabCount, from the volume size and the thread count). */
  slabs?: number;
  /** Equal-thickness slabs instead of equal point counts (uniformSlabBounds). */
  uniform?: boolean;
  /**
   * Hartley gather / rotation gradient: 'slabs' (z-slab kernels, one sample per pixel), 'slices'
   * (the older SIMD kernels, slices shared out), or 'auto' (default): slabs for volumes of
   * HARTLEY_SLAB_MIN_BYTES and more, where H no longer fits a core's L2 (wasmBackend.ts).
   */
  hartleySplit?: 'auto' | 'slices' | 'slabs';
}
