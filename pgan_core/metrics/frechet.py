"""Fréchet distance between Gaussians fitted to features (FID).

Reference: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
Nash Equilibrium" (TTUR), arXiv:1706.08500, section 6:

    FID = ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^{1/2})

Numerics:

* statistics are accumulated in float64 (two passes: mean, then centred scatter), with the
  unbiased covariance (ddof=1, as ``np.cov`` in the TTUR code);
* the trace of the square root goes through eigenvalues of a *symmetric* matrix, never through
  ``scipy.linalg.sqrtm`` (whose real/complex Schur heuristics regressed in SciPy 1.11-1.12).
  With S_1 = L L^T, S_1 S_2 is similar to the symmetric PSD matrix L^T S_2 L, so
  Tr((S_1 S_2)^{1/2}) = sum_i sqrt(lambda_i(L^T S_2 L)). L is a Cholesky factor when S_1 is
  positive definite (fast path), else V diag(sqrt(max(w, 0))) from ``eigh(S_1)`` (rank-deficient
  covariances, e.g. fewer samples than dimensions). Tiny negative eigenvalues from round-off are
  clipped to 0. The linear algebra runs in torch float64 (its eigvalsh is faster than numpy's);
  two 2048-d covariances take about 0.9 s on a 2-core CPU (``bench/bench_frechet.py``).
* against fixed reference statistics with fewer generated samples n than dimensions d
  (:func:`fid_to_reference`, what the evaluator and FID-infinity use), the generated covariance is
  S_g = C^T C / (n - 1) for the centred features C (n, d), and the nonzero eigenvalues of S_r S_g are
  those of the (n, n) matrix C S_r C^T / (n - 1) (AB and BA share them): O(n d^2) instead of two
  (d, d) decompositions, the same value to round-off.
* many subsets or bootstrap resamples of one feature set (:class:`FidResampler`): a resample is a
  vector of counts w over the rows (0/1 for a subset, multinomial for a bootstrap); with the k rows
  it uses, centred at its weighted mean, the nonzero eigenvalues of S_r S_g are those of the (k, k)
  matrix W^(1/2) C S_r C^T W^(1/2) / (m - 1), m = sum(w), and C S_r C^T comes from one precomputed
  (n, n) product X S_r X^T. Equal to :func:`fid_to_reference` of the repeated rows to round-off.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["feature_stats", "fid_from_stats", "fid_from_features", "fid_to_reference", "fid_infinity",
           "trace_sqrt_product", "FidResampler"]

_CHUNK = 4096  # rows converted to float64 at a time (bounds memory for 50k x 2048 features)


# ---------------------------------------------------------------- helpers

def _as_2d_array(feats: Any, name: str) -> Any:
    """Return ``feats`` as a 2-D numpy array or torch tensor (no copy), after shape checks."""
    if isinstance(feats, torch.Tensor):
        feats = feats.detach()
    elif not isinstance(feats, np.ndarray):
        feats = np.asarray(feats)
    if feats.ndim != 2:
        raise ConfigError(f"parameter '{name}': expected features of shape (N, d), got shape {tuple(feats.shape)}")
    if feats.shape[0] < 2:
        raise ConfigError(f"parameter '{name}': need at least 2 feature rows for a covariance, got {feats.shape[0]}")
    if feats.shape[1] < 1:
        raise ConfigError(f"parameter '{name}': features have no columns (shape {tuple(feats.shape)})")
    return feats


def _chunk64(feats: Any, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of ``feats`` as a float64 numpy array."""
    block = feats[start:stop]
    if not isinstance(block, np.ndarray):  # torch tensor
        block = block.cpu().double().numpy()
    return np.asarray(block, dtype=np.float64)


# ---------------------------------------------------------------- statistics

