"""Training loop: finite smoke run, exact resume, divergence handling, checkpoint integrity."""
from __future__ import annotations

import json
import math

import pytest
import torch

from pgan_core.checkpoint import load_snapshot_generator
from pgan_core.config import RunConfig
from pgan_core.errors import ConfigError, IntegrityError, TrainingDiverged
from pgan_core.training import load_record, lr_factor, train

TINY = dict(dataset="synthetic", width=4, z_dim=16, batch_size=8, steps=6, eval_every=3, ckpt_every=2, log_every=1,
            eval_protocols=("fid64_domain",), domain_quality="smoke", max_images=128)


def cfg(**kw) -> RunConfig:
    return RunConfig.from_params({**TINY, **kw})


def _weights(run_dir):
    st = torch.load(run_dir / "state.pt", weights_only=True)
    return {f"{part}.{k}": v for part in ("G", "D", "G_ema") for k, v in st[part].items()}


@pytest.mark.parametrize("method", ["dcgan", "pgan-g", "pgan-gd"])
def test_smoke_run_writes_everything(tmp_path, method):
    rec = train(cfg(method=method), tmp_path, progress=False)
    assert rec.steps == 6 and rec.status == "complete"
    for name in ("config.json", "log.jsonl", "state.pt", "state.pt.sha256", "snapshot.pt", "record.json"):
        assert (tmp_path / name).is_file(), name
    lines = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    losses = [l for l in lines if l["kind"] == "loss"]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(l["loss_d"])) for l in losses)
    metrics = [l for l in lines if l["kind"] == "metric"]
    assert [m["step"] for m in metrics] == [3, 6] and all(m["fid64_domain"] >= 0 for m in metrics)
    assert rec.params_G["trainable"] > 0 and rec.sec_per_iter > 0
    G, c = load_snapshot_generator(tmp_path / "snapshot.pt")
    assert G(torch.zeros(2, c["z_dim"])).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_other_losses_run(tmp_path, loss):
    rec = train(cfg(method="dcgan", loss=loss, steps=2, eval_every=0, eval_protocols=(), n_critic=2), tmp_path, progress=False)
    assert rec.steps == 2


def test_resume_is_bit_identical(tmp_path):
    c = cfg(method="pgan-g", ema_kimg=0.01, steps=6)
    full = train(c, tmp_path / "full", progress=False)
    part = train(c, tmp_path / "part", progress=False, stop_after=3)      # "killed" after iteration 3
    assert part.status == "interrupted"
    resumed = train(c, tmp_path / "part", progress=False)
    assert resumed.resumed_from_step == 2                                    # last checkpoint (ckpt_every=2)
    wa, wb = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    fa = [(h["step"], h["fid64_domain"]) for h in full.history]
    fb = [(h["step"], h["fid64_domain"]) for h in resumed.history]
    assert fa == fb


def test_extending_a_finished_run_equals_training_longer(tmp_path):
    short, long = cfg(method="pgan-g", ema_kimg=0.01, steps=4, eval_every=2), cfg(method="pgan-g", ema_kimg=0.01, steps=8, eval_every=2)
    fresh = train(long, tmp_path / "fresh" / "run", progress=False)
    train(short, tmp_path / "grid" / short.run_name(), progress=False)
    train(cfg(method="pgan-g", ema_kimg=0.01, steps=6, eval_every=2, lr_g=1e-3), tmp_path / "grid" / "other", progress=False)
    ext = train(long, tmp_path / "grid" / long.run_name(), progress=False)
    assert ext.resumed_from_step == 4                                        # from the shorter run, not the other config
    wa, wb = _weights(tmp_path / "fresh" / "run"), _weights(tmp_path / "grid" / long.run_name())
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [(h["step"], h["fid64_domain"]) for h in fresh.history] == [(h["step"], h["fid64_domain"]) for h in ext.history]
    log = [json.loads(l) for l in (tmp_path / "grid" / long.run_name() / "log.jsonl").read_text().splitlines()]
    assert {"event": "extended", "from_run": short.run_name()}.items() <= next(e for e in log if e.get("event") == "extended").items()
    assert (tmp_path / "grid" / short.run_name() / "record.json").is_file()  # the shorter run is left as it was
    odd = cfg(method="pgan-g", ema_kimg=0.01, steps=9, eval_every=3)          # 4 is not on its evaluation grid
    assert train(odd, tmp_path / "grid" / odd.run_name(), progress=False).resumed_from_step is None


