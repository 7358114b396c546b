"""Controlled D-step timing (pgan_core.timing.time_d_steps, cost_ratios): tiny widths, a few steps."""
import pytest

from pgan_core.errors import ConfigError
from pgan_core.timing import cost_ratios, time_d_steps

VARIANTS = {"base": {"method": "sngan"}, "pconv-p0.3": {"method": "sngan-pconv", "pconv_rate": 0.3},
            "masked": {"method": "sngan-mask-spatial"}}


def test_time_d_steps_rows_per_variant_and_repeat():
    t = time_d_steps(VARIANTS, width=2, batch_size=4, iters=2, repeats=2, warmup=1)
    assert list(t.columns) == ["method", "repeat", "sec_per_d_step"]
    assert sorted(t["method"].unique()) == sorted(VARIANTS)
    assert len(t) == 2 * len(VARIANTS) and (t["sec_per_d_step"] > 0).all()
    r = cost_ratios(t, baseline="base")
    assert sorted(r["method"].unique()) == ["masked", "pconv-p0.3"] and len(r) == 4
    for m, rep, ratio in r[["method", "repeat", "ratio"]].itertuples(index=False):
        num = t[(t["method"] == m) & (t["repeat"] == rep)]["sec_per_d_step"].item()
        den = t[(t["method"] == "base") & (t["repeat"] == rep)]["sec_per_d_step"].item()
        assert ratio == pytest.approx(num / den)


def test_time_d_steps_grayscale_and_bad_override():
    t = time_d_steps({"a": {"method": "sngan"}}, dataset="mnist", width=2, batch_size=2, iters=1, repeats=1, warmup=0)
    assert len(t) == 1
    with pytest.raises(ConfigError, match="pconv_rate"):
        time_d_steps({"a": {"method": "sngan", "pconv_rate": 0.3}}, width=2, batch_size=2, iters=1, repeats=1)


def test_time_iteration_variants_labels_and_builder_overrides():
    from pgan_core.timing import time_iteration_variants

    v = {"stored": {"method": "pgan-g"}, "in-forward": {"method": "pgan-g", "g_overrides": {"mask_source": "lcg_forward"}}}
    t = time_iteration_variants(v, width=2, batch_size=2, z_dim=8, iters=1, repeats=2, warmup=0)
    assert list(t.columns) == ["method", "repeat", "sec_per_iter"]
    assert sorted(t["method"].unique()) == ["in-forward", "stored"] and len(t) == 4 and (t["sec_per_iter"] > 0).all()
    with pytest.raises(ConfigError, match="'variants'"):
        time_iteration_variants({"a": {"method": "pgan-g", "mask_source": "lcg"}}, width=2, batch_size=2, iters=1)
    with pytest.raises(ConfigError, match="'mask_source'"):
        time_iteration_variants({"a": {"method": "pgan-g", "g_overrides": {"mask_source": "nope"}}}, width=2,
                                batch_size=2, iters=1, repeats=1, warmup=0)


def test_time_iterations_runs_the_loops_step(monkeypatch):
    """n_critic D steps per G step, the run's loss and fast path: the iteration the training loop runs."""
    import pgan_core.timing as timing
    from pgan_core.config import RunConfig

    calls = {"d": 0, "g": 0}
    real_get_loss = timing.get_loss

    def counting(name):
        loss = real_get_loss(name)

        class Counted:
            def d_loss(self, *a, **k):
                calls["d"] += 1
                return loss.d_loss(*a, **k)

            def g_loss(self, *a, **k):
                calls["g"] += 1
                return loss.g_loss(*a, **k)
        return Counted()

    monkeypatch.setattr(timing, "get_loss", counting)
    run = RunConfig(method="dcgan", dataset="mnist", width=2, batch_size=2, z_dim=8, n_critic=3, channels_last=True,
                    diffaugment="translation")
    t = timing.time_iterations(["dcgan", "pgan-g"], iters=2, repeats=1, warmup=0, config=run)
    assert sorted(t["method"]) == ["dcgan", "pgan-g"] and (t["sec_per_iter"] > 0).all()
    assert calls == {"d": 3 * 2 * 2, "g": 2 * 2}                       # 2 variants x 2 iterations, 3 D steps each
    with pytest.raises(ConfigError, match="img_channels"):
        timing.time_iterations(["dcgan"], img_channels=2, iters=1, repeats=1, warmup=0)
