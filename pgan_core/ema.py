"""Exponential moving average of the generator's weights (StyleGAN2-ADA, Karras et al. 2020).

The decay is set by a half-life in images, so it does not depend on the batch size:
``beta = 0.5 ** (batch_size / ema_nimg)``; with a ramp-up the half-life grows with the number of
images seen (``ema_nimg = min(ema_nimg, cur_nimg * rampup)``). Parameters are lerped; buffers
(BatchNorm statistics, perturbation masks) are copied.
"""
from __future__ import annotations

import torch
import torch.nn as nn


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, *, batch_size: int, cur_nimg: int, ema_kimg: float,
               rampup: float | None) -> float:
    """Move ``G_ema`` towards ``G``; returns the beta used."""
    ema_nimg = ema_kimg * 1000
    if rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))           # p_ema = beta p_ema + (1 - beta) p
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)
    return beta