def test_lr_decay_schedule():
    c = cfg(steps=10, lr_decay=0.6)                                          # constant for 6 iterations, then 4/4 .. 1/4
    assert [lr_factor(c, s) for s in range(10)] == [1.0] * 6 + [1.0, 0.75, 0.5, 0.25]
    assert [lr_factor(cfg(steps=4, lr_decay=0.0), s) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert lr_factor(cfg(steps=10), 9) == 1.0                               # None: constant
    assert cfg(lr_decay=0.5).key() != cfg().key() and cfg(lr_decay=None).key() == cfg().key()
    for bad in (1.0, -0.1, float("nan"), "half"):
        with pytest.raises(ConfigError, match="lr_decay"):
            cfg(lr_decay=bad)


def test_lr_decay_reaches_the_optimiser_and_resumes_exactly(tmp_path):
    c = cfg(method="dcgan", ema_kimg=0.01, steps=6, lr_decay=0.5, lr_g=1e-3, lr_d=2e-3)
    full = train(c, tmp_path / "full", progress=False)
    st = torch.load(tmp_path / "full" / "state.pt", weights_only=True)       # the rates of the last update (1/3)
    assert math.isclose(st["opt_g"]["param_groups"][0]["lr"], 1e-3 / 3) and math.isclose(st["opt_d"]["param_groups"][0]["lr"], 2e-3 / 3)
    train(cfg(method="dcgan", ema_kimg=0.01, steps=6, lr_g=1e-3, lr_d=2e-3), tmp_path / "const", progress=False)
    wa, wc = _weights(tmp_path / "full"), _weights(tmp_path / "const")
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)                     # the schedule changed what was learnt
    train(c, tmp_path / "part", progress=False, stop_after=3)
    resumed = train(c, tmp_path / "part", progress=False)
    wb = _weights(tmp_path / "part")
    assert resumed.resumed_from_step == 2 and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [h["fid64_domain"] for h in full.history] == [h["fid64_domain"] for h in resumed.history]
    longer = c.replace(steps=8)                                              # its schedule differs from step 4 on:
    assert train(longer, tmp_path / longer.run_name(), progress=False).resumed_from_step is None   # never extended


def test_complete_run_is_reused(tmp_path):
    c = cfg(method="dcgan", steps=2, eval_every=0, eval_protocols=())
    train(c, tmp_path, progress=False)
    mtime = (tmp_path / "state.pt").stat().st_mtime_ns
    rec = train(c, tmp_path, progress=False)
    assert rec.steps == 2 and (tmp_path / "state.pt").stat().st_mtime_ns == mtime
    assert load_record(tmp_path).config_key == c.key()


def test_other_config_in_same_folder_is_refused(tmp_path):
    train(cfg(method="dcgan", steps=4, eval_protocols=()), tmp_path, progress=False, stop_after=2)
    with pytest.raises(IntegrityError, match="another configuration"):
        train(cfg(method="dcgan", steps=4, eval_protocols=(), lr_g=1e-3), tmp_path, progress=False)


