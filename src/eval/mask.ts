/**
 * Soft spherical mask on a D^3 grid (centre voxel floor(D/2), see grid.ts): 1 for r <= radius,
 * a raised-cosine fall-off 0.5·(1 + cos(pi·(r - radius)/edge)) for radius < r < radius + edge,
 * 0 beyond (r in voxels). This is RELION's soft-edge shape (relion_mask_create --width_soft_edge).
 */

export function softSphericalMask(D: number, radiusPx: number, edgePx = 3): Float32Array {
  if (!(radiusPx > 0)) throw new RangeError(`softSphericalMask: radius must be > 0, got ${radiusPx}`);
  if (!(edgePx >= 0)) throw new RangeError(`softSphericalMask: edge must be >= 0, got ${edgePx}`);
  const c = Math.floor(D / 2);
  const m = new Float32Array(D * D * D);
  let i = 0;
  for (let z = 0; z < D; z++) {
    for (let y = 0; y < D; y++) {
      for (let x = 0; x < D; x++, i++) {
        const r = Math.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2);
        if (r <= radiusPx) m[i] = 1;
        else if (r < radiusPx + edgePx) m[i] = 0.5 * (1 + Math.cos((Math.PI * (r - radiusPx)) / edgePx));
      }
    }
  }
  return m;
}

/** out[i] = vol[i] * mask[i] (new array). */
export function applyMask(vol: Float32Array, mask: Float32Array): Float32Array {
  if (vol.length !== mask.length) throw new RangeError(`applyMask: sizes differ (${vol.length} vs ${mask.length})`);
  const out = new Float32Array(vol.length);
  for (let i = 0; i < vol.length; i++) out[i] = vol[i]! * mask[i]!;
  return out;
}
