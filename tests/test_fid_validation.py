"""FID validation helpers (TTUR): disturbance curves, sample-size bias, monotonicity."""
from __future__ import annotations

import pytest

from pgan_core.errors import ConfigError
from pgan_core.fid_validation import disturbance_curves, monotone, sample_size_bias
from pgan_core.metrics.evaluate import Evaluator


@pytest.fixture(scope="module")
def ev():
    return Evaluator("synthetic", ["fid200_domain"], domain_quality="smoke")


def test_monotone():
    assert monotone([1, 2, 3]) and not monotone([1, 1, 2]) and monotone([1, 1, 2], strict=False)
    assert not monotone([3, 2])


def test_disturbance_curves_rise_from_the_floor(ev):
    df = disturbance_curves(ev, names=["gaussian_noise", "gaussian_blur"], levels=[0.0, 0.3, 1.0], n=200)
    assert list(df.columns[:2]) == ["disturbance", "level"] and len(df) == 6
    for _, sub in df.groupby("disturbance"):
        assert monotone(sub.sort_values("level")["fid200_domain"].tolist())
    floor = df[df.level == 0]["fid200_domain"]
    assert floor.nunique() == 1                                            # level 0 is shared


def test_disturbance_bad_input(ev):
    with pytest.raises(ConfigError, match="names"):
        disturbance_curves(ev, names=["fog"], n=50)
    with pytest.raises(ConfigError, match="levels"):
        disturbance_curves(ev, names=["swirl"], levels=[1.5], n=50)
    with pytest.raises(ConfigError, match="other_dataset"):
        disturbance_curves(ev, names=["contaminate"], n=50)


def test_sample_size_bias_falls_with_n():
    from pgan_core.data import load_dataset

    test = load_dataset("synthetic", "test").images
    df = sample_size_bias(lambda keys: Evaluator("synthetic", keys, domain_quality="smoke"),
                          {"real test": lambda n: test[:n]}, sizes=[50, 250])
    f = df.set_index("n")["fid"]
    assert list(df["protocol"]) == ["fid50_domain", "fid250_domain"] and f[50] > f[250]
