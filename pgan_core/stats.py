"""Intervals across seeds and honest verdicts.

With a handful of seeds we use Student-t intervals: the mean's 95% interval per group, and the
Welch interval of a difference of means between a method and its baseline. A claim is
``reproduced`` when the interval of the difference lies entirely on the claimed side of zero,
``not reproduced`` when it lies entirely on the other side, and ``inconclusive`` otherwise (or
with fewer than two seeds on either side).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

# two-sided 97.5% quantiles of Student's t for df = 1..30 (then the normal value)
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t975(df: float) -> float:
    if df < 1:
        return math.inf
    if df >= 30:
        return 1.960 + (2.042 - 1.960) * 30 / df if df < 1000 else 1.960
    lo = int(math.floor(df))
    hi = min(lo + 1, 30)
    frac = df - lo
    return _T975[lo - 1] * (1 - frac) + _T975[hi - 1] * frac


def mean_ci(values: Iterable[float]) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the 95% t-interval of the mean; a single value gives an infinite interval."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = sum(xs) / n
    if n == 1:
        return m, -math.inf, math.inf, 1
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = t975(n - 1) * sd / math.sqrt(n)
    return m, m - h, m + h, n


def welch_diff(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(mean(a) - mean(b), low, high) with the Welch 95% interval."""
    a = [float(x) for x in a if x is not None and math.isfinite(float(x))]
    b = [float(x) for x in b if x is not None and math.isfinite(float(x))]
    if len(a) < 2 or len(b) < 2:
        d = (sum(a) / len(a) - sum(b) / len(b)) if a and b else math.nan
        return d, -math.inf, math.inf
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return ma - mb, ma - mb, ma - mb
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1)) + (vb ** 2 / (len(b) - 1)))
    h = t975(df) * se
    return ma - mb, ma - mb - h, ma - mb + h


def verdict_from_interval(low: float, high: float, *, claim: str) -> str:
    """claim 'lower': the method's value should be below the baseline's (diff < 0); 'higher': above."""
    if claim not in ("lower", "higher"):
        raise ValueError("claim must be 'lower' or 'higher'")
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    good, bad = (high < 0, low > 0) if claim == "lower" else (low > 0, high < 0)
    return "reproduced" if good else "not reproduced" if bad else "inconclusive"


def fmt_ci(m: float, lo: float, hi: float, digits: int = 2) -> str:
    if not math.isfinite(m):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{m:.{digits}f} (1 seed)"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
