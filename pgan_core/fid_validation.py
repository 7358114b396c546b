"""The FID's own validation, as in TTUR (Heusel et al. 2017, arXiv:1706.08500, Fig. 1 and App. A).

Three experiments on real images, under one evaluator's protocol (reference = its real split):

* :func:`disturbance_curves`: FID of real images of the other split, increasingly disturbed by
  each of :data:`pgan_core.disturb.DISTURBANCES`; the paper's claim is that the FID rises with
  every disturbance level (level 0 is the real-vs-real floor).
* :func:`sample_size_bias`: the FID of the same source at growing sample sizes (1k, 2k, 5k,
  10k): the estimator is biased upwards at small n (TTUR's reason for asking >= 10k samples).
* :func:`monotone`: whether a curve rises at every step (the verdict used in the notebook).

Each returns a tidy pandas DataFrame with protocol-named columns (e.g. ``fid5k_domain``).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import torch

from .data import load_dataset
from .disturb import DISTURBANCES, disturb
from .errors import bad_param, check_choice, check_range
from .metrics.evaluate import protocol_key


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
    rows, cache = [], {}
    jobs = [(name, lv) for name in names for lv in levels]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="disturbances", leave=False)
    for name, lv in jobs:
        kw = {"other": other} if name == "contaminate" else {}
        if "seed" in inspect.signature(DISTURBANCES[name]).parameters:
            kw["seed"] = seed
        if lv == 0.0:                                                  # identical for every disturbance
            if "floor" not in cache:
                cache["floor"] = evaluator.evaluate(x)
            metrics = cache["floor"]
        else:
            metrics = evaluator.evaluate(disturb(name, x, lv, **kw))
        rows.append({"disturbance": name, "level": lv, **metrics})
    return pd.DataFrame(rows)


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
