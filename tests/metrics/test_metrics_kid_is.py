"""KID (unbiased MMD^2, cubic kernel) and Inception Score from logits."""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from pgan_core.errors import ConfigError
from pgan_core.metrics import inception_score, kid
from pgan_core.metrics.kid import mmd2_unbiased, polynomial_kernel



def gauss(n, d, seed, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


# ---------------------------------------------------------------- KID

def test_kid_same_distribution_near_zero_and_shift_grows():
    a, b = gauss(400, 16, 0), gauss(400, 16, 1)
    same = kid(a, b, n_subsets=20, subset_size=200)
    small = kid(a, gauss(400, 16, 2, shift=0.3), n_subsets=20, subset_size=200)
    large = kid(a, gauss(400, 16, 3, shift=1.0), n_subsets=20, subset_size=200)
    assert abs(same["mean"]) < 0.1 * small["mean"]
    assert 0 < small["mean"] < large["mean"]
    assert same["subset_size"] == 200 and same["n_subsets"] == 20 and same["seed"] == 2020


def test_kid_matches_torch_fidelity_estimator_on_one_subset():
    from torch_fidelity.metric_kid import mmd2

    a, b = gauss(50, 8, 4), gauss(50, 8, 5, shift=0.5)
    ref = mmd2(polynomial_kernel(a, a), polynomial_kernel(a, b), polynomial_kernel(b, b))
    out = kid(a, b, n_subsets=3, subset_size=50)  # subset == whole set: every subset is a permutation
    assert out["mean"] == pytest.approx(ref, rel=1e-10)
    assert out["std"] == pytest.approx(0.0, abs=1e-9 * abs(ref))


def test_kid_polynomial_kernel_definition():
    x, y = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    assert polynomial_kernel(x, y)[0, 0] == pytest.approx((1.0 / 2 + 1) ** 3)
    k = np.ones((3, 3))
    assert mmd2_unbiased(k, k, k) == pytest.approx(0.0)


def test_kid_deterministic_for_seed_and_caps_subset_size():
    a, b = torch.from_numpy(gauss(120, 8, 6)).float(), gauss(90, 8, 7, shift=0.2)
    r1 = kid(a, b, n_subsets=10, subset_size=1000, seed=3)
    r2 = kid(a, b, n_subsets=10, subset_size=1000, seed=3)
    r3 = kid(a, b, n_subsets=10, subset_size=60, seed=4)
    assert r1 == r2
    assert r1["subset_size"] == 90
    assert r3["mean"] != r1["mean"]


def test_kid_full_kernel_and_subset_paths_agree(monkeypatch):
    kid_mod = importlib.import_module("pgan_core.metrics.kid")  # the package re-exports the function `kid`

    a, b = gauss(80, 8, 8), gauss(70, 8, 9, shift=0.3)
    fast = kid(a, b, n_subsets=30, subset_size=40, seed=1)
    monkeypatch.setattr(kid_mod, "_FULL_KERNEL_BYTES", 0)  # force per-subset kernels
    slow = kid(a, b, n_subsets=30, subset_size=40, seed=1)
    assert fast["mean"] == pytest.approx(slow["mean"], rel=1e-10)
    assert fast["std"] == pytest.approx(slow["std"], rel=1e-8)


def test_kid_errors():
    with pytest.raises(ConfigError, match="at least 2"):
        kid(gauss(1, 4, 0), gauss(10, 4, 1))
    with pytest.raises(ConfigError, match="dimensions differ"):
        kid(gauss(10, 4, 0), gauss(10, 5, 1))
    with pytest.raises(ConfigError, match="n_subsets"):
        kid(gauss(10, 4, 0), gauss(10, 4, 1), n_subsets=0)
    with pytest.raises(ConfigError, match="NaN"):
        kid(np.full((10, 4), np.nan), gauss(10, 4, 1))


# ---------------------------------------------------------------- IS

def test_is_uniform_predictions_is_one():
    mean, std = inception_score(torch.zeros(100, 10), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_is_one_hot_balanced_is_k(k):
    labels = torch.arange(200) % k
    logits = torch.full((200, 10), -1e4)  # softmax underflows to an exact one-hot in float64
    logits[torch.arange(200), labels] = 0.0
    mean, std = inception_score(logits, splits=4)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_is_matches_torch_fidelity():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(300, 20, generator=torch.Generator().manual_seed(0)) * 3
    ref = isc_features_to_metric(logits, splits=5, shuffle=True, rng_seed=2020)
    mean, std = inception_score(logits.numpy(), splits=5, shuffle_seed=2020)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-9)
    assert math.isfinite(mean) and 1.0 < mean < 20.0


def test_is_errors():
    with pytest.raises(ConfigError, match="fewer than splits"):
        inception_score(torch.zeros(5, 3), splits=10)
    with pytest.raises(ConfigError, match=r"\(N, K\)"):
        inception_score(torch.zeros(5), splits=1)
    with pytest.raises(ConfigError, match="NaN"):
        inception_score(torch.full((10, 3), float("nan")), splits=2)
