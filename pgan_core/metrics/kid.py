"""Kernel Inception Distance (KID): unbiased MMD^2 with a cubic polynomial kernel.

Reference: Binkowski, Sutherland, Arbel, Gretton 2018, "Demystifying MMD GANs",
arXiv:1801.01401. Kernel k(x, y) = (x . y / d + 1)^3 and the unbiased estimator

    MMD^2 = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i, j} k(x_i, y_j)

averaged over ``n_subsets`` random subsets of size m, as in torch-fidelity (``metric_kid.py``)
and StyleGAN2-ADA (``kid50k_full``: 100 subsets of <= 1000). Differences from torch-fidelity,
which raises when a set has fewer than ``kid_subset_size`` samples: the subset size is capped at
min(N_a, N_b) and the effective size is returned; subsets are drawn with
``numpy.random.default_rng(seed)`` (torch-fidelity uses ``RandomState``), so the subset choice,
and hence the last digits, differ from torch-fidelity for the same seed. All maths is float64.
KID is unbiased in N, which is why small-N Inception protocols (e.g. ``kid500_inception``) use it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, check_positive

__all__ = ["kid", "mmd2_unbiased", "polynomial_kernel"]

# Precompute the full kernel matrices (then index them per subset) when they fit in this budget.
_FULL_KERNEL_BYTES = 512 * 2**20


def _to_float64(feats: Any, name: str) -> np.ndarray:
    if hasattr(feats, "detach"):
        feats = feats.detach().cpu().double().numpy()
    arr = np.asarray(feats, dtype=np.float64)
    if arr.ndim != 2:
        raise ConfigError(f"parameter '{name}': expected features of shape (N, d), got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ConfigError(f"parameter '{name}': KID needs at least 2 samples per set, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ConfigError(f"parameter '{name}': features contain NaN or inf values")
    return arr


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for rows of x (m, d) and y (n, d) -> (m, n)."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel blocks (m, m) each (diagonals of k_xx, k_yy excluded)."""
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid(feats_a: Any, feats_b: Any, *, n_subsets: int = 100, subset_size: int = 1000,
        seed: int = 2020) -> dict[str, float | int]:
    """KID between feature sets (N_a, d) and (N_b, d) (torch or numpy).

    Returns ``{'mean', 'std', 'subset_size', 'n_subsets', 'seed'}``: mean and (population, ddof=0,
    as torch-fidelity) std of the per-subset MMD^2 estimates, the effective subset size
    (``min(subset_size, N_a, N_b)``), the number of subsets and the seed.
    """
    a = _to_float64(feats_a, "feats_a")
    b = _to_float64(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"parameters 'feats_a'/'feats_b': feature dimensions differ ({a.shape[1]} vs {b.shape[1]})")
    check_positive("n_subsets", n_subsets, integer=True)
    check_positive("subset_size", subset_size, integer=True)
    if subset_size < 2:
        raise ConfigError(f"parameter 'subset_size': got {subset_size}; allowed: an integer >= 2")
    n_a, n_b = len(a), len(b)
    m = min(subset_size, n_a, n_b)
    rng = np.random.default_rng(seed)

    # Full kernel matrices are cheaper when the sets are small relative to n_subsets * m^2.
    full_entries = n_a * n_a + n_b * n_b + n_a * n_b
    use_full = full_entries * 8 <= _FULL_KERNEL_BYTES and full_entries <= 3 * n_subsets * m * m
    if use_full:
        k_aa, k_bb, k_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)

    mmds = np.empty(n_subsets, dtype=np.float64)
    for i in range(n_subsets):
        ia = rng.choice(n_a, m, replace=False)  # (m,)
        ib = rng.choice(n_b, m, replace=False)  # (m,)
        if use_full:
            mmds[i] = mmd2_unbiased(k_aa[np.ix_(ia, ia)], k_ab[np.ix_(ia, ib)], k_bb[np.ix_(ib, ib)])
        else:
            x, y = a[ia], b[ib]
            mmds[i] = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(x, y), polynomial_kernel(y, y))
    return {"mean": float(mmds.mean()), "std": float(mmds.std()), "subset_size": int(m),
            "n_subsets": int(n_subsets), "seed": int(seed)}
