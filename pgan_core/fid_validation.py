"""The FID's own validation, as in TTUR (Heusel et al. 2017, arXiv:1706.08500, Fig. 1 and App. A).

Three experiments on real images, under one evaluator's protocol (reference = its real split):

* :func:`disturbance_curves`: FID of real images of the other split, increasingly disturbed by
  each of :data:`pgan_core.disturb.DISTURBANCES`; the paper's claim is that the FID rises with
  every disturbance level (level 0 is the real-vs-real floor).
* :func:`sample_size_bias`: the FID of the same source at growing sample sizes (1k, 2k, 5k,
  10k): the estimator is biased upwards at small n (TTUR's reason for asking >= 10k samples).
* :func:`monotone`: whether a curve rises at every step.

With intervals (what a verdict needs; the TTUR paper shows single curves):

* :func:`disturbance_study`: the same curves, each FID with a 95% interval from its *bootstrap
  standard error* (resamples of the n images, paired across levels and disturbances: one resample
  draws the same image indices for every set, so a rise between two levels is measured on the same
  images), and the interval of every rise from one level to the next; :func:`rise_verdict` reads them.
* :func:`sample_size_draws`: FID of independent random subsets (draws without replacement) of n
  images from one pool of a source, at each n; :func:`bias_verdict` tests FID(smallest n) > FID(pool).

A bootstrap resample repeats images (about 63% distinct), which raises its FID by a bias of the same
order as the FID's own small-n bias (at 2,000 Inception images the resampled floor FID is about 12
points above the estimate, 14.7): percentile intervals would sit above the estimate and *basic*
intervals (2 F - q) below it, so neither describes the estimate. The interval used is the estimate
F (all n images) +- z * the standard deviation of the resampled FIDs: the sampling spread of F over
images, with F's own small-n bias left as it is (the sample-size study measures that). It covers the
images only: the disturbance's own randomness (one noise draw per level) is fixed. FIDs of resamples
come from :class:`pgan_core.metrics.frechet.FidResampler` (one feature pass per set); the features
of every set are cached on disk (``<cache>/features/``, sha256-verified), so a rerun costs the
resampling only.

Each returns a tidy pandas DataFrame with protocol-named columns (e.g. ``fid5k_domain``).
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .data import load_dataset
from .disturb import DISTURBANCES, disturb
from .errors import bad_param, check_choice, check_range
from .metrics.evaluate import parse_protocol, protocol_key
from . import disturb as disturb_module
from .io import cache_root, file_digest, load_verified, save_verified, stable_hash
from .metrics.frechet import FidResampler


def _real_images(dataset: str, split: str, n: int, seed: int) -> torch.Tensor:
    images = load_dataset(dataset, split).images
    if n > len(images):
        raise bad_param("n", n, f"at most {len(images)} (the {dataset}/{split} split)")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx.sort().values]                                   # (n, C, 32, 32) uint8


def disturbance_curves(evaluator: Any, *, names: Sequence[str] = tuple(DISTURBANCES),
                       levels: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0), n: int | None = None,
                       split: str = "test", seed: int = 0, other_dataset: str | None = None,
                       progress: bool = False):
    """FID (and KID) of ``n`` real ``split`` images under each disturbance and level.

    ``evaluator`` (a :class:`pgan_core.metrics.Evaluator`) fixes the protocols and the reference
    (its ``ref_split``, normally the train split); ``n`` defaults to the largest protocol n.
    ``contaminate`` mixes in images of ``other_dataset`` (channels matched by repeating or
    averaging), the analogue of TTUR's ImageNet-into-CelebA. Returns rows
    (disturbance, level, <protocol keys>).
    """
    import pandas as pd

    rows, cache = [], {}
    for name, lv, images in _disturbed_sets(evaluator, names, levels, n, split, seed, other_dataset, progress):
        if lv == 0.0:                                                  # identical for every disturbance
            if "floor" not in cache:
                cache["floor"] = evaluator.evaluate(images)
            metrics = cache["floor"]
        else:
            metrics = evaluator.evaluate(images)
        rows.append({"disturbance": name, "level": lv, **metrics})
    return pd.DataFrame(rows)


def _disturbed_sets(evaluator: Any, names: Sequence[str], levels: Sequence[float], n: int | None, split: str,
                    seed: int, other_dataset: str | None, progress: bool):
    """Yield (disturbance, level, uint8 images) for every pair; level 0 yields the undisturbed images."""
    for name in names:
        check_choice("names", name, DISTURBANCES)
    levels = [check_range("levels", float(v), 0.0, 1.0) for v in levels]
    if not levels:
        raise bad_param("levels", levels, "a non-empty list of levels in [0, 1]")
    n = n if n is not None else max(p.n for p in evaluator.protocols)
    x = _real_images(evaluator.dataset, split, n, seed)
    other = None
    if "contaminate" in names:
        if other_dataset is None:
            raise bad_param("other_dataset", None, "a dataset name (required by the 'contaminate' disturbance)")
        other = _match_channels(_real_images(other_dataset, split, n, seed + 1), x.shape[1])
    jobs = [(name, lv) for name in names for lv in levels]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="disturbances", leave=False)
    for name, lv in jobs:
        kw = {"other": other} if name == "contaminate" else {}
        if "seed" in inspect.signature(DISTURBANCES[name]).parameters:
            kw["seed"] = seed
        yield name, lv, (x if lv == 0.0 else disturb(name, x, lv, **kw))


def _se_interval(estimate: float, replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """estimate +- z * sd(replicates): the bootstrap standard-error interval (see the module docstring)."""
    from scipy import stats

    half = float(stats.norm.ppf((1 + confidence) / 2) * np.std(replicates, ddof=1))
    return float(estimate - half), float(estimate + half)


def _cached_features(evaluator: Any, images: torch.Tensor, ident: dict[str, Any]) -> dict[str, torch.Tensor]:
    """``evaluator.features(images)``, kept under ``<cache>/features/`` keyed by ``ident`` and each extractor's
    sha256 (so a changed extractor never reuses stale features)."""
    ident = {**ident, "format": 1, "disturb_code": file_digest(Path(disturb_module.__file__)), "extractors": {p.extractor: evaluator.extractor(p.extractor).sha256
                                                  for p in evaluator.protocols},
             "protocols": evaluator.keys}
    path = cache_root() / "features" / f"disturbed-{stable_hash(ident)}.pt"
    if path.is_file():
        return load_verified(path, what="cached features")
    feats = evaluator.features(images)
    save_verified(path, {k: v.float().contiguous() for k, v in feats.items()})
    return feats


def disturbance_study(evaluator: Any, *, names: Sequence[str] = tuple(DISTURBANCES),
                      levels: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), n: int | None = None,
                      split: str = "test", seed: int = 0, other_dataset: str | None = None, bootstrap: int = 200,
                      confidence: float = 0.95, progress: bool = False):
    """:func:`disturbance_curves` with intervals: returns ``(points, rises)``.

    ``points``: rows (disturbance, level, <every protocol key>, and for each FID key ``<key>_lo``,
    ``<key>_hi``: the bootstrap standard-error interval from ``bootstrap`` resamples of the n images,
    paired across all sets). ``rises``: rows (disturbance, protocol, level_from, level_to, rise, rise_lo,
    rise_hi, draws): FID(level_to) - FID(level_from) for consecutive levels, with the standard-error
    interval of the paired difference. Each set's features are computed once (and cached on disk).
    """
    import pandas as pd

    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 2:
        raise bad_param("bootstrap", bootstrap, "an integer >= 2 (resamples of the images)")
    confidence = check_range("confidence", confidence, 0.5, 0.999)
    fid_protocols = [p for p in evaluator.protocols if p.metric == "fid"]
    if not fid_protocols:
        raise bad_param("evaluator", evaluator.keys, "an evaluator with at least one fid protocol")
    n = n if n is not None else max(p.n for p in evaluator.protocols)
    for p in fid_protocols:
        if p.n != n:
            raise bad_param("n", n, f"the n of every fid protocol (got {p.key})")
    rng = np.random.default_rng(seed + 7919)
    counts = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(bootstrap)]   # paired resamples
    rows, reps, cache = [], {}, {}
    for name, lv, images in _disturbed_sets(evaluator, names, levels, n, split, seed, other_dataset, progress):
        if lv == 0.0 and "floor" in cache:
            metrics, boot = cache["floor"]
        else:
            feats = _cached_features(evaluator, images, {"dataset": evaluator.dataset, "split": split, "n": n,
                                                         "seed": seed, "disturbance": "none" if lv == 0.0 else name,
                                                         "level": lv, "other_dataset": other_dataset})
            metrics = evaluator.evaluate_features(feats)
            boot = {}
            for p in fid_protocols:
                ref = evaluator.fid_reference(p.extractor)
                res = FidResampler(feats[p.extractor][:n], ref["mu"].numpy(), ref["sigma"].numpy())
                boot[p.key] = np.array([res.fid(c) for c in counts])
            if lv == 0.0:
                cache["floor"] = (metrics, boot)
        row = {"disturbance": name, "level": lv, **metrics}
        for key, r in boot.items():
            row[f"{key}_lo"], row[f"{key}_hi"] = _se_interval(metrics[key], r, confidence)
            reps[(name, lv, key)] = r
        rows.append(row)
    points = pd.DataFrame(rows)
    rises = []
    for name in points["disturbance"].unique():
        sub = points[points["disturbance"] == name].sort_values("level")
        for p in fid_protocols:
            lv, vals = sub["level"].tolist(), sub[p.key].tolist()
            for i in range(1, len(lv)):
                d_rep = reps[(name, lv[i], p.key)] - reps[(name, lv[i - 1], p.key)]
                est = vals[i] - vals[i - 1]
                lo, hi = _se_interval(est, d_rep, confidence)
                rises.append({"disturbance": name, "protocol": p.key, "level_from": lv[i - 1], "level_to": lv[i],
                              "rise": est, "rise_lo": lo, "rise_hi": hi, "draws": bootstrap})
    return points, pd.DataFrame(rises)


def rise_verdict(rises: Any, disturbance: str, protocol: str) -> str:
    """'reproduced' when every level-to-level rise of ``disturbance`` has an interval above 0, 'not reproduced'
    when one lies below 0, else 'inconclusive'."""
    sub = rises[(rises["disturbance"] == disturbance) & (rises["protocol"] == protocol)]
    if not len(sub):
        raise bad_param("disturbance", disturbance, f"one of {sorted(rises['disturbance'].unique())}")
    if (sub["rise_lo"] > 0).all():
        return "reproduced"
    if (sub["rise_hi"] < 0).any():
        return "not reproduced"
    return "inconclusive"


def _match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1:
        return x.repeat(1, channels, 1, 1)
    return x.float().mean(1, keepdim=True).round().to(torch.uint8).repeat(1, channels, 1, 1)


def sample_size_bias(evaluator_factory: Callable[[list[str]], Any], sources: dict[str, Callable[[int], torch.Tensor]],
                     *, sizes: Sequence[int] = (1000, 2000, 5000, 10000), extractor: str = "domain"):
    """FID of each source at each sample size, against one reference (the largest protocol's).

    ``evaluator_factory(protocols)`` builds an Evaluator for a list of keys; ``sources`` maps a
    label to ``n -> uint8 images`` (real test images, a generator...). Rows: (source, n, fid, key).
    """
    import pandas as pd

    sizes = sorted(int(s) for s in sizes)
    if not sizes or sizes[0] <= 0:
        raise bad_param("sizes", sizes, "a non-empty list of positive sample sizes")
    keys = [protocol_key("fid", s, extractor) for s in sizes]
    ev = evaluator_factory(keys)
    rows = []
    for label, sample in sources.items():
        images = sample(sizes[-1])
        m = ev.evaluate(images)
        rows += [{"source": label, "n": s, "fid": m[k], "protocol": k} for s, k in zip(sizes, keys)]
    return pd.DataFrame(rows)


def monotone(values: Sequence[float], *, strict: bool = True) -> bool:
    """True when the sequence rises at every step (``strict``) or never falls."""
    v = list(values)
    return all((b > a) if strict else (b >= a) for a, b in zip(v, v[1:]))


def sample_size_draws(evaluator: Any, sources: dict[str, Callable[[int], torch.Tensor]], *, sizes: Sequence[int],
                      draws: int = 10, seed: int = 0):
    """FID of ``draws`` random subsets (without replacement) of n images from one pool per source, at each n.

    ``evaluator`` has one fid protocol whose n is the pool size (>= every size; its extractor and
    reference are used); ``sources`` maps a label to ``n -> uint8 images``. The pool itself is one
    more row (draw 0, n = pool). Rows: (source, n, draw, fid, protocol) with ``protocol`` the key of
    that n (e.g. ``fid2k_inception``).
    """
    import pandas as pd

    fid_protocols = [p for p in evaluator.protocols if p.metric == "fid"]
    if len(fid_protocols) != 1:
        raise bad_param("evaluator", evaluator.keys, "an evaluator with exactly one fid protocol (the pool size)")
    pool = fid_protocols[0]
    sizes = sorted(int(v) for v in sizes)
    if not sizes or sizes[0] < 2 or sizes[-1] > pool.n:
        raise bad_param("sizes", sizes, f"sample sizes from 2 to the pool size {pool.n}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise bad_param("draws", draws, "an integer >= 2")
    ref = evaluator.fid_reference(pool.extractor)
    rng = np.random.default_rng(seed)
    rows = []
    for label, sample in sources.items():
        feats = evaluator.features(sample(pool.n))[pool.extractor]
        res = FidResampler(feats, ref["mu"].numpy(), ref["sigma"].numpy())
        for n in sizes:
            key = protocol_key("fid", n, pool.extractor)
            if n == pool.n:
                rows.append({"source": label, "n": n, "draw": 0, "fid": res.fid(np.ones(pool.n)), "protocol": key})
                continue
            for k in range(draws):
                c = np.zeros(pool.n)
                c[rng.permutation(pool.n)[:n]] = 1.0
                rows.append({"source": label, "n": n, "draw": k, "fid": res.fid(c), "protocol": key})
    return pd.DataFrame(rows)


def bias_verdict(draws: Any, source: str, *, confidence: float = 0.95) -> dict[str, Any]:
    """Is the FID of the smallest n above the FID of the largest n for ``source``? The difference of the means
    over draws, with a t interval from the draws at both sizes (one value at the pool size counts as exact).

    Returns {'n_small', 'n_large', 'fid_small', 'fid_large', 'difference', 'lo', 'hi', 'draws', 'verdict'}."""
    from scipy import stats

    sub = draws[draws["source"] == source]
    if not len(sub):
        raise bad_param("source", source, f"one of {sorted(draws['source'].unique())}")
    n_small, n_large = int(sub["n"].min()), int(sub["n"].max())
    a, b = sub[sub["n"] == n_small]["fid"].to_numpy(), sub[sub["n"] == n_large]["fid"].to_numpy()
    diff = float(a.mean() - b.mean())
    var = a.var(ddof=1) / len(a) + (b.var(ddof=1) / len(b) if len(b) > 1 else 0.0)
    half = float(stats.t.ppf((1 + confidence) / 2, len(a) - 1) * np.sqrt(var))
    lo, hi = diff - half, diff + half
    verdict = "reproduced" if lo > 0 else ("not reproduced" if hi < 0 else "inconclusive")
    return {"n_small": n_small, "n_large": n_large, "fid_small": float(a.mean()), "fid_large": float(b.mean()),
            "difference": diff, "lo": lo, "hi": hi, "draws": int(len(a)), "verdict": verdict}
