"""Every registry entry builds and runs at tiny width (mimicry style); model options and errors."""
from __future__ import annotations

import pytest
import torch

from pgan_core import registry
from pgan_core.errors import ConfigError
from pgan_core.layers.perturbation import PerturbationLayer
from pgan_core.methods import D_MASK_SEED
from pgan_core.models import DCGANDiscriminator, DCGANGenerator, PerturbativeDiscriminator, PerturbativeGenerator

NAMES = ["dcgan", "dcgan-pert-g", "dcgan-pert-gd", "pgan-g", "pgan-gd", "pgan-g-nonoise", "pgan-gd-nonoise",
         "pgan-g-conv", "pgan-gd-conv", "pgan-g-lcg", "pgan-g-mt", "wgan-gp", "sastm", "sastm-add", "sastm-b0", "sngan", "sngan-pconv", "sngan-nice",
         "sngan-nice-noise", "sngan-mask-spatial", "sngan-mask-spectral", "sngan-mask-both"]
B, Z, WIDTH = 2, 16, 4


def pls(module: torch.nn.Module) -> list[PerturbationLayer]:
    return [m for m in module.modules() if isinstance(m, PerturbationLayer)]


def test_registry_names_and_specs():
    assert registry.method_names() == sorted(NAMES)
    wgan = {"wgan-gp", "sastm", "sastm-add", "sastm-b0"}
    sngan = {n for n in NAMES if n.startswith("sngan")}
    masks = {"sngan-mask-spatial": "spatial", "sngan-mask-spectral": "spectral", "sngan-mask-both": "spatial,spectral"}
    for name in NAMES:
        spec = registry.get_method(name)
        assert spec.paper and spec.description
        if name in sngan:  # the SNGAN ResNet family (Miyato et al. 2018 CIFAR settings, arXiv:1802.05957)
            assert spec.loss == "hinge"
            extra = {"d_mask": masks[name]} if name in masks else {}
            assert spec.train_defaults == dict(lr_g=2e-4, lr_d=2e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), n_critic=5,
                                               **extra)
        elif name in wgan:   # the WGAN-GP family of Self-Sparse GAN (Qian et al. 2021, arXiv:2101.10556)
            assert spec.loss == "wgan-gp" and spec.d_kwargs.get("norm") == "none"
            assert spec.train_defaults == dict(lr_g=1e-4, lr_d=1e-4, betas_g=(0.5, 0.9), betas_d=(0.5, 0.9), n_critic=5)
        else:              # the Perturbative GAN study (Kishi et al. 2019, arXiv:1902.01514)
            assert spec.loss == "ns"
            assert spec.train_defaults == dict(lr_g=2e-4, lr_d=2e-4, betas_g=(0.5, 0.999), betas_d=(0.5, 0.999), n_critic=1)   # complete recipe


def test_unknown_method_lists_known_names():
    with pytest.raises(ConfigError) as info:
        registry.get_method("pgan-x")
    assert "'method'" in str(info.value)
    for name in NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("img_channels", [1, 3])
def test_build_shapes_and_backward(name, img_channels):
    torch.manual_seed(0)
    G, D = registry.build_models(name, img_channels=img_channels, img_res=32, z_dim=Z, width=WIDTH)
    assert G.z_dim == Z
    fake = G(torch.randn(B, Z))
    assert fake.shape == (B, img_channels, 32, 32)
    assert fake.abs().max() <= 1
    logits = D(fake)
    assert logits.shape == (B,)
    logits.mean().backward()
    assert all(p.grad is not None for p in G.parameters())
    assert all(p.grad is not None for p in D.parameters())


def test_method_variants_configure_layers():
    def build(name):
        return registry.build_models(name, img_channels=3, z_dim=Z, width=WIDTH)

    G, D = build("pgan-g")
    assert {(l.level, l.mask_source) for l in pls(G)} == {(0.1, "stored_uniform")} and not pls(D)
    G, D = build("pgan-gd-nonoise")
    assert {l.level for l in pls(G) + pls(D)} == {0.0}
    assert min(l.seed for l in pls(D)) == D_MASK_SEED
    G, D = build("pgan-gd-conv")
    assert not pls(G) and not pls(D) and G.layer == D.layer == "conv3x3"
    G, D = build("pgan-g-conv")
    assert not pls(G) and isinstance(D, DCGANDiscriminator)
    assert {l.mask_source for l in pls(build("pgan-g-lcg")[0])} == {"lcg"}
    assert {l.mask_source for l in pls(build("pgan-g-mt")[0])} == {"seeded_uniform"}
    G, D = build("dcgan")
    assert not pls(G) and not pls(D)
    G, D = build("dcgan-pert-gd")
    assert len(pls(G)) == 4 and len(pls(D)) == 2
    assert isinstance(D.stem[0], torch.nn.Conv2d)          # real first conv
    assert pls(G)[-1].bn is None                           # last G layer feeds tanh directly


