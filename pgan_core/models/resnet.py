"""SNGAN ResNet generator and discriminator at 32x32, with PConv as a discriminator option.

References: T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida. *Spectral Normalization for Generative
Adversarial Networks.* arXiv:1802.05957 (2018), appendix B.4, the CIFAR-10/STL ResNet (Tables 4/5
of v1); residual blocks as I. Gulrajani et al., *Improved Training of Wasserstein GANs*,
arXiv:1704.00028 (their ResNet, with the "optimized" first D block). This is the backbone family
the limited-data papers build on (BigGAN-CIFAR, DiffAugment: Zhao et al. 2020, arXiv:2006.10738) and our
choice for PConv [A]. PConv: Park et al., arXiv:2101.10841 (see :mod:`pgan_core.layers.pconv`).

Width semantics (``width`` = w; the SNGAN CIFAR nets are w = 64): G runs at 4w channels throughout
(256 at w = 64, SNGAN Table 4a), D at 2w channels throughout (128 at w = 64, Table 4b), i.e. the same
4w / 2w ratio as the paper's G 256 / D 128.

Generator::

    z (B, z_dim) -> Linear -> reshape                                     (B, 4w, 4, 4)
    -> UpBlock                                                            (B, 4w, 8, 8)
    -> UpBlock                                                            (B, 4w, 16, 16)
    -> UpBlock                                                            (B, 4w, 32, 32)
    -> BN -> ReLU -> conv 3x3 -> tanh                                     (B, C, 32, 32)

    UpBlock(x) = conv3x3(ReLU(BN(conv3x3(up2(ReLU(BN(x))))))) + up2(conv1x1(x))    up2: nearest x2

(``up2(conv1x1(x))`` equals the usual ``conv1x1(up2(x))``: a 1x1 convolution acts on each pixel alone,
so it commutes with nearest up-sampling; it runs on a quarter of the pixels.)

Discriminator::

    x (B, C, 32, 32) -> OptimizedBlock                                    (B, 2w, 16, 16)
    -> DownBlock                                                          (B, 2w, 8, 8)
    -> Block (no resampling)                                              (B, 2w, 8, 8)
    -> Block (no resampling)                                              (B, 2w, 8, 8)
    -> ReLU -> sum over H, W -> Linear                                    (B,)

    OptimizedBlock(x) = avgpool(conv3x3(ReLU(conv3x3(x)))) + conv1x1(avgpool(x))
    DownBlock(x)      = avgpool(conv3x3(ReLU(conv3x3(ReLU(x))))) + avgpool(conv1x1(x))
    Block(x)          = conv3x3(ReLU(conv3x3(ReLU(x)))) + x                (identity shortcut, c_in = c_out)

D has no normalisation layers; with ``spectral_norm=True`` (default) every conv and the Linear are
wrapped in ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per training-mode
forward, as the paper). G uses BN and no spectral norm (SNGAN).

``conv='pconv'`` (PConv, Park et al. 2021 [A]): every 3x3 convolution of D becomes a
:class:`~pgan_core.layers.pconv.PConv2d` with ``pconv_kind`` and ``pconv_rate``, **except the very
first conv, which sees the RGB (or grey) image**: perturbing raw pixels would be data augmentation
rather than feature perturbation, and leaving the RGB layer out is an option [A]; we take
it (7 of the 8 3x3 convs are PConv). The 1x1 shortcut convs and the Linear stay plain; spectral norm
still applies to all of them (PConv2d keeps ``nn.Conv2d``'s ``weight``). G is never perturbed.
``pconv_rate=0`` makes every PConv an exact ``nn.Conv2d``, so it equals ``conv='conv'`` under the
same seed.

``nice=True`` (NICE, Ni & Koniusz NeurIPS 2023; :mod:`pgan_core.layers.nice`):
the blocks from index ``nice_from`` on put an :class:`~pgan_core.layers.nice.AdaptiveNoise` after every conv
(C1 -> AN -> C2 -> AN on the main path, C_s -> AN on a learned shortcut [V]); the blocks before run
once without noise. Default ``nice_from=1`` [A: NICE's l was not retrieved]: the 16x16 -> 8x8 DownBlock and the two
8x8 blocks, so the noise also modulates a learned shortcut convolution, as the method describes (from block 2 on, as
before arch version 1 of the NICE parts, both noisy blocks have identity shortcuts and the C_s -> AN path never
ran); the first block, which sees the image, stays noise-free. Inside a D step of the training loop (``D.d_plugin``, a
:class:`~pgan_core.layers.nice.NiceRegularizer`) the noisy blocks run twice on the same input, the
head reads the first pass, and ||f_1 - f_2||^2 / dim (f: the last block's output, before the head) is
collected for the D loss (both passes under ``parametrize.cached()``, so they use the same
spectral-normalised weights and f_1 == f_2 exactly without noise); elsewhere (G step) they run once. With D.eval() the AN modules are the
identity. ``nice_gamma = 0`` is the noise-only ablation. D without NICE has the same ``state_dict``
keys as before (``d_plugin`` is None).

Initialisation (as the SNGAN chainer code and Mimicry): Xavier-uniform, gain sqrt(2) for the 3x3
convs inside residual branches, gain 1 for shortcuts, the G input Linear, the G output conv and the
D Linear; biases 0. Applied before spectral norm wraps a layer.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _sn

from ..errors import ConfigError, check_choice, check_range
from ..layers.nice import BETA_MAX, ETA, GAMMA, AdaptiveNoise, NiceRegularizer
from ..layers.pconv import PERTURB_KINDS, PConv2d
from .dcgan import check_arch

D_CONV_KINDS = ("conv", "pconv")
PCONV_KIND, PCONV_RATE = "dropout", 0.1    # defaults [A] (PConv's own were not retrieved)
NICE_FROM = 1                              # first D block with adaptive noise (NICE's l): from the 16x16 -> 8x8 block,
#                                            the first whose shortcut is a learned conv (C_s -> AN runs) [A]
G_MULT, D_MULT = 4, 2                      # channels = mult * width (SNGAN CIFAR: 256 / 128 at w = 64)
_RES_GAIN = math.sqrt(2.0)                 # Xavier gain of the residual-branch 3x3 convs


def _init(m: nn.Module, gain: float) -> nn.Module:
    nn.init.xavier_uniform_(m.weight, gain)
    if m.bias is not None:
        nn.init.zeros_(m.bias)
    return m


# ---------------------------------------------------------------- generator

def up2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 up-sampling, (B, C, H, W) -> (B, C, 2H, 2W): the values of
    ``F.interpolate(x, scale_factor=2, mode='nearest')`` as one broadcast copy (3x faster forward +
    backward on a CPU, where the interpolate kernel copies its input and output)."""
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


