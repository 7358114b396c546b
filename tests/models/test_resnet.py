"""SNGAN ResNet G and D (pgan_core.models.resnet): shapes, spectral norm, PConv option, errors, one train step."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.utils import parametrize

from pgan_core.errors import ConfigError
from pgan_core.layers.nice import AdaptiveNoise
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
    (ResNetDiscriminator, dict(nice="yes"), "nice"),
    (ResNetDiscriminator, dict(nice_gamma=1.0), "nice_gamma"),
    (ResNetDiscriminator, dict(nice_eta=0.5), "nice_eta"),
    (ResNetDiscriminator, dict(nice=True, nice_gamma=-1.0), "gamma"),
    (ResNetDiscriminator, dict(nice=True, nice_from=4), "nice_from"),
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


# ---------------------------------------------------------------- NICE

def nice_d(**kw) -> ResNetDiscriminator:
    torch.manual_seed(0)
    return ResNetDiscriminator(3, width=2, nice=True, **kw)


def set_beta(D: ResNetDiscriminator, beta: float) -> None:
    D.nice.beta.fill_(beta)
    for m in D.modules():
        if isinstance(m, AdaptiveNoise):
            m.set_beta(beta)


def test_nice_noise_placement_after_every_conv_shortcut_included():
    D = nice_d()
    per_block = [sum(isinstance(m, AdaptiveNoise) for m in b.modules()) for b in D.blocks]
    assert per_block == [0, 3, 2, 2]              # block 1: C1 -> AN -> C2 -> AN and C_s -> AN; blocks 2-3: identity shortcut
    assert D.blocks[1].an_sc is not None and isinstance(D.blocks[1].an_sc, AdaptiveNoise)
    assert [sum(isinstance(m, AdaptiveNoise) for m in b.modules()) for b in nice_d(nice_from=2).blocks] == [0, 0, 2, 2]
    assert ResNetDiscriminator(3, width=2).d_plugin is None and D.d_plugin is D.nice
    plain = ResNetDiscriminator(3, width=2).state_dict().keys()
    assert set(D.state_dict()) - set(plain) == {"nice.beta", "nice.r", "nice.n_updates"} | {
        k for k in D.state_dict() if k.endswith(".beta") and k.startswith("blocks.")}


def test_nice_eval_is_the_plain_d_and_training_is_noisy():
    D = nice_d()
    torch.manual_seed(0)
    plain = ResNetDiscriminator(3, width=2)
    set_beta(D, 0.5)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    plain.load_state_dict({k: v for k, v in D.state_dict().items() if k in plain.state_dict()})
    D.eval(); plain.eval()
    assert torch.equal(D(x), plain(x))                                 # AN is the identity at eval
    D.train()
    torch.manual_seed(2)
    a = D(x)
    torch.manual_seed(3)
    assert not torch.equal(a, D(x))


def test_nice_consistency_zero_without_noise_positive_with_it_and_gradients_flow():
    D = nice_d().train()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    D.nice.begin_d_step()
    D(x)
    loss, terms = D.nice.d_regularizer()
    assert float(terms["loss_cons"]) == 0.0 and loss.item() == 0.0             # beta = 0: f_1 == f_2 exactly (same SN weights)
    set_beta(D, 0.3)
    D.nice.begin_d_step()
    D(x); D(x * 0.5)                                                   # a "real" and a "fake" forward
    loss, terms = D.nice.d_regularizer()
    assert float(terms["loss_cons"]) > 0 and loss.item() == pytest.approx(5.0 * float(terms["loss_cons"]), rel=1e-6)
    loss.backward()
    assert D.blocks[3].c2.parametrizations.weight.original.grad is not None
    assert D.blocks[0].c1.parametrizations.weight.original.grad is not None   # through X_{l-1} too


def test_nice_second_pass_only_inside_a_d_step_and_not_for_the_noise_only_ablation():
    calls = []
    for gamma, in_step, expected in ((5.0, True, 2), (5.0, False, 1), (0.0, True, 1)):
        D = nice_d(nice_gamma=gamma).train()
        D.blocks[3].register_forward_hook(lambda *_: calls.append(1))
        calls.clear()
        if in_step:
            D.nice.begin_d_step()
        D(torch.zeros(2, 3, 32, 32))
        assert len(calls) == expected


def test_nice_noise_reaches_the_shortcut_path():
    """The learned shortcut's C_s -> AN runs in a training forward (NICE modulates the shortcut convolution too)."""
    D = nice_d().train()
    set_beta(D, 0.5)
    seen = []
    D.blocks[1].an_sc.register_forward_hook(lambda m, i, o: seen.append(not torch.equal(i[0], o)))
    D(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4)))
    assert seen == [True]                                                 # called once, and it perturbed