def test_damaged_state_is_detected(tmp_path):
    c = cfg(method="dcgan", steps=4, eval_protocols=())
    train(c, tmp_path, progress=False, stop_after=2)
    data = bytearray((tmp_path / "state.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "state.pt").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="damaged"):
        train(c, tmp_path, progress=False)


def test_divergence_stops_with_step_and_keeps_checkpoint(tmp_path):
    c = cfg(method="dcgan", steps=6, eval_protocols=(), lr_d=1e30, lr_g=1e30)
    with pytest.raises(TrainingDiverged, match=r"iteration \d+") as e:
        train(c, tmp_path, progress=False)
    assert "non-finite" in str(e.value)
    if (tmp_path / "state.pt").exists():                                      # whatever was saved is still valid
        from pgan_core.io import load_verified
        load_verified(tmp_path / "state.pt")


def test_batch_larger_than_data_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="batch_size"):
        train(cfg(method="dcgan", max_images=4, batch_size=8, eval_protocols=()), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()                                   # no folder, no half-written config.json
    with pytest.raises(ConfigError, match="batch_size"):                    # a fraction leaving < 1 batch: 5% of 512
        train(cfg(method="dcgan", data_fraction=0.05, max_images=None, batch_size=32, eval_protocols=()),
              tmp_path / "frac", progress=False)
    assert not (tmp_path / "frac").exists()


def test_exploding_discriminator_is_reported(tmp_path, monkeypatch):
    import pgan_core.training as tr

    monkeypatch.setattr(tr, "D_GRAD_ALARM", 0.0)                              # every D step counts as exploding
    with pytest.warns(RuntimeWarning, match="discriminator gradient norm exceeded"):
        rec = train(cfg(method="dcgan", steps=3, eval_protocols=()), tmp_path, progress=False)
    assert rec.alarms and rec.alarms[0]["count"] == 3 and rec.alarms[0]["first_step"] == 0
    alarms = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines() if '"alarm"' in l]
    assert alarms and alarms[0]["alarm"] == "d_grad_explosion"


def test_snapshot_rebuilds_regenerated_masks_of_the_run(tmp_path):
    """LCG masks are not stored: the snapshot must rebuild G with the run's mask_seed and noise level."""
    c = cfg(method="pgan-g-lcg", mask_seed=7, noise_level=0.3, steps=2, eval_protocols=())
    train(c, tmp_path, progress=False)
    G, conf = load_snapshot_generator(tmp_path / "snapshot.pt")
    st = torch.load(tmp_path / "state.pt", weights_only=True)
    from pgan_core.training import build_run_models
    G_ref, _ = build_run_models(c.resolved(), torch.device("cpu"))
    G_ref.load_state_dict(st["G_ema"])
    z = torch.randn(3, conf["z_dim"], generator=torch.Generator().manual_seed(0))
    assert torch.equal(G(z), G_ref.eval()(z))


def test_ttur_learning_rates_reach_the_right_optimiser():
    from pgan_core.training import build_run_models, make_optimizers

    c = cfg(method="dcgan", lr_d=4e-4, lr_g=1e-4, betas_d=(0.0, 0.9))
    G, D = build_run_models(c.resolved(), torch.device("cpu"))
    opt_g, opt_d = make_optimizers(c, G, D)
    assert [g["lr"] for g in opt_g.param_groups] == [1e-4] and [g["lr"] for g in opt_d.param_groups] == [4e-4]
    assert opt_d.param_groups[0]["betas"] == (0.0, 0.9) and opt_g.param_groups[0]["betas"] == (0.5, 0.999)
    ids = lambda m: {id(p) for p in m.parameters()}  # noqa: E731
    assert {id(p) for p in opt_g.param_groups[0]["params"]} == ids(G)
    assert {id(p) for p in opt_d.param_groups[0]["params"]} == ids(D)


def test_spider_input_run_and_snapshot(tmp_path):
    from pgan_core.experiments import final_metrics
    from pgan_core.metrics.evaluate import Evaluator

    c = cfg(method="dcgan", g_input="synthetic", g_input_res=6, g_input_noise=0.25, steps=4, eval_every=2)
    rec = train(c, tmp_path, progress=False)
    assert rec.steps == 4 and rec.history[-1]["fid64_domain"] >= 0
    G, conf = load_snapshot_generator(tmp_path / "snapshot.pt")
    assert G.z_dim == 36 and conf["g_input"] == "synthetic"
    m = final_metrics(rec, Evaluator("synthetic", ["fid64_domain"], domain_quality="smoke"), ["fid64_domain"])
    assert m["fid64_domain"] >= 0
    # cascading: a generator's outputs as the next generator's input
    c2 = cfg(method="dcgan", g_input="generator", g_input_snapshot=str(tmp_path / "snapshot.pt"), steps=2,
             eval_every=0, eval_protocols=())
    with pytest.raises(ConfigError, match="Gaussian input"):
        train(c2, tmp_path / "cascade", progress=False)


def test_history_carries_generator_probes(tmp_path):
    rec = train(cfg(method="dcgan", steps=2, eval_every=2), tmp_path, progress=False)
    assert 0 < rec.history[-1]["deconv_neg_weight"] < 1


def test_cascading_spider_input_from_a_trained_generator(tmp_path, monkeypatch):
    import pgan_core.sampling as sampling

    monkeypatch.setattr(sampling, "CASCADE_POOL", 64)
    src = train(cfg(method="dcgan", steps=2, eval_every=0, eval_protocols=()), tmp_path / "src", progress=False)
    c = cfg(method="dcgan", g_input="generator", g_input_snapshot=str(tmp_path / "src" / "snapshot.pt"), steps=2,
            eval_every=0, eval_protocols=())
    rec = train(c, tmp_path / "cascade", progress=False)
    assert rec.steps == 2 and src.steps == 2
    inp = sampling.make_input(c)
    assert inp.table.shape == (64, 100) and inp.source == "generator"


@pytest.mark.parametrize("method", ["sngan", "sngan-pconv"])
def test_resnet_methods_train_and_resume_exactly(tmp_path, method):
    """PConv draws from torch's global RNG: the loop's per-run seeding must still make resume exact."""
    c = cfg(method=method, steps=4, eval_every=0, eval_protocols=(), ckpt_every=2, n_critic=1)
    full = train(c, tmp_path / "full", progress=False)
    train(c, tmp_path / "cut", progress=False, stop_after=2)
    resumed = train(c, tmp_path / "cut", progress=False)
    assert full.steps == resumed.steps == 4
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_diffaugment_reaches_d_and_keeps_resume_exact(tmp_path):
    c = cfg(method="sngan", steps=4, eval_every=0, eval_protocols=(), ckpt_every=2, n_critic=1,
            diffaugment="color,translation,cutout")
    full = train(c, tmp_path / "full", progress=False)
    train(c, tmp_path / "cut", progress=False, stop_after=2)
    train(c, tmp_path / "cut", progress=False)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = train(c.replace(diffaugment=""), tmp_path / "plain", progress=False)
    d_aug = torch.load(tmp_path / "full" / "state.pt", weights_only=True)["D"]
    d_plain = torch.load(tmp_path / "plain" / "state.pt", weights_only=True)["D"]
    assert any(not torch.equal(d_aug[k], d_plain[k]) for k in d_aug)   # the augmentation changed D's updates
    assert full.config_key != plain.config_key


# ---------------------------------------------------------------- discriminator-side methods (NICE, MaskedGAN, PConv)

D_SIDE = ["sngan-nice", "sngan-nice-noise", "sngan-mask-spatial", "sngan-mask-spectral", "sngan-mask-both"]


def _log(run_dir, kind):
    return [l for l in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines()) if l["kind"] == kind]


