"""The authors' Perturbative GAN G and D (layer order, shapes), their 3x3-conv controls (parameter counts),
disjoint G/D mask seeds, overrides that reach their builder or are refused, in-forward LCG masks."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from pgan_core import registry
from pgan_core.config import RunConfig
from pgan_core.errors import ConfigError
from pgan_core.layers.perturbation import MASK_BUFFER, PerturbationLayer, make_mask
from pgan_core.models import DCGANDiscriminator, PerturbativeDiscriminator, PerturbativeGenerator
from pgan_core.models.perturbative import ConvControl, PerturbBlock, PerturbResBlock
from pgan_core.training import build_run_models

Z, W = 16, 4


def pls(module: nn.Module) -> list[PerturbationLayer]:
    return [m for m in module.modules() if isinstance(m, PerturbationLayer)]


def types(seq: nn.Module) -> list[type]:
    return [type(m) for m in seq]


# ---------------------------------------------------------------- the authors' layer order

@pytest.mark.parametrize("layer, L", [("perturb", PerturbationLayer), ("conv3x3", ConvControl)])
def test_generator_module_sequence_is_the_authors(layer, L):
    G = PerturbativeGenerator(3, z_dim=Z, width=W, layer=layer)
    assert isinstance(G.fc, nn.Linear) and G.fc.out_features == 8 * W * 16       # bare Linear input layer
    assert types(G.body) == [PerturbBlock, L, nn.Upsample] * 3 + [PerturbBlock, L, nn.Tanh]
    for block in G.body[0::3]:
        assert types(block.layers) == [L, L]                                      # no ReLU between the two
    assert all(m.bn is not None for m in G.body if isinstance(m, L))              # last layer keeps BN before tanh
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU)) for m in G.children())


def test_generator_noise_meets_the_previous_bn_output_not_a_relu():
    """PL2 of a block and the stage-ending upsample see raw BN outputs (negative values), so the noise of the next
    layer meets ReLU(y + l N), not ReLU(ReLU(y) + l N)."""
    torch.manual_seed(0)
    G = PerturbativeGenerator(3, z_dim=Z, width=W).train()
    seen = {}
    G.body[0].layers[1].register_forward_pre_hook(lambda m, a: seen.__setitem__("pl2_in", a[0]))
    G.body[2].register_forward_pre_hook(lambda m, a: seen.__setitem__("up_in", a[0]))
    G.body[0].layers[0].register_forward_hook(lambda m, a, out: seen.__setitem__("pl1_out", out))
    G(torch.randn(8, Z))
    assert torch.equal(seen["pl2_in"], seen["pl1_out"])
    assert (seen["pl2_in"] < 0).any() and (seen["up_in"] < 0).any()


def test_generator_shapes_per_stage():
    G = PerturbativeGenerator(1, z_dim=Z, width=W)
    x = G.fc(torch.randn(2, Z)).view(2, 8 * W, 4, 4)
    shapes = []
    for m in G.body:
        x = m(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes[2::3] == [(4 * W, 8, 8), (2 * W, 16, 16), (W, 32, 32), (1, 32, 32)]


@pytest.mark.parametrize("layer, L", [("perturb", PerturbationLayer), ("conv3x3", ConvControl)])
def test_discriminator_module_sequence_is_the_authors(layer, L):
    D = PerturbativeDiscriminator(3, width=W, layer=layer)
    assert types(D.stem) == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    assert D.stem[0].kernel_size == (7, 7) and D.stem[0].stride == (2, 2)
    blocks = [b for stage in (D.stage1, D.stage2, D.stage3) for b in stage]
    assert len(blocks) == 6 and all(isinstance(b, PerturbResBlock) for b in blocks)
    for j, b in enumerate(blocks):
        down = j in (2, 4)
        assert types(b.layers) == [L, nn.MaxPool2d if down else nn.Identity, nn.BatchNorm2d, nn.ReLU, L,
                                   nn.BatchNorm2d]
        assert isinstance(b.shortcut, nn.Sequential if down else nn.Identity)


def test_discriminator_shapes_per_stage():
    D = PerturbativeDiscriminator(3, width=W)
    x = torch.randn(2, 3, 32, 32)
    out = []
    for m in (D.stem, D.stage1, D.stage2, D.stage3):
        x = m(x)
        out.append(tuple(x.shape[1:]))
    assert out == [(W, 8, 8), (W, 8, 8), (2 * W, 4, 4), (4 * W, 2, 2)]
    assert D(torch.randn(2, 3, 32, 32)).shape == (2,)


def test_composed_tokens_build_the_authors_models():
    G, D = registry.build_models("g-pert-lcg+d-pnn", img_channels=3, z_dim=Z, width=W)
    assert isinstance(G, PerturbativeGenerator) and isinstance(D, PerturbativeDiscriminator)
    assert types(G.body)[-3:] == [PerturbBlock, PerturbationLayer, nn.Tanh]
    assert {l.mask_source for l in pls(G)} == {"lcg"} and len(pls(D)) == 12


# ---------------------------------------------------------------- the controls

def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("net", ["G", "D"])
def test_conv_controls_have_exactly_8_more_weights_per_1x1_weight(net):
    """A 3x3 conv of the same widths has 9 weights where the 1x1 conv of a PL has 1; all else is equal."""
    idx = 0 if net == "G" else 1
    pert = registry.build_models("pgan-gd", img_channels=3, z_dim=Z, width=W)[idx]
    conv = registry.build_models("pgan-gd-conv", img_channels=3, z_dim=Z, width=W)[idx]
    nonoise = registry.build_models("pgan-gd-nonoise", img_channels=3, z_dim=Z, width=W)[idx]
    extra = 8 * sum(l.conv.weight.numel() for l in pls(pert))
    assert n_params(conv) == n_params(pert) + extra
    assert n_params(nonoise) == n_params(pert)
    assert [m.conv.out_channels for m in conv.modules() if isinstance(m, ConvControl)] == \
           [l.out_channels for l in pls(pert)]


def test_g_conv_control_pairs_with_the_dcgan_d():
    G, D = registry.build_models("pgan-g-conv", img_channels=3, z_dim=Z, width=W)
    G0, D0 = registry.build_models("pgan-g", img_channels=3, z_dim=Z, width=W)
    assert isinstance(D, DCGANDiscriminator) and n_params(D) == n_params(D0)
    assert n_params(G) > n_params(G0)


# ---------------------------------------------------------------- mask seeds of G and D

def run_models(method: str, mask_seed: int = 0):
    cfg = RunConfig(method=method, dataset="synthetic", width=W, z_dim=Z, mask_seed=mask_seed)
    return build_run_models(cfg, torch.device("cpu"))


PERT_GD = ["pgan-gd", "pgan-gd-nonoise", "dcgan-pert-gd", "g-pert+d-pnn", "g-pert-mt+d-pnn", "g-pert-lcg+d-pnn"]


@pytest.mark.parametrize("method", PERT_GD)
@pytest.mark.parametrize("mask_seed", [0, 7])
def test_g_and_d_masks_come_from_disjoint_seeds(method, mask_seed):
    G, D = run_models(method, mask_seed)
    g_seeds, d_seeds = {l.seed for l in pls(G)}, {l.seed for l in pls(D)}
    assert g_seeds and d_seeds and not g_seeds & d_seeds
    assert min(g_seeds) == mask_seed and min(d_seeds) == mask_seed + registry.D_MASK_SEED
    # no D mask starts like a G mask (same seed and source gave equal prefixes before)
    for lg in pls(G):
        for ld in pls(D):
            n = min(lg.mask.numel(), ld.mask.numel())
            assert not torch.equal(lg.mask.flatten()[:n], ld.mask.flatten()[:n])


def test_every_registered_method_keeps_g_and_d_seeds_disjoint():
    for name in registry.method_names():
        G, D = registry.build_models(name, img_channels=3, z_dim=Z, width=W)
        assert not {l.seed for l in pls(G)} & {l.seed for l in pls(D)}, name


# ---------------------------------------------------------------- overrides reach their builder or are refused

@pytest.mark.parametrize("method, g_has, d_has", [("dcgan-pert-g", True, False), ("dcgan-pert-gd", True, True),
                                                  ("pgan-g", True, False), ("pgan-gd", True, True)])
def test_mask_seed_and_noise_level_reach_the_builders_that_own_them(method, g_has, d_has):
    cfg = RunConfig(method=method, dataset="synthetic", width=W, z_dim=Z, mask_seed=5, noise_level=0.3)
    G, D = build_run_models(cfg, torch.device("cpu"))
    for net, has, base in ((G, g_has, 5), (D, d_has, 5 + registry.D_MASK_SEED)):
        layers = pls(net)
        assert bool(layers) == has
        if has:
            assert {l.level for l in layers} == {0.3} and min(l.seed for l in layers) == base


@pytest.mark.parametrize("method", ["dcgan", "pgan-g-conv", "pgan-gd-conv", "sngan", "g-dcgan+d-sn"])
@pytest.mark.parametrize("field, value", [("noise_level", 0.2), ("mask_seed", 3)])
def test_overrides_without_an_owner_are_refused(method, field, value):
    with pytest.raises(ConfigError, match=f"parameter '{field}'.*no perturbation layers") as info:
        registry.builder_overrides(method, **{"mask_seed": 0, "noise_level": None, field: value})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=f"'{field}'"):
        RunConfig(method=method, dataset="synthetic", **{field: value})


def test_defaults_are_no_overrides():
    assert registry.builder_overrides("dcgan", mask_seed=0, noise_level=None) == ({}, {})
    assert registry.builder_overrides("pgan-g-conv", mask_seed=0, noise_level=None) == ({}, {})


# ---------------------------------------------------------------- masks regenerated inside forward

def test_in_forward_lcg_masks_equal_the_stored_lcg_masks_and_hold_no_buffer():
    torch.manual_seed(0)
    G_lcg, _ = registry.build_models("pgan-g-lcg", img_channels=3, z_dim=Z, width=W)
    G_fwd, _ = registry.build_models("pgan-g-lcg", img_channels=3, z_dim=Z, width=W,
                                     g_overrides={"mask_source": "lcg_forward"})
    assert not any(name.endswith(MASK_BUFFER) for name, _ in G_fwd.named_buffers())
    assert not any(k.endswith(MASK_BUFFER) for k in G_fwd.state_dict())
    G_fwd.load_state_dict(G_lcg.state_dict())                             # same keys: masks are in neither
    for a, b in zip(pls(G_lcg), pls(G_fwd)):
        assert a.seed == b.seed and b.mask_source == "lcg_forward"
        assert torch.equal(b.mask, a.mask) and torch.equal(b.mask, make_mask("lcg", a.seed, a.mask_shape))
    z = torch.randn(4, Z)
    G_lcg.eval(), G_fwd.eval()
    with torch.no_grad():
        assert torch.equal(G_lcg(z), G_fwd(z))
    G_fwd.train()
    G_fwd(z).mean().backward()
    assert all(p.grad is not None for p in G_fwd.parameters())
