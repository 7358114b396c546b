"""Adversarial losses: non-saturating (Goodfellow et al. 2014), hinge (Lim & Ye 2017; Miyato et
al. 2018) and WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028).

Each loss is a pair of functions on logits/critic values: ``d_loss(D, real, fake, gen)`` returns
the scalar discriminator loss (including any penalty) and a dict of logged terms;
``g_loss(D, fake)`` returns the generator loss. ``gen`` is the torch.Generator that draws any
randomness the loss needs (the WGAN-GP interpolation weights), so a run is reproducible; draws
happen on ``gen``'s device. Logged terms are detached 0-d tensors, not Python floats, so a GPU step
never waits for the device; the loop converts them when it writes a log line.

Logged terms of every ``d_loss``: ``d_real`` and ``d_fake`` (mean logits) and ``d_real_sign`` =
mean(sign(D(x_real))), the overfitting signal s_t of ADA (Karras et al., NeurIPS 2020) and NICE [A], which NICE's
beta controller reads after each D step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .errors import check_choice


def _terms(d_real: torch.Tensor, d_fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean logits on real and generated images, and s_t = mean(sign(D(x_real))): detached 0-d tensors (no sync)."""
    d_real, d_fake = d_real.detach(), d_fake.detach()
    return {"d_real": d_real.mean(), "d_fake": d_fake.mean(),
            "d_real_sign": torch.sign(d_real).float().mean()}


def ns_d(D, real, fake, gen=None, **_):
    """L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))]  (= BCE with labels 1 / 0)."""
    d_real, d_fake = D(real), D(fake)
    loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    return loss, _terms(d_real, d_fake)


def ns_g(D, fake):
    """L_G = E[softplus(-D(G(z)))]  (the non-saturating generator loss)."""
    return F.softplus(-D(fake)).mean()


def hinge_d(D, real, fake, gen=None, **_):
    """L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    d_real, d_fake = D(real), D(fake)
    loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    return loss, _terms(d_real, d_fake)


def hinge_g(D, fake):
    """L_G = -E[D(G(z))]."""
    return -D(fake).mean()


def wgan_gp_d(D, real, fake, gen=None, gp_lambda: float = 10.0, **_):
    """L_D = E[D(G(z))] - E[D(x)] + lambda E[(||grad_xhat D(xhat)||_2 - 1)^2],
    xhat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample (Gulrajani et al. 2017, Alg. 1)."""
    d_real, d_fake = D(real), D(fake)
    dev = gen.device if gen is not None else torch.device("cpu")
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=gen, device=dev).to(real.device, real.dtype)  # (B, 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    grad_norm = grad.flatten(1).norm(2, dim=1)              # ||grad_xhat D(xhat)||_2, (B,)
    gp = ((grad_norm - 1) ** 2).mean()
    loss = d_fake.mean() - d_real.mean() + gp_lambda * gp
    return loss, {**_terms(d_real, d_fake), "gp": gp.detach()}


def wgan_g(D, fake):
    """L_G = -E[D(G(z))]."""
    return -D(fake).mean()


@dataclass(frozen=True)
class Loss:
    name: str
    d_loss: Callable
    g_loss: Callable


LOSSES = {
    "ns": Loss("ns", ns_d, ns_g),
    "hinge": Loss("hinge", hinge_d, hinge_g),
    "wgan-gp": Loss("wgan-gp", wgan_gp_d, wgan_g),
}


def get_loss(name: str) -> Loss:
    return LOSSES[check_choice("loss", name, LOSSES)]
