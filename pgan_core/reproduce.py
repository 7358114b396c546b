"""Headless reproduction and its check: rerun notebooks with papermill, compare with the committed results.

``python -m pgan_core.reproduce [--profile cpu|paper|smoke|auto] [--notebooks 01 ...] [--concurrency N]``

The main job (the README's first command): re-execute the chosen notebooks into a **fresh folder**
(``scratch/rerun/<profile>-<UTC time>/``, never over ``results/``), then compare every row of each committed
``results/<notebook>/claims.csv`` of the same profile with the rerun's (:mod:`pgan_core.agreement`): a one-screen
summary, the machine-readable ``agreement.json`` beside the rerun, and exit status 1 when a verdict differs or a
notebook fails. Before it starts it prints what it will run and how long that took on the machine that made the
committed results. ``--compare RERUN_FOLDER`` re-checks a finished rerun without running anything.

A rerun trains every run anew, in its own ``runs/`` folder inside the rerun folder (``$PGAN_RUNS`` of its kernels),
so nothing trained earlier on this machine is reused and the check tests the training too; ``--reuse-runs`` reuses
the finished runs of ``$PGAN_RUNS`` (a quick re-check of the notebooks' own arithmetic). ``--against FOLDER``
compares with another results folder instead of ``results/`` (an earlier rerun: the same command twice on one
machine, which should agree bit for bit).

``--fill`` is the other job: run into ``results/`` (or ``--results``) the notebooks whose results there are
missing or of another profile (``--force``: all), which is how committed results are made. Each notebook runs
with ``PROFILE=<profile>`` and ``WRITE_RESULTS=True``; its executed copy is written atomically once it has
finished, with no absolute machine path in it. Training runs inside a notebook resume from their checkpoints, so
an interrupted run redoes only what is missing. The leaderboard notebook runs last (it reads the others' results).
Kernels run with ``PGAN_HEADLESS=1``, so notebooks show static figures instead of interactive widgets. A failing
notebook does not stop the others; the summary names it with its error.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from .agreement import compare_folders, summary_lines
from .config import PROFILE_NAMES, auto_profile
from .io import REPO_ROOT, atomic_write_text, cache_root, data_root, shown_path as _shown

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def machine_roots() -> list[tuple[str, str]]:
    """(absolute prefix, what an executed notebook shows instead), longest first: the repository (paths
    relative to it), the dataset and cache roots and the home folder (by their names)."""
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


def _train_seconds(runs_csv: Path) -> float:
    """Training seconds summed over a notebook's runs (``runs.csv``): the least a fresh rerun takes, when the
    committed wall time was short because finished runs were reused."""
    try:
        with open(runs_csv, newline="") as f:
            return sum(float(r.get("train_seconds") or 0.0) for r in csv.DictReader(f))
    except (OSError, ValueError):
        return 0.0


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (a stopped job, a machine shutting down): unwind like Ctrl-C, so temporary files are removed."""
    raise SystemExit(128 + signum)


def committed_estimate(notebooks: list[str], profile: str, committed: Path) -> tuple[float, list[str], str]:
    """Seconds the committed results of ``profile`` took for ``notebooks`` (sum of their provenance wall times),
    the notebooks without such results, and the machines that made them."""
    total, missing, machines = 0.0, [], set()
    for nb in notebooks:
        try:
            prov = json.loads((committed / nb / "provenance.json").read_text())
        except (OSError, json.JSONDecodeError):
            missing.append(nb)
            continue
        if prov.get("profile") != profile:
            missing.append(nb)
            continue
        total += max(float(prov.get("wall_seconds") or 0.0), _train_seconds(committed / nb / "runs.csv"))
        dev = prov.get("device") or {}
        machines.add(dev.get("gpu") or f"{dev.get('cpu', 'a CPU')}, {dev.get('cpu_count', '?')} cores")
    return total, missing, "; ".join(sorted(str(m) for m in machines)) or "no machine"


def _run_all(notebooks: list[str], profile: str, results_root: Path, *, force: bool, timeout: int | None) -> list:
    rows = []
    for i, nb in enumerate(notebooks, 1):
        if not force and is_complete(nb, profile, results_root):
            rows.append((nb, "skipped (complete)", 0.0, ""))
            continue
        print(f"[{i}/{len(notebooks)}] running {nb} ...", flush=True)
        try:
            secs = run_one(nb, profile, results_root, timeout=timeout)
            rows.append((nb, "ok", secs, ""))
            print(f"[{i}/{len(notebooks)}] {nb} done in {secs:.0f} s", flush=True)
        except Exception as e:  # keep going: one failing notebook must not stop the others
            msg = str(e).strip().splitlines()
            rows.append((nb, "FAILED", 0.0, (type(e).__name__ + ": " + (msg[-1] if msg else ""))[:200]))
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"\n{'notebook':<{width}}  {'status':<18}  {'seconds':>8}  error")
    for nb, status, secs, err in rows:
        print(f"{nb:<{width}}  {status:<18}  {secs:>8.0f}  {err}")
    return rows


