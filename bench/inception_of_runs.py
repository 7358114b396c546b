"""Standard Inception metrics of finished notebook runs (a supplement when a notebook's profile cut them).

Loads the finished runs of ``--notebook`` in ``--profile`` (nothing is trained: the runs must exist under
``runs/``), measures ``--protocols`` on each (method, seed) with the same code the notebooks use
(:func:`pgan_core.experiments.inception_metrics`), and writes the table with provenance to ``--out``.

    python bench/inception_of_runs.py --notebook 01_perturbative_gan --methods dcgan pgan-g --seeds 0 \\
        --out bench/results/inception_01_cpu.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.experiments import inception_metrics, plan_rows, run_rows  # noqa: E402
from pgan_core.io import atomic_write_json  # noqa: E402
from pgan_core.results import provenance  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--notebook", required=True)
    p.add_argument("--profile", default="cpu")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--methods", nargs="+", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--protocols", nargs="+", default=["kid2k_inception", "fid2k_inception", "fidinf2k_inception"])
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    plan = plan_rows(args.profile, args.notebook, methods=args.methods, datasets=[args.dataset], seeds=args.seeds)
    grid = run_rows(notebook=args.notebook, profile=args.profile, plan=plan, progress=False)
    table, evs = inception_metrics(grid, protocols=args.protocols,
                                   runs=[(m, args.dataset, s) for m, ss in plan[args.dataset].items() for s in ss])
    out = {"what": __doc__.splitlines()[0], "notebook": args.notebook, "profile": args.profile,
           "dataset": args.dataset, "rows": table.to_dict(orient="records"),
           "protocols": {k: evs[args.dataset].metadata(k) for k in args.protocols},
           "run_commits": sorted({str((r.code or {}).get("commit")) for r in grid.records}),
           "provenance": provenance(t0)}
    atomic_write_json(args.out, out)
    print(table.round(4).to_string(index=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
