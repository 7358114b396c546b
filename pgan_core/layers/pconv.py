r"""PConv: a convolution whose input is randomly perturbed in training mode (for GAN discriminators).

Reference: S. Park, Y.-J. Yeo, Y.-G. Shin. *PConv: Simple yet Effective Convolutional Layer for
Generative Adversarial Network.* arXiv:2101.10841 (2021; v1 titled *Generative Adversarial
Network using Perturbed-Convolutions*); Neural Computing and Applications (2022). No official code
was found.

What the abstracts state [V] (arXiv and journal): PConv "randomly disturbs the input tensor before the
convolution" and "performs not only a convolution operation but also a dropout one"; the
perturbation is active during training only. **The exact operation was not retrieved**; this module
implements our proposal [A], with the perturbation kind switchable
(``kind``, one of ``PERTURB_KINDS``) and rate p (``rate``, in [0, 1))::

    eval:                    PConv(x) = Conv(x)
    'dropout'  (default):    PConv(x) = Conv( x \odot M / (1 - p) ),   M_{bchw} ~ Bernoulli(1 - p)
    'channel':               PConv(x) = Conv( x \odot M / (1 - p) ),   M_{bc11} ~ Bernoulli(1 - p)
    'gaussian':              PConv(x) = Conv( x + p \, \epsilon ),     \epsilon_{bchw} ~ N(0, 1)

[A] choices (the paper's exact operation was not retrieved; *ours* marks implementation details):

  * 'dropout' is element-wise (each (b, c, h, w) position independently) and **rescaled** by
    1/(1 - p), as in the formula above and ``nn.Dropout``, so E[input] is unchanged and the
    eval-mode convolution needs no correction.
  * 'channel' drops whole feature maps per sample (``nn.Dropout2d``), also rescaled by 1/(1 - p).
  * 'gaussian' is the "additive" mode; its std sigma is ``rate`` (*ours*: one knob for every kind,
    so sigma is limited to [0, 1)).
  * A fresh perturbation is drawn at every forward pass, independently for every sample of the
    batch, so real and fake batches are perturbed alike but not identically.
  * ``rate = 0`` is the exact-identity control: the layer is then an ``nn.Conv2d``.

Where to use it (D only, every conv except perhaps the RGB one, both losses) is the model
builder's decision (:mod:`pgan_core.models.resnet`, [A]), not this module's.

Randomness: the perturbation is drawn from **torch's global (default) generator** of the input's
device (``F.dropout``, ``F.dropout2d``, ``torch.randn_like``), so ``torch.manual_seed`` at the start of
training makes runs reproducible, and a run's RNG state checkpoint covers it. No private generator
is kept. Note that on CUDA the dropout kernels draw in a device-specific order: the same seed gives
the same masks on the same device type, not across CPU and GPU.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import check_choice, check_positive, check_range

PERTURB_KINDS = ("dropout", "channel", "gaussian")


def perturb_input(x: torch.Tensor, kind: str, rate: float) -> torch.Tensor:
    """The training-mode perturbation of PConv's input x (B, C, H, W); see the module docstring.

    Draws from torch's global generator. ``rate == 0`` returns ``x`` itself.
    """
    check_choice("kind", kind, PERTURB_KINDS)
    check_range("rate", rate, 0.0, 1.0, hi_open=True)
    if rate == 0.0:
        return x
    if kind == "dropout":
        return F.dropout(x, p=rate, training=True)                      # x M / (1 - p), M element-wise
    if kind == "channel":
        return F.dropout2d(x, p=rate, training=True)                    # x M / (1 - p), M per (b, c)
    return x + rate * torch.randn_like(x)                               # x + sigma eps


class PConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose input is perturbed by :func:`perturb_input` in training mode only.

    Args:
      in_ch, out_ch, kernel_size, stride, padding, bias: as ``nn.Conv2d`` (in_channels,
        out_channels, ...). The weights, their initialisation and ``state_dict`` keys are exactly
        ``nn.Conv2d``'s, so ``spectral_norm`` and weight-init functions apply unchanged.
      kind: one of ``PERTURB_KINDS`` ('dropout', 'channel', 'gaussian').
      rate: p in [0, 1): the drop probability ('dropout', 'channel') or the noise std ('gaussian').
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0, bias: bool = True,
                 kind: str = "dropout", rate: float = 0.1) -> None:
        check_positive("in_ch", in_ch, integer=True)
        check_positive("out_ch", out_ch, integer=True)
        check_choice("kind", kind, PERTURB_KINDS)
        rate = check_range("rate", rate, 0.0, 1.0, hi_open=True)
        super().__init__(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=bias)
        self.kind, self.rate = kind, rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:                 # x: (B, in_ch, H, W)
        if self.training:
            x = perturb_input(x, self.kind, self.rate)                  # perturbed input, same shape
        return super().forward(x)                                       # (B, out_ch, H', W')

    def extra_repr(self) -> str:
        return super().extra_repr() + f", kind={self.kind!r}, rate={self.rate}"
