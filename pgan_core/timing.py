"""Controlled timing of training iterations (the "lower training cost" claims).

Per-run ``sec_per_iter`` comes from whole training runs, which on a shared machine pick up
noise from whatever else runs. :func:`time_iterations` measures one full training iteration
(D step + G step, Adam, the method's loss) of each method back to back, interleaved over
``repeats`` rounds after a warm-up, so all methods see the same machine state; it returns one
row per (method, repeat) for intervals (:func:`time_iteration_variants`: the same for labelled
variants of methods with builder overrides, e.g. stored vs in-forward masks). :func:`time_d_steps` does the same for one discriminator
step of labelled variants (the cost of D-side methods such as PConv), and :func:`cost_ratios` turns
either table into per-round ratios against a baseline.
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
    return time_iteration_variants({m: {"method": m} for m in methods}, img_channels=img_channels, width=width,
                                   batch_size=batch_size, z_dim=z_dim, iters=iters, repeats=repeats, warmup=warmup,
                                   seed=seed, device=device)


VARIANT_KEYS = ("method", "g_overrides", "d_overrides")


def time_iteration_variants(variants: dict, *, img_channels: int = 3, width: int = 16, batch_size: int = 64,
                            z_dim: int = 128, iters: int = 10, repeats: int = 5, warmup: int = 3, seed: int = 0,
                            device: str = "cpu"):
    """:func:`time_iterations` for labelled variants of methods: ``variants`` maps a label to
    ``{"method": name, "g_overrides": {...}, "d_overrides": {...}}`` (builder keyword arguments, e.g.
    ``{"mask_source": "lcg_forward"}``; both optional). Returns columns method (the label), repeat, sec_per_iter."""
    import pandas as pd

    from .errors import ConfigError

    for label, v in variants.items():
        if not isinstance(v, dict) or "method" not in v or set(v) - set(VARIANT_KEYS):
            raise ConfigError(f"parameter 'variants': got {v!r} for {label!r}; allowed: a dict with 'method' and "
                              "optionally 'g_overrides', 'd_overrides'")
    torch.manual_seed(seed)
    dev = torch.device(device)
    setups = {}
    for label, v in variants.items():
        cfg = RunConfig(method=v["method"]).resolved()
        G, D = build_models(v["method"], img_channels=img_channels, width=width, z_dim=z_dim,
                            g_overrides=v.get("g_overrides"), d_overrides=v.get("d_overrides"))
        G, D = G.to(dev).train(), D.to(dev).train()
        setups[label] = (G, D, torch.optim.Adam(G.parameters(), cfg.lr_g, betas=cfg.betas_g),
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

    return pd.DataFrame(_interleaved({m: (lambda s=s: one_iter(*s)) for m, s in setups.items()}, dev,
                                     warmup=warmup, repeats=repeats, iters=iters, key="sec_per_iter"))


def time_d_steps(variants: dict, *, dataset: str = "cifar10", width: int = 16, batch_size: int = 64,
                 iters: int = 10, repeats: int = 5, warmup: int = 3, seed: int = 0, device: str = "cpu",
                 nice_beta: float | None = None):
    """Cost of discriminator-side methods: one D step of each variant, interleaved.

    ``variants``: label -> RunConfig overrides including ``method`` (e.g. ``{"pconv": {"method": "sngan-pconv",
    "pconv_rate": 0.3}}``). One D step is what the training loop does per critic iteration, minus data
    loading and G's forward: the method's D loss on fixed real and fake batches (D seen through the run's
    DiffAugment and MaskedGAN masks, a D plugin's hooks and regulariser included), backward, Adam step.
    Each of ``repeats`` rounds runs ``iters`` steps of every variant in turn (after ``warmup`` untimed
    steps each), so all variants see the same machine state. A NICE plugin keeps its initial beta here, or
    ``nice_beta`` if given (held there after every step, so the noise is drawn whatever the controller says).

    Returns a DataFrame with columns method (the label), repeat, sec_per_d_step (median of the round).
    """
    import pandas as pd

    from .data import dataset_channels
    from .training import AugmentedD, MaskedD, build_run_models, d_input_mask

    dev = torch.device(device)
    c = dataset_channels(dataset)
    setups = {}
    for label, ov in variants.items():
        cfg = RunConfig.from_params({**ov, "dataset": dataset, "width": width, "batch_size": batch_size,
                                     "seed": seed}).resolved()
        _, D = build_run_models(cfg, dev)                 # same seed: same initial weights for every variant
        D.train()
        mask = d_input_mask(cfg)
        view = MaskedD(D, mask) if mask is not None else D
        view = AugmentedD(view, cfg.diffaugment) if cfg.diffaugment else view
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas_d, fused=dev.type == "cuda" or None)
        plugin = getattr(D, "d_plugin", None)
        if plugin is not None and nice_beta is not None:
            plugin.set_beta(nice_beta)
        setups[label] = (view, D, opt_d, get_loss(cfg.loss), plugin, cfg.gp_lambda)
    g = torch.Generator().manual_seed(seed)
    real = (torch.rand(batch_size, c, 32, 32, generator=g) * 2 - 1).to(dev)
    fake = (torch.rand(batch_size, c, 32, 32, generator=g) * 2 - 1).to(dev)
    gen = torch.Generator(dev).manual_seed(seed)

    def d_step(view, D, opt, loss, plugin, gp_lambda):
        if plugin is not None:
            plugin.begin_d_step()
        ld, terms = loss.d_loss(view, real, fake, gen, gp_lambda=gp_lambda)
        if plugin is not None:
            reg, _ = plugin.d_regularizer()
            ld = ld if reg is None else ld + reg
        opt.zero_grad(set_to_none=True)
        ld.backward()
        opt.step()
        if plugin is not None:
            plugin.after_d_step(terms)
            if nice_beta is not None:
                plugin.set_beta(nice_beta)

    return pd.DataFrame(_interleaved({label: (lambda s=s: d_step(*s)) for label, s in setups.items()}, dev,
                                     warmup=warmup, repeats=repeats, iters=iters, key="sec_per_d_step"))


def _interleaved(steps: dict, dev: torch.device, *, warmup: int, repeats: int, iters: int, key: str) -> list[dict]:
    """Rows {method: label, repeat, key: median seconds of ``iters`` calls} of each ``steps[label]()``, after
    ``warmup`` untimed calls each; rounds interleave the labels so all see the same machine state."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    rows = []
    for r in range(repeats):
        for label, step in steps.items():
            ts = []
            for _ in range(iters):
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                step()
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
            rows.append({"method": label, "repeat": r, key: sorted(ts)[len(ts) // 2]})
    return rows


def cost_ratios(timing, *, baseline: str, metric: str = "sec_per_d_step"):
    """Per variant and repeat: its time over the baseline's in the same (interleaved) round.

    ``timing``: the table of :func:`time_d_steps` (or :func:`time_iterations`). Returns a DataFrame with
    method, repeat, ratio; the baseline's own rows (ratio 1) are left out.
    """
    base = timing[timing["method"] == baseline].set_index("repeat")[metric]
    out = timing[timing["method"] != baseline][["method", "repeat", metric]].copy()
    out["ratio"] = out[metric].values / base.loc[out["repeat"]].values
    return out[["method", "repeat", "ratio"]]
