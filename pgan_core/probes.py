"""Mechanism probes of G and D: numbers that track a paper's claims about *how* a method works.

Discriminator (:func:`discriminator_probes`): the memorisation gap of PConv / NICE / MaskedGAN
(PConv, Park et al., arXiv:2101.10841, claims less D memorisation; we track E[D(x_train)] - E[D(x_heldout)] [A]):

* ``d_train``   = mean D(x) over a fixed set of the run's training images,
* ``d_heldout`` = mean D(x) over a fixed set of held-out images (the dataset's test split),
* ``mem_gap``   = d_train - d_heldout (> 0: D scores the images it was trained on higher).

D runs in eval mode (PConv / NICE noise off, spectral norm without a power iteration, so D's state is
unchanged) under ``torch.no_grad``, on the raw images (no DiffAugment, no masks); modes are restored.

Generator:

Self-Sparse GAN (Qian et al., arXiv:2101.10556, abstract [V]) claims that its SASTM
(:mod:`pgan_core.layers.sastm`) (i) produces sparse feature maps, via non-negative coefficients
many of which are exactly zero, and (ii) alleviates the zero-gradient problem by driving the
deconvolution (transposed-convolution) weights away from negative values. Logging these numbers
over training, for G with and without SASTM, tests the mechanism beside the FID:

* ``deconv_neg_weight``  = #{w < 0} / #{w} over the weights of every ``nn.ConvTranspose2d`` of G
                           (claim ii); present when G has transposed convolutions.
* ``sastm_zero_channel`` = #{a_c == 0} / #{a_c} and
* ``sastm_zero_spatial`` = #{a_s == 0} / #{a_s}, the channel and spatial coefficients of one
                           forward pass on ``z``, counted over the batch and over all SASTM modules
                           (element-weighted, so larger maps count more; claim i); present when G
                           contains SASTM modules.

Keys that do not apply are absent, never NaN. The forward pass runs under ``torch.no_grad`` with G
in eval mode (BatchNorm on its running statistics, so the probe does not depend on the batch and
does not update those statistics); every submodule's mode and every SASTM's ``record`` flag are
restored afterwards, also on error. Without SASTM modules no forward pass is run at all.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .layers.sastm import SASTM


def generator_probes(G: nn.Module, z: torch.Tensor) -> dict[str, float]:
    """Mechanism probes of ``G`` (see the module docstring); ``z`` is G's input batch, e.g. (B, z_dim)."""
    out: dict[str, float] = {}
    deconv = [m.weight for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    if deconv:
        neg = sum(int((w < 0).sum()) for w in deconv)
        out["deconv_neg_weight"] = neg / sum(w.numel() for w in deconv)
    sastms = [m for m in G.modules() if isinstance(m, SASTM)]
    if not sastms:
        return out
    modes = [(m, m.training) for m in G.modules()]
    records = [(m, m.record) for m in sastms]
    try:
        G.eval()
        for m in sastms:
            m.record, m.last_counts = True, None
        with torch.no_grad():
            G(z)
        counts = [m.last_counts for m in sastms if m.last_counts is not None]
    finally:
        for m, training in modes:
            m.training = training
        for m, record in records:
            m.record = record
    for kind in ("channel", "spatial"):
        zeros = sum(c[kind][0] for c in counts)
        total = sum(c[kind][1] for c in counts)
        if total:
            out[f"sastm_zero_{kind}"] = zeros / total
    return out


def discriminator_probes(D: nn.Module, x_train: torch.Tensor, x_heldout: torch.Tensor,
                         batch: int = 256) -> dict[str, float]:
    """Memorisation gap of ``D`` (see the module docstring); ``x_train``, ``x_heldout``: (N, C, H, W) in [-1, 1]."""
    modes = [(m, m.training) for m in D.modules()]
    try:
        D.eval()
        with torch.no_grad():
            means = [float(torch.cat([D(x[i:i + batch]).float().view(-1) for i in range(0, x.shape[0], batch)]).mean())
                     for x in (x_train, x_heldout)]                        # mean D(x) per set
    finally:
        for m, training in modes:
            m.training = training
    return {"d_train": means[0], "d_heldout": means[1], "mem_gap": means[0] - means[1]}
