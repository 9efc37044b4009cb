#!/usr/bin/env python3
"""PyTorch peer for bench/kernels.ts: the same slice kernels and FFTs through PyTorch's route.

Slices: a complex volume stored as 2 channels (re, im) of a (1, 2, D, D, D) tensor; the B
slices are one `grid_sample` (trilinear, padding zeros, align_corners=True) on a grid built from
the rotation matrices (requires_grad), exactly our geometry: pixel (kx, ky) samples
A^T (kx, ky, 0) about floor(D/2). gather = forward; scatter = autograd backward w.r.t. the
volume (the adjoint); rotgrad = autograd backward w.r.t. the rotations. Backward passes are timed
alone (the forward graph is built once, retain_graph=True).
FFTs: torch.fft.fftn over a complex64 D^3 volume, torch.fft.fft2 over B complex64 images (plain
transforms, without the fftshift pair our centred kernels include).
GEMM: float32 1024^3 matmul throughput, the machine's practical compute limit. Thread counts
apply to torch AND to OpenBLAS's own pool (set_threads), which torch.set_num_threads misses.
Prints one JSON object on stdout. Timing: wall-clock median (and process CPU-time median).
Usage: python3 bench/torch_kernels.py --D 64,128 --B 64 --threads 1,2 [--min-time 1.0]
"""
import argparse
import ctypes
import json
import math
import time

import torch
import torch.nn.functional as F



def set_threads(t):
    """torch.set_num_threads(t), and the same limit for OpenBLAS's own thread pool: Debian's torch
    sends matmuls to OpenBLAS, which torch.set_num_threads does not reach (measured: with
    set_num_threads(1) a second OpenBLAS thread did half of every GEMM's work)."""
    torch.set_num_threads(t)
    for path in sorted({ln.split()[-1] for ln in open('/proc/self/maps') if 'openblas' in ln.lower() and '.so' in ln}):
        lib = ctypes.CDLL(path)
        if hasattr(lib, 'openblas_set_num_threads'):
            lib.openblas_set_num_threads(t)
            return 'openblas'
    return 'torch only'

def timeit(fn, min_time, min_reps=3, max_reps=50):
    fn()  # warm-up
    walls, cpus = [], []
    t_start = time.perf_counter()
    while len(walls) < min_reps or (time.perf_counter() - t_start < min_time and len(walls) < max_reps):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - w0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    walls.sort()
    cpus.sort()
    return walls[len(walls) // 2], cpus[len(cpus) // 2], len(walls)


def random_rotations(B, gen):
    q = torch.randn(B, 4, generator=gen, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    R = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], dim=1)
    return R.reshape(B, 3, 3).float()


def slice_grid(R, D):
    """Normalised grid (1, B, D, D, 3) in grid_sample's (x, y, z) order, align_corners=True."""
    c = D // 2
    k = torch.arange(D, dtype=torch.float32) - c
    ky, kx = torch.meshgrid(k, k, indexing='ij')
    # p_j = sum_i A_ij k_i  (rows 0 and 1 of A)
    p = kx[None, :, :, None] * R[:, None, None, 0, :] + ky[None, :, :, None] * R[:, None, None, 1, :]
    return ((p + c) / (D - 1) * 2 - 1)[None]


def bench_slices(D, B, min_time, gen):
    vol = torch.randn(1, 2, D, D, D, generator=gen, requires_grad=True)
    R = random_rotations(B, gen).requires_grad_(True)
    rows = {}
    with torch.no_grad():
        g = slice_grid(R, D)
        rows['gather'] = timeit(lambda: F.grid_sample(vol, g, mode='bilinear', padding_mode='zeros', align_corners=True), min_time)
    out = F.grid_sample(vol, slice_grid(R, D), mode='bilinear', padding_mode='zeros', align_corners=True)
    dout = torch.randn(out.shape, generator=gen)
    rows['scatter'] = timeit(lambda: torch.autograd.grad(out, vol, dout, retain_graph=True), min_time)
    rows['rotgrad'] = timeit(lambda: torch.autograd.grad(out, R, dout, retain_graph=True), min_time)
    return rows


def bench_fft(D, B, min_time, gen):
    v = torch.randn(D, D, D, dtype=torch.complex64, generator=gen)
    imgs = torch.randn(B, D, D, dtype=torch.complex64, generator=gen)
    return {
        'fft3d': timeit(lambda: torch.fft.fftn(v), min_time),
        'fft2d_batch': timeit(lambda: torch.fft.fft2(imgs), min_time),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--D', default='64,128')
    ap.add_argument('--B', type=int, default=64)
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--min-time', type=float, default=1.0)
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(0)
    result = {'torch_version': torch.__version__, 'rows': [], 'gemm': []}
    for t in [int(x) for x in a.threads.split(',')]:
        result['thread_control'] = set_threads(t)
        n = 1024
        A = torch.randn(n, n, generator=gen)
        Bm = torch.randn(n, n, generator=gen)
        wall, cpu, reps = timeit(lambda: torch.matmul(A, Bm), a.min_time)
        result['gemm'].append({'threads': t, 'median_ms': wall, 'gflops': 2 * n ** 3 / (wall * 1e-3) / 1e9})
        for D in [int(x) for x in a.D.split(',')]:
            rows = bench_slices(D, a.B, a.min_time, gen)
            rows.update(bench_fft(D, a.B, a.min_time, gen))
            for k, (wall, cpu, reps) in rows.items():
                result['rows'].append({'kernel': k, 'D': D, 'B': a.B, 'threads': t, 'median_ms': wall, 'cpu_median_ms': cpu, 'reps': reps})
    print(json.dumps(result))


if __name__ == '__main__':
    main()
