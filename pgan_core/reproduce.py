"""Headless reproduction: run notebooks with papermill for a profile.

``python -m pgan_core.reproduce [--profile cpu|paper|smoke|auto] [--notebooks 01 ...] [--force] [--concurrency N]``

Each notebook runs with ``PROFILE=<profile>`` and ``WRITE_RESULTS=True``; its executed copy is
written to ``results/<notebook>/executed.ipynb`` (atomically, once it has finished). A notebook
whose ``results/<notebook>/provenance.json`` already records this profile and whose executed
copy exists is skipped unless ``--force``; training runs inside a notebook resume from their
checkpoints, so an interrupted reproduction re-run redoes only what is missing. The leaderboard
notebook runs last (it reads the others' results). Kernels run with ``PGAN_HEADLESS=1``, so
notebooks show static figures instead of interactive widgets. A failing
notebook does not stop the others; the summary names it with its error and the exit code is 1.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .config import PROFILE_NAMES, auto_profile
from .io import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def machine_roots() -> list[tuple[str, str]]:
    """(absolute prefix, what an executed notebook shows instead), longest first: the repository (paths
    relative to it), the dataset and cache roots and the home folder (by their names)."""
    from .io import cache_root, data_root

    roots = [(str(REPO_ROOT) + "/", ""), (str(REPO_ROOT), "."), (str(Path.home()), "~")]
    for name, fn in (("$PGAN_DATA", data_root), ("$PGAN_CACHE", cache_root)):
        try:
            p = str(Path(fn()).resolve())
        except Exception:  # noqa: BLE001 - an unset root has nothing to hide
            continue
        if not p.startswith(str(REPO_ROOT)):
            roots.append((p, name))
    return sorted(roots, key=lambda r: -len(r[0]))


def sanitize_executed(path: str | Path) -> int:
    """Rewrite an executed notebook so it holds no absolute machine path (papermill's metadata, the injected
    RESULTS_ROOT, paths in outputs and warnings); returns the number of replacements. Atomic."""
    from .io import atomic_write_text

    text = Path(path).read_text()
    count = 0
    for prefix, shown in machine_roots():
        count += text.count(prefix)
        text = text.replace(prefix, shown)
    atomic_write_text(path, text)
    return count


LAST = ("00_leaderboard",)   # reads every other notebook's results, so it runs after them


def available_notebooks() -> list[str]:
    """Notebook names in run order: the paper notebooks sorted, then the leaderboard."""
    names = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    return [n for n in names if n not in LAST] + [n for n in names if n in LAST]


def select(names: list[str] | None) -> list[str]:
    avail = available_notebooks()
    if not names:
        return avail
    out = []
    for n in names:
        hits = [a for a in avail if a == n or a.startswith(n + "_") or a == Path(n).stem]
        if len(hits) != 1:
            raise SystemExit(f"error: parameter '--notebooks': got {n!r}; allowed: one of {', '.join(avail)} (or their 2-digit prefixes)")
        out.append(hits[0])
    return out


def is_complete(nb: str, profile: str, results_root: Path) -> bool:
    prov = results_root / nb / "provenance.json"
    if not prov.is_file() or not (results_root / nb / "executed.ipynb").is_file():
        return False
    try:
        return json.loads(prov.read_text()).get("profile") == profile
    except json.JSONDecodeError:
        return False


def run_one(nb: str, profile: str, results_root: Path, *, timeout: int | None, extra: dict | None = None) -> float:
    import papermill as pm

    os.environ["PGAN_HEADLESS"] = "1"          # the kernel inherits it: no interactive widgets (pgan_core.widgets)
    out_dir = results_root / nb
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    fd, tmp = tempfile.mkstemp(prefix=f".{nb}.", suffix=".ipynb", dir=out_dir)
    os.close(fd)
    try:
        pm.execute_notebook(str(NOTEBOOK_DIR / f"{nb}.ipynb"), tmp, cwd=str(NOTEBOOK_DIR), kernel_name="python3",
                            parameters={"PROFILE": profile, "WRITE_RESULTS": True, "PROGRESS": False,
                                        "RESULTS_ROOT": str(results_root), **(extra or {})},
                            progress_bar=False, execution_timeout=timeout, log_output=False)
        sanitize_executed(tmp)
        os.replace(tmp, out_dir / "executed.ipynb")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return time.time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pgan_core.reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="auto", help="smoke, cpu, paper or auto (paper on a GPU, cpu otherwise)")
    ap.add_argument("--notebooks", nargs="*", default=None, help="names or 2-digit prefixes (default: all)")
    ap.add_argument("--force", action="store_true", help="re-run notebooks whose results are already complete")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="training runs at once inside each notebook (sets PGAN_CONCURRENCY for the kernels; "
                         "pgan_core.experiments.run_grid); default 1")
    ap.add_argument("--results", default=None,
                    help="results folder (default: results/ for cpu and paper; scratch/reproduce/ for smoke, so a "
                         "smoke run never replaces real results)")
    args = ap.parse_args(argv)
    profile = auto_profile() if args.profile == "auto" else args.profile
    if profile not in PROFILE_NAMES:
        print(f"error: parameter '--profile': got {args.profile!r}; allowed: auto, {', '.join(PROFILE_NAMES)}", file=sys.stderr)
        return 2
    if args.concurrency is not None:
        if args.concurrency < 1:
            print(f"error: parameter '--concurrency': got {args.concurrency}; allowed: an integer >= 1", file=sys.stderr)
            return 2
        os.environ["PGAN_CONCURRENCY"] = str(args.concurrency)      # the kernels inherit it
    results_root = Path(args.results) if args.results else (
        REPO_ROOT / "scratch" / "reproduce" if profile == "smoke" else REPO_ROOT / "results")
    notebooks = select(args.notebooks)
    print(f"profile {profile}: {len(notebooks)} notebook(s) -> {results_root}")
    rows = []
    for nb in notebooks:
        if not args.force and is_complete(nb, profile, results_root):
            rows.append((nb, "skipped (complete)", 0.0, ""))
            continue
        print(f"running {nb} ...", flush=True)
        try:
            secs = run_one(nb, profile, results_root, timeout=args.timeout)
            rows.append((nb, "ok", secs, ""))
        except Exception as e:  # keep going: one failing notebook must not stop the others
            msg = str(e).strip().splitlines()
            rows.append((nb, "FAILED", 0.0, (type(e).__name__ + ": " + (msg[-1] if msg else ""))[:200]))
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"\n{'notebook':<{width}}  {'status':<18}  {'seconds':>8}  error")
    for nb, status, secs, err in rows:
        print(f"{nb:<{width}}  {status:<18}  {secs:>8.0f}  {err}")
    failed = [r for r in rows if r[1] == "FAILED"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
