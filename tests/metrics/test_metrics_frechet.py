"""FID maths: identity, agreement with the TTUR sqrtm formula, closed forms, symmetry, validation."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from pgan_core.errors import ConfigError
from pgan_core.metrics import feature_stats, fid_from_stats
from pgan_core.metrics.frechet import fid_from_features, trace_sqrt_product



def ttur_fid(mu1, s1, mu2, s2, eps=1e-6):
    """bioinf-jku/TTUR fid.calculate_frechet_distance (scipy sqrtm), the reference formula."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_stats(d, n, rng, shift=0.0):
    x = rng.standard_normal((n, d)) @ (rng.standard_normal((d, d)) / np.sqrt(d)) + shift
    x = np.maximum(x, 0.0)  # ReLU'd, like pool_3 features
    return x.mean(0), np.cov(x, rowvar=False)


def test_identical_sets_give_zero():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((500, 64)) @ rng.standard_normal((64, 64))
    mu, sigma = feature_stats(feats)
    fid = fid_from_stats(mu, sigma, mu, sigma)
    assert fid >= 0.0
    assert fid <= 1e-6 * np.trace(sigma)
    assert fid_from_features(feats, feats) <= 1e-6 * np.trace(sigma)


@pytest.mark.parametrize("d", [64, 512])
def test_matches_scipy_sqrtm_reference(d):
    rng = np.random.default_rng(d)
    mu1, s1 = random_stats(d, 2 * d + 100, rng)
    mu2, s2 = random_stats(d, 2 * d + 100, rng, shift=0.2)
    ours, ref = fid_from_stats(mu1, s1, mu2, s2), ttur_fid(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_rank_deficient_covariance_uses_eigh_fallback():
    rng = np.random.default_rng(1)
    mu1, s1 = random_stats(64, 40, rng)  # fewer samples than dimensions: singular covariance
    mu2, s2 = random_stats(64, 300, rng, shift=0.1)
    assert int(torch.linalg.cholesky_ex(torch.from_numpy(s1)).info) != 0  # the eigh fallback is exercised
    assert fid_from_stats(mu1, s1, mu2, s2) == pytest.approx(ttur_fid(mu1, s1, mu2, s2), rel=1e-5)


def test_commuting_diagonal_closed_form():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.1, 3.0, 32), rng.uniform(0.1, 3.0, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert fid_from_stats(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # semi-definite diagonal (zeros) takes the eigh path and still matches
    a[:5] = 0.0
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert fid_from_stats(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_symmetry_and_torch_inputs():
    rng = np.random.default_rng(3)
    mu1, s1 = random_stats(48, 300, rng)
    mu2, s2 = random_stats(48, 300, rng, shift=0.3)
    f12, f21 = fid_from_stats(mu1, s1, mu2, s2), fid_from_stats(mu2, s2, mu1, s1)
    assert f12 == pytest.approx(f21, rel=1e-9)
    ft = fid_from_stats(torch.from_numpy(mu1), torch.from_numpy(s1), torch.from_numpy(mu2), torch.from_numpy(s2))
    assert ft == pytest.approx(f12, rel=1e-12)
    assert trace_sqrt_product(s1, s2) == pytest.approx(trace_sqrt_product(s2, s1), rel=1e-9)


def test_feature_stats_float64_and_chunked():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((9000, 8)) * 3 + 1000).astype(np.float32)  # > one chunk, large offset
    mu, sigma = feature_stats(torch.from_numpy(x))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mu, x64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x64, rowvar=False), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(sigma, sigma.T)


def test_validation_errors():
    mu, s = np.zeros(4), np.eye(4)
    with pytest.raises(ConfigError, match="sigma1"):
        fid_from_stats(mu, np.eye(3), mu, s)
    with pytest.raises(ConfigError, match="mu1"):
        fid_from_stats(np.zeros((4, 1)), s, mu, s)
    with pytest.raises(ConfigError, match="dimensions differ"):
        fid_from_stats(np.zeros(3), np.eye(3), mu, s)
    bad = s.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        fid_from_stats(mu, s, mu, bad)
    with pytest.raises(ConfigError, match="at least 2"):
        feature_stats(np.zeros((1, 4)))
    with pytest.raises(ConfigError, match=r"\(N, d\)"):
        feature_stats(np.zeros(4))
    with pytest.raises(ConfigError, match="NaN"):
        feature_stats(np.array([[0.0, np.inf], [1.0, 2.0]]))


def test_fid_infinity_removes_the_small_n_bias():
    import numpy as np

    from pgan_core.metrics.frechet import fid_from_stats, fid_infinity

    rng = np.random.default_rng(0)
    d = 32
    mu_ref, sigma_ref = np.zeros(d), np.eye(d)
    gen = rng.standard_normal((2000, d)) + 0.1          # true FID = d * 0.1^2 = 0.32
    true = d * 0.01
    r = fid_infinity(gen, mu_ref, sigma_ref, seed=1)
    mu, sigma = np.mean(gen, 0), np.cov(gen, rowvar=False)
    fid_n = fid_from_stats(mu, sigma, mu_ref, sigma_ref)
    assert len(r["ns"]) == 8 and r["ns"][0] == 500 and r["ns"][-1] == 2000
    assert r["slope"] > 0 and r["fids"][0] > r["fids"][-1]                          # FID_N falls with N
    assert abs(r["fid_inf"] - true) < 0.5 * abs(fid_n - true)                      # the bias mostly gone
    assert r == fid_infinity(gen, mu_ref, sigma_ref, seed=1)                        # seeded


def test_fid_infinity_bad_input():
    import numpy as np

    from pgan_core.errors import ConfigError
    from pgan_core.metrics.frechet import fid_infinity

    with pytest.raises(ConfigError, match="points"):
        fid_infinity(np.zeros((10, 2)), np.zeros(2), np.eye(2), points=1)
    with pytest.raises(ConfigError, match="feats"):
        fid_infinity(np.zeros((3, 2)), np.zeros(2), np.eye(2), points=3, min_fraction=0.1)


def test_fidinf_protocol_parses():
    from pgan_core.metrics.evaluate import parse_protocol

    p = parse_protocol("fidinf2k_inception")
    assert (p.metric, p.n, p.extractor, p.key) == ("fidinf", 2000, "inception", "fidinf2k_inception")
    assert parse_protocol("fid2k_inception").metric == "fid"


@pytest.mark.parametrize("n", [3, 40, 63, 64, 65, 200])
def test_fid_to_reference_equals_the_covariance_route(n):
    """The (n, n) route for fewer samples than dimensions gives the same FID as the two (d, d) decompositions."""
    from pgan_core.metrics.frechet import fid_to_reference

    rng = np.random.default_rng(n)
    d = 64
    mix = rng.standard_normal((d, d)) * 0.3
    mu_r, s_r = feature_stats(rng.standard_normal((500, d)) @ mix)
    x = rng.standard_normal((n, d)) * 1.2 + 0.1
    assert fid_to_reference(x, mu_r, s_r) == pytest.approx(fid_from_stats(*feature_stats(x), mu_r, s_r), rel=1e-7)
    with pytest.raises(ConfigError, match="feature dimensions"):
        fid_to_reference(x[:, :10], mu_r, s_r)


@pytest.mark.parametrize("n,d", [(60, 32), (40, 96)])   # more distinct rows than dimensions, and fewer
def test_resampler_equals_fid_of_the_repeated_rows(n, d):
    from pgan_core.metrics.frechet import FidResampler, fid_to_reference

    rng = np.random.default_rng(3)
    mu_r, sigma_r = random_stats(d, 400, rng)
    feats = np.maximum(rng.standard_normal((n, d)) + 0.3, 0.0)
    res = FidResampler(feats, mu_r, sigma_r)
    idx = rng.integers(0, n, n)                                   # a bootstrap resample: repeated rows
    boot = res.fid(np.bincount(idx, minlength=n))
    assert boot == pytest.approx(fid_to_reference(feats[idx], mu_r, sigma_r), rel=1e-7)
    sub = np.sort(rng.permutation(n)[: n // 2])                   # a subset: 0/1 counts
    counts = np.zeros(n)
    counts[sub] = 1
    assert res.fid(counts) == pytest.approx(fid_to_reference(feats[sub], mu_r, sigma_r), rel=1e-7)
    assert res.fid(np.ones(n)) == pytest.approx(fid_to_reference(feats, mu_r, sigma_r), rel=1e-7)
    with pytest.raises(ConfigError, match="counts"):
        res.fid(-np.ones(n))
    with pytest.raises(ConfigError, match="counts"):
        res.fid(np.ones(n + 1))
