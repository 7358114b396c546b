"""Benchmark: cost of the discriminator-side methods (PConv, NICE, MaskedGAN masks) per D step, vs the SNGAN D step.

One D step is what the training loop does per critic iteration, minus data loading and G's forward:
``loss_d, terms = hinge_d(D_view, real, fake)``, backward, Adam step (spectral-norm ResNet D, batch
``--batch``, 3 x 32 x 32 inputs, width ``--width``). Variants, each with its own D (same seed):

  * ``sngan``        the baseline D step;
  * ``pconv``        sngan-pconv (input dropout p 0.1 on 7 of the 8 3x3 convs);
  * ``nice_noise``   sngan-nice-noise with beta = 0.1 (adaptive noise drawn, one pass, no consistency);
  * ``nice``         sngan-nice with beta = 0.1: the deeper blocks run twice for real and fake, + L_cons,
                     + the beta controller step (reported separately: two passes are the method);
  * ``mask_spatial``, ``mask_spectral``, ``mask_both``  MaskedGAN input masking (RunConfig defaults).

Timing: variants interleaved (one step of each per round), ``--warmup`` untimed rounds, then the
median of ``--reps`` rounds; ratio = variant / sngan (target <= 1.3, NICE excepted).
``--full`` also times whole training iterations (``n_critic`` D steps + a G step, the registry's
n_critic 5) of ``sngan`` at widths 8/16/32 through :func:`pgan_core.training.train` on synthetic data
(no evaluation, no checkpoints; ``sec_per_iter`` of the record, over ``--full-steps`` iterations).

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_d_side.py [--width 16] [--reps 15] [--full] [--out bench.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.config import RunConfig  # noqa: E402
from pgan_core.timing import time_d_steps as _time_d_steps  # noqa: E402

VARIANTS = {  # name -> (registry method, RunConfig overrides)
    "sngan": ("sngan", {}), "pconv": ("sngan-pconv", {}), "nice_noise": ("sngan-nice-noise", {}),
    "nice": ("sngan-nice", {}), "mask_spatial": ("sngan-mask-spatial", {}),
    "mask_spectral": ("sngan-mask-spectral", {}), "mask_both": ("sngan-mask-both", {}),
}
NICE_BETA = 0.1             # beta while timing NICE (at beta = 0 no noise is drawn on CPU)


def time_d_steps(width: int, batch: int, warmup: int, reps: int) -> dict[str, float]:
    """Median seconds of one D step per variant (:func:`pgan_core.timing.time_d_steps`, one step per round,
    NICE held at beta = NICE_BETA)."""
    t = _time_d_steps({k: {"method": m, **ov} for k, (m, ov) in VARIANTS.items()}, width=width, batch_size=batch,
                      iters=1, repeats=reps, warmup=warmup, nice_beta=NICE_BETA)
    return {k: statistics.median(t.loc[t["method"] == k, "sec_per_d_step"]) for k in VARIANTS}


def time_full(widths, steps: int, batch: int) -> dict[int, float]:
    from pgan_core.training import train

    out = {}
    for w in widths:
        cfg = RunConfig(method="sngan", dataset="synthetic", width=w, batch_size=batch, steps=steps, eval_every=0,
                        eval_protocols=(), ckpt_every=10 ** 6, log_every=10 ** 6, device="cpu")
        with tempfile.TemporaryDirectory() as d:
            out[w] = train(cfg, Path(d) / "run", progress=False).sec_per_iter
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--full", action="store_true", help="also time full sngan iterations at widths 8/16/32")
    ap.add_argument("--full-steps", type=int, default=6)
    ap.add_argument("--out", type=str, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    med = time_d_steps(a.width, a.batch, a.warmup, a.reps)
    base = med["sngan"]
    print(f"D step, width {a.width}, batch {a.batch}, {torch.get_num_threads()} threads, median of {a.reps}:")
    for k, t in med.items():
        print(f"  {k:14s} {t * 1e3:8.1f} ms   x{t / base:.2f}")
    res = {"width": a.width, "batch": a.batch, "threads": torch.get_num_threads(), "d_step_s": med,
           "ratio": {k: t / base for k, t in med.items()}, "machine": platform.processor() or platform.machine(),
           "torch": torch.__version__}
    if a.full:
        full = time_full((8, 16, 32), a.full_steps, a.batch)
        print(f"full sngan iteration (n_critic 5 + G step), batch {a.batch}, {a.full_steps} iterations:")
        for w, t in full.items():
            print(f"  width {w:3d}: {t:.3f} s/it")
        res["full_sec_per_iter"] = full
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
