"""Perturbative GAN generator and PNN-style discriminator at 32x32.

References: Y. Kishi et al. *Perturbative GAN: GAN with Perturbation Layers.* 2019,
arXiv:1902.01514 (generator ``NoiseGenerator2Dv6`` / ``MTNoiseGenerator2Dv6`` of the authors' code,
papers.md 1.5); F. Juefei-Xu, V. N. Boddeti, M. Savvides. *Perturbative Neural Networks.* CVPR 2018,
arXiv:1806.01817 (discriminator after PNN's ``NoiseResNet32``). The layer is
:class:`pgan_core.layers.perturbation.PerturbationLayer` (PL below: +N -> act -> 1x1 conv -> BN).

Generator (width w; the paper's w = 128 starts at 1024 channels)::

    z (B, z_dim) -> Linear -> view -> BN -> ReLU                       (B, 8w, 4, 4)
    3 stages, c = 8w, 4w, 2w:
      PerturbBlock(c) -> PL(c -> c/2) -> ReLU -> Upsample x2 bilinear  (B, 4w, 8, 8) ... (B, w, 32, 32)
    PerturbBlock(w) -> PL(w -> C, no BN) -> tanh                       (B, C, 32, 32)
    PerturbBlock(c): x -> PL(c -> c) -> ReLU -> PL(c -> c); out = ReLU(x + that)

Up-sampling is parameter-free (no transposed convolution). papers.md 1.5 lists the block as
PL -> PL and the stages without a ReLU after PL(c -> c/2); we add the explicit ReLUs (as PNN's
residual block has BN + ReLU between its two perturbation layers), so each PL sees a non-negative
input to which it adds its noise before its own activation.

Discriminator (width w), PNN ``NoiseResNet32`` scaled to 32 px::

    x (B, C, 32, 32) -> conv 3x3 s1 -> BN -> act                       (B, w, 32, 32)
    stage 1: ResBlock(w -> w), no down-sampling                        (B, w, 32, 32)
    stage 2: ResBlock(w -> 2w), down-sampling                          (B, 2w, 16, 16)
    stage 3: ResBlock(2w -> 4w), down-sampling                         (B, 4w, 8, 8)
    global average pool -> Linear(4w -> 1)                             (B,)
    ResBlock: PL(c_in -> c_out) -> act -> [MaxPool2d(2)] -> PL(c_out -> c_out);
              shortcut = 1x1 conv (stride 2 when down-sampling) + BN if the shape changes, else identity;
              out = act(main + shortcut)

Deviations from PNN's ``NoiseResNet32``: the first layer is a 3x3 stride-1 conv without the 3x3
max-pool (PNN: 7x7 stride 2 + max-pool, meant for larger images; at 32 px it would leave 8x8 before
the first block); one residual block per stage; the final map is 8x8, so down-sampling happens in
stages 2 and 3 only. ``act`` defaults to LeakyReLU(0.2) (explicit activations and inside the PLs),
the usual choice for GAN discriminators (dead ReLUs starve G of gradient); ``act='relu'`` gives the
PNN-faithful ReLU.

Mask seeds: layer slot i (a residual block is one slot) gets ``mask_seed + 10 * i``, the second PL
of a block ``mask_seed + 10 * i + 1``; the generator's slots run 0..7 (seeds +0 .. +70), as in the
authors' code.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import check_choice, check_positive
from ..layers.perturbation import PerturbationLayer
from .dcgan import SEED_STRIDE, check_arch, weights_init

D_ACTS = ("lrelu", "relu")


def _check_pert(mask_seed: int) -> None:
    check_positive("mask_seed", mask_seed, integer=True, allow_zero=True)


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(0.2) if kind == "lrelu" else nn.ReLU()


# ---------------------------------------------------------------- blocks

class PerturbBlock(nn.Module):
    """Residual block of the generator: ReLU(x + PL(ReLU(PL(x)))), (B, C, H, W) -> same."""

    def __init__(self, channels: int, res: int, seed: int, **pl_kwargs) -> None:
        super().__init__()
        self.pl1 = PerturbationLayer(channels, channels, (res, res), seed=seed, **pl_kwargs)
        self.pl2 = PerturbationLayer(channels, channels, (res, res), seed=seed + 1, **pl_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pl2(torch.relu(self.pl1(x)))                                  # (B, C, H, W)
        return torch.relu(x + y)


class PerturbResBlock(nn.Module):
    """Residual block of the discriminator (PNN ``NoiseBasicBlock``), optionally down-sampling x2."""

    def __init__(self, c_in: int, c_out: int, res: int, seed: int, down: bool, act: str, **pl_kwargs) -> None:
        super().__init__()
        res_out = res // 2 if down else res
        self.pl1 = PerturbationLayer(c_in, c_out, (res, res), seed=seed, act=act, **pl_kwargs)
        self.act1 = _act(act)
        self.pool = nn.MaxPool2d(2) if down else nn.Identity()
        self.pl2 = PerturbationLayer(c_out, c_out, (res_out, res_out), seed=seed + 1, act=act, **pl_kwargs)
        if down or c_in != c_out:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=2 if down else 1, bias=False), nn.BatchNorm2d(c_out))
        else:
            self.shortcut = nn.Identity()
        self.act2 = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.act1(self.pl1(x)))                                  # (B, c_out, H', W')
        y = self.pl2(y)                                                        # (B, c_out, H', W')
        return self.act2(y + self.shortcut(x))


# ---------------------------------------------------------------- generator

class PerturbativeGenerator(nn.Module):
    """Perturbative G (``NoiseGenerator2Dv6``), 32x32: (B, z_dim) -> (B, img_channels, 32, 32) in [-1, 1]."""

    def __init__(self, img_channels: int, img_res: int = 32, z_dim: int = 128, width: int = 128,
                 level: float = 0.1, mask_source: str = "stored_uniform", mask_seed: int = 0,
                 fan_out: int = 1) -> None:
        super().__init__()
        check_arch(img_channels, img_res, width, z_dim)
        _check_pert(mask_seed)
        self.z_dim, self.width = z_dim, width
        pl = dict(level=level, mask_source=mask_source, fan_out=fan_out)
        w, s = width, mask_seed
        self.fc = nn.Linear(z_dim, 8 * w * 4 * 4)                             # (B, 8w*16)
        self.fc_bn = nn.BatchNorm2d(8 * w)
        stages = []
        for k, c in enumerate((8 * w, 4 * w, 2 * w)):                          # res 4, 8, 16
            res = 4 * 2 ** k
            stages.append(nn.Sequential(
                PerturbBlock(c, res, s + SEED_STRIDE * (2 * k), **pl),
                PerturbationLayer(c, c // 2, (res, res), seed=s + SEED_STRIDE * (2 * k + 1), **pl),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)))
        self.stage1, self.stage2, self.stage3 = stages
        self.out_block = PerturbBlock(w, 32, s + SEED_STRIDE * 6, **pl)
        self.out_pl = PerturbationLayer(w, img_channels, (32, 32), seed=s + SEED_STRIDE * 7, bn=False, **pl)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z.view(z.shape[0], self.z_dim)).view(-1, 8 * self.width, 4, 4)   # (B, 8w, 4, 4)
        x = torch.relu(self.fc_bn(x))                                          # (B, 8w, 4, 4)
        x = self.stage1(x)                                                     # (B, 4w, 8, 8)
        x = self.stage2(x)                                                     # (B, 2w, 16, 16)
        x = self.stage3(x)                                                     # (B, w, 32, 32)
        x = self.out_block(x)                                                  # (B, w, 32, 32)
        return torch.tanh(self.out_pl(x))                                      # (B, C, 32, 32)


# ---------------------------------------------------------------- discriminator

class PerturbativeDiscriminator(nn.Module):
    """PNN-style residual D (``NoiseResNet32`` at 32 px): (B, img_channels, 32, 32) -> (B,) logits."""

    def __init__(self, img_channels: int, img_res: int = 32, width: int = 128, level: float = 0.1,
                 mask_source: str = "stored_uniform", mask_seed: int = 0, fan_out: int = 1,
                 act: str = "lrelu") -> None:
        super().__init__()
        check_arch(img_channels, img_res, width)
        _check_pert(mask_seed)
        check_choice("act", act, D_ACTS)
        pl = dict(level=level, mask_source=mask_source, fan_out=fan_out, act=act)
        w, s = width, mask_seed
        self.stem = nn.Sequential(nn.Conv2d(img_channels, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), _act(act))
        self.stage1 = PerturbResBlock(w, w, 32, s, down=False, **pl)
        self.stage2 = PerturbResBlock(w, 2 * w, 32, s + SEED_STRIDE, down=True, **pl)
        self.stage3 = PerturbResBlock(2 * w, 4 * w, 16, s + 2 * SEED_STRIDE, down=True, **pl)
        self.fc = nn.Linear(4 * w, 1)
        self.apply(weights_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)                                                       # (B, w, 32, 32)
        x = self.stage1(x)                                                     # (B, w, 32, 32)
        x = self.stage2(x)                                                     # (B, 2w, 16, 16)
        x = self.stage3(x)                                                     # (B, 4w, 8, 8)
        x = x.mean(dim=(2, 3))                                                 # (B, 4w)
        return self.fc(x).view(-1)                                             # (B,)
