"""DCGAN generator and discriminator at 32x32, with the convolution kind as a parameter.

References: A. Radford, L. Metz, S. Chintala. *Unsupervised Representation Learning with Deep
Convolutional GANs.* arXiv:1511.06434 (architecture, ``weights_init``; layout as pytorch/examples
``dcgan/main.py``). ``conv='perturb'`` swaps the convolutions for perturbation layers like for like
(same widths, same depth), as the "DCGAN + perturbation" comparison of Kishi et al. 2019
(arXiv:1902.01514); see :mod:`pgan_core.layers.perturbation` for the layer.

Generator (width w, ``conv='conv'``)::

    z (B, z_dim) -> ConvTranspose 4x4 on 1x1 (= Linear) -> BN -> ReLU      (B, 8w, 4, 4)
    -> ConvT 4x4 s2 -> BN -> ReLU                                          (B, 4w, 8, 8)
    -> ConvT 4x4 s2 -> BN -> ReLU                                          (B, 2w, 16, 16)
    -> ConvT 4x4 s2 -> BN -> ReLU                                          (B, w, 32, 32)
    -> conv 3x3 -> tanh                                                    (B, C, 32, 32)

The widths 8w -> 4w -> 2w -> w are those of the Perturbative GAN generator (Kishi et al.'s code, whose
8w = 1024 at the paper's w = 128) and of the "standard CNN" DCGAN of SNGAN/WGAN-GP (512 -> 256 -> 128
-> 64 at w = 64), so ``dcgan`` and ``pgan-g`` at the same ``width`` are like for like.

``conv='perturb'``: the first (z -> 4x4) layer stays, each up-block is
Upsample(x2, bilinear) -> PerturbationLayer(c_in, c_out) -> ReLU, and the output layer is a
PerturbationLayer(w, C) without BN.

``sastm='mul' | 'add' | 'max'`` (``conv='conv'`` only; Self-Sparse GAN, Qian et al.,
arXiv:2101.10556): a :class:`~pgan_core.layers.sastm.SASTM` with that recombination rule and
``sastm_reduction`` sits between every transposed convolution and its BN, the 3x3 output conv
excepted (Qian et al.'s abstract: "after every deconvolution layer"; before BN [A])::

    z (B, z_dim) -> ConvT 4x4 on 1x1 -> SASTM -> BN -> ReLU                (B, 8w, 4, 4)
    -> ConvT 4x4 s2 -> SASTM -> BN -> ReLU                                 (B, 4w, 8, 8)
    -> ConvT 4x4 s2 -> SASTM -> BN -> ReLU                                 (B, 2w, 16, 16)
    -> ConvT 4x4 s2 -> SASTM -> BN -> ReLU                                 (B, w, 32, 32)
    -> conv 3x3 -> tanh                                                    (B, C, 32, 32)

The SASTM modules are re-initialised after ``weights_init`` (gate biases 1, see the layer), and
the BN of each block moves from index 1 to index 2 of its ``nn.Sequential``. ``sastm=None`` (the
default) builds exactly the plain generator above: same modules, same order, same weights per seed.

Discriminator (``conv='conv'``)::

    x (B, C, 32, 32) -> conv 4x4 s2 -> LReLU 0.2                           (B, w, 16, 16)
    -> conv 4x4 s2 -> [BN] -> LReLU                                        (B, 2w, 8, 8)
    -> conv 4x4 s2 -> [BN] -> LReLU                                        (B, 4w, 4, 4)
    -> conv 4x4 valid -> flatten                                           (B,)

``norm='bn'`` (default) keeps the two BNs; ``norm='none'`` removes them and nothing else (the
convolutions stay bias-free, as the first one already is). A WGAN-GP critic must not use batch
norm, since the gradient penalty is per sample and BN couples the samples of a batch (Gulrajani
et al., *Improved Training of Wasserstein GANs*, arXiv:1704.00028, section 4).

``conv='perturb'``: the first conv stays a real convolution (PNN keeps a real first layer); the
next two are PerturbationLayer (with BN when ``norm='bn'``, without when ``norm='none'``) ->
MaxPool2d(2) -> LReLU; then a Linear on the flattened (4w, 4, 4) map gives the logit.

Perturbation keyword arguments (``conv='perturb'`` only): ``level``, ``mask_source``, ``mask_seed``,
``fan_out`` and, for D, ``act`` (the activation inside the perturbation layers, default 'relu').
The i-th perturbation layer (counting from 0, only layers that carry masks) gets the mask seed
``mask_seed + 10 * i``, as in the authors' code.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..errors import ConfigError, bad_param, check_choice, check_positive
from ..layers.perturbation import PerturbationLayer
from ..layers.sastm import GATE_BIAS_INIT, RECOMBINE_RULES, SASTM

CONV_KINDS = ("conv", "perturb")
D_NORMS = ("bn", "none")
SASTM_REDUCTION = 4  # default reduction r of the SASTM channel gate
IMG_RES = (32,)
SEED_STRIDE = 10  # mask seed offset between consecutive perturbation layers (authors' code)
_PERT_KEYS_G = ("level", "mask_source", "mask_seed", "fan_out")
_PERT_KEYS_D = _PERT_KEYS_G + ("act",)


# ---------------------------------------------------------------- helpers

def weights_init(m: nn.Module) -> None:
    """DCGAN init (pytorch/examples): conv/linear weights N(0, 0.02), BN weight N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def check_arch(img_channels: int, img_res: int, width: int, z_dim: int | None = None) -> None:
    """Validate the common architecture arguments (32x32 only)."""
    check_positive("img_channels", img_channels, integer=True)
    if img_res not in IMG_RES:
        raise bad_param("img_res", img_res, "one of " + ", ".join(map(str, IMG_RES)))
    check_positive("width", width, integer=True)
    if z_dim is not None:
        check_positive("z_dim", z_dim, integer=True)


