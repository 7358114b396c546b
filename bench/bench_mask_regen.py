"""Benchmark: stored perturbation masks vs masks regenerated from their seeds inside every forward pass.

The Perturbative GAN paper (Kishi et al. 2019, arXiv:1902.01514) claims its noise masks can be generated
algorithmically, so hardware need not store them. This measures both sides of that trade for ``pgan-g``
(the authors' Perturbative G + DCGAN D):

  * memory: bytes of mask memory at the paper's width (``--paper-width``, 128) as registered (stored U(-1, 1)
    masks) and with each ``--sources`` mask source, from :func:`pgan_core.params.mask_memory_saved`;
  * time: one training iteration (D step + G step, Adam, the non-saturating loss) of pgan-g with each mask
    source, at ``--width`` and ``--batch``, variants interleaved over ``--reps`` rounds
    (:func:`pgan_core.timing.time_iteration_variants`); ratio = variant / stored_uniform per round.

Mask sources (``pgan_core.layers.perturbation.MASK_SOURCES``): ``stored_uniform`` (a state_dict buffer),
``lcg`` (an LCG buffer built at construction, in memory only), ``lcg_forward`` (the same LCG values rebuilt
in every forward pass, vectorised, held nowhere). A source name that does not exist stops the script before
anything is timed or written (one-line ConfigError naming ``--sources`` and the allowed names).

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_mask_regen.py [--width 16] [--batch 32] [--iters 3] \\
        [--reps 3] [--sources stored_uniform,lcg,lcg_forward] [--device cpu] [--out bench.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.errors import ConfigError  # noqa: E402
from pgan_core.layers.perturbation import MASK_SOURCES  # noqa: E402
from pgan_core.params import mask_memory_saved  # noqa: E402
from pgan_core.timing import time_iteration_variants  # noqa: E402

METHOD = "pgan-g"
BASELINE = "stored_uniform"


def parse_sources(text: str) -> list[str]:
    """The comma-separated mask sources, checked (the baseline first, added if missing)."""
    sources = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in sources if s not in MASK_SOURCES]
    if bad or not sources:
        raise ConfigError(f"parameter '--sources': got {text!r}; allowed: comma-separated names from "
                          + ", ".join(MASK_SOURCES))
    return [BASELINE] + [s for s in dict.fromkeys(sources) if s != BASELINE]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per variant and round (median)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--sources", type=str, default="stored_uniform,lcg,lcg_forward")
    ap.add_argument("--paper-width", type=int, default=128)
    ap.add_argument("--device", type=str, default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=str, default=None)
    a = ap.parse_args()
    try:
        sources = parse_sources(a.sources)                   # before anything is timed or written
    except ConfigError as e:
        raise SystemExit(f"ConfigError: {e}") from None
    if a.threads:
        torch.set_num_threads(a.threads)

    memory = {s: mask_memory_saved(METHOD, width=a.paper_width, mask_source=s) for s in sources}
    variants = {s: {"method": METHOD, "g_overrides": {"mask_source": s}} for s in sources}
    timing = time_iteration_variants(variants, width=a.width, batch_size=a.batch, iters=a.iters,
                                     repeats=a.reps, warmup=a.warmup, device=a.device)
    per_round = timing.pivot(index="repeat", columns="method", values="sec_per_iter")
    res = {"method": METHOD, "width": a.width, "batch": a.batch, "iters": a.iters, "reps": a.reps,
           "device": a.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
           "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
           "sec_per_iter_median": {s: statistics.median(per_round[s]) for s in sources},
           "ratio_vs_stored_median": {s: statistics.median(per_round[s] / per_round[BASELINE]) for s in sources},
           "memory_paper_width": memory}
    print(f"{METHOD}, width {a.width}, batch {a.batch}, {a.device}, {res['threads']} thread(s); "
          f"{a.reps} rounds x {a.iters} iterations")
    for s in sources:
        line = f"  {s:15s} {res['sec_per_iter_median'][s] * 1e3:8.1f} ms/iter  x{res['ratio_vs_stored_median'][s]:.3f}"
        m = memory[s]
        line += (f"   width {a.paper_width}: masks in memory {m['alternative_bytes']:,} B, in checkpoints "
                 f"{m['alternative_stored_bytes']:,} B (saves {m['saved_bytes']:,} B of memory vs stored)")
        print(line)
    m = memory[BASELINE]
    print(f"  (width {a.paper_width}: {m['masks']:,} mask elements; G+D trainable parameters {m['trainable_bytes']:,} B)")
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
