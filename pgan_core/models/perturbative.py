"""Perturbative GAN generator and discriminator at 32x32, as in the authors' code, and their conv controls.

References: Y. Kishi, T. Ikegami, S. O'uchi, R. Takano, W. Nogami, T. Kudoh. *Perturbative GAN: GAN with
Perturbation Layers.* 2019, arXiv:1902.01514. The authors' code (repository "Obake-GAN"):
the generator ``MTNoiseGenerator2Dv6`` / ``LCGNoiseGenerator2Dv6`` of ``models.py`` with the layer
``MTNoiseLayer2D`` / ``LCGNoiseLayer2D`` and the block ``MTNoiseBasicBlock2D`` of ``noise_layers.py``; the
discriminator ``MTNoiseResNet32`` / ``LCGNoiseResNet32`` with the block ``MTNoiseBasicBlock`` of
``naiveresnet.py``, which follows PNN's ``NoiseResNet32`` (F. Juefei-Xu, V. N. Boddeti, M. Savvides.
*Perturbative Neural Networks.* CVPR 2018, arXiv:1806.01817).

PL below is :class:`pgan_core.layers.perturbation.PerturbationLayer`, the authors' MT/LCG layer
+N -> ReLU -> 1x1 conv -> BN::

    PL(x) = BN( W_1x1 ReLU(x + l N) + b )          N fixed (C, H, W) mask, l = 0.1

Generator (width w; the paper's w = 128 starts at 8w = 1024 channels), ``body`` is one nn.Sequential::

    z (B, z_dim) -> Linear -> view                                            (B, 8w, 4, 4)
    PerturbBlock(8w) -> PL(8w -> 4w) -> Upsample x2 bilinear                  (B, 4w, 8, 8)
    PerturbBlock(4w) -> PL(4w -> 2w) -> Upsample x2 bilinear                  (B, 2w, 16, 16)
    PerturbBlock(2w) -> PL(2w -> w)  -> Upsample x2 bilinear                  (B, w, 32, 32)
    PerturbBlock(w)  -> PL(w -> C)   -> tanh                                  (B, C, 32, 32)
    PerturbBlock(c): y = PL(c -> c)(PL(c -> c)(x)); out = ReLU(x + y)         (B, c, H, W)

The Linear input layer is bare (no BN, no ReLU), nothing sits between a PL and the next upsample, and the
last PL keeps its BN before tanh. Every non-linearity of G is therefore either a PL's own ReLU, which
meets ReLU(y + l N) of the previous layer's BN output y, or the ReLU after a block's residual sum.

Discriminator (width w)::

    x (B, C, 32, 32) -> conv 7x7 s2 (no bias) -> BN -> ReLU -> MaxPool 3x3 s2  (B, w, 8, 8)
    stage 1: DBlock(w -> w), DBlock(w -> w)                                    (B, w, 8, 8)
    stage 2: DBlock(w -> 2w, down), DBlock(2w -> 2w)                           (B, 2w, 4, 4)
    stage 3: DBlock(2w -> 4w, down), DBlock(4w -> 4w)                          (B, 4w, 2, 2)
    AvgPool 2 -> Linear(4w -> 1)                                               (B,)
    DBlock(c_in -> c): y = BN(PL(c -> c)(ReLU(BN([MaxPool 2](PL(c_in -> c)(x))))))
                       out = ReLU(y + shortcut(x)); shortcut = 1x1 conv (stride 2 when down-sampling,
                       no bias) + BN when the shape changes, else identity

(the BN after each PL is the authors' double normalisation: their PL ends in BN and the block adds one.)

Controls (``layer='conv3x3'``): the same modules in the same order with every PL replaced by
:class:`ConvControl`, ``BN(W_3x3 ReLU(x) + b)`` (padding 1, same widths, same activation and BN, no noise):
the architecture control. With ``level=0`` a PL is ``BN(W_1x1 ReLU(x) + b)``, the noise-off control. So
method vs noise-off isolates the noise, and noise-off vs conv3x3 the kernel (1x1 vs 3x3); what all three
share (topology, bilinear upsampling, residual sums, pooling, BN) is the architecture.

Mask seeds (``mask_seed = s``): slot i of G (a block is one slot) uses s + 10 i, the block's second PL
s + 10 i + 1, slots 0..7 (s + 0, 1, 10, 20, 21, 30, ..., 60, 61, 70), as ``MTNoiseGenerator2Dv6(seed=s)``.
Block j (0..5) of D uses s + 10 j and s + 10 j + 1. The registry builds D with a base seed 1000 above G's
(:data:`pgan_core.registry.D_MASK_SEED`), so D's masks never repeat G's.

Deviations from the authors' code that remain, and why:
  (a) D's seeds: ``MTNoiseResNet32`` gives both blocks of a stage the same seed (stage seeds 10, 20, 90 in
      ``train_cifar10.py``), so the two blocks of stage 1, which have the same shape, carry identical masks,
      and its stage seeds overlap G's (G seed 40 uses 90). We give every block its own slot, as G's layers
      have, and D a disjoint base: an accident of the seed list is not part of the method.
  (b) Masks: one per (channel, position), broadcast over the batch, as the MT/LCG layers. The source is a
      parameter (:mod:`pgan_core.layers.perturbation`): the registry's ``pgan-g`` stores U(-1, 1) masks
      (PNN's distribution, that of the authors' active script's ``NoiseLayer2D``), ``pgan-g-mt`` and
      ``pgan-g-lcg`` use the authors' MT and LCG masks; the MT masks come from a private generator, not
      from re-seeding the global RNG inside forward (the layer's deviation (d)).
  (c) ``train_cifar10.py`` as committed builds ``NoiseGenerator2Dv6`` + ``NoiseResNet32``: the same
      topologies with PNN's layer order +N -> ReLU -> BN -> 1x1 conv (no BN before tanh) and masks redrawn
      per batch slot. We build the MT/LCG variants (commented in the same script), the ones whose masks can
      be generated algorithmically, which is the paper's hardware claim.
  (d) The stride-1 ``MaxPool2d(1, 1)`` of the authors' non-down-sampling blocks is the identity and is
      left out; D returns (B,) logits instead of (B, 1).
  (e) ``act='lrelu'`` (LeakyReLU 0.2 everywhere in D, PLs included) is offered; the default is the
      authors' ReLU.
  (f) Not in this module, the training recipe: the authors' ``main.py`` trains with the WGAN-GP loss
      (lambda 10, one D step per G step; their D keeps its BNs) and Adam 2e-4 (0.5, 0.999) at batch 32.
      The registry trains these models with the DCGAN baseline's non-saturating loss and Adam settings
      ([A]: the paper's loss per experiment was not determined), so that method vs DCGAN changes the networks only.
Weights keep PyTorch's default initialisation, as in the authors' code (no DCGAN N(0, 0.02) init).
Upsampling is bilinear with ``align_corners=False``, the PyTorch default since 0.4.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, check_choice, check_positive
from ..layers.perturbation import LRELU_SLOPE, PerturbationLayer
from .dcgan import SEED_STRIDE, check_arch

LAYER_KINDS = ("perturb", "conv3x3")
D_ACTS = ("relu", "lrelu")
PERT_DEFAULTS: dict[str, Any] = dict(level=0.1, mask_source="stored_uniform", mask_seed=0, fan_out=1)


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(LRELU_SLOPE) if kind == "lrelu" else nn.ReLU()


def _pert_options(layer: str, given: dict[str, Any]) -> dict[str, Any]:
    """Check ``layer`` and the perturbation arguments (None = not given) and fill the defaults."""
    check_choice("layer", layer, LAYER_KINDS)
    if layer != "perturb":
        for key, value in given.items():
            if value is not None:
                raise ConfigError(f"parameter '{key}': got {value!r}; allowed: None with layer={layer!r} "
                                  "(the conv control has no perturbation layers)")
    opts = {k: (PERT_DEFAULTS[k] if v is None else v) for k, v in given.items()}
    check_positive("mask_seed", opts["mask_seed"], integer=True, allow_zero=True)
    return opts


def _has_perturbation(kwargs: dict[str, Any]) -> bool:
    """Whether builder keyword arguments ``kwargs`` give perturbation layers (then level and mask_seed apply)."""
    return kwargs.get("layer", "perturb") == "perturb"


# ---------------------------------------------------------------- layers and blocks

class ConvControl(nn.Module):
    """Architecture control of a PL: y = BN(W_3x3 act(x) + b), (B, c_in, H, W) -> (B, c_out, H, W); no noise."""

    def __init__(self, in_channels: int, out_channels: int, *, act: str = "relu", bn: bool = True) -> None:
        super().__init__()
        check_choice("act", act, D_ACTS)
        self.act = act
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=True)   # W_3x3, b
        self.bn = nn.BatchNorm2d(out_channels) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.relu(x) if self.act == "relu" else F.leaky_relu(x, LRELU_SLOPE)  # act(x)
        y = self.conv(p)                                                     # W_3x3 act(x) + b
        return self.bn(y) if self.bn is not None else y


def _layer(kind: str, c_in: int, c_out: int, res: int, seed: int, opts: dict[str, Any],
           act: str = "relu") -> nn.Module:
    """A PL(c_in -> c_out) at res x res with masks from ``seed``, or its 3x3-conv control."""
    if kind == "conv3x3":
        return ConvControl(c_in, c_out, act=act)
    return PerturbationLayer(c_in, c_out, (res, res), fan_out=opts["fan_out"], level=opts["level"],
                             mask_source=opts["mask_source"], seed=seed, act=act)


class PerturbBlock(nn.Module):
    """G's residual block (``MTNoiseBasicBlock2D``): ReLU(x + L2(L1(x))), (B, c, H, W) -> same."""

    def __init__(self, l1: nn.Module, l2: nn.Module) -> None:
        super().__init__()
        self.layers = nn.Sequential(l1, l2)                                  # PL(c -> c), PL(c -> c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.layers(x))                                # (B, c, H, W)


