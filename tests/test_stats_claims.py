"""Intervals and verdicts."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from pgan_core import claims
from pgan_core.stats import mean_ci, t975, verdict_from_interval, welch_diff


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706) and t975(2) == pytest.approx(4.303) and t975(10_000) == pytest.approx(1.96)


def test_mean_ci_against_hand_values():
    m, lo, hi, n = mean_ci([1.0, 2.0, 3.0])
    assert (m, n) == (2.0, 3) and hi - m == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-6)
    assert mean_ci([5.0])[1] == -math.inf


def test_welch_and_verdicts():
    d, lo, hi = welch_diff([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert d == pytest.approx(-1.0) and hi < 0
    assert verdict_from_interval(lo, hi, claim="lower") == "reproduced"
    assert verdict_from_interval(lo, hi, claim="higher") == "not reproduced"
    assert verdict_from_interval(-1, 1, claim="lower") == "inconclusive"
    assert verdict_from_interval(-math.inf, math.inf, claim="lower") == "inconclusive"


def test_claim_rows():
    df = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3 + ["c"] * 3, "dataset": "x",
                       "fid": [10, 11, 12, 20, 21, 22, 10.9, 11.0, 11.1]})
    assert claims.compare(df, claim="c", metric="fid", method="a", baseline="b", dataset="x", better="lower")["verdict"] == "reproduced"
    assert claims.compare(df, claim="c", metric="fid", method="b", baseline="a", dataset="x", better="lower")["verdict"] == "not reproduced"
    assert claims.equivalent(df, claim="c", metric="fid", method="c", baseline="a", dataset="x")["verdict"] == "inconclusive"  # CI wider than 10%
    tight = pd.DataFrame({"method": ["a"] * 3 + ["c"] * 3, "dataset": "x", "fid": [10.95, 11.0, 11.05, 10.9, 11.0, 11.1]})
    assert claims.equivalent(tight, claim="c", metric="fid", method="c", baseline="a", dataset="x")["verdict"] == "reproduced"
    assert claims.equivalent(df, claim="c", metric="fid", method="b", baseline="a", dataset="x")["verdict"] == "not reproduced"
    assert claims.compare(df, claim="c", metric="fid", method="zz", baseline="a", dataset="x", better="lower")["ours"] == "not measured"
    assert claims.exact(claim="p", dataset="all", metric="n", method="a", baseline="b", ours=1, base=2, better="lower")["verdict"] == "reproduced"


def _runs(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "dataset": "x", "fid": v} for m, vs in values.items() for v in vs])


def test_with_controls_attributes_a_gain_shared_by_the_noise_off_control_to_the_architecture():
    df = _runs({"dcgan": [30, 31, 32], "pg": [20, 21, 22], "pg-nonoise": [20.2, 21.1, 21.9], "pg-conv": [25, 26, 27]})
    row = claims.compare(df, claim="c", metric="fid", method="pg", baseline="dcgan", dataset="x", better="lower")
    out = claims.with_controls(row, df, noise_off="pg-nonoise", conv="pg-conv", better="lower")
    assert out["verdict"] == "reproduced" and out["vs_dcgan"].endswith("vs dcgan (reproduced)")
    assert out["vs_noise_off"].endswith("(inconclusive)") and out["vs_conv"].endswith("(reproduced)")
    assert "to the architecture" in out["attribution"] and "not to the perturbation" in out["attribution"]
    assert "perturbation layers beat 3x3 convs" in out["attribution"]


def test_with_controls_attributes_to_the_noise_when_it_beats_its_control():
    df = _runs({"dcgan": [30, 31, 32], "pg": [20, 21, 22], "pg-nonoise": [28, 29, 30], "pg-conv": [20, 21, 22]})
    row = claims.compare(df, claim="c", metric="fid", method="pg", baseline="dcgan", dataset="x", better="lower")
    out = claims.with_controls(row, df, noise_off="pg-nonoise", conv="pg-conv", better="lower")
    assert "to the perturbation" in out["attribution"] and "noise helps" in out["attribution"]
    missing = claims.with_controls(row, df, noise_off="nope", conv="pg-conv", better="lower")
    assert missing["vs_noise_off"] == "not measured" and "undecided" in missing["attribution"]


def test_with_controls_exact_says_where_a_parameter_saving_comes_from():
    row = claims.exact(claim="p", dataset="all", metric="n", method="pg", baseline="dcgan", ours=100, base=400,
                       better="lower")
    out = claims.with_controls_exact(row, {"dcgan": 400, "pg": 100, "pg-nonoise": 100, "pg-conv": 300},
                                     noise_off="pg-nonoise", conv="pg-conv")
    assert out["vs_dcgan"] == "0.250x dcgan" and out["vs_noise_off"] == "1.000x pg-nonoise"
    assert "the noise adds none" in out["attribution"] and "the 1x1 kernel saves 67%" in out["attribution"]
    assert "the topology alone saves 25% against DCGAN" in out["attribution"]


def test_with_controls_single_seed_rows_say_undecided_briefly():
    df = _runs({"dcgan": [30], "pg": [20], "pg-nonoise": [21], "pg-conv": [25]})
    row = claims.compare(df, claim="c", metric="fid", method="pg", baseline="dcgan", dataset="x", better="lower")
    out = claims.with_controls(row, df, noise_off="pg-nonoise", conv="pg-conv", better="lower")
    assert out["vs_dcgan"] == "-10.00 vs dcgan (inconclusive: too few seeds)"
    assert out["attribution"].endswith("Undecided: nothing is attributed to the perturbation or to the architecture.")


def _curve(values, method="dcgan", dataset="cifar10", seeds=(0, 1)):
    return pd.DataFrame([{"method": method, "dataset": dataset, "seed": s, "step": 100 * (i + 1), "fid": v + s}
                         for s in seeds for i, v in enumerate(values)])


def test_convergence_rule_over_the_last_quarter():
    import numpy as np

    flat = claims.convergence(_curve([80, 40, 30, 29, 28.5, 28.4, 28.3, 28.2]), "fid", method="dcgan", dataset="cifar10")
    # steps 100..800: the window starts at the last evaluation <= 600; seed means 28.9, 28.8, 28.7 at 600, 700, 800
    assert flat["window"] == "600-800" and flat["evaluations"] == 3 and flat["converged"] is True
    assert flat["relative_change"] == pytest.approx(0.2 / 28.9)
    falling = claims.convergence(_curve([80, 60, 50, 45, 40, 35, 30, 25]), "fid", method="dcgan", dataset="cifar10")
    assert falling["converged"] is False and falling["relative_change"] == pytest.approx(10 / 35.5)
    # oscillation around a flat level: the end points differ by 40%, the trend by little
    wobble = claims.convergence(_curve([80, 40, 20, 20, 20, 25, 15, 25, 15, 20, 25, 15]), "fid",
                                method="dcgan", dataset="cifar10")
    s = np.arange(900, 1300, 100.0)
    y = np.array([15.5, 20.5, 25.5, 15.5])
    b, a = np.polyfit(s, y, 1)
    assert wobble["relative_change"] == pytest.approx(abs(b * 300) / (a + b * 900))
    assert wobble["converged"] is True and wobble["max_excursion"] > 0.4
    assert claims.convergence(_curve([1, 2]), "fid", method="pgan-g", dataset="cifar10")["converged"] is None


def test_in_paper_range_only_for_the_papers_metric_and_a_decided_difference():
    kw = dict(low=4.76, high=21.84)
    assert claims.in_paper_range(10.8, verdict="reproduced", protocol="fid5k_domain", **kw).startswith("not comparable")
    assert claims.in_paper_range(10.8, verdict="inconclusive", protocol="fid2k_inception", **kw).startswith("undecided")
    assert claims.in_paper_range(10.8, verdict="reproduced", protocol="fid2k_inception", **kw) == "yes"
    assert claims.in_paper_range(30.0, verdict="reproduced", protocol="fid2k_inception", **kw) == "no"