@pytest.mark.parametrize("method", D_SIDE)
def test_d_side_methods_train_and_log(tmp_path, method):
    nice = {"nice_eta": -1.0, "diffaugment": "color,translation,cutout"} if "nice" in method else {}  # so beta rises
    c = cfg(method=method, steps=3, eval_every=3, n_critic=2, **nice)
    rec = train(c, tmp_path, progress=False)
    assert rec.steps == 3
    losses = _log(tmp_path, "loss")
    assert all(-1 <= l["d_real_sign"] <= 1 and math.isfinite(l["loss_d"]) for l in losses)
    if "nice" in method:                                                      # beta += 1e-3 per D step while r_t > -1
        betas = [l["beta"] for l in losses]
        assert betas == sorted(betas) and 0 < betas[-1] <= 0.006
        assert all(-1 <= l["r_t"] <= 1 for l in losses)
        assert ("loss_cons" in losses[-1]) == (method == "sngan-nice")
    metric = rec.history[-1]
    assert metric["mem_gap"] == pytest.approx(metric["d_train"] - metric["d_heldout"])


def test_nice_beta_is_in_the_checkpoint_and_resume_is_exact(tmp_path):
    c = cfg(method="sngan-nice", steps=4, eval_every=2, ckpt_every=2, n_critic=2, nice_eta=-1.0,
            diffaugment="color,translation,cutout")
    full = train(c, tmp_path / "full", progress=False)
    train(c, tmp_path / "cut", progress=False, stop_after=3)
    resumed = train(c, tmp_path / "cut", progress=False)
    assert resumed.resumed_from_step == 2
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert 0 < a["D.nice.beta"].item() <= 0.008 and a["D.nice.n_updates"].item() == 8   # beta moved: noise was on
    assert [(h["step"], h["mem_gap"]) for h in full.history] == [(h["step"], h["mem_gap"]) for h in resumed.history]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("kind", "train_seconds")} for r in rows]  # noqa: E731
    assert strip(_log(tmp_path / "full", "loss")) == strip(_log(tmp_path / "cut", "loss"))


