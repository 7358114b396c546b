r"""SASTM: the Self-Adaptive Sparse Transform Module of Self-Sparse GAN.

Reference: W. Qian, Y. Xu, W. Zuo, H. Li. *Self Sparse Generative Adversarial Networks.*
arXiv:2101.10556 (2021); CAAI Artificial Intelligence Research (2022), DOI 10.26599/AIR.2022.9150005.
No official code was found.

**The paper's exact equations were not retrieved.** This module implements our definition
([R/A], after Qian et al.'s abstract): the abstract's "sparsity decomposition + feature-map
recombination" [V], with ReLU gates (not sigmoid) as recalled [R], so the coefficients are
non-negative and can be exactly zero, which is where the sparsity comes from. For an input
F of shape (B, C, H, W) (the output of a transposed convolution, before its BatchNorm)::

    a_c  = \mathrm{ReLU}( W_2 \, \mathrm{ReLU}( W_1 \, \mathrm{GAP}(F) + b_1 ) + b_2 )   \in R^{B x C}
    a_s  = \mathrm{ReLU}( w_s^\top F_{:, :, h, w} + b_s )                              \in R^{B x 1 x H x W}
    F_c  = F \odot a_c   (per channel),       F_s = F \odot a_s   (per position)

with W_1: C -> max(1, C // r) and W_2: max(1, C // r) -> C (``reduction`` r) and w_s a 1x1
convolution C -> 1. The recombination rule (``recombine``) gives the output F':

    'mul' (default):  F' = F_c \odot a_s  = F \odot a_c \odot a_s
    'add':            F' = F_c + F_s
    'max':            F' = \max(F_c, F_s)        (element-wise)

In a generator block the module sits between the transposed convolution and its BatchNorm
(ConvTranspose -> SASTM -> BN -> ReLU) [A], inferred from the abstract's claim that
SASTM "keeps meaningful features in the BN layer".

Initialisation: W_1, W_2, w_s ~ N(0, 0.02) (the DCGAN convention), b_1 = 0, and b_2 = b_s = ``gate_bias``.
The default, ``gate_bias = 1`` (:data:`GATE_BIAS_INIT`), makes every coefficient start at 1 + O(0.02 |F|) > 0, so the
module starts close to the identity ('mul', 'max') or to 2F ('add') and the generator trains like its plain
counterpart at first; zero coefficients then appear only where training drives a gate below zero, and the
notebook measures whether it does. ``gate_bias = 0`` (the ablation ``sastm-b0``) is the paper's description
written literally, ReLU gates with no bias term (a_c = ReLU(W_2 ReLU(W_1 GAP(F))), a_s = ReLU(w_s^T F) [R]): about
half the coefficients start exactly zero, but the 'mul' output F a_c a_s is then cubic in F, and with the DCGAN
scale of F (std about 0.2 after the first transposed conv) it starts about 1e-5 times its input, below the
following BatchNorm's eps: the signal dies within the first blocks and G's output starts constant
(``bench/sastm_init_signal.py`` -> ``bench/results/sastm_init_signal.json``: F'/F about 3e-5 in the first block,
0 by the fourth, the same image for every latent); notebook 03's ``sastm-b0`` rows show what training makes of it.
So the sparsity claim is tested from the start that trains.
:meth:`SASTM.reset_parameters` applies this init; a model whose own init
re-draws every Linear/Conv2d (DCGAN's ``weights_init``) must call it again afterwards.

Probing: with ``record = True`` a forward pass stores, for the coefficients it computed, the
number of exactly-zero entries and the total (``last_counts``) and their ratios
(``last_zero_channel``, ``last_zero_spatial``). The flag is off by default, so training pays
nothing (no ``.item()`` synchronisation); :func:`pgan_core.probes.generator_probes` turns it on
for one no-grad pass. The module has no train/eval-dependent behaviour.

Implementation: w_s is stored as a 1x1 ``nn.Conv2d`` (C -> 1) but applied as one batched GEMM on
the (B, C, H*W) view, and GAP as a sum times 1/(H*W): on CPU, oneDNN's backward of a C -> 1 1x1
convolution of 32x32 maps (and ``mean``'s backward) cost more than the rest of the module together.
'mul' and 'add' form the (B, C, H, W) gate a_c a_s or a_c + a_s first and multiply F once (one
full-size product fewer in the backward pass, and for 'add' in the forward pass too); the result
equals F_c a_s or F_c + F_s up to float rounding (exactly when the products are exact, as in the
tests' hand example).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, check_choice, check_positive, check_range

RECOMBINE_RULES = ("mul", "add", "max")
INIT_STD = 0.02        # std of W_1, W_2, w_s at init (DCGAN convention)
GATE_BIAS_INIT = 1.0   # b_2 and b_s at init: every coefficient starts near 1 (0: the bias-free formula, sastm-b0)


class SASTM(nn.Module):
    """F' = recombine(F * a_c, a_s); see the module docstring for the equations, init and probing.

    Args:
      channels: C, the number of input (and output) channels.
      reduction: r; the channel gate's hidden width is max(1, C // r).
      recombine: one of ``RECOMBINE_RULES`` ('mul', 'add', 'max').

    Attributes:
      record: when True, each forward stores the sparsity of its coefficients in ``last_counts``.
      last_counts: ``{'channel': (zeros, total), 'spatial': (zeros, total)}`` of the last recorded
        forward (element counts over the batch), or None before any recorded forward.
    """

    def __init__(self, channels: int, reduction: int = 4, recombine: str = "mul", *,
                 gate_bias: float = GATE_BIAS_INIT) -> None:
        super().__init__()
        check_positive("channels", channels, integer=True)
        check_positive("reduction", reduction, integer=True)
        check_choice("recombine", recombine, RECOMBINE_RULES)
        self.gate_bias = float(check_range("sastm_gate_bias", gate_bias, -10.0, 10.0))
        self.channels, self.reduction, self.recombine = channels, reduction, recombine
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)                                 # W_1, b_1
        self.fc2 = nn.Linear(hidden, channels)                                 # W_2, b_2
        self.spatial = nn.Conv2d(channels, 1, kernel_size=1)                   # w_s, b_s
        self.record = False
        self.last_counts: dict[str, tuple[int, int]] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """W_1, W_2, w_s ~ N(0, 0.02); b_1 = 0; b_2 = b_s = ``gate_bias`` (1: coefficients about 1; 0: bias-free)."""
        for layer in (self.fc1, self.fc2, self.spatial):
            nn.init.normal_(layer.weight, 0.0, INIT_STD)
        nn.init.zeros_(self.fc1.bias)
        nn.init.constant_(self.fc2.bias, self.gate_bias)
        nn.init.constant_(self.spatial.bias, self.gate_bias)

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a_c, a_s) for F = x: shapes (B, C) and (B, 1, H, W), both >= 0."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ConfigError(f"SASTM: input shape {tuple(x.shape)} does not match (B, {self.channels}, H, W)")
        B, C, H, W = x.shape
        x3 = x.reshape(B, C, H * W)                                            # F: (B, C, HW), a view if contiguous
        g = x3.sum(-1) * (1.0 / (H * W))                                       # GAP(F): (B, C)
        a_c = F.relu(self.fc2(F.relu(self.fc1(g))))                            # a_c: (B, C)
        w_s = self.spatial.weight.view(1, 1, C).expand(B, 1, C)                # w_s^T: (B, 1, C), no copy
        s = torch.baddbmm(self.spatial.bias.view(1, 1, 1), w_s, x3)            # w_s^T F + b_s: (B, 1, HW)
        a_s = F.relu(s).view(B, 1, H, W)                                       # a_s: (B, 1, H, W)
        return a_c, a_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_c, a_s = self.coefficients(x)
        if self.record:
            self.last_counts = {"channel": (int((a_c == 0).sum()), a_c.numel()),
                                "spatial": (int((a_s == 0).sum()), a_s.numel())}
        a_c4 = a_c[:, :, None, None]                                           # (B, C, 1, 1)
        if self.recombine == "mul":
            return x * (a_c4 * a_s)                                            # F' = F_c a_s = F (a_c a_s)
        if self.recombine == "add":
            return x * (a_c4 + a_s)                                            # F' = F_c + F_s = F (a_c + a_s)
        return torch.maximum(x * a_c4, x * a_s)                                # F' = max(F_c, F_s)

    @property
    def last_zero_channel(self) -> float | None:
        """Fraction of exactly-zero channel coefficients a_c in the last recorded forward."""
        return None if self.last_counts is None else self.last_counts["channel"][0] / self.last_counts["channel"][1]

    @property
    def last_zero_spatial(self) -> float | None:
        """Fraction of exactly-zero spatial coefficients a_s in the last recorded forward."""
        return None if self.last_counts is None else self.last_counts["spatial"][0] / self.last_counts["spatial"][1]

    def extra_repr(self) -> str:
        return f"{self.channels}, reduction={self.reduction}, recombine={self.recombine!r}, gate_bias={self.gate_bias:g}"
