"""Across the papers: every notebook's claims in one table, and standings of methods trained side by side.

* :func:`collect_claims` reads ``results/<notebook>/claims.csv`` and ``provenance.json`` of every paper
  notebook and returns one table of claims and verdicts, each row with the profile and commit that
  produced it and a link to the figure behind it (:func:`figure_for`), plus a status row per notebook
  (which ones have no results yet).
* :func:`standings` ranks methods trained on the same data, budget and seeds by a protocol-named
  metric: mean and 95% t-interval over seeds, the Welch interval of each method's difference to the
  best mean, trainable parameters and wall time.
* :func:`export_snapshots` copies chosen runs' final EMA generators into a results folder (small
  files, with provenance) for :mod:`pgan_core.widgets`.

Verdicts are never recomputed here: a claim row is shown exactly as its notebook wrote it.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

from .checkpoint import load_checkpoint
from .errors import ConfigError, bad_param
from .io import REPO_ROOT, atomic_write_json, sha256_file
from .stats import fmt_ci, mean_ci, welch_diff

LEADERBOARD = "00_leaderboard"
VERDICTS = ("reproduced", "not reproduced", "inconclusive")
# keyword of a claim's metric or text -> figure stem fragment, tried in order (after an exact probe_<metric> match)
_FIGURE_RULES = (
    ("mem_gap", "mem_gap"), ("grad_norm", "grad_norm"), ("disturbance", "fid_vs_disturbance"),
    ("sample size", "fid_vs_sample_size"), ("small samples", "fid_vs_sample_size"), ("sid", "sid_curves"),
    ("sec_per_iter", "sec_per_iter"), ("cost", "sec_per_iter"), ("timing", "sec_per_iter"), ("params", "params"),
    ("fid", "fid_vs_iterations"), ("kid", "fid_vs_iterations"), ("is", "samples"), ("iterations", "fid_vs_iterations"),
)


def paper_notebooks(notebook_dir: str | Path | None = None) -> list[str]:
    """Names of the paper notebooks (``NN_name``, the leaderboard excluded), sorted."""
    d = Path(notebook_dir) if notebook_dir is not None else REPO_ROOT / "notebooks"
    return sorted(p.stem for p in d.glob("[0-9][0-9]_*.ipynb") if p.stem != LEADERBOARD)


def figure_for(notebook: str, row: dict[str, Any], figures: Sequence[str]) -> str | None:
    """The figure (a stem of ``figures``) behind a claim row of ``notebook``, or None.

    Rules, first hit wins: ``probe_<metric>``; then keywords of the metric and the claim text
    (``_FIGURE_RULES``), preferring a figure whose stem also names a token of the claim (e.g. 'dcgan',
    'domain'); timing and parameter rows have no figure (None) unless one is named after them.
    """
    stems = sorted(Path(f).stem for f in figures)
    metric = str(row.get("metric", "")).lower()
    text = " ".join(str(row.get(k, "")).lower() for k in ("claim", "method", "dataset"))
    text = f"{metric} {text}"
    if f"probe_{metric}" in stems:
        return f"probe_{metric}"
    words = set(re.findall(r"[a-z0-9-]+", text))
    for key, frag in _FIGURE_RULES:
        if re.search(rf"(^|[^a-z]){re.escape(key)}($|[^a-z])", text):
            hits = [s for s in stems if frag in s]
            if hits:                                 # prefer the figure whose remaining name parts the row names
                named = [s for s in hits if words & set(s.replace(frag, "").strip("_").split("_"))]
                return (named or hits)[0]
            if key in ("sec_per_iter", "cost", "timing", "params"):
                return None
    return None


def collect_claims(results_root: str | Path | None = None, notebooks: Sequence[str] | None = None):
    """(claims, status) DataFrames from every notebook's results folder.

    claims: the rows of each ``claims.csv`` with ``notebook``, ``profile``, ``commit``, ``date_utc`` and
    ``figure`` (path relative to the repository root, or '' when no figure matches) added.
    status: one row per notebook: results present or not, profile, commit, date, the wall minutes of the last
    execution (a re-execution from finished runs is short: see each notebook's runs.csv for training time), verdicts.
    """
    import pandas as pd

    root = Path(results_root) if results_root is not None else REPO_ROOT / "results"
    rows, status = [], []
    for nb in (list(notebooks) if notebooks is not None else paper_notebooks()):
        d = root / nb
        prov_path, claims_path = d / "provenance.json", d / "claims.csv"
        if not (prov_path.is_file() and claims_path.is_file()):
            status.append({"notebook": nb, "results": "none yet (run: python -m pgan_core.reproduce --notebooks "
                                                      f"{nb[:2]})"})
            continue
        prov = json.loads(prov_path.read_text())
        df = pd.read_csv(claims_path)
        figs = [p.name for p in sorted((d / "figures").glob("*.png"))]
        meta = {"notebook": nb, "profile": prov.get("profile"), "commit": (prov.get("git") or {}).get("commit", "")[:10],
                "date_utc": prov.get("date_utc")}
        for rec in df.to_dict("records"):
            fig = figure_for(nb, rec, figs)
            rows.append({**meta, **rec, "figure": f"{root.name}/{nb}/figures/{fig}.png" if fig else "",
                         "executed": f"{root.name}/{nb}/executed.ipynb"})
        counts = df["verdict"].value_counts().to_dict() if "verdict" in df else {}
        status.append({**meta, "results": "present", "last_execution_minutes": round(prov.get("wall_seconds", math.nan) / 60, 1),
                       "claims": len(df), **{v: int(counts.get(v, 0)) for v in VERDICTS},
                       **{k: int(n) for k, n in counts.items() if k not in VERDICTS}})
    return pd.DataFrame(rows), pd.DataFrame(status)


def standings(runs, metric: str, *, group: str = "dataset", better: str = "lower", digits: int = 2):
    """Rank methods per ``group`` value by the mean of ``metric`` over seeds.

    ``runs``: one row per run with columns ``method``, ``group``, ``seed``, ``metric``, and optionally
    ``params_G_trainable``, ``params_D_trainable``, ``train_seconds``. Returns one row per (group, method):
    n seeds, mean, 95% interval, ``vs_best`` (Welch interval of the difference to the best mean) and
    ``tier`` ('best', 'tied with best' when that interval includes 0, else 'behind'), params, wall time.
    """
    import pandas as pd

    if better not in ("lower", "higher"):
        raise bad_param("better", better, "'lower' or 'higher'")
    for col in ("method", group, metric):
        if col not in runs:
            raise bad_param("metric" if col == metric else "runs", col, f"a column of the runs table ({', '.join(runs.columns)})")
    out = []
    for g, sub in runs.groupby(group, sort=False):
        per = {m: s[metric].dropna().tolist() for m, s in sub.groupby("method", sort=False)}
        means = {m: mean_ci(v)[0] for m, v in per.items() if v}
        if not means:
            continue
        sign = 1 if better == "lower" else -1
        best = min(means, key=lambda m: sign * means[m])
        ranked = sorted(means, key=lambda m: sign * means[m])
        for rank, m in enumerate(ranked, 1):
            s = sub[sub["method"] == m]
            mean, lo, hi, n = mean_ci(per[m])
            d, dlo, dhi = welch_diff(per[m], per[best])
            tier = "best" if m == best else ("tied with best" if not (math.isfinite(dlo) and (dlo > 0 or dhi < 0))
                                              else "behind")
            row = {group: g, "rank": rank, "method": m, "seeds": n, metric: mean, "ci_low": lo, "ci_high": hi,
                   f"{metric} [95% CI]": fmt_ci(mean, lo, hi, digits),
                   "vs_best": "-" if m == best else (f"{d:+.{digits}f} [{dlo:+.{digits}f}, {dhi:+.{digits}f}]"
                                                     if math.isfinite(dlo) else f"{d:+.{digits}f} (too few seeds)"),
                   "tier": tier}
            for col in ("params_G_trainable", "params_D_trainable"):
                if col in s:
                    row[col] = int(s[col].iloc[0])
            if "params_G_trainable" in row and "params_D_trainable" in row:
                row["params_trainable"] = row["params_G_trainable"] + row["params_D_trainable"]
            if "train_seconds" in s:
                row["train_seconds"] = float(s["train_seconds"].mean())
            out.append(row)
    return pd.DataFrame(out)


def export_snapshots(records: dict[str, Any], dest: str | Path, *, provenance: dict[str, Any]) -> list[Path]:
    """Copy the final EMA snapshot of each run (label -> RunRecord or run folder) into ``dest/<label>.pt``
    (with its ``.sha256`` sidecar), and write ``dest/snapshots.json``: per file its config, step, digest,
    size and the run it came from, plus ``provenance`` (commit, profile, device, date). Returns the paths."""
    dest = Path(dest)
    if not isinstance(records, dict) or not records:
        raise bad_param("records", records, "a non-empty dict: label -> RunRecord or run folder")
    items = []
    for label, rec in records.items():
        if not isinstance(label, str) or not label or "/" in label:
            raise bad_param("records", label, "labels that are non-empty file names (no '/')")
        run_dir = Path(getattr(rec, "run_dir", rec))
        snap = run_dir / "snapshot.pt"
        if not snap.is_file():
            raise ConfigError(f"parameter 'records': run {run_dir} has no snapshot.pt (train it first)")
        items.append((label, run_dir, snap))
    dest.mkdir(parents=True, exist_ok=True)
    index, paths = {}, []
    for label, run_dir, snap in items:
        obj = load_checkpoint(snap, expect_format="pgan-snapshot-1")       # verifies the digest first
        out = dest / f"{label}.pt"
        tmp = dest / f".{label}.pt.tmp"
        shutil.copyfile(snap, tmp)
        tmp.replace(out)
        shutil.copyfile(str(snap) + ".sha256", str(out) + ".sha256")
        index[out.name] = {"method": obj["config"]["method"], "dataset": obj["config"]["dataset"],
                           "seed": obj["config"]["seed"], "step": obj["step"], "config_key": obj["config_key"],
                           "sha256": sha256_file(out), "bytes": out.stat().st_size, "run": run_dir.name,
                           "config": obj["config"]}
        paths.append(out)
    atomic_write_json(dest / "snapshots.json", {"provenance": provenance, "snapshots": index})
    return paths


def markdown_table(df) -> str:
    """A DataFrame as a Markdown table (cells with '|' escaped, newlines folded); no extra dependency."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])
