"""Claim / measurement / verdict rows, built from the tidy tables of :mod:`pgan_core.experiments`.

Each function compares a method with its baseline on one metric across seeds and returns a row:
``claim``, ``dataset``, ``metric``, ``method``, ``baseline``, the two means with 95% intervals,
the Welch interval of the difference, and the verdict (see :mod:`pgan_core.stats`).
:func:`with_controls` (:func:`with_controls_exact` for exact counts) adds the decisive controls of a
perturbation claim to a row: the method against DCGAN, against its noise-off control (level 0) and
against its architecture control (the same topology with 3x3 convolutions), and an ``attribution``
sentence saying what the evidence puts down to the perturbation and what to the architecture.
"""
from __future__ import annotations

import math
from typing import Any

from .metrics.evaluate import parse_protocol
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


# ---------------------------------------------------------------- controls: the perturbation's part, the architecture's

_VS_DCGAN = {"reproduced": "better than DCGAN", "not reproduced": "worse than DCGAN",
             "inconclusive": "undecided vs DCGAN"}
_VS_NOISE = {"reproduced": "the noise helps (vs its noise-off control)",
             "not reproduced": "the noise hurts (the noise-off control is better)",
             "inconclusive": "effect of the noise undecided"}
_VS_CONV = {"reproduced": "perturbation layers beat 3x3 convs in the same topology",
            "not reproduced": "3x3 convs in the same topology do better",
            "inconclusive": "vs 3x3 convs in the same topology undecided"}


def attribution(v_dcgan: str, v_noise: str, v_conv: str, v_noise_dcgan: str) -> str:
    """One sentence from four verdicts ('reproduced' = the first is better): method vs DCGAN, method vs its
    noise-off control, method vs its 3x3-conv control, and noise-off control vs DCGAN."""
    text = f"{_VS_DCGAN[v_dcgan]}; {_VS_NOISE[v_noise]}; {_VS_CONV[v_conv]}. "
    if v_dcgan == "reproduced" and v_noise == "reproduced":
        return text + "The evidence attributes (part of) the gain over DCGAN to the perturbation."
    if v_dcgan == "reproduced" and v_noise_dcgan == "reproduced":
        return text + ("The evidence attributes the gain over DCGAN to the architecture (the noise-off control "
                       "is better than DCGAN too), not to the perturbation.")
    if v_dcgan == "reproduced":
        return text + "The gain over DCGAN cannot be attributed with this evidence."
    if v_noise == "reproduced":
        return text + "The noise helps within this architecture, without a decided gain over DCGAN."
    if v_dcgan == v_noise == v_conv == "inconclusive":
        return text + "Undecided: nothing is attributed to the perturbation or to the architecture."
    return text + "Nothing here is attributable to the perturbation."


def with_controls(row: dict[str, Any], df, *, noise_off: str, conv: str, dcgan: str = "dcgan", better: str,
                  digits: int = 2) -> dict[str, Any]:
    """``row`` (from :func:`compare` or :func:`equivalent`) with the decisive controls beside its own baseline:
    ``vs_dcgan``, ``vs_noise_off``, ``vs_conv`` (the row method's difference from DCGAN, from the same network
    with noise level 0, and from the same topology with 3x3 convolutions, each with its verdict, on the row's
    metric and dataset) and ``attribution`` (:func:`attribution`). The row's own verdict is kept."""
    out = dict(row)
    kw = dict(claim=row["claim"], metric=row["metric"], dataset=row["dataset"], better=better, digits=digits)
    verdicts = {}
    for label, other, who in (("dcgan", dcgan, row["method"]), ("noise_off", noise_off, row["method"]),
                              ("conv", conv, row["method"]), ("noise_off_dcgan", dcgan, noise_off)):
        r = compare(df, method=who, baseline=other, **kw)
        verdicts[label] = r["verdict"]
        if label != "noise_off_dcgan":
            few = "too few seeds" in r["difference"]                       # no interval: say so once, briefly
            diff = r["difference"].split(" (")[0] if few else r["difference"]
            out[f"vs_{label}"] = ("not measured" if r["ours"] == "not measured" else
                                  f"{diff} vs {other} ({r['verdict']}{': too few seeds' if few else ''})")
    out["attribution"] = attribution(verdicts["dcgan"], verdicts["noise_off"], verdicts["conv"],
                                     verdicts["noise_off_dcgan"])
    return out


