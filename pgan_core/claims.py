"""Claim / measurement / verdict rows, built from the tidy tables of :mod:`pgan_core.experiments`.

Each function compares a method with its baseline on one metric across seeds and returns a row:
``claim``, ``dataset``, ``metric``, ``method``, ``baseline``, the two means with 95% intervals,
the Welch interval of the difference, and the verdict (see :mod:`pgan_core.stats`).
"""
from __future__ import annotations

import math
from typing import Any

from .stats import fmt_ci, mean_ci, verdict_from_interval, welch_diff


def compare(df, *, claim: str, metric: str, method: str, baseline: str, dataset: str, better: str,
            digits: int = 2, note: str = "") -> dict[str, Any]:
    """Row for "``method`` has a ``better`` ('lower'/'higher') ``metric`` than ``baseline`` on ``dataset``"."""
    sub = df[df["dataset"] == dataset]
    a = sub[sub["method"] == method][metric].dropna().tolist() if metric in sub else []
    b = sub[sub["method"] == baseline][metric].dropna().tolist() if metric in sub else []
    if not a or not b:
        return {"claim": claim, "dataset": dataset, "metric": metric, "method": method, "baseline": baseline,
                "ours": "not measured", "baseline_value": "not measured", "difference": "n/a",
                "verdict": "inconclusive", "note": note or "metric not measured in this profile"}
    ma, mb = mean_ci(a), mean_ci(b)
    d, lo, hi = welch_diff(a, b)
    verdict = verdict_from_interval(lo, hi, claim=better)
    return {"claim": claim, "dataset": dataset, "metric": metric, "method": method, "baseline": baseline,
            "ours": fmt_ci(*ma[:3], digits), "baseline_value": fmt_ci(*mb[:3], digits),
            "difference": (f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]" if math.isfinite(lo)
                           else f"{d:+.{digits}f} (too few seeds for an interval)"),
            "n_seeds": f"{len(a)} vs {len(b)}", "verdict": verdict, "note": note}


def exact(*, claim: str, dataset: str, metric: str, method: str, baseline: str, ours: float, base: float,
          better: str, note: str = "") -> dict[str, Any]:
    """Row for a deterministic quantity (e.g. parameter counts): no interval needed."""
    ok = ours < base if better == "lower" else ours > base
    return {"claim": claim, "dataset": dataset, "metric": metric, "method": method, "baseline": baseline,
            "ours": f"{ours:,.0f}", "baseline_value": f"{base:,.0f}", "difference": f"{ours / base:.3f}x",
            "n_seeds": "exact", "verdict": "reproduced" if ok else "not reproduced", "note": note}


def curve_mean(curves, metric: str):
    """Per run: the mean of ``metric`` over the evaluations during training (lower FID = faster
    convergence), and the first iteration at which it reached each run's dataset baseline's final
    mean. Returns a DataFrame with method, dataset, seed, ``<metric>_mean_over_training``."""
    g = curves.dropna(subset=[metric]).groupby(["method", "dataset", "seed"])[metric].mean()
    return g.rename(f"{metric}_mean_over_training").reset_index()


def steps_to_reach(curves, metric: str, *, baseline: str, x: str = "step"):
    """Per run: the first ``x`` (iteration or train_seconds) at which ``metric`` is <= the baseline's
    final mean on the same dataset (NaN if never). Lower = reaches baseline quality sooner."""
    import numpy as np
    import pandas as pd

    rows = []
    for ds, sub in curves.dropna(subset=[metric]).groupby("dataset"):
        base = sub[sub["method"] == baseline]
        if base.empty:
            continue
        last = base[base["step"] == base["step"].max()][metric].mean()
        for (m, s), run in sub.groupby(["method", "seed"]):
            run = run.sort_values("step")
            hit = run[run[metric] <= last]
            rows.append({"method": m, "dataset": ds, "seed": s, "target": last,
                         f"{x}_to_baseline_final": float(hit[x].iloc[0]) if len(hit) else np.nan})
    return pd.DataFrame(rows)


def equivalent(df, *, claim: str, metric: str, method: str, baseline: str, dataset: str, margin: float = 0.10,
               digits: int = 2, note: str = "") -> dict[str, Any]:
    """Row for "``method`` is as good as ``baseline``": the Welch interval of the difference must lie
    within +-``margin`` x the baseline's mean (reproduced), entirely outside it on the worse (higher)
    side (not reproduced), or neither (inconclusive). For lower-is-better metrics."""
    row = compare(df, claim=claim, metric=metric, method=method, baseline=baseline, dataset=dataset,
                  better="lower", digits=digits, note=note)
    if row["ours"] == "not measured":
        return row
    sub = df[df["dataset"] == dataset]
    a = sub[sub["method"] == method][metric].dropna().tolist()
    b = sub[sub["method"] == baseline][metric].dropna().tolist()
    d, lo, hi = welch_diff(a, b)
    tol = margin * abs(mean_ci(b)[0])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        verdict = "inconclusive"
    elif -tol <= lo and hi <= tol:
        verdict = "reproduced"
    elif lo > tol:
        verdict = "not reproduced"
    else:
        verdict = "inconclusive"
    row["verdict"] = verdict
    row["note"] = (note + f" equivalence margin +-{margin:.0%} of the baseline").strip()
    return row
