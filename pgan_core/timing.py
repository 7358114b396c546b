"""Controlled timing of training iterations (the "lower training cost" claims).

Per-run ``sec_per_iter`` comes from whole training runs, which on a shared machine pick up
noise from whatever else runs. :func:`time_iterations` measures one full training iteration of the
loop (its ``n_critic`` D steps + a G step, the method's loss, Adam, D as the losses see it and the run's fast
path, all from :mod:`pgan_core.build`) of each method back to back, interleaved over
``repeats`` rounds after a warm-up, so all methods see the same machine state; it returns one
row per (method, repeat) for intervals (:func:`time_iteration_variants`: the same for labelled
variants of methods with builder overrides, e.g. stored vs in-forward masks). :func:`time_d_steps` does the same for one discriminator
step of labelled variants (the cost of D-side methods such as PConv), and :func:`cost_ratios` turns
either table into per-round ratios against a baseline.
"""
from __future__ import annotations

import contextlib
import time
from typing import Sequence

import torch

from .build import loss_view, optimizers, run_models, to_channels_last
from .config import RunConfig
from .data import dataset_channels
from .errors import ConfigError
from .fastpath import resolve_fast_path
from .losses import get_loss


def time_iterations(methods: Sequence[str], *, img_channels: int = 3, width: int = 16, batch_size: int = 64,
                    z_dim: int = 128, iters: int = 10, repeats: int = 5, warmup: int = 3, seed: int = 0,
                    device: str = "cpu", config: RunConfig | None = None):
    """DataFrame with columns method, repeat, sec_per_iter (median of ``iters`` timed iterations)."""
    return time_iteration_variants({m: {"method": m} for m in methods}, img_channels=img_channels, width=width,
                                   batch_size=batch_size, z_dim=z_dim, iters=iters, repeats=repeats, warmup=warmup,
                                   seed=seed, device=device, config=config)


VARIANT_KEYS = ("method", "g_overrides", "d_overrides")
_CHANNELS_DATASET = {1: "mnist", 3: "cifar10"}