class PerturbResBlock(nn.Module):
    """D's residual block (``MTNoiseBasicBlock``), optionally down-sampling x2 by max-pooling after its first layer."""

    def __init__(self, l1: nn.Module, l2: nn.Module, c_in: int, c_out: int, *, down: bool, act: str) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            l1,                                                              # PL(c_in -> c_out)  (B, c_out, H, W)
            nn.MaxPool2d(2) if down else nn.Identity(),                      # (B, c_out, H', W')
            nn.BatchNorm2d(c_out), _act(act),
            l2,                                                              # PL(c_out -> c_out)
            nn.BatchNorm2d(c_out))
        self.shortcut: nn.Module = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=2 if down else 1, bias=False),
                                                  nn.BatchNorm2d(c_out))
                                    if down or c_in != c_out else nn.Identity())
        self.act = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.layers(x) + self.shortcut(x))                   # (B, c_out, H', W')


# ---------------------------------------------------------------- generator

class PerturbativeGenerator(nn.Module):
    """Perturbative G (``MTNoiseGenerator2Dv6``), 32x32: (B, z_dim) -> (B, img_channels, 32, 32) in [-1, 1].

    ``layer='conv3x3'`` builds the architecture control (every PL a 3x3 conv); the perturbation
    arguments (None = default: level 0.1, 'stored_uniform', mask_seed 0, fan_out 1) apply to
    ``layer='perturb'`` only.
    """

    has_perturbation = staticmethod(_has_perturbation)

    def __init__(self, img_channels: int, img_res: int = 32, z_dim: int = 128, width: int = 128, *,
                 layer: str = "perturb", level: float | None = None, mask_source: str | None = None,
                 mask_seed: int | None = None, fan_out: int | None = None) -> None:
        super().__init__()
        check_arch(img_channels, img_res, width, z_dim)
        opts = _pert_options(layer, dict(level=level, mask_source=mask_source, mask_seed=mask_seed, fan_out=fan_out))
        self.z_dim, self.width, self.layer = z_dim, width, layer
        w, s = width, opts["mask_seed"]

        def pl(c_in: int, c_out: int, res: int, slot: int, second: bool = False) -> nn.Module:
            return _layer(layer, c_in, c_out, res, s + SEED_STRIDE * slot + int(second), opts)

        self.fc = nn.Linear(z_dim, 8 * w * 4 * 4)                            # bare input layer: (B, 8w*16)
        body: list[nn.Module] = []
        for k, c in enumerate((8 * w, 4 * w, 2 * w)):                        # res 4, 8, 16; slots 2k, 2k + 1
            res = 4 * 2 ** k
            body += [PerturbBlock(pl(c, c, res, 2 * k), pl(c, c, res, 2 * k, second=True)),   # (B, c, res, res)
                     pl(c, c // 2, res, 2 * k + 1),                                            # (B, c/2, res, res)
                     nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]        # (B, c/2, 2res, 2res)
        body += [PerturbBlock(pl(w, w, 32, 6), pl(w, w, 32, 6, second=True)),                  # (B, w, 32, 32)
                 pl(w, img_channels, 32, 7),                                                   # (B, C, 32, 32), BN kept
                 nn.Tanh()]
        self.body = nn.Sequential(*body)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z.view(z.shape[0], self.z_dim)).view(-1, 8 * self.width, 4, 4)   # (B, 8w, 4, 4)
        return self.body(x)                                                  # (B, C, 32, 32)


