"""Inception Score from classifier logits.

Reference: Salimans et al. 2016, "Improved Techniques for Training GANs", arXiv:1606.03498:

    IS = exp(E_x KL(p(y|x) || p(y)))

computed per split (p(y) is the mean prediction *within* the split), then mean and std
(ddof=0) over ``splits`` splits, as in the original code and torch-fidelity
(``metric_isc.py``). torch-fidelity additionally shuffles the rows with
``np.random.RandomState(2020).permutation`` before splitting; pass ``shuffle_seed=2020`` to do
the same. The softmax is taken in float64.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, check_positive

__all__ = ["inception_score"]


def inception_score(logits: Any, splits: int = 10, *, shuffle_seed: int | None = None) -> tuple[float, float]:
    """IS mean and std from logits (N, K) (torch or numpy); N >= splits."""
    x = logits.detach().cpu() if isinstance(logits, torch.Tensor) else torch.from_numpy(np.asarray(logits))
    if x.ndim != 2:
        raise ConfigError(f"parameter 'logits': expected shape (N, K), got {tuple(x.shape)}")
    check_positive("splits", splits, integer=True)
    n = x.shape[0]
    if n < splits:
        raise ConfigError(f"parameter 'logits': {n} rows is fewer than splits={splits}")
    x = x.to(torch.float64)
    if not torch.isfinite(x).all():
        raise ConfigError("parameter 'logits': contains NaN or inf values")
    if shuffle_seed is not None:
        x = x[torch.from_numpy(np.random.RandomState(shuffle_seed).permutation(n))]
    log_p = x.log_softmax(dim=1)  # (N, K) log p(y|x)
    p = log_p.exp()
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_c, log_p_c = p[lo:hi], log_p[lo:hi]  # (n_i, K)
        log_q = p_c.mean(dim=0, keepdim=True).log()  # (1, K) log p(y) within the split
        terms = torch.where(p_c > 0, p_c * (log_p_c - log_q), torch.zeros_like(p_c))  # 0 log 0 := 0
        kl = terms.sum(dim=1)  # (n_i,) KL(p(y|x) || p(y))
        scores.append(float(kl.mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))