def time_iteration_variants(variants: dict, *, img_channels: int = 3, width: int = 16, batch_size: int = 64,
                            z_dim: int = 128, iters: int = 10, repeats: int = 5, warmup: int = 3, seed: int = 0,
                            device: str = "cpu", config: RunConfig | None = None):
    """:func:`time_iterations` for labelled variants of methods: ``variants`` maps a label to
    ``{"method": name, "g_overrides": {...}, "d_overrides": {...}}`` (builder keyword arguments, e.g.
    ``{"mask_source": "lcg_forward"}``; both optional). Returns columns method (the label), repeat, sec_per_iter.

    One timed iteration is the training loop's: ``n_critic`` D steps and a G step of the method's loss, D seen as
    the losses see it (DiffAugment, MaskedGAN masks), models, optimisers and the fast path (bf16 autocast,
    channels_last) from the same seam (:mod:`pgan_core.build`, :func:`pgan_core.fastpath.resolve_fast_path`), on
    fixed real and fake batches (no data loading, no logging). ``config``: the run whose settings are timed (its
    width, batch, dataset, fast path, loss and optimiser options; the method is each variant's); without it a
    plain fp32 run of ``width``, ``batch_size``, ``z_dim`` and ``img_channels``."""
    import pandas as pd

    for label, v in variants.items():
        if not isinstance(v, dict) or "method" not in v or set(v) - set(VARIANT_KEYS):
            raise ConfigError(f"parameter 'variants': got {v!r} for {label!r}; allowed: a dict with 'method' and "
                              "optionally 'g_overrides', 'd_overrides'")
    if config is None:
        if img_channels not in _CHANNELS_DATASET:
            raise ConfigError(f"parameter 'img_channels': got {img_channels!r}; allowed: 1 or 3")
        base = dict(dataset=_CHANNELS_DATASET[img_channels], width=width, batch_size=batch_size, z_dim=z_dim,
                    seed=seed, cpu_amp=False, channels_last=False, amp=False, compile=False)
    else:
        base = {**config.to_dict(), "seed": seed}
        own = RunConfig(method=config.method, dataset=config.dataset)
        for k in ("loss", "lr_g", "lr_d", "betas_g", "betas_d", "n_critic", "d_mask"):   # each variant's method's,
            if getattr(config, k) in (getattr(own, k), getattr(own.resolved(), k)):      # unless the run set them
                base.pop(k)
    dev = torch.device(device)
    setups = {}
    for label, v in variants.items():
        cfg = RunConfig.from_params({**base, "method": v["method"]}).resolved()
        G, D = run_models(cfg, dev, g_extra=v.get("g_overrides"), d_extra=v.get("d_overrides"))
        fp = resolve_fast_path(cfg, dev, warn=False)
        if fp.channels_last:
            to_channels_last(G, D)
        opt_g, opt_d = optimizers(cfg, G, D)
        d_params = [q for q in D.parameters() if q.requires_grad]          # D's trainable weights
        setups[label] = (cfg, G.train(), D.train(), loss_view(cfg, D), opt_g, opt_d, get_loss(cfg.loss), fp, d_params)
    c = dataset_channels(base["dataset"])
    g = torch.Generator().manual_seed(seed)
    real = (torch.rand(base["batch_size"], c, 32, 32, generator=g) * 2 - 1).to(dev)
    gen = torch.Generator(dev).manual_seed(seed)

    def one_iter(cfg, G, D, view, opt_g, opt_d, loss, fp, d_params):
        x = real.contiguous(memory_format=torch.channels_last) if fp.channels_last else real
        z = torch.randn(cfg.batch_size, cfg.input_dim, generator=gen, device=dev)
        plugin = getattr(D, "d_plugin", None)
        for _ in range(cfg.n_critic):
            with fp.autocast():
                with torch.no_grad():
                    fake = G(z).float()
            _d_step(view, opt_d, loss, plugin, x, fake, gen, cfg.gp_lambda, fp)
        for q in d_params:
            q.requires_grad_(False)                       # as the loop: D's weight gradients of the G step unused
        with fp.autocast():
            lg = loss.g_loss(view, G(z))
        opt_g.zero_grad(set_to_none=True); lg.backward(); opt_g.step()
        for q in d_params:
            q.requires_grad_(True)

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

    dev = torch.device(device)
    c = dataset_channels(dataset)
    setups = {}
    for label, ov in variants.items():
        cfg = RunConfig.from_params({**ov, "dataset": dataset, "width": width, "batch_size": batch_size,
                                     "seed": seed}).resolved()
        G, D = run_models(cfg, dev)                       # same seed: same initial weights for every variant
        D.train()
        view = loss_view(cfg, D)                          # the loop's D(mask(augment(x)))
        opt_d = optimizers(cfg, G, D)[1]
        plugin = getattr(D, "d_plugin", None)
        if plugin is not None and nice_beta is not None:
            plugin.set_beta(nice_beta)
        setups[label] = (view, D, opt_d, get_loss(cfg.loss), plugin, cfg.gp_lambda)
    g = torch.Generator().manual_seed(seed)
    real = (torch.rand(batch_size, c, 32, 32, generator=g) * 2 - 1).to(dev)
    fake = (torch.rand(batch_size, c, 32, 32, generator=g) * 2 - 1).to(dev)
    gen = torch.Generator(dev).manual_seed(seed)

    def d_step(view, D, opt, loss, plugin, gp_lambda):
        _d_step(view, opt, loss, plugin, real, fake, gen, gp_lambda)
        if plugin is not None and nice_beta is not None:
            plugin.set_beta(nice_beta)

    return pd.DataFrame(_interleaved({label: (lambda s=s: d_step(*s)) for label, s in setups.items()}, dev,
                                     warmup=warmup, repeats=repeats, iters=iters, key="sec_per_d_step"))


def _d_step(view, opt, loss, plugin, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator, gp_lambda: float,
            fp=None) -> None:
    """One D step as the training loop takes it: a D plugin's hooks around the method's D loss (its regulariser
    added), backward, Adam; the forwards under the fast path's autocast when ``fp`` is given."""
    if plugin is not None:
        plugin.begin_d_step()
    with fp.autocast() if fp is not None else contextlib.nullcontext():
        ld, terms = loss.d_loss(view, real, fake, gen, gp_lambda=gp_lambda)
        if plugin is not None:
            reg, _ = plugin.d_regularizer()
            ld = ld if reg is None else ld + reg
    opt.zero_grad(set_to_none=True)
    ld.backward()
    opt.step()
    if plugin is not None:
        plugin.after_d_step(terms)


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
