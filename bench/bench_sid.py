"""Benchmark signed_inception_distance on random features (target: < 60 s on a 2-core CPU).

Times one SID with the defaults (radii 1..49, scale 0.5, 20 repeats, 500-row subsets, order 1)
between two random feature sets of shape (--n, --dim), pool_3-like (ReLU'd, shifted Gaussians).
Prints the seconds and whether the 60 s target is met; exits 0 either way.

    .venv/bin/python bench/bench_sid.py [--n 10000] [--dim 2048] [--threads N] [--order 1]

Measured (2-core CPU, torch 2.14.1, 10k x 10k x 2048, order 1): 18.5 s with 2 threads on a lightly
loaded machine (load average 0.4); 102 s with 2 threads but 30 s with --threads 1 while two other
processes kept both cores busy (load average 2.5-4.6): multi-threaded BLAS degrades badly when the
cores are oversubscribed, so try --threads 1 there. The load average is printed with the time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.metrics.sid import signed_inception_distance  # noqa: E402

TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="rows of each feature set")
    ap.add_argument("--dim", type=int, default=2048, help="feature dimension")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--order", type=float, default=1.0)
    ap.add_argument("--device", default=None, help="e.g. cuda (default: cpu)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    target = torch.relu(torch.randn(args.n, args.dim, generator=g) + 0.5)  # (n, d)
    source = torch.relu(torch.randn(args.n, args.dim, generator=g) + 0.6)  # (n, d), slightly shifted
    print(f"n={args.n} x {args.n}, d={args.dim}, torch threads={torch.get_num_threads()}, order={args.order}, "
          f"radii 1..49 x 20 repeats x 500 rows")
    t0 = time.perf_counter()
    res = signed_inception_distance(source, target, order=args.order, device=args.device)
    if args.device and str(args.device).startswith("cuda"):
        torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    print(f"Sum SID {res.total:.6g}   SID(r=1) {res.curve[0]:.6g}   SID(r=49) {res.curve[-1]:.6g}")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"time {sec:.2f} s   load average {load}   target < {TARGET_S:.0f} s: {'met' if sec < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
