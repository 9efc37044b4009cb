/**
 * Grid conventions, stated once for the whole code base (and matched to RELION, see
 * docs/conventions in ../shared and test/oracle):
 *
 * - A 2D image of box D is a Float32Array of D*D values, index `y*D + x`, x fastest (the MRC
 *   column). A 3D volume is D*D*D values, index `(z*D + y)*D + x`.
 * - The centre of a box is the voxel/pixel index `c = floor(D/2)` (0-based), for even and odd D.
 *   Real-space coordinates are `x - c` (voxels).
 * - Fourier grids use the SAME layout and size as the real grid, with the DC term at index c
 *   ("centred" transforms, like numpy's fftshift(fftn(ifftshift(x)))). Frequency index k maps to
 *   `(k - c) / D` cycles per pixel. The transform is
 *       F[k] = sum_x f[x] exp(-2 pi i (k - c)·(x - c) / D)          (forward, unnormalised)
 *       f[x] = (1/N) sum_k F[k] exp(+2 pi i (k - c)·(x - c) / D)    (inverse, N = D^dim)
 *   so the real-space centre is the phase origin and the Fourier-slice theorem holds with no
 *   extra phase ramp: fft2(project(V, A)) = slice(fft3(V), A).
 * - Rotations are RELION's matrices A (see rotation.ts): A maps volume coordinates to image
 *   coordinates; the slice for A samples the volume at A^T·(kx, ky, 0).
 */

/** Index of the centre (origin) of a box of size D. */
export function boxCentre(D: number): number {
  return Math.floor(D / 2);
}

/** Frequency (cycles/pixel) of Fourier index k in a centred grid of size D. */
export function freqOfIndex(k: number, D: number): number {
  return (k - Math.floor(D / 2)) / D;
}
