"""Figures shared by the notebooks: one style, sample grids, metric curves with seed bands,
parameter bars and perturbation masks. Functions return matplotlib figures; saving goes through
:meth:`pgan_core.results.Results.save_fig`.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "nbagg", "widget", "ipympl")) else None
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def set_style() -> None:
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 90, "savefig.dpi": 110, "axes.titlesize": 11})


def image_grid(images_uint8: torch.Tensor, nrow: int = 8) -> np.ndarray:
    """(N, C, H, W) uint8 -> (rows*H, nrow*W, 3) uint8 mosaic with 1 px gaps."""
    x = images_uint8
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    n, c, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    out = np.full((rows * (h + 1) + 1, nrow * (w + 1) + 1, 3), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        out[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + k * (w + 1): 1 + k * (w + 1) + w] = x[i].permute(1, 2, 0).numpy()
    return out


def _dpi(dpi: float | None) -> float:
    """The dots per inch a figure will be saved at: ``dpi``, else matplotlib's savefig (or figure) setting."""
    if dpi is not None:
        return float(dpi)
    saved = plt.rcParams.get("savefig.dpi", "figure")
    return float(plt.rcParams["figure.dpi"] if saved == "figure" else saved)


def _wrapped(title: str, width_in: float, fontsize: float) -> str:
    """``title`` broken into lines that fit ``width_in`` inches at ``fontsize`` points (about 0.55 em a character)."""
    import textwrap

    return textwrap.fill(title, max(12, int(width_in * 72 / (0.55 * fontsize))))


def sample_grids(grids: dict[str, torch.Tensor], *, nrow: int = 8, title: str = "", dpi: float | None = None,
                 max_cols: int = 4):
    """One panel per entry (e.g. method -> uint8 samples), at most ``max_cols`` panels a row. Every image is drawn
    at least at its native size when the figure is saved at ``dpi`` (default: matplotlib's savefig dpi), and
    titles wrap to their panel, so nine methods stay readable instead of a strip squeezed to one line."""
    n = len(grids)
    cols = max(1, min(n, max_cols))
    rows = -(-n // cols)
    first = next(iter(grids.values()))
    h, w = first.shape[-2:]
    per_row = min(nrow, max(1, len(first)))
    mosaic_w, mosaic_h = per_row * (w + 1) + 1, -(-len(first) // per_row) * (h + 1) + 1
    dots = _dpi(dpi)
    pw = max(2.6, 1.1 * mosaic_w / dots)                            # inches: >= 1 saved pixel per image pixel
    ph = pw * mosaic_h / mosaic_w + 0.6                             # + the panel title and its padding
    top = 0.5 if title else 0.0
    fig, axes = plt.subplots(rows, cols, figsize=(pw * cols, ph * rows + top), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, imgs) in zip(axes.flat, grids.items()):
        ax.imshow(image_grid(imgs, per_row), interpolation="nearest")
        ax.set_title(_wrapped(str(name), pw, 9), fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(_wrapped(title, pw * cols, 10), fontsize=10)
    fig.tight_layout()
    return fig


def curves(df, *, x: str, y: str, hue: str = "method", col: str | None = "dataset", xlabel: str | None = None,
           logy: bool = False):
    """Mean curve per ``hue`` with a band spanning the seeds (min..max), one panel per ``col``."""
    cols = sorted(df[col].unique()) if col else [None]
    fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 3.6), squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, cv in zip(axes[0], cols):
        sub = df if cv is None else df[df[col] == cv]
        for i, (name, g) in enumerate(sorted(sub.groupby(hue), key=lambda t: t[0])):
            agg = g.groupby("step").agg(xm=(x, "mean"), ym=(y, "mean"), ylo=(y, "min"), yhi=(y, "max")).reset_index()
            color = palette[i % len(palette)]
            ax.plot(agg["xm"], agg["ym"], marker="o", ms=3, label=name, color=color)
            ax.fill_between(agg["xm"], agg["ylo"], agg["yhi"], alpha=0.15, color=color)
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(y)
        if logy:
            ax.set_yscale("log")
        if cv is not None:
            ax.set_title(str(cv))
    axes[0][-1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def bars(df, *, x: str, y: str, hue: str | None = None, logy: bool = False, title: str = ""):
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 3.4))
    sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax, errorbar=("ci", 95) if df.groupby([x] + ([hue] if hue else [])).size().max() > 1 else None)
    if logy:
        ax.set_yscale("log")
    ax.tick_params(axis="x", rotation=30)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def masks(named_masks: dict[str, torch.Tensor], *, channels: int = 4):
    """Show the first ``channels`` planes of each (C, H, W) mask, one row per mask source."""
    n = len(named_masks)
    fig, axes = plt.subplots(n, channels, figsize=(1.6 * channels, 1.7 * n), squeeze=False)
    for r, (name, m) in enumerate(named_masks.items()):
        for k in range(channels):
            ax = axes[r][k]
            if k < m.shape[0]:
                ax.imshow(m[k].float().numpy(), cmap="coolwarm", vmin=-1, vmax=1)
            ax.set_xticks([]); ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    return fig