# ---------------------------------------------------------------- discriminator

class PerturbativeDiscriminator(nn.Module):
    """Perturbative D (``MTNoiseResNet32``, blocks [2, 2, 2]): (B, img_channels, 32, 32) -> (B,) logits.

    ``layer='conv3x3'`` builds the architecture control (every PL a 3x3 conv); ``act`` is the
    activation of every explicit non-linearity and inside the PLs ('relu', the authors', or 'lrelu').
    """

    has_perturbation = staticmethod(_has_perturbation)

    def __init__(self, img_channels: int, img_res: int = 32, width: int = 128, *, layer: str = "perturb",
                 level: float | None = None, mask_source: str | None = None, mask_seed: int | None = None,
                 fan_out: int | None = None, act: str = "relu") -> None:
        super().__init__()
        check_arch(img_channels, img_res, width)
        opts = _pert_options(layer, dict(level=level, mask_source=mask_source, mask_seed=mask_seed, fan_out=fan_out))
        check_choice("act", act, D_ACTS)
        self.layer = layer
        w, s = width, opts["mask_seed"]
        self.stem = nn.Sequential(
            nn.Conv2d(img_channels, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), _act(act),   # (B, w, 16, 16)
            nn.MaxPool2d(3, 2, 1))                                                           # (B, w, 8, 8)
        blocks = []
        plan = [(w, w, 8, False), (w, w, 8, False), (w, 2 * w, 8, True), (2 * w, 2 * w, 4, False),
                (2 * w, 4 * w, 4, True), (4 * w, 4 * w, 2, False)]           # (c_in, c_out, input res, down)
        for j, (c_in, c_out, res, down) in enumerate(plan):
            res_out = res // 2 if down else res
            l1 = _layer(layer, c_in, c_out, res, s + SEED_STRIDE * j, opts, act)
            l2 = _layer(layer, c_out, c_out, res_out, s + SEED_STRIDE * j + 1, opts, act)
            blocks.append(PerturbResBlock(l1, l2, c_in, c_out, down=down, act=act))
        self.stage1 = nn.Sequential(*blocks[0:2])
        self.stage2 = nn.Sequential(*blocks[2:4])
        self.stage3 = nn.Sequential(*blocks[4:6])
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)                                                     # (B, w, 8, 8)
        x = self.stage1(x)                                                   # (B, w, 8, 8)
        x = self.stage2(x)                                                   # (B, 2w, 4, 4)
        x = self.stage3(x)                                                   # (B, 4w, 2, 2)
        x = self.pool(x).flatten(1)                                          # (B, 4w)
        return self.fc(x).view(-1)                                           # (B,)
