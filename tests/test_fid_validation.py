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


def test_disturbance_study_intervals_and_paired_rises():
    from pgan_core.fid_validation import disturbance_study, rise_verdict

    ev2 = Evaluator("synthetic", ["fid100_domain", "kid100_domain"], domain_quality="smoke")
    points, rises = disturbance_study(ev2, names=["gaussian_noise", "swirl"], levels=[0.0, 0.5, 1.0], n=100,
                                      bootstrap=20)
    assert len(points) == 6 and {"fid100_domain_lo", "fid100_domain_hi", "kid100_domain"} <= set(points.columns)
    assert (points["fid100_domain_lo"] <= points["fid100_domain_hi"]).all()
    assert points[points.level == 0]["fid100_domain"].nunique() == 1            # the floor is shared
    assert len(rises) == 4 and (rises["draws"] == 20).all()
    noise = points[points.disturbance == "gaussian_noise"].set_index("level")["fid100_domain"]
    first = rises[(rises.disturbance == "gaussian_noise") & (rises.level_to == 0.5)].iloc[0]
    assert first["rise"] == pytest.approx(noise[0.5] - noise[0.0])
    assert first["rise_lo"] <= first["rise_hi"]
    # the verdict reads the intervals: a rise above 0 everywhere, a fall, or neither
    fake = rises.copy()
    fake.loc[:, ["rise_lo", "rise_hi"]] = [1.0, 2.0]
    assert rise_verdict(fake, "swirl", "fid100_domain") == "reproduced"
    fake.loc[fake.index[-1], ["rise_lo", "rise_hi"]] = [-3.0, -1.0]
    assert rise_verdict(fake, "swirl", "fid100_domain") == "not reproduced"
    fake.loc[fake.index[-1], ["rise_lo", "rise_hi"]] = [-1.0, 1.0]
    assert rise_verdict(fake, "swirl", "fid100_domain") == "inconclusive"
    with pytest.raises(ConfigError, match="disturbance"):
        rise_verdict(rises, "fog", "fid100_domain")
    with pytest.raises(ConfigError, match="bootstrap"):
        disturbance_study(ev2, names=["swirl"], n=100, bootstrap=1)
    with pytest.raises(ConfigError, match="'n'"):
        disturbance_study(ev2, names=["swirl"], n=50, bootstrap=5)


def test_sample_size_draws_and_bias_verdict():
    from pgan_core.data import load_dataset
    from pgan_core.fid_validation import bias_verdict, sample_size_draws

    test = load_dataset("synthetic", "test").images
    ev2 = Evaluator("synthetic", ["fid200_domain"], domain_quality="smoke")
    df = sample_size_draws(ev2, {"real test": lambda n: test[:n]}, sizes=[30, 200], draws=4)
    assert list(df.groupby("n").size()) == [4, 1] and set(df["protocol"]) == {"fid30_domain", "fid200_domain"}
    pool = df[df.n == 200]["fid"].iloc[0]
    assert pool == pytest.approx(ev2.evaluate(test[:200])["fid200_domain"], rel=1e-6)
    v = bias_verdict(df, "real test")
    assert v["n_small"] == 30 and v["n_large"] == 200 and v["draws"] == 4
    assert v["difference"] == pytest.approx(df[df.n == 30]["fid"].mean() - pool)
    assert v["lo"] < v["difference"] < v["hi"] and v["verdict"] == "reproduced"   # 30 images: strongly biased
    with pytest.raises(ConfigError, match="sizes"):
        sample_size_draws(ev2, {"x": lambda n: test[:n]}, sizes=[30, 400])
    with pytest.raises(ConfigError, match="draws"):
        sample_size_draws(ev2, {"x": lambda n: test[:n]}, sizes=[30], draws=1)