class UpBlock(nn.Module):
    """G residual block: (B, c_in, H, W) -> (B, c_out, 2H, 2W); BN -> ReLU -> up -> conv3 -> BN -> ReLU -> conv3."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.c1 = _init(nn.Conv2d(c_in, c_out, 3, 1, 1), _RES_GAIN)
        self.c2 = _init(nn.Conv2d(c_out, c_out, 3, 1, 1), _RES_GAIN)
        self.sc = _init(nn.Conv2d(c_in, c_out, 1, 1, 0), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = up2(F.relu(self.bn1(x)))                                               # (B, c_in, 2H, 2W)
        h = self.c2(F.relu(self.bn2(self.c1(h))))                                  # (B, c_out, 2H, 2W)
        return h + up2(self.sc(x))           # conv1x1(up2(x)) == up2(conv1x1(x)): a quarter of the pixels


class ResNetGenerator(nn.Module):
    """SNGAN ResNet G, 32x32: (B, z_dim) -> (B, img_channels, 32, 32) in [-1, 1]; 4w channels."""

    def __init__(self, img_channels: int, img_res: int = 32, z_dim: int = 128, width: int = 64) -> None:
        super().__init__()
        check_arch(img_channels, img_res, width, z_dim)
        self.z_dim, self.ch = z_dim, G_MULT * width
        ch = self.ch
        self.fc = _init(nn.Linear(z_dim, ch * 4 * 4), 1.0)
        self.blocks = nn.Sequential(UpBlock(ch, ch), UpBlock(ch, ch), UpBlock(ch, ch))
        self.bn = nn.BatchNorm2d(ch)
        self.out = _init(nn.Conv2d(ch, img_channels, 3, 1, 1), 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z.view(z.shape[0], self.z_dim)).view(-1, self.ch, 4, 4)      # (B, 4w, 4, 4)
        x = self.blocks(x)                                                         # (B, 4w, 32, 32)
        return torch.tanh(self.out(F.relu(self.bn(x))))                           # (B, C, 32, 32)


# ---------------------------------------------------------------- discriminator

class DBlock(nn.Module):
    """D residual block (B, c_in, H, W) -> (B, c_out, H', W'), H' = H/2 if ``down`` else H.

    ``optimized``: the first block (no ReLU before the first conv, shortcut avgpool -> conv1x1).
    Otherwise ReLU -> conv3 -> ReLU -> conv3 [-> avgpool]; shortcut conv1x1 [-> avgpool] when
    resampling or changing width, identity else. ``conv3(c_in, c_out, first)`` builds a 3x3 conv;
    ``wrap`` applies spectral norm (or nothing). ``noise``: NICE's AN after every conv (c1, c2, sc).
    """

    def __init__(self, c_in: int, c_out: int, conv3, wrap, *, down: bool, optimized: bool = False,
                 noise: bool = False) -> None:
        super().__init__()
        self.down, self.optimized = down, optimized
        self.c1 = wrap(_init(conv3(c_in, c_out, optimized), _RES_GAIN))            # optimized: conv on the image
        self.c2 = wrap(_init(conv3(c_out, c_out, False), _RES_GAIN))
        learn_sc = down or c_in != c_out
        self.sc = wrap(_init(nn.Conv2d(c_in, c_out, 1, 1, 0), 1.0)) if learn_sc else None
        an = AdaptiveNoise if noise else nn.Identity
        self.an1, self.an2 = an(), an()
        self.an_sc = an() if learn_sc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.optimized else F.relu(x)
        h = self.an2(self.c2(F.relu(self.an1(self.c1(h)))))                        # C1 -> AN -> C2 -> AN
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.sc is None:
            return h + x
        if self.optimized:                                                          # avgpool -> conv1x1
            return h + self.an_sc(self.sc(F.avg_pool2d(x, 2)))
        s = self.an_sc(self.sc(x))                                                  # conv1x1 -> AN [-> avgpool]
        return h + (F.avg_pool2d(s, 2) if self.down else s)


class ResNetDiscriminator(nn.Module):
    """SNGAN ResNet D, 32x32: (B, img_channels, 32, 32) -> (B,) logits; 2w channels, spectral norm.

    Args:
      conv: 'conv' or 'pconv' (PConv2d for every 3x3 conv except the first one on the image).
      pconv_kind, pconv_rate: the PConv perturbation (``conv='pconv'`` only; see PConv2d).
      spectral_norm: wrap every conv and the Linear in spectral norm.
      nice: NICE adaptive noise and consistency in blocks ``nice_from`` .. 3 (see the module docstring).
      nice_gamma, nice_eta: gamma (>= 0) and the controller's target eta (``nice=True`` only).
    """

    def __init__(self, img_channels: int, img_res: int = 32, width: int = 64, conv: str = "conv",
                 pconv_kind: str = PCONV_KIND, pconv_rate: float = PCONV_RATE, spectral_norm: bool = True,
                 nice: bool = False, nice_gamma: float = GAMMA, nice_eta: float = ETA,
                 nice_from: int = NICE_FROM) -> None:
        super().__init__()
        check_arch(img_channels, img_res, width)
        check_choice("conv", conv, D_CONV_KINDS)
        check_choice("pconv_kind", pconv_kind, PERTURB_KINDS)
        pconv_rate = check_range("pconv_rate", pconv_rate, 0.0, 1.0, hi_open=True)
        if conv == "conv" and (pconv_kind != PCONV_KIND or pconv_rate != PCONV_RATE):
            key = "pconv_kind" if pconv_kind != PCONV_KIND else "pconv_rate"
            raise ConfigError(f"parameter '{key}': only applies to conv='pconv' (got conv='conv')")
        if not isinstance(spectral_norm, bool):
            raise ConfigError(f"parameter 'spectral_norm': got {spectral_norm!r}; allowed: True or False")
        if not isinstance(nice, bool):
            raise ConfigError(f"parameter 'nice': got {nice!r}; allowed: True or False")
        if not nice and (nice_gamma != GAMMA or nice_eta != ETA or nice_from != NICE_FROM):
            key = "nice_gamma" if nice_gamma != GAMMA else "nice_eta" if nice_eta != ETA else "nice_from"
            raise ConfigError(f"parameter '{key}': only applies to nice=True (got nice=False)")
        if isinstance(nice_from, bool) or not isinstance(nice_from, int) or not 0 <= nice_from <= 3:
            raise ConfigError(f"parameter 'nice_from': got {nice_from!r}; allowed: an integer in [0, 3] (D has 4 blocks)")
        self.conv, self.spectral_norm = conv, spectral_norm
        self.pconv_kind, self.pconv_rate = pconv_kind, pconv_rate
        self.nice_from = nice_from if nice else 4
        ch = D_MULT * width

        def conv3(c_in: int, c_out: int, first: bool) -> nn.Conv2d:
            if conv == "pconv" and not first:
                return PConv2d(c_in, c_out, 3, 1, 1, kind=pconv_kind, rate=pconv_rate)
            return nn.Conv2d(c_in, c_out, 3, 1, 1)

        def wrap(m: nn.Module) -> nn.Module:
            return _sn(m) if spectral_norm else m

        nz = [i >= self.nice_from for i in range(4)]                                   # blocks with AN
        self.blocks = nn.Sequential(
            DBlock(img_channels, ch, conv3, wrap, down=True, optimized=True, noise=nz[0]),  # (B, 2w, 16, 16)
            DBlock(ch, ch, conv3, wrap, down=True, noise=nz[1]),                       # (B, 2w, 8, 8)
            DBlock(ch, ch, conv3, wrap, down=False, noise=nz[2]),                      # (B, 2w, 8, 8)
            DBlock(ch, ch, conv3, wrap, down=False, noise=nz[3]))                      # (B, 2w, 8, 8)
        self.fc = wrap(_init(nn.Linear(ch, 1), 1.0))
        self.nice = NiceRegularizer(nice_gamma, eta=nice_eta, beta_max=BETA_MAX) if nice else None
        if self.nice is not None:
            self.nice.attach(m for m in self.blocks.modules() if isinstance(m, AdaptiveNoise))

    @property
    def d_plugin(self) -> NiceRegularizer | None:
        """The D-side plugin the training loop drives (NICE), or None."""
        return self.nice

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nice is None:
            h = self.blocks(x)                                                     # (B, 2w, 8, 8)
        else:
            h = self.blocks[:self.nice_from](x)                                    # X_{l-1}: blocks without noise
            deep = self.blocks[self.nice_from:]                                    # B_l .. B_L, with AN
            if self.nice.collecting:
                with parametrize.cached():                                         # one spectral norm per layer:
                    f = deep(h)                                                    # f_1: (B, 2w, 8, 8)
                    self.nice.record(f, deep(h))                                   # f_2: same weights, own noise
            else:
                f = deep(h)                                                        # (B, 2w, 8, 8)
            h = f
        h = F.relu(h).sum(dim=(2, 3))                                              # global sum pool, (B, 2w)
        return self.fc(h).view(-1)                                                 # (B,)