def with_controls_exact(row: dict[str, Any], counts: dict[str, float], *, noise_off: str, conv: str,
                        dcgan: str = "dcgan") -> dict[str, Any]:
    """:func:`with_controls` for a deterministic quantity (parameter counts): ``counts`` maps method -> value."""
    out = dict(row)
    m = row["method"]
    ours = counts[m]
    for label, other in (("dcgan", dcgan), ("noise_off", noise_off), ("conv", conv)):
        out[f"vs_{label}"] = f"{ours / counts[other]:.3f}x {other}" if other in counts else "not measured"
    if not {dcgan, noise_off, conv} <= set(counts):
        out["attribution"] = "controls not built"
        return out
    noise = ("the noise adds none (its noise-off control has the same count)" if counts[noise_off] == ours
             else f"its noise-off control has {counts[noise_off] / ours:.3f}x")
    kernel = (f"the 1x1 kernel saves {1 - ours / counts[conv]:.0%} against 3x3 convs in the same topology"
              if counts[conv] > ours else f"its 3x3-conv control has {counts[conv] / ours:.3f}x")
    topo = (f"the topology alone saves {1 - counts[conv] / counts[dcgan]:.0%} against DCGAN"
            if counts[conv] < counts[dcgan]
            else f"the topology alone (3x3 convs) has {counts[conv] / counts[dcgan]:.2f}x DCGAN's")
    out["attribution"] = f"{m}: {ours / counts[dcgan]:.3f}x DCGAN's count; {noise}; {kernel}; {topo}."
    return out


def convergence(curves, metric: str, *, method: str, dataset: str, last: float = 0.25,
                tol: float = 0.10) -> dict[str, Any]:
    """Has ``method`` converged on ``dataset`` by the rule of this companion: over the last ``last``
    fraction of training its ``metric`` changes by less than ``tol`` (relative)?

    The change is read from a least-squares line through the seed-mean evaluations of the window (from the
    last evaluation at or before (1 - last) * the final step to the end): |line(end) - line(start)| /
    line(start). A line, not the two end points, because single evaluations of a GAN oscillate by more than
    10% from one to the next; the row also reports the two end points and the largest excursion within the
    window, so a curve that dips and comes back is visible."""
    import numpy as np

    sub = curves[(curves["method"] == method) & (curves["dataset"] == dataset)].dropna(subset=[metric])
    if sub.empty:
        return {"method": method, "dataset": dataset, "metric": metric, "converged": None,
                "note": "no evaluations during training"}
    m = sub.groupby("step")[metric].mean().sort_index()
    end_step = int(m.index[-1])
    start_candidates = m.index[m.index <= (1 - last) * end_step]
    if len(start_candidates) == 0 or len(m[m.index >= start_candidates[-1]]) < 2:
        return {"method": method, "dataset": dataset, "metric": metric, "converged": None,
                "note": "no evaluation before the last quarter"}
    start = int(start_candidates[-1])
    window = m[m.index >= start]
    slope, intercept = np.polyfit(window.index.to_numpy(dtype=float), window.to_numpy(dtype=float), 1)
    line_start, line_end = intercept + slope * start, intercept + slope * end_step
    change = abs(line_end - line_start) / abs(line_start)
    excursion = float((window.max() - window.min()) / abs(float(window.mean())))
    return {"method": method, "dataset": dataset, "metric": metric, "window": f"{start}-{end_step}",
            "evaluations": int(len(window)), "start": float(m[start]), "end": float(m.iloc[-1]),
            "trend_start": float(line_start), "trend_end": float(line_end), "relative_change": float(change),
            "max_excursion": excursion, "n_seeds": int(sub["seed"].nunique()), "tolerance": tol,
            "converged": bool(change < tol)}


def in_paper_range(value: float, *, low: float, high: float, verdict: str, protocol: str,
                   paper_extractor: str = "inception") -> str:
    """Is a measured relative change inside the paper's published range? Only answered ('yes' / 'no') when the
    number is the paper's kind (``protocol``'s extractor is ``paper_extractor``) and the comparison behind it was
    decided (``verdict`` 'reproduced': its interval excludes zero); otherwise says why it is not answered."""
    extractor = parse_protocol(protocol).extractor
    if extractor != paper_extractor:
        return f"not comparable: {protocol} uses {extractor} features, the paper's range is {paper_extractor} FID"
    if verdict != "reproduced":
        return f"undecided: the difference is {verdict} (its interval includes 0)"
    return "yes" if low <= value <= high else "no"
