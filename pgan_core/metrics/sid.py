"""Signed inception distance (SID) of Spider GAN: a signed, radius-resolved distance of a source
feature set from a target feature set.

Reference: Asokan & Seelamantula, "Spider GAN: Leveraging Friendly Neighbors to Accelerate GAN
Training", CVPR 2023, arXiv:2305.07613; official code DarthSid95/clean-sid ``sid.py``
(``signed_distance``). Background (PolyGAN): the optimal gradient-regularised discriminator is a
difference of polyharmonic potentials centred on target and source samples; SID evaluates such a
potential at points drawn uniformly around the target mean (Asokan & Seelamantula 2023, section on SID).

With source features F_s (N_s, d), target features F_t (N_t, d), mu_t the target mean and sigma_t
the per-dimension target standard deviation, for each radius index r:

    h_r = mean_i(sigma_t,i) * scale * r / 2                               (half-width of the box)
    X ~ Uniform(mu_t - h_r, mu_t + h_r)^d,  |X| = m points                 (per repeat)
    phi(v) = sign(n) * ||v||^n                                             (n = ``order`` != 0)
    K_s(x) = (1/|X|) sum_{c in A_s} phi(x - c),  K_t(x) likewise           (A_* = m random rows)
    SID(r) = sum_{x in X} K_s(x) - sum_{x in X} K_t(x)

The per-repeat values are combined over ``repeats`` draws and the result is the curve SID(r) and
its sum ("Sum SID"). With the sign(n) factor, a source farther from the target than the target
itself gives SID > 0 for positive and negative orders alike; smaller |SID| = friendlier source.

Choices and deviations (each documented where it is made):

* ``average="running"`` is the official rule, avg <- new on the first repeat and then
  avg <- 0.5 * avg + 0.5 * new (so late repeats weigh more: the last one 1/2, the first two
  2^-(R-1) each). ``average="mean"`` is the plain mean of the repeats (lower variance).
* ``m = min(subset, N_s, N_t)`` is used for A_s, A_t *and* |X| (the official code uses one size,
  500, for all three). Subsets are drawn without replacement (``randperm``).
* sigma_t is the unbiased (ddof=1) standard deviation, as ``np.cov`` in the official code; mu_t and
  sigma_t are computed in float64.
* Common random numbers: for every (r, repeat) the source and the target subset indices come from
  two ``torch.Generator``s with the *same* seed, derived from (seed, r, repeat) by
  ``np.random.SeedSequence``; X comes from a third seed of the same sequence. Hence SID of a set
  against itself is exactly 0 at every radius, and the value at radius r does not depend on which
  other radii are requested. The random streams differ from the official TF code, so single values
  differ from it within the sampling noise, never systematically.
* Distances are computed in float32 in coordinates centred on mu_t (which keeps the numbers small)
  as ||v||^2 = ||x||^2 + ||c||^2 - 2 x.c, clamped at 0; phi = sign(n) * (||v||^2)^(n/2), summed in
  float64. For negative orders the squared distance is clamped at ``_MIN_SQ_DIST`` = 1e-12 (a
  distance of 1e-6) so a centre that coincides with a point gives a large finite value, not inf.
* Cost: 2 * len(radii) * repeats matrix products of (m, d) x (d, m); 10k x 10k features of dimension
  2048 with the defaults take about 20 s on a 2-core CPU (``bench/bench_sid.py``). Batching the
  repeats into one ``bmm`` gave no gain here (each product is already ~1 GFLOP), so repeats loop.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from ..errors import ConfigError, bad_param, check_choice, check_positive

__all__ = ["SIDResult", "signed_inception_distance", "sid_table"]

_MIN_SQ_DIST = 1e-12  # floor of squared distances for negative orders (distance 1e-6)
_CHUNK = 4096  # rows converted to float64 at a time for the target statistics
AVERAGES = ("running", "mean")


# ---------------------------------------------------------------- result

@dataclass(frozen=True, eq=False)
class SIDResult:
    """SID curve over radius indices, its sum, and the settings that produced it.

    ``eq=False``: compare ``curve`` / ``total`` explicitly (array fields make ``==`` ambiguous).
    """

    radii: tuple[int, ...]    # radius indices r
    curve: np.ndarray         # (len(radii),) SID(r), float64, read-only
    total: float              # sum of the curve ("Sum SID")
    half_widths: np.ndarray   # (len(radii),) h_r = mean(sigma_t) * scale * r / 2
    scale: float
    repeats: int
    subset: int               # effective m = min(requested subset, n_source, n_target)
    order: float
    seed: int
    average: str              # 'running' (official) or 'mean'
    n_source: int
    n_target: int
    dim: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (lists for arrays), e.g. for a JSON line."""
        out = asdict(self)
        out["radii"] = list(self.radii)
        out["curve"] = self.curve.tolist()
        out["half_widths"] = self.half_widths.tolist()
        return out