def feature_stats(feats: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of features, in float64.

    ``feats``: (N, d) torch tensor or numpy array (any float dtype), N >= 2.
    Returns ``mu`` (d,) and ``sigma`` (d, d), both float64 numpy arrays. Raises ConfigError on a
    wrong shape or non-finite values.
    """
    feats = _as_2d_array(feats, "feats")
    n, d = feats.shape
    # pass 1: mean
    total = np.zeros(d, dtype=np.float64)
    for s in range(0, n, _CHUNK):
        block = _chunk64(feats, s, s + _CHUNK)  # (<=CHUNK, d)
        if not np.isfinite(block).all():
            raise ConfigError("parameter 'feats': features contain NaN or inf values")
        total += block.sum(axis=0)
    mu = total / n  # (d,)
    # pass 2: centred scatter
    scatter = np.zeros((d, d), dtype=np.float64)
    for s in range(0, n, _CHUNK):
        block = _chunk64(feats, s, s + _CHUNK) - mu
        scatter += block.T @ block  # (d, d)
    sigma = scatter / (n - 1)
    sigma = (sigma + sigma.T) * 0.5  # exact symmetry
    return mu, sigma


# ---------------------------------------------------------------- distance

def _check_stats(mu: Any, sigma: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu.detach().cpu().numpy() if hasattr(mu, "detach") else mu, dtype=np.float64)
    sigma = np.asarray(sigma.detach().cpu().numpy() if hasattr(sigma, "detach") else sigma, dtype=np.float64)
    if mu.ndim != 1:
        raise ConfigError(f"parameter 'mu{which}': expected shape (d,), got {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ConfigError(f"parameter 'sigma{which}': expected shape ({d}, {d}) to match mu{which}, got {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ConfigError(f"parameters 'mu{which}'/'sigma{which}': contain NaN or inf values")
    return mu, (sigma + sigma.T) * 0.5


def _psd_factor(sigma: torch.Tensor) -> torch.Tensor:
    """A matrix L with L L^T = sigma (up to round-off): Cholesky, or eigh with clipped eigenvalues."""
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return factor
    w, v = torch.linalg.eigh(sigma)  # singular / semi-definite covariance
    return v * w.clamp_min(0.0).sqrt()  # (d, d), columns scaled


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) for symmetric PSD float64 matrices via eigenvalues of L^T S2 L (S1 = L L^T).

    Runs in torch float64 (its LAPACK eigvalsh is ~1.4x faster than numpy's here).
    """
    s1 = torch.as_tensor(np.ascontiguousarray(sigma1), dtype=torch.float64)
    s2 = torch.as_tensor(np.ascontiguousarray(sigma2), dtype=torch.float64)
    factor = _psd_factor(s1)  # (d, d)
    m = factor.T @ s2 @ factor  # (d, d), symmetric PSD, similar to S1 S2
    m = (m + m.T) * 0.5
    eig = torch.linalg.eigvalsh(m)  # (d,)
    return float(eig.clamp_min(0.0).sqrt().sum())


def fid_from_stats(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

    ``mu*``: (d,), ``sigma*``: (d, d) (numpy or torch). Returns a float >= 0 (a round-off
    negative result, which can only occur for (nearly) identical statistics, is returned as 0).
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ConfigError(f"parameters 'mu1'/'mu2': feature dimensions differ ({mu1.shape[0]} vs {mu2.shape[0]})")
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2)
    fid = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(fid, 0.0)


def fid_to_reference(feats: Any, mu_ref: Any, sigma_ref: Any) -> float:
    """FID of features (N, d) against reference statistics: :func:`fid_from_stats` of their statistics, computed
    through the (N, N) matrix C S_r C^T / (N - 1) when N <= d (see the module docstring)."""
    feats = _as_2d_array(feats, "feats")
    n, d = feats.shape
    if n > d:
        return fid_from_stats(*feature_stats(feats), mu_ref, sigma_ref)
    mu_r, sigma_r = _check_stats(mu_ref, sigma_ref, "_ref")
    if mu_r.shape[0] != d:
        raise ConfigError(f"parameters 'feats'/'mu_ref': feature dimensions differ ({d} vs {mu_r.shape[0]})")
    x = _chunk64(feats, 0, n)                                     # (n, d) float64
    if not np.isfinite(x).all():
        raise ConfigError("parameter 'feats': features contain NaN or inf values")
    mu = x.mean(axis=0)
    c = torch.as_tensor(x - mu)                                   # (n, d) centred
    k = c @ torch.as_tensor(np.ascontiguousarray(sigma_r)) @ c.T / (n - 1)   # (n, n) PSD
    tr_covmean = float(torch.linalg.eigvalsh((k + k.T) * 0.5).clamp_min(0.0).sqrt().sum())
    diff = mu - mu_r
    tr_g = float((c * c).sum()) / (n - 1)                         # Tr(S_g)
    return max(float(diff @ diff + np.trace(sigma_r) + tr_g - 2.0 * tr_covmean), 0.0)


def fid_from_features(feats1: Any, feats2: Any) -> float:
    """FID between two feature sets (N1, d) and (N2, d): :func:`feature_stats` then :func:`fid_from_stats`."""
    return fid_from_stats(*feature_stats(feats1), *feature_stats(feats2))


def fid_infinity(feats: Any, mu_ref: Any, sigma_ref: Any, *, points: int = 8, min_fraction: float = 0.25,
                 seed: int = 0) -> dict[str, Any]:
    """FID extrapolated to infinitely many generated images (FID-infinity).

    Reference: M. J. Chong, D. Forsyth, "Effectively Unbiased FID and Inception Score and where to find
    them", CVPR 2020 (arXiv:1911.07023), section 3: FID_N is linear in 1/N, FID_N = FID_inf + k / N, so
    FID_inf is the intercept of a least-squares line through (1/N_j, FID_{N_j}). The authors use 15 N_j
    from 5k to 50k; here ``points`` N_j from ``min_fraction`` * n to n, each on a seeded random subset of
    the n generated features (the reference statistics are fixed). Returns {'fid_inf', 'slope', 'ns', 'fids'}.
    """
    x = feats.detach().cpu().numpy() if isinstance(feats, torch.Tensor) else np.asarray(feats)
    n = int(x.shape[0])
    if points < 2 or not 0 < min_fraction < 1:
        raise ConfigError(f"parameter 'points'/'min_fraction': need points >= 2 and 0 < min_fraction < 1, "
                          f"got {points}, {min_fraction}")
    ns = sorted({int(round(v)) for v in np.linspace(min_fraction * n, n, points)})
    if ns[0] < 2:
        raise ConfigError(f"parameter 'feats': FID-infinity needs more generated images than {n}")
    rng = np.random.default_rng(seed)
    fids = []
    for m in ns:
        idx = rng.permutation(n)[:m]
        fids.append(fid_to_reference(x[idx], mu_ref, sigma_ref))
    slope, intercept = np.polyfit(1.0 / np.asarray(ns, dtype=np.float64), np.asarray(fids), 1)
    return {"fid_inf": float(intercept), "slope": float(slope), "ns": ns, "fids": [float(f) for f in fids]}


class FidResampler:
    """FID against fixed reference statistics of many re-weighted versions of one feature set (N, d).

    ``fid(counts)``: the FID of the multiset that repeats row i ``counts[i]`` times (a subset: 0/1
    counts; a bootstrap resample: multinomial counts), equal to :func:`fid_to_reference` of those rows.
    The (N, N) product X S_r X^T is computed once, so each resample costs one (k, k) eigenvalue problem
    for its k distinct rows (see the module docstring); with k > d, the weighted (d, d) covariance and
    :func:`fid_from_stats` instead. N up to several thousand (memory 8 N^2 bytes).
    """

    def __init__(self, feats: Any, mu_ref: Any, sigma_ref: Any) -> None:
        x = _as_2d_array(feats, "feats")
        self.n, self.d = x.shape
        self.mu_r, sigma_r = _check_stats(mu_ref, sigma_ref, "_ref")
        if self.mu_r.shape[0] != self.d:
            raise ConfigError(f"parameters 'feats'/'mu_ref': feature dimensions differ ({self.d} vs {self.mu_r.shape[0]})")
        x = _chunk64(x, 0, self.n)
        if not np.isfinite(x).all():
            raise ConfigError("parameter 'feats': features contain NaN or inf values")
        self.x = torch.as_tensor(x)                                     # (N, d) float64
        self.sigma_r = torch.as_tensor(np.ascontiguousarray(sigma_r))   # (d, d)
        self.h = self.x @ self.sigma_r                                  # (N, d) = X S_r
        self.g = self.h @ self.x.T                                      # (N, N) = X S_r X^T
        self.sq = (self.x * self.x).sum(1)                              # (N,) squared norms
        self.trace_r = float(np.trace(sigma_r))

    def fid(self, counts: Any) -> float:
        w_all = torch.as_tensor(np.asarray(counts, dtype=np.float64))
        if w_all.shape != (self.n,) or bool((w_all < 0).any()) or float(w_all.sum()) < 2:
            raise ConfigError(f"parameter 'counts': need {self.n} non-negative counts summing to at least 2")
        sel = torch.nonzero(w_all).squeeze(1)
        w = w_all[sel]
        m = float(w.sum())
        mu = (w[:, None] * self.x[sel]).sum(0) / m                      # (d,) weighted mean
        if len(sel) > self.d:                                           # more distinct rows than dimensions
            c = self.x[sel] - mu
            sigma_g = (c * w[:, None]).T @ c / (m - 1)
            return fid_from_stats(mu.numpy(), sigma_g.numpy(), self.mu_r, self.sigma_r.numpy())
        u = self.h[sel] @ mu                                            # x_i^T S_r mu
        k = self.g[sel][:, sel] - u[:, None] - u[None, :] + float(mu @ self.sigma_r @ mu)
        r = w.sqrt()
        k = r[:, None] * k * r[None, :] / (m - 1)
        ev = np.linalg.eigvalsh(((k + k.T) * 0.5).numpy())            # numpy: faster than torch at this size
        tr_covmean = float(np.sqrt(np.clip(ev, 0.0, None)).sum())
        tr_g = (float((w * self.sq[sel]).sum()) - m * float(mu @ mu)) / (m - 1)
        diff = mu.numpy() - self.mu_r
        return max(float(diff @ diff + self.trace_r + tr_g - 2.0 * tr_covmean), 0.0)