def test_masked_method_resume_is_exact_and_masks_change_d(tmp_path):
    c = cfg(method="sngan-mask-both", steps=4, eval_every=0, eval_protocols=(), ckpt_every=2, n_critic=1,
            d_mask_prob=0.5, diffaugment="translation")
    train(c, tmp_path / "full", progress=False)
    train(c, tmp_path / "cut", progress=False, stop_after=3)
    train(c, tmp_path / "cut", progress=False)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)
    train(c.replace(method="sngan", d_mask_prob=1.0), tmp_path / "plain", progress=False)
    p = _weights(tmp_path / "plain")
    assert any(not torch.equal(a[k], p[k]) for k in a if k.startswith("D."))


def test_pconv_kind_and_rate_reach_the_discriminator():
    from pgan_core.layers.pconv import PConv2d
    from pgan_core.training import build_run_models

    _, D = build_run_models(cfg(method="sngan-pconv", pconv_kind="gaussian", pconv_rate=0.3).resolved(),
                            torch.device("cpu"))
    assert {(m.kind, m.rate) for m in D.modules() if isinstance(m, PConv2d)} == {("gaussian", 0.3)}
    _, D = build_run_models(cfg(method="sngan-nice", nice_gamma=0.0, nice_eta=0.5).resolved(), torch.device("cpu"))
    assert D.nice.gamma == 0.0 and D.nice.controller.eta == 0.5


def test_memorisation_sets_do_not_overlap_and_training_set_is_the_runs():
    from pgan_core.data import load_dataset

    train_set = load_dataset("synthetic", "train", max_images=128, seed=0)
    held = load_dataset("synthetic", "test", max_images=512, seed=123)
    a = {bytes(x.numpy()) for x in train_set.images}
    assert not a & {bytes(x.numpy()) for x in held.images}


@pytest.mark.parametrize("method", ["dcgan", "sngan-nice", "wgan-gp"])
def test_freezing_d_in_the_g_step_leaves_every_weight_unchanged(tmp_path, monkeypatch, method):
    """D's weight gradients of the G step are never used: skipping them changes no weight, bit for bit."""
    from pgan_core import training

    c = cfg(method=method, steps=4, ema_kimg=0.01)
    train(c, tmp_path / "frozen", progress=False)
    monkeypatch.setattr(training, "FREEZE_D_IN_G_STEP", False)
    train(c, tmp_path / "old", progress=False)
    wa, wb = _weights(tmp_path / "frozen"), _weights(tmp_path / "old")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
