"""SNGAN ResNet G and D (pgan_core.models.resnet): shapes, spectral norm, PConv option, errors, one train step."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.utils import parametrize

from pgan_core.errors import ConfigError
from pgan_core.layers.pconv import PConv2d
from pgan_core.losses import get_loss
from pgan_core.models.resnet import ResNetDiscriminator, ResNetGenerator

B, Z = 2, 8


def weighted(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


@pytest.mark.parametrize("width", [2, 4])
@pytest.mark.parametrize("img_channels", [1, 3])
def test_shapes_and_range(width, img_channels):
    torch.manual_seed(0)
    G = ResNetGenerator(img_channels, z_dim=Z, width=width)
    assert G.z_dim == Z
    fake = G(torch.randn(B, Z))
    assert fake.shape == (B, img_channels, 32, 32)
    assert fake.abs().max() <= 1
    for conv in ("conv", "pconv"):
        D = ResNetDiscriminator(img_channels, width=width, conv=conv)
        assert D(fake).shape == (B,)


def test_width_semantics():
    G, D = ResNetGenerator(3, z_dim=Z, width=4), ResNetDiscriminator(3, width=4)
    assert G.fc.out_features == 4 * 4 * 16 and G.out.in_channels == 16      # G: 4w channels
    assert D.fc.in_features == 8                                             # D: 2w channels
    assert [b.down for b in D.blocks] == [True, True, False, False]
    assert D.blocks[2].sc is None and D.blocks[3].sc is None                 # identity shortcuts


def test_spectral_norm_on_every_layer_or_none():
    D = ResNetDiscriminator(3, width=2)
    layers = weighted(D)
    assert len(layers) == 8 + 2 + 1                                          # 8 3x3, 2 1x1 shortcuts, 1 Linear
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    D = ResNetDiscriminator(3, width=2, spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in D.modules())
    assert not any(parametrize.is_parametrized(m) for m in ResNetGenerator(3, z_dim=Z, width=2).modules())


def test_pconv_placement():
    D = ResNetDiscriminator(3, width=2, conv="pconv", pconv_kind="gaussian", pconv_rate=0.2)
    pconvs = [m for m in D.modules() if isinstance(m, PConv2d)]
    assert len(pconvs) == 7 and {(m.kind, m.rate) for m in pconvs} == {("gaussian", 0.2)}
    assert not isinstance(D.blocks[0].c1, PConv2d)                           # the conv on the image stays plain
    assert all(parametrize.is_parametrized(m, "weight") for m in pconvs)
    assert not any(isinstance(m, PConv2d) for m in ResNetDiscriminator(3, width=2).modules())


def test_pconv_eval_deterministic_train_stochastic():
    torch.manual_seed(0)
    D = ResNetDiscriminator(3, width=2, conv="pconv", pconv_rate=0.3)
    x = torch.randn(4, 3, 32, 32)
    D.eval()
    with torch.no_grad():
        assert torch.equal(D(x), D(x))
    D.train()
    D1, D2, D3 = (copy.deepcopy(D) for _ in range(3))                        # same weights and SN state

    def run(model, seed):
        torch.manual_seed(seed)
        with torch.no_grad():
            return model(x)

    a, b, c = run(D1, 1), run(D2, 2), run(D3, 1)
    assert not torch.allclose(a, b)                                          # different perturbation
    assert torch.equal(a, c)                                                 # seeded: reproducible


def test_pconv_rate_zero_equals_conv():
    x = torch.randn(3, 3, 32, 32)
    torch.manual_seed(0)
    D0 = ResNetDiscriminator(3, width=2, conv="pconv", pconv_rate=0.0)
    torch.manual_seed(0)
    Dc = ResNetDiscriminator(3, width=2, conv="conv")
    with torch.no_grad():
        assert torch.equal(D0(x), Dc(x))                                     # train mode, SN power step included


@pytest.mark.parametrize("build, kwargs, name", [
    (ResNetDiscriminator, dict(conv="perturb"), "conv"),
    (ResNetDiscriminator, dict(conv="pconv", pconv_kind="salt"), "pconv_kind"),
    (ResNetDiscriminator, dict(conv="pconv", pconv_rate=1.0), "pconv_rate"),
    (ResNetDiscriminator, dict(conv="pconv", pconv_rate=-0.1), "pconv_rate"),
    (ResNetDiscriminator, dict(conv="conv", pconv_rate=0.3), "pconv_rate"),
    (ResNetDiscriminator, dict(spectral_norm="yes"), "spectral_norm"),
    (ResNetDiscriminator, dict(img_res=64), "img_res"),
    (ResNetDiscriminator, dict(width=0), "width"),
    (ResNetGenerator, dict(z_dim=0), "z_dim"),
    (ResNetGenerator, dict(img_channels=0), "img_channels"),
])
def test_bad_arguments(build, kwargs, name):
    args = dict(img_channels=3, width=2)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=f"'{name}'"):
        build(**args)


@pytest.mark.parametrize("conv", ["conv", "pconv"])
def test_hinge_training_step_smoke(conv):
    torch.manual_seed(0)
    G, D = ResNetGenerator(3, z_dim=Z, width=2), ResNetDiscriminator(3, width=2, conv=conv)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.0, 0.9))
    loss = get_loss("hinge")
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    d_loss, logs = loss.d_loss(D, real, G(torch.randn(4, Z)).detach())
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = loss.g_loss(D, G(torch.randn(4, Z)))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert all(torch.isfinite(p).all() for p in list(G.parameters()) + list(D.parameters()))