# ---------------------------------------------------------------- checks

def _as_features(feats: Any, name: str) -> torch.Tensor:
    """``feats`` as a 2-D floating torch tensor (no copy where possible), after checks."""
    if isinstance(feats, torch.Tensor):
        t = feats.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(feats))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise bad_param(name, type(feats).__name__, "a 2-D floating torch tensor or numpy array (N, d)") from exc
    if t.ndim != 2:
        raise ConfigError(f"parameter '{name}': expected features of shape (N, d), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ConfigError(f"parameter '{name}': expected a floating dtype, got {t.dtype}")
    if t.shape[0] < 1 or t.shape[1] < 1:
        raise ConfigError(f"parameter '{name}': features are empty (shape {tuple(t.shape)})")
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"parameter '{name}': features contain NaN or inf values")
    return t


def _check_radii(radii: Any) -> tuple[int, ...]:
    allowed = "a non-empty sequence of positive integers, e.g. range(1, 50)"
    try:
        out = tuple(radii)
    except TypeError:
        raise bad_param("radii", radii, allowed) from None
    if not out:
        raise bad_param("radii", radii, allowed)
    for r in out:
        if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, np.integer)) or r <= 0:
            raise bad_param("radii", radii, allowed)
    return tuple(int(r) for r in out)


def _check_order(order: Any) -> float:
    allowed = "a finite nonzero number (1 is the default; -1, -3, -5 are used in the paper)"
    if isinstance(order, bool) or not isinstance(order, (int, float, np.integer, np.floating)):
        raise bad_param("order", order, allowed)
    if not math.isfinite(float(order)) or float(order) == 0.0:
        raise bad_param("order", order, allowed)
    return float(order)


def _check_device(device: Any, default: torch.device) -> torch.device:
    if device is None:
        return default
    try:
        return torch.device(device)
    except (TypeError, RuntimeError) as exc:
        raise bad_param("device", device, "None, 'cpu', 'cuda', 'cuda:N' or a torch.device") from exc


# ---------------------------------------------------------------- building blocks

def _target_stats(ft: torch.Tensor) -> tuple[torch.Tensor, float]:
    """mu_t (d,) and mean_i(sigma_t,i) of target features, in float64 (sigma with ddof=1)."""
    n, d = ft.shape
    total = torch.zeros(d, dtype=torch.float64, device=ft.device)
    for s in range(0, n, _CHUNK):
        total += ft[s:s + _CHUNK].to(torch.float64).sum(0)
    mu = total / n  # (d,)
    scatter = torch.zeros(d, dtype=torch.float64, device=ft.device)
    for s in range(0, n, _CHUNK):
        scatter += ((ft[s:s + _CHUNK].to(torch.float64) - mu) ** 2).sum(0)
    sigma = (scatter / (n - 1)).sqrt()  # (d,) per-dimension std, ddof=1
    return mu, float(sigma.mean())


