"""One build seam: what a :class:`~pgan_core.config.RunConfig` trains, built in one place.

The training loop, snapshot loading (:func:`pgan_core.checkpoint.load_snapshot_generator`) and the controlled
timing of D steps (:func:`pgan_core.timing.time_d_steps`) all take G, D, the D the losses see and the
optimisers from here, so a run's models are the same wherever they are rebuilt:

* :func:`run_models`: G and D of the run's method with the run's builder overrides (perturbation ``mask_seed``
  and ``noise_level`` to the builders that own them, D options such as ``pconv_rate`` or ``nice_gamma``),
  initial weights from ``cfg.seed``;
* :func:`generator`: G alone, as a snapshot holds it (the same overrides, no D built);
* :func:`optimizers`: Adam for G (lr_g, betas_g) and D (lr_d, betas_d): two time scales when lr_d != lr_g
  (TTUR, Heusel et al. 2017, arXiv:1706.08500);
* :func:`loss_view`: D as the losses call it, D(mask(augment(x))): DiffAugment (Zhao et al. 2020,
  arXiv:2006.10738) and MaskedGAN's input masks (Huang et al., NeurIPS 2022), on real and generated images,
  in the D and the G step.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .augment import diff_augment
from .config import D_BUILDER_OPTIONS, RunConfig
from .data import dataset_channels
from .layers.masking import DInputMask
from .registry import build_models, builder_overrides


def _overrides(cfg: RunConfig) -> tuple[dict, dict]:
    return builder_overrides(cfg.method, mask_seed=cfg.mask_seed, noise_level=cfg.noise_level,
                             d_options={k: getattr(cfg, k) for k in D_BUILDER_OPTIONS})


def run_models(cfg: RunConfig, device: torch.device, *, g_extra: dict | None = None,
               d_extra: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """(G, D) of the run on ``device``; initial weights come from ``cfg.seed``. ``g_extra`` / ``d_extra``: builder
    keyword arguments on top of the run's (timing variants such as ``mask_source='lcg_forward'``)."""
    g_o, d_o = _overrides(cfg)
    torch.manual_seed(cfg.seed)
    G, D = build_models(cfg.method, img_channels=dataset_channels(cfg.dataset), z_dim=cfg.input_dim,
                        width=cfg.width, g_overrides={**g_o, **(g_extra or {})}, d_overrides={**d_o, **(d_extra or {})})
    return G.to(device), D.to(device)


def to_channels_last(*modules: nn.Module) -> None:
    """NHWC weights for the fast path's channels_last mode (in place)."""
    for m in modules:
        m.to(memory_format=torch.channels_last)


def generator(cfg: RunConfig) -> nn.Module:
    """G of the run (weights to be loaded by the caller), with the run's generator overrides."""
    G, _ = build_models(cfg.method, img_channels=dataset_channels(cfg.dataset), z_dim=cfg.input_dim, width=cfg.width,
                        g_overrides=_overrides(cfg)[0])
    return G


def optimizers(cfg: RunConfig, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G (lr_g, betas_g) and for D (lr_d, betas_d); one fused kernel per update on the GPU."""
    cfg = cfg.resolved()
    fused = next(G.parameters()).is_cuda or None
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas_g, fused=fused),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas_d, fused=fused))


class AugmentedD(nn.Module):
    """D applied to DiffAugment-ed inputs (Zhao et al. 2020, arXiv:2006.10738): the same random, differentiable
    transform family on real and generated images, in the D and the G step. Draws come from torch's global RNG,
    which the loop seeds per iteration. Holds no parameters of its own (D's are updated through it)."""

    def __init__(self, D: nn.Module, policy: str) -> None:
        super().__init__()
        self.D, self.policy = D, policy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(diff_augment(x, self.policy))


class MaskedD(nn.Module):
    """D applied to MaskedGAN-masked inputs (Huang et al. NeurIPS 2022; :class:`~pgan_core.layers.masking.DInputMask`),
    real and fake, D and G step, draws from torch's global RNG. Inside AugmentedD when both are on: D(mask(augment(x)))."""

    def __init__(self, D: nn.Module, mask: DInputMask) -> None:
        super().__init__()
        self.D, self.mask = D, mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(self.mask(x))


def d_input_mask(cfg: RunConfig) -> DInputMask | None:
    """The run's MaskedGAN input masking (``cfg.d_mask`` and ``d_mask_*``), or None when off."""
    kinds = cfg.d_mask_kinds()
    if not kinds:
        return None
    return DInputMask(kinds, cfg.d_mask_prob, ratio=cfg.d_mask_ratio, patch=cfg.d_mask_patch, grid=cfg.d_mask_grid,
                      n_bands=cfg.d_mask_bands, n_masked=cfg.d_mask_n_masked, balanced=cfg.d_mask_balanced,
                      keep_dc=cfg.d_mask_keep_dc)


def loss_view(cfg: RunConfig, D: nn.Module) -> nn.Module:
    """D as the losses see it: D(mask(augment(x))), each wrapper only when the run has it on."""
    mask = d_input_mask(cfg)
    view = MaskedD(D, mask) if mask is not None else D
    return AugmentedD(view, cfg.diffaugment) if cfg.diffaugment else view


# the names the training loop exported before this module existed (tests, notebooks 05 and 06 use them)
build_run_models = run_models
make_optimizers = optimizers