def test_width_semantics():
    assert DCGANGenerator(3, width=WIDTH, z_dim=Z).stem[0].out_channels == 8 * WIDTH
    assert PerturbativeGenerator(3, width=WIDTH, z_dim=Z).fc.out_features == 8 * WIDTH * 16
    assert PerturbativeDiscriminator(3, width=WIDTH).fc.in_features == 4 * WIDTH


def test_perturbative_generator_seeds_follow_authors_layout():
    G = PerturbativeGenerator(3, z_dim=Z, width=WIDTH, mask_seed=100)
    assert [l.seed for l in pls(G)] == [100, 101, 110, 120, 121, 130, 140, 141, 150, 160, 161, 170]
    assert [l.spatial for l in pls(G)][::3] == [(4, 4), (8, 8), (16, 16), (32, 32)]
    D = PerturbativeDiscriminator(3, width=WIDTH, mask_seed=7)
    assert [l.seed for l in pls(D)] == [7, 8, 17, 18, 27, 28, 37, 38, 47, 48, 57, 58]
    assert [l.spatial for l in pls(D)] == [(8, 8)] * 5 + [(4, 4)] * 4 + [(2, 2)] * 3


def test_discriminator_activation_option():
    assert {l.act for l in pls(PerturbativeDiscriminator(3, width=WIDTH))} == {"relu"}   # the authors'
    assert {l.act for l in pls(PerturbativeDiscriminator(3, width=WIDTH, act="lrelu"))} == {"lrelu"}
    D = DCGANDiscriminator(3, width=WIDTH, conv="perturb", act="lrelu")
    assert {l.act for l in pls(D)} == {"lrelu"}


def test_dcgan_weights_init():
    torch.manual_seed(0)
    G = DCGANGenerator(3, z_dim=64, width=16)
    w = G.up1[0].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    bn = G.stem[1].weight
    assert abs(bn.mean().item() - 1.0) < 0.01 and (G.stem[1].bias == 0).all()


def test_lcg_generator_state_dict_round_trip_is_exact():
    torch.manual_seed(0)
    G1, _ = registry.build_models("pgan-g-lcg", img_channels=3, z_dim=Z, width=WIDTH)
    sd = G1.state_dict()
    assert not any(k.endswith("noise") for k in sd)         # masks regenerate, not stored
    torch.manual_seed(1)
    G2, _ = registry.build_models("pgan-g-lcg", img_channels=3, z_dim=Z, width=WIDTH)
    G2.load_state_dict(sd)
    G1.eval(), G2.eval()
    z = torch.randn(3, Z)
    with torch.no_grad():
        assert torch.equal(G1(z), G2(z))


def test_stored_masks_are_in_state_dict():
    G, _ = registry.build_models("pgan-g", img_channels=3, z_dim=Z, width=WIDTH)
    assert sum(k.endswith("noise") for k in G.state_dict()) == len(pls(G)) == 12


@pytest.mark.parametrize("build, kwargs, name", [
    (DCGANGenerator, dict(img_res=64), "img_res"),
    (DCGANDiscriminator, dict(img_res=28), "img_res"),
    (PerturbativeGenerator, dict(img_res=64), "img_res"),
    (PerturbativeDiscriminator, dict(img_res=64), "img_res"),
    (DCGANGenerator, dict(conv="deconv"), "conv"),
    (DCGANGenerator, dict(conv="conv", level=0.1), "level"),
    (DCGANDiscriminator, dict(conv="perturb", noise=0.1), "noise"),
    (DCGANGenerator, dict(width=0), "width"),
    (PerturbativeGenerator, dict(z_dim=0), "z_dim"),
    (PerturbativeGenerator, dict(mask_source="mt"), "mask_source"),
    (PerturbativeGenerator, dict(mask_seed=-1), "mask_seed"),
    (PerturbativeDiscriminator, dict(level=-1.0), "level"),
    (PerturbativeDiscriminator, dict(act="tanh"), "act"),
    (PerturbativeGenerator, dict(layer="conv5x5"), "layer"),
    (PerturbativeGenerator, dict(layer="conv3x3", level=0.1), "level"),
    (PerturbativeDiscriminator, dict(layer="conv3x3", mask_source="lcg"), "mask_source"),
    (DCGANGenerator, dict(img_channels=0), "img_channels"),
])
def test_bad_model_arguments(build, kwargs, name):
    args = dict(img_channels=3, width=WIDTH)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=f"'{name}'"):
        build(**args)
