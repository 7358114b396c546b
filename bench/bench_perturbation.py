"""Benchmark: forward + backward of the perturbation layer vs a 3x3 convolution of equal widths (CPU).

For each (C, H) the script times ``y = layer(x); y.sum().backward()`` on x of shape (batch, C, H, H)
with ``requires_grad`` (so the input gradient is computed, as inside a network), for

  * ``conv3x3``: ``nn.Conv2d(C, C, 3, padding=1)``, the layer a perturbation layer replaces;
  * ``pert``: ``PerturbationLayer(C, C, (H, H))`` with the defaults the models use
    (fan-out 1, level 0.1, ReLU, 1x1 conv with bias, BatchNorm2d, train mode);
  * ``pert_nobn``: the same without BatchNorm (the generator's last layer).

Timing: ``--warmup`` untimed iterations, then the median of ``--reps`` timed ones. The ratio is
pert / conv3x3 (target <= 0.3). Nothing is written unless ``--out`` names a JSON file.

    .venv/bin/python bench/bench_perturbation.py [--reps 7] [--threads N] [--out bench.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.layers.perturbation import PerturbationLayer  # noqa: E402

CONFIGS = ((64, 32), (128, 16), (256, 8))  # (C, H)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fwd_bwd(layers: dict[str, nn.Module], x: torch.Tensor, warmup: int, reps: int, *,
                 g: torch.Tensor | None = None, channels_last: bool = False) -> dict[str, float]:
    """Median seconds of one forward + backward pass per layer; the layers are timed interleaved
    (one pass of each per round) so that load from other processes hits them alike. ``g`` is the
    upstream gradient (default: a dense random one per layer, as inside a network)."""
    if channels_last:
        layers = {k: m.to(memory_format=torch.channels_last) for k, m in layers.items()}
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    grads = {}
    times: dict[str, list[float]] = {k: [] for k in layers}
    for i in range(warmup + reps):
        for k, layer in layers.items():
            layer.zero_grad(set_to_none=True)
            x.grad = None
            sync(x.device)
            t0 = time.perf_counter()
            y = layer(x)
            if k not in grads:
                grads[k] = g if g is not None else torch.randn_like(y)
            y.backward(grads[k])
            sync(x.device)
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[k].append(dt)
    return {k: statistics.median(v) for k, v in times.items()}


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """Options shared by the perturbation-layer benches."""
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--channels-last", action="store_true", help="also time channels_last for every layer")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    formats = (False, True) if args.channels_last else (False,)
    for C, H in CONFIGS:
        x = torch.randn(args.batch, C, H, H, requires_grad=True)
        layers = {"conv3x3": nn.Conv2d(C, C, 3, padding=1),
                  "pert": PerturbationLayer(C, C, (H, H)),
                  "pert_nobn": PerturbationLayer(C, C, (H, H), bn=False)}
        for cl in formats:
            ms = {k: 1e3 * v for k, v in time_fwd_bwd(layers, x, args.warmup, args.reps, channels_last=cl).items()}
            rows.append(dict(C=C, H=H, batch=args.batch, channels_last=cl, **{f"{k}_ms": v for k, v in ms.items()},
                             ratio=ms["pert"] / ms["conv3x3"], ratio_nobn=ms["pert_nobn"] / ms["conv3x3"]))
    head = f"{'C':>4} {'H':>3} {'mem':>6} {'conv3x3 ms':>11} {'pert ms':>9} {'nobn ms':>9} {'ratio':>6} {'r_nobn':>7}"
    cpu = platform.processor() or platform.machine()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}, batch {args.batch}, "
          f"fwd+bwd, median of {args.reps} after {args.warmup} warm-up")
    print(head)
    for r in rows:
        print(f"{r['C']:>4} {r['H']:>3} {'cl' if r['channels_last'] else 'nchw':>6} {r['conv3x3_ms']:>11.2f} "
              f"{r['pert_ms']:>9.2f} {r['pert_nobn_ms']:>9.2f} {r['ratio']:>6.3f} {r['ratio_nobn']:>7.3f}")
    if args.out is not None:
        meta = dict(torch=torch.__version__, threads=torch.get_num_threads(), cpu=cpu)
        args.out.write_text(json.dumps(dict(**meta, rows=rows), indent=1))
    return rows


if __name__ == "__main__":
    main()
