"""EMA of G (pgan_core.ema): the half-life in images, the ramp-up, buffers copied."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from pgan_core.ema import ema_update


def _pair():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    E = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    E.load_state_dict(G.state_dict())
    return G, E


def test_half_life_in_images_does_not_depend_on_the_batch():
    G, E = _pair()
    w0 = E[0].weight.clone()
    with torch.no_grad():
        G[0].weight.add_(1.0)
    for _ in range(10):                                       # 10 x 64 images = one half-life of 640
        beta = ema_update(E, G, batch_size=64, cur_nimg=10**9, ema_kimg=0.64, rampup=None)
    assert math.isclose(beta, 0.5 ** 0.1)
    assert torch.allclose(E[0].weight, w0 + 0.5, atol=1e-6)  # half way after one half-life
    G2, E2 = _pair()
    with torch.no_grad():
        G2[0].weight.add_(1.0)
    for _ in range(20):                                       # the same 640 images in batches of 32
        ema_update(E2, G2, batch_size=32, cur_nimg=10**9, ema_kimg=0.64, rampup=None)
    assert torch.allclose(E2[0].weight, E[0].weight, atol=1e-6)


def test_rampup_shortens_the_half_life_early_and_buffers_are_copied():
    G, E = _pair()
    early = ema_update(E, G, batch_size=64, cur_nimg=640, ema_kimg=10.0, rampup=0.05)   # half-life 32 images
    late = ema_update(E, G, batch_size=64, cur_nimg=10**7, ema_kimg=10.0, rampup=0.05)  # half-life 10,000
    assert math.isclose(early, 0.5 ** 2) and math.isclose(late, 0.5 ** (64 / 10_000))
    G[1].running_mean.fill_(3.0)
    ema_update(E, G, batch_size=64, cur_nimg=10**7, ema_kimg=10.0, rampup=None)
    assert torch.equal(E[1].running_mean, G[1].running_mean)   # buffers (BN statistics, masks) are copied
