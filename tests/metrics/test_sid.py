"""Signed inception distance (Spider GAN SID): exact zero on identical sets, sign, monotonicity,
seeds, averaging rules, ranking table, brute-force reference, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pgan_core.errors import ConfigError
from pgan_core.metrics import SIDResult, sid_table, signed_inception_distance
from pgan_core.metrics.sid import _combine, _draws, _potential_sum

FAST = dict(radii=range(1, 6), repeats=3, subset=60)  # small settings for the toy cases


def gauss(n, d, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float32) + shift  # (n, d)


# ---------------------------------------------------------------- identities

@pytest.mark.parametrize("order", [1.0, -1.0, -3.0, 2.0])
@pytest.mark.parametrize("average", ["running", "mean"])
def test_sid_exactly_zero_for_identical_sets(order, average):
    feats = gauss(80, 12, 0, shift=0.7)
    res = signed_inception_distance(feats, feats, order=order, average=average, **FAST)
    assert np.all(res.curve == 0.0) and res.total == 0.0
    clone = signed_inception_distance(feats.clone(), feats, order=order, average=average, **FAST)
    assert np.all(clone.curve == 0.0)


def test_sid_curve_length_total_and_settings():
    src, tgt = gauss(50, 8, 1, shift=1.0), gauss(70, 8, 2)
    res = signed_inception_distance(src, tgt, radii=[2, 5, 7], scale=0.25, repeats=2, subset=500, order=-1,
                                    seed=4, average="mean")
    assert isinstance(res, SIDResult)
    assert res.radii == (2, 5, 7) and res.curve.shape == (3,) and res.half_widths.shape == (3,)
    assert res.total == pytest.approx(float(res.curve.sum()), rel=0, abs=0)
    assert res.subset == 50  # capped at min(subset, N_s, N_t)
    assert (res.scale, res.repeats, res.order, res.seed, res.average) == (0.25, 2, -1.0, 4, "mean")
    assert (res.n_source, res.n_target, res.dim) == (50, 70, 8)
    sigma = tgt.double().std(0, unbiased=True).mean().item()  # mean_i sigma_t,i (ddof=1)
    np.testing.assert_allclose(res.half_widths, [sigma * 0.25 * r / 2 for r in (2, 5, 7)], rtol=1e-12)
    assert not res.curve.flags.writeable
    d = res.to_dict()
    assert d["radii"] == [2, 5, 7] and d["curve"] == res.curve.tolist() and d["subset"] == 50


def test_sid_default_radii_are_1_to_49():
    res = signed_inception_distance(gauss(20, 4, 3, 0.5), gauss(20, 4, 4), repeats=1, subset=10)
    assert res.radii == tuple(range(1, 50)) and res.curve.shape == (49,)
    assert (res.scale, res.repeats, res.order, res.average) == (0.5, 1, 1.0, "running")


def test_sid_value_at_a_radius_does_not_depend_on_the_other_radii():
    src, tgt = gauss(60, 8, 5, shift=1.0), gauss(60, 8, 6)
    full = signed_inception_distance(src, tgt, **FAST)
    one = signed_inception_distance(src, tgt, radii=(3,), repeats=3, subset=60)
    assert one.curve[0] == full.curve[2]


# ---------------------------------------------------------------- sign and monotonicity

@pytest.mark.parametrize("order", [1.0, -1.0])
def test_sid_positive_for_a_far_source_and_grows_with_distance(order):
    tgt = gauss(200, 8, 10)  # N(0, I)
    near = signed_inception_distance(gauss(200, 8, 11, shift=1.0), tgt, order=order, **FAST)
    far = signed_inception_distance(gauss(200, 8, 12, shift=3.0), tgt, order=order, **FAST)
    assert far.total > 0 and np.all(far.curve > 0)
    assert near.total > 0
    assert abs(near.total) < abs(far.total)
    assert np.all(np.abs(near.curve) < np.abs(far.curve))


# ---------------------------------------------------------------- seeds and averaging

def test_sid_deterministic_for_seed_and_changes_with_seed():
    src, tgt = gauss(90, 8, 20, shift=0.5), gauss(90, 8, 21)
    a = signed_inception_distance(src, tgt, seed=7, **FAST)
    b = signed_inception_distance(src, tgt, seed=7, **FAST)
    c = signed_inception_distance(src, tgt, seed=8, **FAST)
    np.testing.assert_array_equal(a.curve, b.curve)
    assert a.total == b.total
    assert np.all(a.curve != c.curve)


def test_sid_accepts_numpy_and_float64():
    src, tgt = gauss(40, 6, 22, shift=0.5), gauss(40, 6, 23)
    a = signed_inception_distance(src, tgt, **FAST)
    b = signed_inception_distance(src.double().numpy(), tgt.double().numpy(), **FAST)
    np.testing.assert_allclose(a.curve, b.curve, rtol=1e-5)


def test_combine_rules_by_hand():
    vals = np.array([1.0, 2.0, 4.0])
    assert _combine(vals, "running") == 0.25 * 1 + 0.25 * 2 + 0.5 * 4  # avg=1 -> 1.5 -> 2.75
    assert _combine(vals, "mean") == pytest.approx(7.0 / 3.0)
    assert _combine(vals[:2], "running") == _combine(vals[:2], "mean") == 1.5
    assert _combine(vals[:1], "running") == 1.0


def test_sid_average_rules_on_per_repeat_values():
    """Draw k does not depend on the number of repeats, so the per-repeat values a, b, c follow
    from the means over 1, 2, 3 repeats; then running(3) must be a/4 + b/4 + c/2."""
    src, tgt = gauss(60, 8, 30, shift=0.8), gauss(60, 8, 31)
    kw = dict(radii=(2, 4), subset=40, seed=3)
    m1 = signed_inception_distance(src, tgt, repeats=1, average="mean", **kw).curve
    m2 = signed_inception_distance(src, tgt, repeats=2, average="mean", **kw).curve
    m3 = signed_inception_distance(src, tgt, repeats=3, average="mean", **kw).curve
    a, b = m1, 2 * m2 - m1
    c = 3 * m3 - a - b
    r1 = signed_inception_distance(src, tgt, repeats=1, average="running", **kw).curve
    r2 = signed_inception_distance(src, tgt, repeats=2, average="running", **kw).curve
    r3 = signed_inception_distance(src, tgt, repeats=3, average="running", **kw).curve
    np.testing.assert_array_equal(r1, m1)
    np.testing.assert_allclose(r2, m2, rtol=1e-12)
    np.testing.assert_allclose(r3, 0.25 * a + 0.25 * b + 0.5 * c, rtol=1e-9)
    assert np.all(np.abs(r3 - m3) > 1e-6 * np.abs(m3))  # the two rules differ at 3 repeats


# ---------------------------------------------------------------- reference implementation

def sid_reference(src, tgt, *, radii, scale, repeats, subset, order, seed):
    """Plain loops over points x with torch.cdist in float64, uncentred; official running average."""
    src64, tgt64 = src.double(), tgt.double()
    n_s, d = src.shape
    n_t = tgt.shape[0]
    m = min(subset, n_s, n_t)
    mu = tgt64.mean(0)  # (d,)
    mean_sigma = tgt64.std(0, unbiased=True).mean().item()
    curve = []
    for r in radii:
        h = mean_sigma * scale * r / 2
        avg = None
        for k in range(repeats):
            idx_s, idx_t, u = _draws(seed, r, k, n_s, n_t, m, d, torch.device("cpu"))
            xs = mu + (2 * u.double() - 1) * h  # (m, d) ~ U[mu - h, mu + h)
            total_s = total_t = 0.0
            for x in xs:
                ds = torch.cdist(x[None], src64[idx_s])[0]  # (m,)
                dt = torch.cdist(x[None], tgt64[idx_t])[0]  # (m,)
                total_s += (math.copysign(1, order) * ds ** order).sum().item() / m  # K_s(x)
                total_t += (math.copysign(1, order) * dt ** order).sum().item() / m  # K_t(x)
            new = total_s - total_t
            avg = new if avg is None else 0.5 * avg + 0.5 * new
        curve.append(avg)
    return np.array(curve)


@pytest.mark.parametrize("order", [1.0, -1.0])
def test_sid_matches_brute_force_reference(order):
    src, tgt = gauss(40, 5, 40, shift=0.6) * 1.5, gauss(30, 5, 41) + 2.0
    kw = dict(radii=(1, 3, 8), scale=0.5, repeats=3, subset=25, order=order, seed=9)
    fast = signed_inception_distance(src, tgt, **kw)
    ref = sid_reference(src, tgt, **kw)
    np.testing.assert_allclose(fast.curve, ref, rtol=1e-4)
    assert fast.total == pytest.approx(ref.sum(), rel=1e-4)


def test_negative_order_zero_distance_is_finite():
    x = torch.zeros(3, 4)
    c = torch.zeros(2, 4)  # every centre coincides with every point
    zeros = torch.zeros(3), torch.zeros(2)
    val = _potential_sum(x, zeros[0], c, zeros[1], -3.0)
    assert math.isfinite(val) and val < 0


# ---------------------------------------------------------------- table

def test_sid_table_ranks_by_abs_total():
    tgt = gauss(120, 8, 50)
    sources = {"far": gauss(120, 8, 51, shift=3.0), "near": gauss(120, 8, 52, shift=0.5),
               "mid": gauss(120, 8, 53, shift=1.5)}
    table = sid_table(sources, tgt, **FAST)
    assert list(table.columns[:4]) == ["source", "sid_total", "abs_sid_total", "rank"]
    assert list(table["source"]) == ["near", "mid", "far"]
    assert list(table["rank"]) == [1, 2, 3]
    assert np.allclose(table["abs_sid_total"], table["sid_total"].abs())
    alone = signed_inception_distance(sources["mid"], tgt, **FAST)
    assert table.loc[table["source"] == "mid", "sid_total"].item() == alone.total
    assert len(table.loc[0, "curve"]) == 5


# ---------------------------------------------------------------- errors

S, T = gauss(10, 4, 60), gauss(10, 4, 61)
NAN_T = T.clone()
NAN_T[0, 0] = float("nan")

BAD_CALLS = [
    ("feats_source", dict(feats_source=torch.ones(10))),
    ("feats_source", dict(feats_source=torch.ones(2, 5, 4))),
    ("feats_source", dict(feats_source=torch.ones(10, 4, dtype=torch.int64))),
    ("feats_target", dict(feats_target=torch.ones(10, 4, dtype=torch.uint8))),
    ("feats_source'/'feats_target", dict(feats_target=gauss(10, 5, 62))),
    ("feats_target", dict(feats_target=gauss(1, 4, 63))),
    ("feats_target", dict(feats_target=NAN_T)),
    ("order", dict(order=0)),
    ("order", dict(order=0.0)),
    ("order", dict(order=float("nan"))),
    ("order", dict(order=float("inf"))),
    ("order", dict(order="1")),
    ("order", dict(order=True)),
    ("radii", dict(radii=[])),
    ("radii", dict(radii=range(0))),
    ("radii", dict(radii=[0, 1])),
    ("radii", dict(radii=[-2])),
    ("radii", dict(radii=[1.5])),
    ("radii", dict(radii=5)),
    ("scale", dict(scale=0)),
    ("scale", dict(scale=-0.5)),
    ("scale", dict(scale=float("nan"))),
    ("scale", dict(scale=float("inf"))),
    ("repeats", dict(repeats=0)),
    ("repeats", dict(repeats=2.5)),
    ("subset", dict(subset=0)),
    ("subset", dict(subset=-5)),
    ("average", dict(average="median")),
    ("seed", dict(seed=-1)),
    ("device", dict(device="no-such-device")),
]


@pytest.mark.parametrize("name,kw", BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CALLS)])
def test_sid_bad_parameters_raise_config_error(name, kw):
    kw = dict(kw)
    src, tgt = kw.pop("feats_source", S), kw.pop("feats_target", T)
    with pytest.raises(ConfigError, match=f"parameters? '{name}'"):
        signed_inception_distance(src, tgt, **kw)


@pytest.mark.parametrize("sources", [{}, [S], {1: S}])
def test_sid_table_bad_sources(sources):
    with pytest.raises(ConfigError, match="parameter 'sources'"):
        sid_table(sources, T)