def _check(notebooks: list[str], profile: str, rerun_root: Path, committed: Path) -> int:
    """Compare the rerun with the committed results of the same profile; print the summary; 1 if a verdict differs."""
    comparable = [nb for nb in notebooks if nb not in committed_estimate([nb], profile, committed)[1]]
    report = compare_folders(committed, rerun_root, comparable, report=rerun_root / "agreement.json")
    skipped = [nb for nb in notebooks if nb not in comparable]
    print(f"\nagreement with the committed results ({_shown(committed)}, profile {profile}):")
    for line in summary_lines(report):
        print(line)
    if skipped:
        print(f"not compared (no committed results of profile {profile}): {', '.join(skipped)}")
    print(f"report: {_shown(rerun_root / 'agreement.json')}")
    return 1 if report["verdicts_differ"] else 0


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pgan_core.reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="auto", help="smoke, cpu, paper or auto (paper on a GPU, cpu otherwise)")
    ap.add_argument("--notebooks", nargs="*", default=None, help="names or 2-digit prefixes (default: all)")
    ap.add_argument("--fill", action="store_true",
                    help="run into results/ (or --results) where results are missing or stale, and do not compare")
    ap.add_argument("--force", action="store_true", help="with --fill: re-run notebooks whose results are complete")
    ap.add_argument("--compare", metavar="RERUN_FOLDER", default=None,
                    help="compare a finished rerun folder with the committed results; runs nothing")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="training runs at once inside each notebook (sets PGAN_CONCURRENCY for the kernels; "
                         "pgan_core.experiments.run_grid); default 1")
    ap.add_argument("--against", metavar="FOLDER", default=None,
                    help="compare with this results folder (an earlier rerun) instead of results/")
    ap.add_argument("--reuse-runs", action="store_true",
                    help="a rerun reuses the finished training runs of $PGAN_RUNS instead of training anew")
    ap.add_argument("--results", default=None,
                    help="folder the notebooks write to (default: a fresh scratch/rerun/<profile>-<time>/; with "
                         "--fill results/, or scratch/reproduce/ for smoke, so a smoke run never replaces real results)")
    args = ap.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    profile = auto_profile() if args.profile == "auto" else args.profile
    if profile not in PROFILE_NAMES:
        return _err(f"parameter '--profile': got {args.profile!r}; allowed: auto, {', '.join(PROFILE_NAMES)}")
    if args.concurrency is not None:
        if args.concurrency < 1:
            return _err(f"parameter '--concurrency': got {args.concurrency}; allowed: an integer >= 1")
        os.environ["PGAN_CONCURRENCY"] = str(args.concurrency)      # the kernels inherit it
    committed = REPO_ROOT / "results"
    if args.against is not None:
        committed = Path(args.against)
        if args.fill or not committed.is_dir():
            return _err(f"parameter '--against': {args.against!r}; allowed: an existing results folder, without --fill")
    notebooks = select(args.notebooks)
    if args.compare is not None:
        rerun = Path(args.compare)
        if not rerun.is_dir():
            return _err(f"parameter '--compare': {args.compare!r} is not a folder; allowed: a rerun folder "
                        "(scratch/rerun/<profile>-<time>/)")
        return _check(notebooks, profile, rerun, committed)
    if args.results is not None:
        results_root = Path(args.results).resolve()     # the kernels run in notebooks/: never a relative root
        if results_root.exists() and not results_root.is_dir():
            return _err(f"parameter '--results': {args.results!r} is not a folder")
        if not args.fill and results_root.resolve() == committed.resolve():
            return _err("parameter '--results': a check never writes over results/; allowed: another folder, or "
                        "--fill to (re)make the committed results")
    elif args.fill or profile == "smoke":
        results_root = REPO_ROOT / "scratch" / "reproduce" if profile == "smoke" else committed
    else:
        results_root = REPO_ROOT / "scratch" / "rerun" / f"{profile}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    secs, missing, machines = committed_estimate(notebooks, profile, committed)
    print(f"profile {profile}: {len(notebooks)} notebook(s) -> {_shown(results_root)}"
          + ("" if args.fill else ", then compared with the committed results"))
    if secs:
        print(f"estimate: about {secs / 60:.0f} min on a machine like the one that made them ({machines})"
              + (f"; no committed estimate for {', '.join(missing)}" if missing else "")
              + "; one notebook: make reproduce NOTEBOOKS=07")
    fresh = not args.fill and not args.reuse_runs
    if fresh:
        print(f"training runs: trained anew in {_shown(results_root / 'runs')} (--reuse-runs: reuse $PGAN_RUNS)")
    previous = os.environ.get("PGAN_RUNS")
    try:
        if fresh:
            os.environ["PGAN_RUNS"] = str((results_root / "runs").resolve())   # the kernels inherit it: trained anew
        rows = _run_all(notebooks, profile, results_root, force=args.force, timeout=args.timeout)
    finally:
        if fresh:
            if previous is None:
                os.environ.pop("PGAN_RUNS", None)
            else:
                os.environ["PGAN_RUNS"] = previous
    failed = [r for r in rows if r[1] == "FAILED"]
    rc = 1 if failed else 0
    if not args.fill and results_root.resolve() != committed.resolve():
        rc = max(rc, _check(notebooks, profile, results_root, committed))
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
