"""Benchmark: fused vs reference perturbation layer vs a 3x3 convolution of equal widths (fwd+bwd, memory).

For each (C, H) in ((64, 32), (128, 16), (256, 8)) the script times ``y = layer(x); y.backward(g)`` on
x of shape (batch, C, H, H) with ``requires_grad`` and a dense upstream gradient g, for

  * ``conv3x3``: ``nn.Conv2d(C, C, 3, padding=1)``;
  * ``ref`` / ``ref_nobn``: ``PerturbationLayer(C, C, (H, H))`` (defaults: fan-out 1, level 0.1, ReLU,
    bias, BatchNorm2d, train mode) and the same without BN;
  * ``fused`` / ``fused_nobn``: ``FusedPerturbationLayer`` with the same state.

Timing: ``--warmup`` untimed rounds, then the median of ``--reps`` timed rounds; in each round every
layer runs once (interleaved), so load from other processes hits them alike. Ratios are to conv3x3.

Memory: ``saved MiB`` is the total bytes of the tensors autograd saves for backward that are *new*
allocations (storages other than x, the parameters and the buffers, each storage counted once),
measured with ``torch.autograd.graph.saved_tensors_hooks``: the activation memory a layer adds to a
training step. With ``--device cuda`` the peak ``torch.cuda.max_memory_allocated`` over one fwd+bwd
(above the memory held before it) is reported as well.

    .venv/bin/python bench/bench_perturbation_fused.py [--reps 7] [--threads N] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.layers.perturbation import PerturbationLayer  # noqa: E402
from pgan_core.layers.perturbation_fused import FusedPerturbationLayer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_perturbation import CONFIGS, add_common_args, time_fwd_bwd  # noqa: E402

NAMES = ("conv3x3", "ref", "fused", "ref_nobn", "fused_nobn")


def saved_bytes(layer: nn.Module, x: torch.Tensor) -> int:
    """Bytes of tensors saved for backward that are new storages (not x, parameters or buffers)."""
    known = {t.untyped_storage().data_ptr() for t in [x, *layer.parameters(), *layer.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in known:
            seen[ptr] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = layer(x)
    del y
    return sum(seen.values())


def cuda_peak_bytes(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> int:
    """Peak CUDA memory of one fwd+bwd above what was allocated before it."""
    layer.zero_grad(set_to_none=True)
    x.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    layer(x).backward(g)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    for C, H in CONFIGS:
        x = torch.randn(args.batch, C, H, H, device=device, requires_grad=True)
        g = torch.randn(args.batch, C, H, H, device=device)
        ref, ref_nobn = PerturbationLayer(C, C, (H, H)), PerturbationLayer(C, C, (H, H), bn=False)
        fused, fused_nobn = FusedPerturbationLayer(C, C, (H, H)), FusedPerturbationLayer(C, C, (H, H), bn=False)
        fused.load_state_dict(ref.state_dict())
        fused_nobn.load_state_dict(ref_nobn.state_dict())
        layers = dict(zip(NAMES, (nn.Conv2d(C, C, 3, padding=1), ref, fused, ref_nobn, fused_nobn)))
        layers = {k: m.to(device) for k, m in layers.items()}
        ms = {k: 1e3 * v for k, v in time_fwd_bwd(layers, x, args.warmup, args.reps, g=g).items()}
        row = dict(C=C, H=H, **{f"{k}_ms": v for k, v in ms.items()},
                   **{f"r_{k}": ms[k] / ms["conv3x3"] for k in NAMES[1:]},
                   **{f"saved_{k}": saved_bytes(layers[k], x) for k in NAMES[1:]})
        if device.type == "cuda":
            row.update({f"peak_{k}": cuda_peak_bytes(layers[k], x, g) for k in NAMES})
        rows.append(row)
    cpu = platform.processor() or platform.machine()
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads, {cpu}"
    print(f"# torch {torch.__version__}, {args.device} ({dev}), batch {args.batch}, fwd+bwd, "
          f"median of {args.reps} after {args.warmup} warm-up; ratios to conv3x3; saved = new bytes saved for bwd")
    print(f"{'C':>4} {'H':>3} {'conv ms':>8} {'ref':>7} {'fused':>7} {'ref_nb':>7} {'fus_nb':>7} | {'r_ref':>6} "
          f"{'r_fus':>6} {'r_rnb':>6} {'r_fnb':>6} | {'sv ref':>7} {'sv fus':>7} {'sv rnb':>7} {'sv fnb':>7} MiB")
    mib = 2.0 ** 20
    for r in rows:
        print(f"{r['C']:>4} {r['H']:>3} {r['conv3x3_ms']:>8.2f} {r['ref_ms']:>7.2f} {r['fused_ms']:>7.2f} "
              f"{r['ref_nobn_ms']:>7.2f} {r['fused_nobn_ms']:>7.2f} | {r['r_ref']:>6.3f} {r['r_fused']:>6.3f} "
              f"{r['r_ref_nobn']:>6.3f} {r['r_fused_nobn']:>6.3f} | {r['saved_ref'] / mib:>7.2f} "
              f"{r['saved_fused'] / mib:>7.2f} {r['saved_ref_nobn'] / mib:>7.2f} {r['saved_fused_nobn'] / mib:>7.2f}")
        if device.type == "cuda":
            print("       cuda peak MiB: " + "  ".join(f"{k} {r['peak_' + k] / mib:.1f}" for k in NAMES))
    return rows


if __name__ == "__main__":
    main()