def _draws(seed: int, r: int, rep: int, n_source: int, n_target: int, m: int, d: int,
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random numbers of one (r, repeat): source rows (m,), target rows (m,), u ~ U[0, 1) (m, d).

    The two index generators get the same seed (common random numbers); u has its own seed.
    Indices are drawn on the CPU (identical on every device); u on ``device``.
    """
    seed_idx, seed_x = (int(s) for s in np.random.SeedSequence([seed, r, rep]).generate_state(2))
    g_s = torch.Generator().manual_seed(seed_idx)
    g_t = torch.Generator().manual_seed(seed_idx)  # same seed as g_s
    idx_s = torch.randperm(n_source, generator=g_s)[:m]  # (m,)
    idx_t = torch.randperm(n_target, generator=g_t)[:m]  # (m,)
    g_x = torch.Generator(device=device).manual_seed(seed_x)
    u = torch.rand((m, d), generator=g_x, device=device, dtype=torch.float32)  # (m, d)
    return idx_s.to(device), idx_t.to(device), u


def _potential_sum(x: torch.Tensor, x_sq: torch.Tensor, c: torch.Tensor, c_sq: torch.Tensor,
                   order: float) -> float:
    """sum_{x in X} sum_{c in A} phi(x - c) for points x (m, d) and centres c (k, d), in float64."""
    d2 = torch.addmm(x_sq[:, None] + c_sq[None, :], x, c.T, alpha=-2.0)  # (m, k) ||x||^2 + ||c||^2 - 2 x.c
    d2.clamp_min_(_MIN_SQ_DIST if order < 0 else 0.0)  # round-off negatives; zero-distance guard for n < 0
    phi = d2.pow_(order / 2.0)  # (m, k) ||x - c||^n
    return math.copysign(1.0, order) * float(phi.sum(dtype=torch.float64))  # sign(n) * sum


def _combine(values: np.ndarray, average: str) -> float:
    """Combine the per-repeat SID values (R,) by the official running rule or the plain mean."""
    if average == "mean":
        return float(values.mean())
    avg = float(values[0])  # first repeat: avg = new
    for v in values[1:]:
        avg = 0.5 * avg + 0.5 * float(v)  # then avg = 0.5 avg + 0.5 new
    return avg


# ---------------------------------------------------------------- SID

def signed_inception_distance(feats_source: Any, feats_target: Any, *, radii: Iterable[int] = range(1, 50),
                              scale: float = 0.5, repeats: int = 20, subset: int = 500, order: float = 1.0,
                              seed: int = 0, average: str = "running", device: Any = None) -> SIDResult:
    """SID(source | target) curve over radius indices ``radii`` (module docstring for the maths).

    ``feats_source`` (N_s, d) and ``feats_target`` (N_t, d): floating torch tensors or numpy arrays
    (source = generated or candidate-input features, target = real data features), N_t >= 2.
    ``scale``: box half-width per radius step in units of mean(sigma_t) (h_r = mean(sigma_t) *
    scale * r / 2); ``repeats``: random draws per radius; ``subset``: rows per draw (capped at
    min(subset, N_s, N_t)); ``order``: exponent n of phi(v) = sign(n) ||v||^n; ``seed``: integer
    >= 0; ``average``: 'running' (official) or 'mean'; ``device``: where to compute (default: the
    target's device). Returns a :class:`SIDResult`. Asymmetric: SID(a | b) != -SID(b | a) in general.
    """
    fs = _as_features(feats_source, "feats_source")
    ft = _as_features(feats_target, "feats_target")
    if fs.shape[1] != ft.shape[1]:
        raise ConfigError(f"parameters 'feats_source'/'feats_target': feature dimensions differ "
                          f"({fs.shape[1]} vs {ft.shape[1]}); allowed: equal d")
    if ft.shape[0] < 2:
        raise ConfigError(f"parameter 'feats_target': need at least 2 target rows for sigma_t, got {ft.shape[0]}")
    radii_t = _check_radii(radii)
    check_positive("scale", scale)
    if not math.isfinite(scale):
        raise bad_param("scale", scale, "a finite number > 0")
    check_positive("repeats", repeats, integer=True)
    check_positive("subset", subset, integer=True)
    order_f = _check_order(order)
    check_positive("seed", seed, integer=True, allow_zero=True)
    check_choice("average", average, AVERAGES)
    dev = _check_device(device, ft.device)

    n_s, d = fs.shape
    n_t = ft.shape[0]
    m = min(subset, n_s, n_t)
    mu64, mean_sigma = _target_stats(ft.to(dev))
    mu = mu64.to(torch.float32)  # (d,)
    src = fs.to(dev, torch.float32) - mu  # (N_s, d), centred on mu_t
    tgt = ft.to(dev, torch.float32) - mu  # (N_t, d)
    src_sq = (src * src).sum(1)  # (N_s,) ||c||^2
    tgt_sq = (tgt * tgt).sum(1)  # (N_t,)

    half_widths = np.array([mean_sigma * scale * r / 2.0 for r in radii_t])  # (R,) h_r
    curve = np.empty(len(radii_t))  # (R,)
    values = np.empty(repeats)  # (repeats,) per-draw SID(r)
    with torch.no_grad():
        for i, r in enumerate(radii_t):
            h = float(half_widths[i])
            for k in range(repeats):
                idx_s, idx_t, u = _draws(seed, r, k, n_s, n_t, m, d, dev)
                x = u.mul_(2.0 * h).sub_(h)  # (m, d) ~ U[-h, h)^d, i.e. U[mu_t - h, mu_t + h) centred
                x_sq = (x * x).sum(1)  # (m,)
                sum_s = _potential_sum(x, x_sq, src[idx_s], src_sq[idx_s], order_f)  # |X| * sum_x K_s(x)
                sum_t = _potential_sum(x, x_sq, tgt[idx_t], tgt_sq[idx_t], order_f)  # |X| * sum_x K_t(x)
                values[k] = (sum_s - sum_t) / m  # SID(r) of this draw, K = (1/|X|) sum_c phi
            curve[i] = _combine(values, average)
    curve.setflags(write=False)
    half_widths.setflags(write=False)
    return SIDResult(radii=radii_t, curve=curve, total=float(curve.sum()), half_widths=half_widths,
                     scale=float(scale), repeats=int(repeats), subset=int(m), order=order_f, seed=int(seed),
                     average=average, n_source=int(n_s), n_target=int(n_t), dim=int(d))


def sid_table(sources: Mapping[str, Any], target: Any, **kw: Any):
    """Rank candidate sources by |Sum SID| against one target (Spider GAN's "friendly neighbour").

    ``sources``: {name: features (N_i, d)}; ``target``: (N_t, d); ``kw``: passed to
    :func:`signed_inception_distance` (same seed for every source, so the draws of X are shared).
    Returns a pandas DataFrame, one row per source, columns ``source``, ``sid_total``,
    ``abs_sid_total``, ``rank`` (1 = smallest |SID| = friendliest; ties keep the input order) and
    ``curve`` (the SID(r) array), sorted by rank.
    """
    if not isinstance(sources, Mapping) or not sources:
        raise bad_param("sources", type(sources).__name__, "a non-empty dict {name: features (N, d)}")
    for name in sources:
        if not isinstance(name, str):
            raise bad_param("sources", name, "string keys (source names)")
    try:
        import pandas as pd
    except ImportError as exc:  # pandas is in the [notebooks] extra
        raise ConfigError("sid_table needs pandas; install the [notebooks] extra (pip install -e '.[notebooks]')") from exc
    rows = []
    for name, feats in sources.items():
        res = signed_inception_distance(feats, target, **kw)
        rows.append({"source": name, "sid_total": res.total, "abs_sid_total": abs(res.total), "curve": res.curve})
    table = pd.DataFrame(rows, columns=["source", "sid_total", "abs_sid_total", "curve"])
    table = table.sort_values("abs_sid_total", kind="stable").reset_index(drop=True)
    table.insert(3, "rank", np.arange(1, len(table) + 1))
    return table
