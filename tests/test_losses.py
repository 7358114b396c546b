"""Adversarial losses (pgan_core.losses): values on tiny fixed inputs against closed forms; logged terms
are detached 0-d tensors, computed without a device read (.item())."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from pgan_core.errors import ConfigError
from pgan_core.losses import LOSSES, get_loss


class LinearD(nn.Module):
    """D(x) = <w, x> with w = (2, 0, 0, 0) on (B, 1, 2, 2) images: D(x) = 2 x[:, 0, 0, 0], and grad_x D = w,
    ||w||_2 = 2 everywhere, so WGAN-GP's penalty is (2 - 1)^2 = 1 whatever the interpolation weights."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([2.0, 0.0, 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * self.w).sum(1)                       # (B,)


def images(first_pixels: list[float]) -> torch.Tensor:
    x = torch.rand(len(first_pixels), 1, 2, 2, generator=torch.Generator().manual_seed(1))  # other pixels: no effect
    x[:, 0, 0, 0] = torch.tensor(first_pixels)
    return x


REAL = images([0.0, 1.0])            # D(x)    = (0, 2)
FAKE = images([-0.5, 0.5])           # D(G(z)) = (-1, 1)
sp = lambda v: math.log1p(math.exp(v))   # noqa: E731  softplus

# closed forms with D(x) = (0, 2), D(G(z)) = (-1, 1)
EXPECTED_D = {
    "ns": (sp(-0.0) + sp(-2.0)) / 2 + (sp(-1.0) + sp(1.0)) / 2,   # E softplus(-D(x)) + E softplus(D(G(z)))
    "hinge": (1.0 + 0.0) / 2 + (0.0 + 2.0) / 2,                   # E relu(1 - D(x)) + E relu(1 + D(G(z)))
    "wgan-gp": 0.0 - 1.0 + 10.0 * 1.0,                            # E D(G(z)) - E D(x) + lambda (||w|| - 1)^2
}
EXPECTED_G = {"ns": (sp(1.0) + sp(-1.0)) / 2, "hinge": 0.0, "wgan-gp": 0.0}   # E softplus(-D(G(z))); -E D(G(z))


@pytest.fixture
def no_item(monkeypatch):
    """Any Tensor.item() (a device read) inside the losses fails the test."""
    def refuse(self):
        raise AssertionError("Tensor.item() called inside a loss")
    monkeypatch.setattr(torch.Tensor, "item", refuse)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_d_loss_matches_its_closed_form_and_terms_are_detached_tensors(name, no_item):
    D = LinearD()
    loss, terms = get_loss(name).d_loss(D, REAL, FAKE, torch.Generator().manual_seed(0), gp_lambda=10.0)
    assert float(loss.detach()) == pytest.approx(EXPECTED_D[name], abs=1e-6)
    assert set(terms) == ({"d_real", "d_fake", "d_real_sign", "gp"} if name == "wgan-gp"
                          else {"d_real", "d_fake", "d_real_sign"})
    for k, v in terms.items():
        assert isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad, k
    assert float(terms["d_real"]) == 1.0 and float(terms["d_fake"]) == 0.0
    assert float(terms["d_real_sign"]) == 0.5                        # mean(sign(0), sign(2))
    if name == "wgan-gp":
        assert float(terms["gp"]) == pytest.approx(1.0, abs=1e-6)
    loss.backward()                                                  # the loss keeps its graph
    assert D.w.grad is not None and torch.isfinite(D.w.grad).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_g_loss_matches_its_closed_form(name, no_item):
    assert float(get_loss(name).g_loss(LinearD(), FAKE).detach()) == pytest.approx(EXPECTED_G[name], abs=1e-6)


def test_wgan_gp_penalty_closed_form_for_a_quadratic_critic():
    """D(x) = sum x^2 / 2: grad = x, so gp = E(||x_hat|| - 1)^2 with x_hat = eps x + (1 - eps) x~ per sample."""
    D = lambda x: x.flatten(1).pow(2).sum(1) / 2                     # noqa: E731
    real, fake = torch.full((3, 1, 2, 2), 1.0), torch.zeros(3, 1, 2, 2)
    gen = torch.Generator().manual_seed(0)
    eps = torch.rand(3, 1, 1, 1, generator=torch.Generator().manual_seed(0)).flatten()
    _, terms = get_loss("wgan-gp").d_loss(D, real, fake, gen, gp_lambda=10.0)
    # ||x_hat|| = eps * ||1|| = 2 eps (4 pixels of eps)
    assert float(terms["gp"]) == pytest.approx(float(((2 * eps - 1) ** 2).mean()), rel=1e-6)


def test_nice_reads_the_tensor_terms_of_a_loss():
    """NICE's beta controller reads s_t = terms['d_real_sign'] after each D step; a 0-d tensor works."""
    from pgan_core.layers.nice import NiceRegularizer

    _, terms = get_loss("hinge").d_loss(LinearD(), REAL, FAKE)
    reg = NiceRegularizer(1.0, eta=0.0, step=0.1, ema=0.5)
    out = reg.after_d_step(terms)                                    # s_t = 0.5 > eta: beta up one step
    assert out == {"beta": pytest.approx(0.1), "r_t": 0.5}
    assert float(reg.r) == 0.5


def test_unknown_loss_names_itself():
    with pytest.raises(ConfigError, match="parameter 'loss'"):
        get_loss("l2")
