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
