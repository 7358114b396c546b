"""PConv2d: identity perturbation at eval and rate 0, each kind's statistics, seeding, Conv2d compatibility, errors."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pgan_core.errors import ConfigError
from pgan_core.layers.pconv import PERTURB_KINDS, PConv2d, perturb_input


def identity_pconv(channels: int, kind: str, rate: float) -> PConv2d:
    """A 1x1 PConv with identity weights and no bias: its output is its (perturbed) input."""
    m = PConv2d(channels, channels, 1, bias=False, kind=kind, rate=rate)
    with torch.no_grad():
        m.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
    return m


def positive_input(shape=(4, 8, 32, 32)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(0)) + 0.5   # no exact zeros


# ---------------------------------------------------------------- eval mode and rate 0 are a plain conv

@pytest.mark.parametrize("kind", PERTURB_KINDS)
def test_eval_mode_is_a_plain_convolution(kind):
    torch.manual_seed(0)
    m = PConv2d(3, 5, 3, stride=2, padding=1, kind=kind, rate=0.5).eval()
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(m(x), F.conv2d(x, m.weight, m.bias, stride=2, padding=1))


@pytest.mark.parametrize("kind", PERTURB_KINDS)
def test_rate_zero_is_a_plain_convolution_in_training(kind):
    torch.manual_seed(0)
    m = PConv2d(3, 5, 3, padding=1, kind=kind, rate=0.0).train()
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(m(x), F.conv2d(x, m.weight, m.bias, padding=1))
    assert perturb_input(x, kind, 0.0) is x


# ---------------------------------------------------------------- each kind's perturbation

def test_dropout_zeroes_elements_and_rescales_the_rest():
    p = 0.3
    x = positive_input()
    torch.manual_seed(1)
    y = identity_pconv(8, "dropout", p).train()(x)
    dropped = y == 0
    torch.testing.assert_close(y[~dropped], x[~dropped] / (1 - p))             # x M / (1 - p)
    n = x.numel()
    assert abs(dropped.float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)
    per_map = dropped.float().mean(dim=(2, 3))                                # element-wise: no map all-zero
    assert (per_map < 0.6).all() and (per_map > 0.05).all()


def test_channel_drops_whole_maps_and_rescales_the_rest():
    p = 0.5
    x = positive_input((16, 8, 6, 6))
    torch.manual_seed(2)
    y = identity_pconv(8, "channel", p).train()(x)
    zero_maps = (y == 0).all(dim=(2, 3))                                      # (B, C)
    assert ((y == 0).any(dim=(2, 3)) == zero_maps).all()                      # a map is all-zero or none-zero
    keep = ~zero_maps
    torch.testing.assert_close(y[keep], x[keep] / (1 - p))
    n = zero_maps.numel()
    assert abs(zero_maps.float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_gaussian_adds_noise_of_std_rate():
    sigma = 0.2
    x = positive_input()
    torch.manual_seed(3)
    eps = identity_pconv(8, "gaussian", sigma).train()(x) - x
    n = x.numel()
    assert abs(eps.mean().item()) < 5 * sigma / math.sqrt(n)
    assert abs(eps.std().item() - sigma) < 5 * sigma / math.sqrt(2 * n)


# ---------------------------------------------------------------- randomness

@pytest.mark.parametrize("kind", PERTURB_KINDS)
def test_global_seed_makes_it_reproducible_and_draws_are_fresh(kind):
    m = PConv2d(3, 4, 3, padding=1, kind=kind, rate=0.3).train()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(7)
    a1, a2 = m(x), m(x)
    torch.manual_seed(7)
    b1 = m(x)
    assert torch.equal(a1, b1)
    assert not torch.equal(a1, a2)                                            # a new perturbation per forward


# ---------------------------------------------------------------- Conv2d compatibility, gradients

def test_same_state_dict_and_spectral_norm():
    torch.manual_seed(4)
    m = PConv2d(3, 4, 3, padding=1, kind="dropout", rate=0.2)
    assert set(m.state_dict()) == set(nn.Conv2d(3, 4, 3).state_dict())
    sn = nn.utils.spectral_norm(m)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    sn.train()(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert sn.weight_orig.grad is not None
    assert "kind='dropout', rate=0.2" in repr(m)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, name", [
    (dict(rate=-0.1), "rate"),
    (dict(rate=1.0), "rate"),
    (dict(rate=1.5), "rate"),
    (dict(rate=float("nan")), "rate"),
    (dict(rate="0.1"), "rate"),
    (dict(rate=True), "rate"),
    (dict(kind="bernoulli"), "kind"),
    (dict(kind=None), "kind"),
    (dict(in_ch=0), "in_ch"),
    (dict(out_ch=2.0), "out_ch"),
])
def test_bad_arguments(kwargs, name):
    args = dict(in_ch=3, out_ch=4, kernel_size=3) | kwargs
    with pytest.raises(ConfigError, match=f"'{name}'"):
        PConv2d(**args)


def test_unknown_kind_lists_the_kinds():
    for call in (lambda: PConv2d(3, 4, 3, kind="salt"), lambda: perturb_input(torch.zeros(1), "salt", 0.1)):
        with pytest.raises(ConfigError, match="'kind'") as info:
            call()
        for kind in PERTURB_KINDS:
            assert repr(kind) in str(info.value)


@pytest.mark.parametrize("rate", [-0.5, 1.0])
def test_perturb_input_checks_rate(rate):
    with pytest.raises(ConfigError, match="'rate'"):
        perturb_input(torch.zeros(1, 1, 2, 2), "gaussian", rate)
