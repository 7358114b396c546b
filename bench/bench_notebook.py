"""Time one notebook end to end with papermill in a profile (target: smoke < 2 min, cpu < 60 min).

    .venv/bin/python bench/bench_notebook.py --notebook 01 --profile smoke

Runs into a temporary results folder (nothing under results/ is touched); prints the wall time and
each cell's duration from papermill's metadata.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pgan_core import reproduce  # noqa: E402

TARGETS = {"smoke": 120, "cpu": 3600}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebook", default="01")
    ap.add_argument("--profile", default="smoke", choices=["smoke", "cpu", "paper"])
    args = ap.parse_args()
    (nb,) = reproduce.select([args.notebook])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        reproduce.run_one(nb, args.profile, Path(tmp), timeout=None, extra={"WRITE_RESULTS": False})
        wall = time.time() - t0
        import nbformat

        out = nbformat.read(Path(tmp) / nb / "executed.ipynb", 4)
        for i, c in enumerate(out.cells):
            d = c.metadata.get("papermill", {}).get("duration")
            if d and d > 1:
                print(f"  cell {i:2d} {d:7.1f} s  {c.source.splitlines()[0][:60]}")
    target = TARGETS.get(args.profile)
    print(f"{nb} profile={args.profile}: {wall:.0f} s" + (f" (target < {target} s: {'met' if wall < target else 'MISSED'})" if target else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
