/**
 * Test fixture: a real-space D^3 map, a sum of isotropic Gaussian blobs
 * w · exp(-|x - c - (a, b, d)|^2 / width) around the box centre c = D / 2 (index floor(D/2)).
 * Each blob is [a, b, d, w] (offsets in voxels, weight).
 */
export function gaussianBlobMap(D: number, blobs: readonly (readonly number[])[], width: number): Float32Array {
  const c = D / 2;
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const [a, b, d, w] of blobs) s += w! * Math.exp(-((x - c - a!) ** 2 + (y - c - b!) ** 2 + (z - c - d!) ** 2) / width);
    v[(z * D + y) * D + x] = s;
  }
  return v;
}
