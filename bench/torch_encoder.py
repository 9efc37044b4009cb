#!/usr/bin/env python3
"""PyTorch peer for bench/encoder.ts: one training step of the same pose encoder.

Architecture (identical to src/model/encoder.ts with the options bench/encoder.ts passes): fixed
filter bank 1 -> 5 channels (11x11 Gaussians, variances 0.01..100 px^2, reflect padding,
per-image-channel standardisation to mean 0.45 / std 0.226); VGG-like trunk of conv3x3 (no bias) +
BatchNorm + ReLU blocks with the given widths / convs per block / pool kinds, each block pooling
2x2 while the map side is > 4, then a final max pool to 2x2; M pose heads evaluated together
(first layer one Linear(latent, M*h1), later layers one batched matmul over heads, BatchNorm + ReLU
on hidden layers) -> 6D (Gram-Schmidt, rows) + 2D shift; winner-take-all surrogate loss
sum(R_win * dL/dR) + sum(t_win * dL/dt) with dL/dR from a simple analytic loss; Adam.
Timed: filter bank + forward + loss callback + backward + Adam step, torch.set_num_threads(t) and OpenBLAS's own pool limited to t threads.
Prints one JSON object on stdout: {torch_version, rows: [{D, B, median_ms, cpu_median_ms, reps}]}.
Usage: python3 bench/torch_encoder.py --D 64,128 --B 32 --threads 1 --config '<json>'
"""
import argparse
import ctypes
import json
import math
import time

import torch
import torch.nn as nn
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

def gaussian_bank(variances, size=11):
    h = (size - 1) / 2
    t = torch.arange(size, dtype=torch.float64) - h
    ks = []
    for v in variances:
        g = torch.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * v))
        ks.append(g / g.sum())
    return torch.stack(ks)[:, None].float()  # (5, 1, 11, 11)


class Encoder(nn.Module):
    def __init__(self, box, heads, widths, convs, pools, hidden):
        super().__init__()
        self.register_buffer('bank', gaussian_bank([0.01, 0.1, 1, 10, 100]))
        layers = []
        cin, side = 5, box
        for w, n, p in zip(widths, convs, pools):
            for _ in range(n):
                layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                cin = w
            if side > 4 and side % 2 == 0:
                layers.append(nn.MaxPool2d(2) if p == 'max' else nn.AvgPool2d(2))
                side //= 2
        if side > 2:
            layers.append(nn.MaxPool2d(side // 2))
        self.trunk = nn.Sequential(*layers)
        self.M = heads
        dims = [widths[-1] * 4] + hidden + [8]
        self.first = nn.Linear(dims[0], heads * dims[1])
        self.first_bn = nn.BatchNorm1d(heads * dims[1])
        self.ws = nn.ParameterList()
        self.bs = nn.ParameterList()
        self.bns = nn.ModuleList()
        for l in range(1, len(dims) - 1):
            a, b = dims[l], dims[l + 1]
            self.ws.append(nn.Parameter(torch.randn(heads, a, b) * math.sqrt(2 / a)))
            self.bs.append(nn.Parameter(torch.zeros(heads, 1, b)))
            if l + 2 < len(dims):
                self.bns.append(nn.BatchNorm1d(heads * b))
        self.dims = dims

    def features(self, x):
        x = F.pad(x, (5, 5, 5, 5), mode='reflect')
        y = F.conv2d(x, self.bank)
        m = y.mean(dim=(2, 3), keepdim=True)
        s = y.std(dim=(2, 3), keepdim=True, unbiased=False)
        return (y - m) / s * 0.226 + 0.45

    def forward(self, x):
        B = x.shape[0]
        with torch.no_grad():
            f = self.features(x)
        lat = self.trunk(f).reshape(B, -1)
        h = F.relu(self.first_bn(self.first(lat)))
        h = h.reshape(B, self.M, -1).transpose(0, 1)  # (M, B, h1)
        for l in range(len(self.ws)):
            h = torch.bmm(h, self.ws[l]) + self.bs[l]
            if l < len(self.bns):
                w = h.shape[2]
                h = self.bns[l](h.transpose(0, 1).reshape(B, -1)).reshape(B, self.M, w).transpose(0, 1)
                h = F.relu(h)
        out = h.transpose(0, 1)  # (B, M, 8)
        a, b = out[..., 0:3], out[..., 3:6]
        r1 = F.normalize(a, dim=-1)
        r2 = F.normalize(b - (r1 * b).sum(-1, keepdim=True) * r1, dim=-1)
        r3 = torch.cross(r1, r2, dim=-1)
        R = torch.stack([r1, r2, r3], dim=-2)  # rows
        return R, out[..., 6:8]


def timeit(fn, min_time, min_reps=3, max_reps=30):
    fn()  # warm-up
    walls, cpus = [], []
    t0 = time.perf_counter()
    while len(walls) < min_reps or (time.perf_counter() - t0 < min_time and len(walls) < max_reps):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - w0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    walls.sort()
    cpus.sort()
    return walls[len(walls) // 2], cpus[len(cpus) // 2], len(walls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--D', default='64,128')
    ap.add_argument('--B', type=int, default=32)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--min-time', type=float, default=3.0)
    ap.add_argument('--config', required=True)
    a = ap.parse_args()
    cfg = json.loads(a.config)
    thread_control = set_threads(a.threads)
    torch.manual_seed(0)
    result = {'torch_version': torch.__version__, 'threads': torch.get_num_threads(), 'thread_control': thread_control, 'rows': []}
    for D in [int(x) for x in a.D.split(',')]:
        B, M = a.B, cfg['heads']
        enc = Encoder(D, M, cfg['widths'], cfg['convsPerBlock'], cfg['pools'], cfg['headHidden'])
        enc.train()
        opt = torch.optim.Adam(enc.parameters(), lr=1e-4)
        x = torch.randn(B, 1, D, D)
        Rt = torch.randn(B, 3, 3)
        tt = torch.randn(B, 2)

        def step():
            opt.zero_grad()
            R, t = enc(x)
            # The reconstruction loop's part: per-head loss, winner, dL/dR and dL/dt (outside autograd).
            with torch.no_grad():
                per = ((R - Rt[:, None]) ** 2).sum((2, 3)) + ((t - tt[:, None]) ** 2).sum(2)
                win = per.argmin(1)
                idx = torch.arange(B)
                dR = 2 * (R[idx, win] - Rt)
                dt = 2 * (t[idx, win] - tt)
            sur = (R[idx, win] * dR).sum() + (t[idx, win] * dt).sum()
            sur.backward()
            opt.step()

        wall, cpu, reps = timeit(step, a.min_time)
        result['rows'].append({'D': D, 'B': B, 'median_ms': wall, 'cpu_median_ms': cpu, 'reps': reps})
    print(json.dumps(result))


if __name__ == '__main__':
    main()
