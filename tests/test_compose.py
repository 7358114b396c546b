"""Composed method names (pgan_core.compose): parsing, recipes, builds, RunConfig wiring, errors."""
from __future__ import annotations

import pytest
import torch

from pgan_core import compose, registry
from pgan_core.config import RunConfig
from pgan_core.errors import ConfigError
from pgan_core.layers.perturbation import PerturbationLayer
from pgan_core.layers.sastm import SASTM

SNGAN = dict(lr_g=2e-4, lr_d=2e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), n_critic=5)


def test_every_g_and_every_d_builds_and_runs():
    toks = compose.tokens()
    gs = [t for t, r in toks.items() if r == "g"]
    ds = [t for t, r in toks.items() if r == "d"]
    assert len(gs) == 11 and len(ds) == 10
    pairs = {(g, d) for g in gs for d in ("d-dcgan", "d-sn")} | {(g, d) for g in ("g-dcgan", "g-pert") for d in ds}
    for g, d in sorted(pairs):                                          # every part, with a DCGAN-like and a ResNet peer
        torch.manual_seed(0)
        G, D = registry.build_models(f"{g}+{d}", img_channels=1, z_dim=8, width=4)
        x = G(torch.randn(2, 8))                                        # (2, 1, 32, 32)
        assert x.shape == (2, 1, 32, 32)
        D(x).sum().backward()


def test_parts_reach_the_builders():
    G, D = registry.build_models("g-pert-lcg+d-nice", img_channels=3, z_dim=8, width=4)
    pls = [m for m in G.modules() if isinstance(m, PerturbationLayer)]
    assert pls and {m.mask_source for m in pls} == {"lcg"}
    assert getattr(D, "d_plugin", None) is not None                     # NICE's D plugin
    G, _ = registry.build_models("g-sastm+d-sn", img_channels=3, z_dim=8, width=4)
    assert any(isinstance(m, SASTM) for m in G.modules())
    _, D = registry.build_models("g-dcgan+d-pconv", img_channels=3, z_dim=8, width=4)
    assert "pconv" in repr(D).lower() or "PConv2d" in repr(D)


def test_recipe_follows_the_discriminator_and_options():
    spec = registry.get_method("g-pert+d-nice+da+mask-both+ttur")
    assert spec.loss == "hinge"
    assert spec.train_defaults == {**SNGAN, "lr_d": 4e-4, "lr_g": 1e-4, "diffaugment": compose.DA_POLICY,
                                   "d_mask": "spatial,spectral"}
    assert registry.get_method("g-dcgan+d-dcgan").loss == "ns"
    assert registry.get_method("g-dcgan+d-dcgan").train_defaults["n_critic"] == 1
    w = registry.get_method("g-sastm+d-critic+wgan-gp")
    assert w.loss == "wgan-gp" and w.train_defaults["lr_g"] == 1e-4 and w.train_defaults["n_critic"] == 5
    assert registry.get_method("g-pert+d-sn+ns").loss == "ns"


def test_runconfig_takes_the_composed_inputs():
    c = RunConfig(method="g-pert+d-nice+da+mask-both+ttur", dataset="cifar10")
    r = c.resolved()
    assert c.diffaugment == compose.DA_POLICY and r.d_mask == "spatial,spectral"
    assert (r.lr_d, r.lr_g, r.loss, r.n_critic) == (4e-4, 1e-4, "hinge", 5)
    assert RunConfig(method="g-pert+d-nice", dataset="cifar10").diffaugment == ""
    s = RunConfig(method="g-dcgan+spider-fashion-mnist+d-dcgan", dataset="mnist")
    assert s.g_input == "fashion-mnist" and s.input_dim == s.g_input_res ** 2
    assert RunConfig.from_params(s.to_dict()) == s and s.key() != RunConfig(method="dcgan", dataset="mnist").key()
    with pytest.raises(ConfigError, match="'g_input'"):
        RunConfig(method="g-dcgan+spider-fashion-mnist+d-dcgan", dataset="mnist", g_input="cifar10")
    # run options of the parts still apply (PConv rate, NICE gamma), and are refused where they do not
    assert RunConfig(method="g-pert+d-pconv", dataset="mnist", pconv_rate=0.2).pconv_rate == 0.2
    with pytest.raises(ConfigError, match="'nice_gamma'"):
        RunConfig(method="g-pert+d-sn", dataset="mnist", nice_gamma=1.0)


def test_composed_names_stay_out_of_the_method_list():
    registry.get_method("g-pert+d-sn")
    assert "g-pert+d-sn" not in registry.method_names()


