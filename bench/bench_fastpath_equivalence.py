"""Does the CPU fast path change what is learnt? The same setting trained in fp32 and on the fast path.

DCGAN on CIFAR-10 (the cpu profile's width 16, batch 64), ``--steps`` iterations, seeds 0-2, in two
variants that differ only in arithmetic: ``fp32`` (eager, NCHW) and ``fast`` (``cpu_amp`` bf16 autocast +
``channels_last``, :mod:`pgan_core.fastpath`). Each run is the real training loop
(:func:`pgan_core.experiments.run_grid`); the final EMA generator is measured with ``fid5k_domain`` and
``kid5k_domain``. The report gives each variant's mean with its 95% t-interval over seeds, the Welch
interval of the difference fast - fp32, the seeds' own spread (max - min within a variant), and the
seconds per iteration, with provenance, in ``bench/results/fastpath_equivalence_cpu.json``.

Equivalent means: the difference interval contains 0 and |mean difference| is below the seeds' spread.

    python bench/bench_fastpath_equivalence.py [--steps 1000] [--seeds 0 1 2] [--out ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.experiments import run_grid  # noqa: E402
from pgan_core.io import atomic_write_json  # noqa: E402
from pgan_core.results import provenance  # noqa: E402
from pgan_core.stats import mean_ci, welch_diff  # noqa: E402

VARIANTS = {"fp32": {"method": "dcgan", "cpu_amp": False, "channels_last": False},
            "fast": {"method": "dcgan", "cpu_amp": True, "channels_last": True}}
METRICS = ("fid5k_domain", "kid5k_domain")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "fastpath_equivalence_cpu.json"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    grid = run_grid(notebook="bench-fastpath", profile="cpu", variants=VARIANTS, datasets=[args.dataset],
                    seeds=args.seeds, overrides=dict(steps=args.steps, eval_every=args.steps // 4,
                                                     ckpt_every=args.steps // 4),
                    final_protocols=list(METRICS), progress=False)
    runs = grid.runs()
    out = {"what": __doc__.splitlines()[0], "dataset": args.dataset, "steps": args.steps, "seeds": args.seeds,
           "width": grid.records[0].config["width"],
           "batch_size": grid.records[0].config["batch_size"], "variants": VARIANTS, "metrics": {}, "runs": []}
    for _, r in runs.iterrows():
        out["runs"].append({"variant": r["method"], "seed": int(r["seed"]), "sec_per_iter": float(r["sec_per_iter"]),
                            **{m: float(r[m]) for m in METRICS}})
    for m in METRICS:
        a = runs[runs.method == "fp32"].sort_values("seed")[m].tolist()
        b = runs[runs.method == "fast"].sort_values("seed")[m].tolist()
        d, lo, hi = welch_diff(b, a)
        spread = max(max(a) - min(a), max(b) - min(b))
        out["metrics"][m] = {"fp32": dict(zip(("mean", "low", "high", "n"), mean_ci(a))),
                             "fast": dict(zip(("mean", "low", "high", "n"), mean_ci(b))),
                             "fast_minus_fp32": {"mean": d, "low": lo, "high": hi}, "seed_spread": spread,
                             "equivalent": bool(lo <= 0 <= hi and abs(d) < spread)}
    spi = runs.groupby("method")["sec_per_iter"].median().to_dict()
    out["sec_per_iter_median"] = spi
    out["provenance"] = provenance(t0, fast_path=grid.records[-1].fast_path)
    atomic_write_json(args.out, out)
    for m, v in out["metrics"].items():
        print(f"{m}: fp32 {v['fp32']['mean']:.4g} [{v['fp32']['low']:.4g}, {v['fp32']['high']:.4g}], fast "
              f"{v['fast']['mean']:.4g} [{v['fast']['low']:.4g}, {v['fast']['high']:.4g}], difference "
              f"{v['fast_minus_fp32']['mean']:+.4g} [{v['fast_minus_fp32']['low']:+.4g}, "
              f"{v['fast_minus_fp32']['high']:+.4g}], seed spread {v['seed_spread']:.4g}: "
              f"{'equivalent' if v['equivalent'] else 'NOT equivalent'}")
    print(f"sec/iter (median over runs): {spi}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