def mask_histograms(named_masks: dict[str, torch.Tensor]):
    fig, ax = plt.subplots(figsize=(5, 3))
    for name, m in named_masks.items():
        ax.hist(m.flatten().float().numpy(), bins=50, histtype="step", density=True, label=name)
    ax.set_xlabel("mask value (before the level factor)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lines(df, *, x: str, y: str, hue: str, col: str | None = None, logy: bool = False, logx: bool = False,
          title: str = "", sharey: bool = False, band: tuple[str, str] | None = None):
    """One line per ``hue`` value (means over repeated x), one panel per ``col`` value; ``band``: the columns of
    an interval (low, high) drawn as a shaded band around each line."""
    cols = list(dict.fromkeys(df[col])) if col else [None]
    n = len(cols)
    ncol = min(n, 3)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.3 * ncol, 3.2 * nrow), squeeze=False, sharey=sharey)
    for ax, cv in zip(axes.flat, cols):
        sub = df if cv is None else df[df[col] == cv]
        for name, g in sub.groupby(hue, sort=False):
            agg = g.groupby(x)[y].mean()
            (line,) = ax.plot(agg.index, agg.values, marker="o", ms=3, label=str(name))
            if band is not None:
                lo, hi = g.groupby(x)[band[0]].mean(), g.groupby(x)[band[1]].mean()
                ax.fill_between(lo.index, lo.values, hi.values, color=line.get_color(), alpha=0.25, lw=0)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        if logy:
            ax.set_yscale("log")
        if logx:
            ax.set_xscale("log")
        if cv is not None:
            ax.set_title(str(cv))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    list(axes.flat)[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def quality_vs_cost(table, *, x: str, y: str, col: str = "dataset", xlabel: str | None = None, logx: bool = True):
    """One point per method with its 95% interval (columns ``ci_low``/``ci_high`` of
    :func:`pgan_core.leaderboard.standings`) against a cost column ``x`` (seconds, parameters), one panel per ``col``."""
    cols = list(dict.fromkeys(table[col]))
    fig, axes = plt.subplots(1, len(cols), figsize=(4.8 * len(cols), 3.8), squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods = list(dict.fromkeys(table["method"]))
    for ax, cv in zip(axes[0], cols):
        sub = table[table[col] == cv]
        for _, r in sub.iterrows():
            c = palette[methods.index(r["method"]) % len(palette)]
            lo, hi = r["ci_low"], r["ci_high"]
            err = None if not (np.isfinite(lo) and np.isfinite(hi)) else [[r[y] - lo], [hi - r[y]]]
            ax.errorbar(r[x], r[y], yerr=err, fmt="o", color=c, ms=5, capsize=3, label=r["method"])
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(y)
        ax.set_title(str(cv))
        xs = sub[x].astype(float)
        if logx and xs.min() > 0 and xs.max() / xs.min() > 10:                # log only when it spans a decade
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())   # no overlapping minor labels
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.tight_layout()
    return fig


def pilot(curves, metric: str, samples_uint8: torch.Tensor, *, title: str = "", last: float = 0.25,
          samples_title: str = "final samples", floor: float | None = None):
    """A budget pilot: the seed-mean ``metric`` curve (band: min..max over seeds) with its last quarter
    shaded, beside the final samples. The y axis is logarithmic when the curve spans more than a decade, so a
    relative change in the last quarter (the convergence rule) reads as a slope. ``floor``: the metric of real
    images under the same protocol, drawn dashed."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1.4, 1]})
    agg = curves.groupby("step")[metric].agg(["mean", "min", "max"]).reset_index()
    ax.plot(agg["step"], agg["mean"], marker="o", ms=3)
    ax.fill_between(agg["step"], agg["min"], agg["max"], alpha=0.2)
    end = float(agg["step"].iloc[-1])
    ax.axvspan((1 - last) * end, end, color="0.85", zorder=0, label="last quarter")
    if floor is not None:
        ax.axhline(floor, ls="--", color="0.3", lw=1, label=f"real data ({floor:.2f})")
    ax.set_xlabel("generator iterations")
    ax.set_ylabel(metric)
    low = min(float(agg["min"].min()), floor if floor is not None and floor > 0 else float("inf"))
    if low > 0 and agg["max"].max() / low > 10:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax2.imshow(image_grid(samples_uint8, 8))
    ax2.set_title(samples_title, fontsize=9)
    ax2.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