@pytest.mark.parametrize("name, expect", [
    ("g-pert", "no discriminator"),
    ("d-sn", "no generator"),
    ("g-pert+g-sastm+d-sn", "transposed convolutions"),
    ("g-pert+d-sn+d-nice", "2 discriminator choices"),
    ("g-pert+d-sn+mask-spatial+mask-spectral", "2 MaskedGAN mask choices"),
    ("g-pert+d-sn+da+da", "2 DiffAugment choices"),
    ("d-sn+g-pert", "write it as 'g-pert+d-sn'"),
    ("g-pert+d-sn+ttur+da", "write it as 'g-pert+d-sn+da+ttur'"),
    ("g-pert+d-foo", "unknown token 'd-foo'"),
    ("g-pert+d-dcgan+wgan-gp", "BatchNorm"),
    ("g-pert+d-pnn+wgan-gp", "BatchNorm"),
])
def test_impossible_or_malformed_names_say_why(name, expect):
    with pytest.raises(ConfigError) as info:
        RunConfig(method=name)
    msg = str(info.value)
    assert "'method'" in msg and expect in msg
    assert "g-pert+d-nice+da+mask-both+ttur" in msg                    # the grammar and an example follow
    assert "\n" not in msg and "discriminator (exactly one): d-dcgan" in msg   # one line, the grammar kept


def test_unknown_plain_name_lists_methods_and_composition():
    with pytest.raises(ConfigError) as info:
        RunConfig(method="pgan-x")
    assert "sngan-nice" in str(info.value) and "composed" in str(info.value)


def test_run_grid_accepts_composed_names_and_rejects_bad_ones(tmp_path):
    from pgan_core.experiments import run_grid

    with pytest.raises(ConfigError, match="METHODS"):
        run_grid(notebook="t", profile="smoke", methods=["g-pert+d-foo"], datasets=["synthetic"], seeds=[0],
                 runs_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())                                   # nothing written


def test_a_composed_method_trains_and_reloads(tmp_path):
    from pgan_core.checkpoint import load_snapshot_generator
    from pgan_core.training import train

    cfg = RunConfig(method="g-pert-lcg+d-nice+da+mask-both+ttur", dataset="synthetic", width=4, batch_size=8,
                    steps=4, n_critic=2, eval_every=0, ckpt_every=2, log_every=2, eval_protocols=())
    rec = train(cfg, tmp_path / "run", progress=False)
    assert rec.steps == 4 and rec.config["lr_d"] == 4e-4 and rec.config["d_mask"] == "spatial,spectral"
    G, c = load_snapshot_generator(tmp_path / "run" / "snapshot.pt")
    assert c["method"] == cfg.method and G(torch.randn(2, cfg.input_dim)).shape == (2, 3, 32, 32)


def test_spider_tokens_cite_the_spider_gan_paper():
    """Spider GAN is arXiv:2305.07613 (issue 17: 2305.07490 was cited)."""
    spec = registry.get_method("g-dcgan+spider-mnist+d-dcgan")
    assert "arXiv:2305.07613" in spec.paper and "2305.07490" not in spec.paper


def test_a_registered_name_is_its_composition():
    """One method table: every registered name is an alias of a composition, one spec and one run key."""
    from pgan_core.methods import ALIASES

    assert sorted(ALIASES) == registry.method_names()
    for name, (composition, _) in ALIASES.items():
        assert registry.get_method(composition) is registry.get_method(name)
        a, b = RunConfig(method=name, dataset="cifar10"), RunConfig(method=composition, dataset="cifar10")
        assert a.key() == b.key() and a.run_name() == b.run_name() and b.resolved().method == name
    assert RunConfig(method="g-pert+d-sn", dataset="cifar10").resolved().method == "g-pert+d-sn"   # no alias: kept


def test_register_refuses_an_incomplete_recipe():
    from pgan_core.methods import RECIPES, MethodSpec
    from pgan_core.models import DCGANDiscriminator, DCGANGenerator

    with pytest.raises(ValueError, match="n_critic"):
        registry.register(MethodSpec(name="test-incomplete", build_G=DCGANGenerator, build_D=DCGANDiscriminator,
                                     train_defaults={k: v for k, v in RECIPES["dcgan"].train().items() if k != "n_critic"}))
    assert "test-incomplete" not in registry.METHODS


@pytest.mark.parametrize("d", ["d-dcgan-pert", "d-pnn-nonoise", "d-pnn-conv"])
def test_every_batchnorm_d_is_refused_with_wgan_gp(d):
    with pytest.raises(ConfigError, match="BatchNorm"):
        RunConfig(method=f"g-dcgan+{d}+wgan-gp")