def pert_options(conv: str, pert_kwargs: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Check the perturbation keyword arguments against ``conv`` and fill the defaults."""
    check_choice("conv", conv, CONV_KINDS)
    for key in pert_kwargs:
        if key not in allowed:
            raise ConfigError(f"parameter '{key}': unknown; allowed perturbation parameters: " + ", ".join(allowed))
    if conv == "conv" and pert_kwargs:
        key = next(iter(pert_kwargs))
        raise ConfigError(f"parameter '{key}': only applies to conv='perturb' (got conv='conv')")
    opts = dict(level=0.1, mask_source="stored_uniform", mask_seed=0, fan_out=1, act="relu")
    opts.update(pert_kwargs)
    check_positive("mask_seed", opts["mask_seed"], integer=True, allow_zero=True)
    return opts


def has_perturbation(kwargs: dict[str, Any]) -> bool:
    """Whether builder keyword arguments ``kwargs`` give perturbation layers (then level and mask_seed apply)."""
    return kwargs.get("conv", "conv") == "perturb"


def sastm_options(conv: str, sastm: str | None, sastm_reduction: int, sastm_gate_bias: float = GATE_BIAS_INIT) -> None:
    """Check the SASTM arguments: a recombination rule or None, conv='conv' only."""
    check_positive("sastm_reduction", sastm_reduction, integer=True)
    if sastm is None:
        if sastm_reduction != SASTM_REDUCTION:
            raise ConfigError("parameter 'sastm_reduction': only applies with sastm set (got sastm=None)")
        if sastm_gate_bias != GATE_BIAS_INIT:
            raise ConfigError("parameter 'sastm_gate_bias': only applies with sastm set (got sastm=None)")
        return
    check_choice("sastm", sastm, RECOMBINE_RULES)
    if conv != "conv":
        raise ConfigError(f"parameter 'sastm': only applies to conv='conv' (got conv={conv!r})")


# ---------------------------------------------------------------- generator

class DCGANGenerator(nn.Module):
    """DCGAN G, 32x32: (B, z_dim) -> (B, img_channels, 32, 32) in [-1, 1]."""

    has_perturbation = staticmethod(has_perturbation)

    def __init__(self, img_channels: int, img_res: int = 32, z_dim: int = 128, width: int = 64,
                 conv: str = "conv", *, sastm: str | None = None, sastm_reduction: int = SASTM_REDUCTION,
                 sastm_gate_bias: float = GATE_BIAS_INIT, **pert_kwargs: Any) -> None:
        super().__init__()
        check_arch(img_channels, img_res, width, z_dim)
        opts = pert_options(conv, pert_kwargs, _PERT_KEYS_G)
        sastm_options(conv, sastm, sastm_reduction, sastm_gate_bias)
        self.z_dim, self.conv, self.sastm = z_dim, conv, sastm
        w = width

        def gate(c: int) -> list[nn.Module]:                                  # [SASTM] after a ConvT
            return [] if sastm is None else [SASTM(c, sastm_reduction, sastm, gate_bias=sastm_gate_bias)]

        self.stem = nn.Sequential(                                             # z as (B, z_dim, 1, 1)
            nn.ConvTranspose2d(z_dim, 8 * w, 4, 1, 0, bias=False), *gate(8 * w), nn.BatchNorm2d(8 * w),
            nn.ReLU(True))
        chans = [(8 * w, 4 * w, 8), (4 * w, 2 * w, 16), (2 * w, w, 32), (w, img_channels, 32)]  # (c_in, c_out, res)
        blocks = []
        for i, (c_in, c_out, res) in enumerate(chans):
            last = i == len(chans) - 1
            if conv == "conv":
                layers: list[nn.Module] = ([nn.Conv2d(c_in, c_out, 3, 1, 1)] if last else
                                           [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)])
                if not last:
                    layers += [*gate(c_out), nn.BatchNorm2d(c_out), nn.ReLU(True)]
            else:
                layers = ([] if last else [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]) + [
                          PerturbationLayer(c_in, c_out, (res, res), fan_out=opts["fan_out"], level=opts["level"],
                                            mask_source=opts["mask_source"],
                                            seed=opts["mask_seed"] + SEED_STRIDE * i, bn=not last)]
                if not last:
                    layers.append(nn.ReLU(True))
            blocks.append(nn.Sequential(*layers))
        self.up1, self.up2, self.up3, self.out = blocks
        self.apply(weights_init)
        for m in self.modules():                                               # weights_init re-drew them
            if isinstance(m, SASTM):
                m.reset_parameters()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stem(z.view(z.shape[0], self.z_dim, 1, 1))                    # (B, 8w, 4, 4)
        x = self.up1(x)                                                        # (B, 4w, 8, 8)
        x = self.up2(x)                                                        # (B, 2w, 16, 16)
        x = self.up3(x)                                                        # (B, w, 32, 32)
        x = self.out(x)                                                        # (B, C, 32, 32)
        return torch.tanh(x)


# ---------------------------------------------------------------- discriminator

class DCGANDiscriminator(nn.Module):
    """DCGAN D, 32x32: (B, img_channels, 32, 32) -> (B,) logits."""

    has_perturbation = staticmethod(has_perturbation)

    def __init__(self, img_channels: int, img_res: int = 32, width: int = 64, conv: str = "conv", *,
                 norm: str = "bn", **pert_kwargs: Any) -> None:
        super().__init__()
        check_arch(img_channels, img_res, width)
        opts = pert_options(conv, pert_kwargs, _PERT_KEYS_D)
        check_choice("norm", norm, D_NORMS)
        self.conv, self.norm = conv, norm
        bn = norm == "bn"
        w = width
        self.stem = nn.Sequential(nn.Conv2d(img_channels, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True))
        if conv == "conv":
            def down(c_in: int, c_out: int) -> nn.Sequential:
                return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),
                                     *([nn.BatchNorm2d(c_out)] if bn else []), nn.LeakyReLU(0.2, True))
            self.down1 = down(w, 2 * w)
            self.down2 = down(2 * w, 4 * w)
            self.head = nn.Conv2d(4 * w, 1, 4, 1, 0, bias=False)
        else:
            def pl(c_in: int, c_out: int, res: int, i: int) -> PerturbationLayer:
                return PerturbationLayer(c_in, c_out, (res, res), fan_out=opts["fan_out"], level=opts["level"],
                                         mask_source=opts["mask_source"], seed=opts["mask_seed"] + SEED_STRIDE * i,
                                         act=opts["act"], bn=bn)
            self.down1 = nn.Sequential(pl(w, 2 * w, 16, 0), nn.MaxPool2d(2), nn.LeakyReLU(0.2, True))
            self.down2 = nn.Sequential(pl(2 * w, 4 * w, 8, 1), nn.MaxPool2d(2), nn.LeakyReLU(0.2, True))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 4 * 4, 1))
        self.apply(weights_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)                                                       # (B, w, 16, 16)
        x = self.down1(x)                                                      # (B, 2w, 8, 8)
        x = self.down2(x)                                                      # (B, 4w, 4, 4)
        return self.head(x).view(-1)                                           # (B,)
