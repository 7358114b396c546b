"""Does a rerun agree with the committed results? Row by row, with tolerances that say what to expect.

A reproduction re-executes the notebooks into a fresh folder (:mod:`pgan_core.reproduce`), then this module
compares every row of each notebook's committed ``claims.csv`` with the rerun's row of the same claim, dataset,
method, baseline and metric: the committed value, the rerun value, whether they agree within the tolerance of
their kind, and whether the verdict is the same. Kinds of numbers and what agreement is expected:

* ``exact`` (parameter and mask counts, anything whose ``n_seeds`` is ``exact``): equal, on any machine;
* ``timing`` (seconds per iteration, training seconds): machine-dependent by nature: reported, never compared;
* ``measured`` (FID, KID, IS on domain or Inception features; means over seeds with a 95% interval):

  - on the same CPU model, with the same torch version, as the commit's provenance records: equal to a relative
    1e-6 (the CPU loop is deterministic: weights bit-identical, metrics to float64 round-off);
  - on another CPU: training amplifies float differences between CPUs (vector widths, bf16 paths) into
    seed-like variation, so a rerun's mean agrees when it lies inside the committed 95% interval over seeds, or
    the committed mean inside the rerun's; a single-seed row has no interval and is reported, not compared.

A verdict that differs is a finding whether or not the numbers agree: the report names it, and the exit status
of the check is non-zero. The report (``agreement.json`` in the rerun's folder) holds every row.
"""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .io import atomic_write_json, shown_path

__all__ = ["parse_value", "kind_of", "compare_rows", "compare_notebook", "compare_folders", "summary_lines"]

SAME_MACHINE_RTOL = 1e-6
KEY = ("claim", "dataset", "method", "baseline", "metric")
_NUM = r"[-+]?\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?"
_CI_RE = re.compile(rf"^\s*({_NUM})\s*\[\s*({_NUM})\s*,\s*({_NUM})\s*\]")
_ONE_RE = re.compile(rf"^\s*({_NUM})(?:\s*\(1 seed\))?\s*$")
_TIMING = ("sec_per_iter", "train_seconds", "seconds", "wall")


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_value(text: Any) -> tuple[float, float, float] | None:
    """'12.3 [10.1, 14.5]' -> (12.3, 10.1, 14.5); '320,547' or '72.7 (1 seed)' -> (v, nan, nan); else None."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    s = str(text)
    m = _CI_RE.match(s)
    if m:
        return _num(m.group(1)), _num(m.group(2)), _num(m.group(3))
    m = _ONE_RE.match(s)
    if m:
        return _num(m.group(1)), math.nan, math.nan
    return None


def kind_of(row: dict[str, str]) -> str:
    """'exact', 'timing' or 'measured' (see the module docstring)."""
    metric = str(row.get("metric", ""))
    if str(row.get("n_seeds", "")).startswith("exact") or metric.startswith(("params_", "masks_")):
        return "exact"
    if any(t in metric for t in _TIMING):
        return "timing"
    return "measured"


def _within_interval(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool | None:
    """a's mean inside b's interval or b's mean inside a's; None when neither has an interval."""
    ok = []
    for (m1, _, _), (_, lo, hi) in ((a, b), (b, a)):
        if math.isfinite(lo) and math.isfinite(hi):
            ok.append(lo <= m1 <= hi)
    return any(ok) if ok else None


def compare_rows(committed: dict[str, str], rerun: dict[str, str] | None, *, same_machine: bool) -> dict[str, Any]:
    """One agreement row: key, committed / rerun values and verdicts, kind, tolerance, agree, verdict_equal."""
    out: dict[str, Any] = {k: committed.get(k, "") for k in KEY}
    kind = kind_of(committed)
    out.update(kind=kind, committed=committed.get("ours", ""), committed_verdict=committed.get("verdict", ""))
    if rerun is None:
        out.update(rerun="missing", rerun_verdict="missing", tolerance="", agree=False, verdict_equal=False)
        return out
    out.update(rerun=rerun.get("ours", ""), rerun_verdict=rerun.get("verdict", ""))
    out["verdict_equal"] = out["committed_verdict"] == out["rerun_verdict"]
    a, b = parse_value(out["committed"]), parse_value(out["rerun"])
    if kind == "timing":
        out.update(tolerance="reported, not compared", agree=None)
    elif a is None or b is None:
        out.update(tolerance="text: equal", agree=str(out["committed"]).strip() == str(out["rerun"]).strip())
    elif kind == "exact":
        out.update(tolerance="equal", agree=a[0] == b[0])
    elif same_machine:
        out.update(tolerance=f"relative {SAME_MACHINE_RTOL:g} (same CPU model and torch)",
                   agree=math.isclose(a[0], b[0], rel_tol=SAME_MACHINE_RTOL, abs_tol=1e-12))
    else:
        out.update(tolerance="inside the other's 95% interval over seeds (another CPU)", agree=_within_interval(a, b))
    return out


def _read_claims(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise ConfigError(f"file '{path}': cannot be read as a claims table ({type(e).__name__}: {e})") from None
    if rows and not set(KEY) | {"ours", "verdict"} <= set(rows[0]):
        raise ConfigError(f"file '{path}': a claims table needs the columns {', '.join(KEY)}, ours, verdict; "
                          f"got {', '.join(rows[0])}")
    return rows


def _machine(prov: dict[str, Any]) -> tuple[Any, Any, Any]:
    dev, ver = prov.get("device", {}) or {}, prov.get("versions", {}) or {}
    return dev.get("cpu"), dev.get("gpu"), ver.get("torch")


def compare_notebook(committed_dir: str | Path, rerun_dir: str | Path) -> dict[str, Any]:
    """Agreement of one notebook's rerun folder with its committed folder (both hold claims.csv, provenance.json)."""
    committed_dir, rerun_dir = Path(committed_dir), Path(rerun_dir)
    provs = []
    for d in (committed_dir, rerun_dir):
        p = d / "provenance.json"
        try:
            provs.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"file '{p}': cannot be read ({type(e).__name__})") from None
    same = _machine(provs[0]) == _machine(provs[1]) and provs[0].get("profile") == provs[1].get("profile")
    committed = _read_claims(committed_dir / "claims.csv")
    rerun = {tuple(r.get(k, "") for k in KEY): r for r in _read_claims(rerun_dir / "claims.csv")}
    rows, seen = [], set()
    for c in committed:
        key = tuple(c.get(k, "") for k in KEY)
        if key in seen:           # a repeated key compares its first occurrence only
            continue
        seen.add(key)
        rows.append(compare_rows(c, rerun.get(key), same_machine=same))
    extra = [k for k in rerun if k not in seen]
    return {"notebook": committed_dir.name, "same_machine": same, "committed_device": _machine(provs[0]),
            "rerun_device": _machine(provs[1]), "committed_commit": (provs[0].get("git") or {}).get("commit"),
            "rerun_commit": (provs[1].get("git") or {}).get("commit"), "rows": rows,
            "rows_only_in_rerun": [dict(zip(KEY, k)) for k in extra],
            "agree": sum(r["agree"] is True for r in rows), "disagree": sum(r["agree"] is False for r in rows),
            "not_compared": sum(r["agree"] is None for r in rows),
            "verdicts_differ": sum(not r["verdict_equal"] for r in rows)}


