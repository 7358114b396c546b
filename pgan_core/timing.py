"""Controlled timing of training iterations (the "lower training cost" claims).

Per-run ``sec_per_iter`` comes from whole training runs, which on a shared machine pick up
noise from whatever else runs. :func:`time_iterations` measures one full training iteration
(D step + G step, Adam, the method's loss) of each method back to back, interleaved over
``repeats`` rounds after a warm-up, so all methods see the same machine state; it returns one
row per (method, repeat) for intervals.
"""
from __future__ import annotations

import time
from typing import Sequence

import torch

from .config import RunConfig
from .losses import get_loss
from .registry import build_models


def time_iterations(methods: Sequence[str], *, img_channels: int = 3, width: int = 16, batch_size: int = 64,
                    z_dim: int = 128, iters: int = 10, repeats: int = 5, warmup: int = 3, seed: int = 0,
                    device: str = "cpu"):
    """DataFrame with columns method, repeat, sec_per_iter (median of ``iters`` timed iterations)."""
    import pandas as pd

    torch.manual_seed(seed)
    dev = torch.device(device)
    setups = {}
    for m in methods:
        cfg = RunConfig(method=m).resolved()
        G, D = build_models(m, img_channels=img_channels, width=width, z_dim=z_dim)
        G, D = G.to(dev).train(), D.to(dev).train()
        setups[m] = (G, D, torch.optim.Adam(G.parameters(), cfg.lr_g, betas=cfg.betas_g),
                     torch.optim.Adam(D.parameters(), cfg.lr_d, betas=cfg.betas_d), get_loss(cfg.loss))
    real = torch.rand(batch_size, img_channels, 32, 32, device=dev) * 2 - 1
    z = torch.randn(batch_size, z_dim, device=dev)

    def one_iter(G, D, og, od, loss):
        with torch.no_grad():
            fake = G(z)
        ld, _ = loss.d_loss(D, real, fake)
        od.zero_grad(set_to_none=True); ld.backward(); od.step()
        lg = loss.g_loss(D, G(z))
        og.zero_grad(set_to_none=True); lg.backward(); og.step()

    rows = []
    for m, s in setups.items():
        for _ in range(warmup):
            one_iter(*s)
    for r in range(repeats):
        for m, s in setups.items():                      # interleaved: every method sees the same conditions
            ts = []
            for _ in range(iters):
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                one_iter(*s)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
            rows.append({"method": m, "repeat": r, "sec_per_iter": sorted(ts)[len(ts) // 2]})
    return pd.DataFrame(rows)


def time_d_steps(variants: dict, *, width: int = 16, batch_size: int = 64, iters: int = 5, repeats: int = 5,
                 warmup: int = 2, seed: int = 0, device: str = "cpu"):
    """Interleaved timing of one discriminator step per variant (the D-side methods' cost claims).

    ``variants``: label -> RunConfig overrides including ``method`` (e.g. ``{"method": "sngan-mask-both",
    "diffaugment": "color,translation,cutout"}``). One D step is what the training loop does per critic
    iteration minus data loading and G's forward: the method's D loss on D(mask(augment(x))) for a fixed
    real and a fixed fake batch (3 x 32 x 32), backward, Adam step. Each variant has its own D (same seed);
    per round every variant runs ``iters`` steps back to back, rounds interleave the variants.
    Returns a DataFrame with columns label, method, repeat, sec_per_d_step (median of the round's steps).
    """
    import pandas as pd

    from .training import AugmentedD, MaskedD, d_input_mask

    dev = torch.device(device)
    setups = {}
    for label, ov in variants.items():
        cfg = RunConfig.from_params({"dataset": "cifar10", "width": width, "batch_size": batch_size, **ov}).resolved()
        torch.manual_seed(seed)
        _, D = build_models(cfg.method, img_channels=3, width=width, z_dim=cfg.z_dim)
        D = D.to(dev).train()
        mask = d_input_mask(cfg)
        view = MaskedD(D, mask) if mask is not None else D
        view = AugmentedD(view, cfg.diffaugment) if cfg.diffaugment else view
        setups[label] = (cfg, D, view, torch.optim.Adam(D.parameters(), cfg.lr_d, betas=cfg.betas_d), get_loss(cfg.loss))
    g = torch.Generator().manual_seed(seed + 1)
    real = (torch.rand(batch_size, 3, 32, 32, generator=g) * 2 - 1).to(dev)
    fake = (torch.rand(batch_size, 3, 32, 32, generator=g) * 2 - 1).to(dev)
    gen = torch.Generator(device=dev).manual_seed(seed + 2)

    def one_step(cfg, D, view, opt, loss):
        ld, _ = loss.d_loss(view, real, fake, gen=gen, gp_lambda=cfg.gp_lambda)
        opt.zero_grad(set_to_none=True)
        ld.backward()
        opt.step()

    for s in setups.values():
        for _ in range(warmup):
            one_step(*s)
    rows = []
    for r in range(repeats):
        for label, s in setups.items():                  # interleaved: every variant sees the same conditions
            ts = []
            for _ in range(iters):
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                one_step(*s)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
            rows.append({"label": label, "method": s[0].method, "repeat": r, "sec_per_d_step": sorted(ts)[len(ts) // 2]})
    return pd.DataFrame(rows)