def compare_folders(committed_root: str | Path, rerun_root: str | Path, notebooks: list[str], *,
                    report: str | Path | None = None) -> dict[str, Any]:
    """:func:`compare_notebook` for each notebook with a claims table on both sides; others are listed with the
    reason. Writes ``report`` (JSON, atomically) when given."""
    out: dict[str, Any] = {"committed": shown_path(committed_root), "rerun": shown_path(rerun_root), "notebooks": []}
    for nb in notebooks:
        c, r = Path(committed_root) / nb, Path(rerun_root) / nb
        if not (c / "claims.csv").is_file():
            out["notebooks"].append({"notebook": nb, "skipped": "no committed claims.csv"})
        elif not (r / "claims.csv").is_file():
            out["notebooks"].append({"notebook": nb, "skipped": "the rerun wrote no claims.csv"})
        else:
            out["notebooks"].append(compare_notebook(c, r))
    out["verdicts_differ"] = sum(n.get("verdicts_differ", 0) for n in out["notebooks"])
    out["disagree"] = sum(n.get("disagree", 0) for n in out["notebooks"])
    if report is not None:
        atomic_write_json(report, out)
    return out


def summary_lines(report: dict[str, Any], *, max_rows: int = 12) -> list[str]:
    """A one-screen summary: per notebook the counts, then the rows whose verdict differs or that disagree."""
    lines = [f"{'notebook':<22} {'rows':>5} {'agree':>6} {'differ':>7} {'not comp.':>9} {'verdicts differ':>16}  machine"]
    shown = []
    for n in report["notebooks"]:
        if "skipped" in n:
            lines.append(f"{n['notebook']:<22} skipped: {n['skipped']}")
            continue
        lines.append(f"{n['notebook']:<22} {len(n['rows']):>5} {n['agree']:>6} {n['disagree']:>7} {n['not_compared']:>9} "
                     f"{n['verdicts_differ']:>16}  {'same CPU' if n['same_machine'] else 'another CPU'}")
        shown += [(n["notebook"], r) for r in n["rows"] if not r["verdict_equal"] or r["agree"] is False]
    for nb, r in shown[:max_rows]:
        flag = "VERDICT " if not r["verdict_equal"] else ""
        lines.append(f"  {flag}{nb}: {r['claim']} / {r['dataset']} / {r['method']} / {r['metric']}: committed "
                     f"{r['committed']} ({r['committed_verdict']}), rerun {r['rerun']} ({r['rerun_verdict']})")
    if len(shown) > max_rows:
        lines.append(f"  ... and {len(shown) - max_rows} more rows in the report")
    return lines
