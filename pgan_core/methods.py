"""The method table: every part a paper of this companion changes, defined once, one recipe table, and the
registered method names as aliases of compositions of those parts.

A method is one choice per part of a GAN (:mod:`pgan_core.compose` joins them with ``+``): the generator
(Perturbative GAN, Kishi et al. 2019, arXiv:1902.01514; Self-Sparse GAN, Qian et al. 2021, arXiv:2101.10556),
the generator's input (Spider GAN, Asokan & Seelamantula 2023, arXiv:2305.07613), the discriminator
(PNN-style perturbation, Juefei-Xu et al. 2018; PConv, Park et al. 2021; NICE, Ni & Koniusz 2023), what the
discriminator sees (DiffAugment, Zhao et al. 2020; MaskedGAN, Huang et al. 2022), the loss and the optimiser
(WGAN-GP, Gulrajani et al. 2017; TTUR, Heusel et al. 2017). The training recipe (loss, Adam settings, D steps
per G step) follows the discriminator's family, as in the paper that introduced it (:data:`RECIPES`).

A registered name (``pgan-g``, ``sngan-pconv``, ...) is an alias of one composition (:data:`ALIASES`): the
alias and its composed name are one spec with one run key (:func:`pgan_core.registry.get_method`).

The Perturbative GAN methods use the DCGAN baseline's non-saturating loss [A] (the authors' ``main.py``
trains with WGAN-GP: :mod:`pgan_core.models.perturbative`, deviation (f)) and that paper's train scripts'
Adam settings (lr 2e-4, betas (0.5, 0.999) for G and D; Kishi et al.'s code). Width semantics: both
generators run 8w -> 4w -> 2w -> w (like for like at the same width; the paper's w = 128 gives 1024 at
4x4); the DCGAN D and the Perturbative (PNN-style) D end at 4w. The controls of every Perturbative GAN claim
are the noise-off models (level 0) and the architecture controls (``-conv``: the same topology with 3x3
convolutions in place of the perturbation layers). Discriminator masks start at ``D_MASK_SEED`` above the
generator's (:func:`pgan_core.registry.builder_overrides`), so they never repeat the generator's masks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn

from .data import DATASETS as DATASET_NAMES
from .layers.nice import GAMMA as NICE_GAMMA
from .models import (DCGANDiscriminator, DCGANGenerator, PerturbativeDiscriminator, PerturbativeGenerator,
                     ResNetDiscriminator, ResNetGenerator)

# ---------------------------------------------------------------- citations (one per paper)
PGAN = "Kishi et al. 2019, arXiv:1902.01514"
PNN = "Juefei-Xu et al. CVPR 2018, arXiv:1806.01817"
DCGAN = "Radford et al. 2016, arXiv:1511.06434"
WGAN_GP = "Gulrajani et al. 2017, arXiv:1704.00028"
SSGAN = "Qian et al. 2021, arXiv:2101.10556"
SNGAN = "Miyato et al. 2018, arXiv:1802.05957"
PCONV = "Park et al. 2021, arXiv:2101.10841"
NICE = "Ni & Koniusz, NeurIPS 2023, openreview.net/forum?id=YFW6MVGVTn"
MASKEDGAN = "Huang et al., NeurIPS 2022, openreview.net/forum?id=js2ssA77fX"
DIFFAUGMENT = "Zhao et al. 2020, arXiv:2006.10738"
TTUR = "Heusel et al. 2017, arXiv:1706.08500"
SPIDER = "Asokan & Seelamantula, CVPR 2023, arXiv:2305.07613"

D_MASK_SEED = 1000  # D's mask seeds start this far above G's (G uses base + 0..71), so D's masks never repeat G's
DA_POLICY = "color,translation,cutout"          # DiffAugment policy of the data-efficient papers (Zhao et al. 2020)
TTUR_LRS = dict(lr_d=4e-4, lr_g=1e-4)           # [A] SAGAN/BigGAN's pair; Heusel et al. use other pairs per task

# Architecture versions (MethodSpec.arch_version, part of the run key when > 0). 1: the authors' Perturbative G and D
# (commit 80eae65: bare Linear input, no ReLU after a perturbation layer, their residual D; D's masks from seeds
# disjoint from G's, mask_seed and noise_level reaching the DCGAN perturbation builders). Every part that builds
# perturbation layers or a Perturbative model has version 1 (the -conv controls too, for uniformity).
PERT_ARCH_VERSION = 1
# 1: NICE's adaptive noise from D's block 1 on (nice_from 1: the learned-shortcut C_s -> AN path runs), was 2
NICE_ARCH_VERSION = 1
# 1: SASTM's gate biases started at 0 (the bias-free formula), were +1.
# 2: back to +1: from 0 the module's output (cubic in F) starts below BN's eps and G's output is constant
#    (bench/results/sastm_init_signal.json); the bias-free start is the ablation sastm-b0
SASTM_ARCH_VERSION = 2


@dataclass(frozen=True)
class MethodSpec:
    """What a method name builds and how it trains (made by :func:`pgan_core.compose.compose`)."""
    name: str                                  # registry key or composed name, e.g. "pgan-g"
    build_G: Callable[..., nn.Module]          # builder(img_channels, img_res, z_dim, width, **g_kwargs)
    build_D: Callable[..., nn.Module]          # builder(img_channels, img_res, width, **d_kwargs)
    g_kwargs: dict[str, Any] = field(default_factory=dict)
    d_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: str = "ns"                           # default adversarial loss (key of losses.LOSSES)
    train_defaults: dict[str, Any] = field(default_factory=dict)  # RunConfig fields the method fixes (its recipe
    #                                            complete: lr_g, lr_d, betas_g, betas_d, n_critic; then its parts')
    description: str = ""                      # one line for tables
    paper: str = ""                            # citations, e.g. "Kishi et al. 2019, arXiv:1902.01514"
    arch_version: int = 0                      # bumped when G or D of this name changes; enters the run key when > 0


# ---------------------------------------------------------------- the recipe table
@dataclass(frozen=True)
class Recipe:
    """Loss and optimiser of a discriminator family, as in the paper that introduced it."""
    loss: str
    lr_g: float
    lr_d: float
    betas_g: tuple[float, float]
    betas_d: tuple[float, float]
    n_critic: int
    paper: str

    def train(self) -> dict[str, Any]:
        """The RunConfig defaults of the recipe (everything but the loss and the citation)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("loss", "paper")}


RECIPE_FIELDS = ("lr_g", "lr_d", "betas_g", "betas_d", "n_critic")
RECIPES = {
    # DCGAN-style D (d-dcgan, d-pnn): non-saturating loss, Adam 2e-4 (0.5, 0.999), 1 D step (Radford et al. 2016;
    # the Perturbative GAN train scripts, Kishi et al. 2019)
    "dcgan": Recipe("ns", 2e-4, 2e-4, (0.5, 0.999), (0.5, 0.999), 1, DCGAN),
    # SNGAN ResNet D (d-sn, d-pconv, d-nice): hinge, Adam 2e-4 (0, 0.9), 5 D steps (Miyato et al. 2018, section 4 /
    # official chainer configs; also Mimicry's SNGAN CIFAR-10 config) [R]; PConv's own settings not retrieved [A]
    "sngan": Recipe("hinge", 2e-4, 2e-4, (0.0, 0.9), (0.0, 0.9), 5, SNGAN),
    # WGAN-GP (the 'wgan-gp' loss token): Adam 1e-4 (0.5, 0.9), 5 critic steps, lambda 10 (Gulrajani et al. 2017);
    # also the base model of Self-Sparse GAN [A, settings not retrieved] and the WGAN-GP of the TTUR notebook
    "wgan-gp": Recipe("wgan-gp", 1e-4, 1e-4, (0.5, 0.9), (0.5, 0.9), 5, WGAN_GP),
}


# ---------------------------------------------------------------- the parts
@dataclass(frozen=True)
class Part:
    """One token of a composed name: which builder and keyword arguments it contributes."""
    token: str
    role: str                      # 'g', 'input', 'd', 'aug', 'mask', 'loss', 'opt'
    description: str
    paper: str = ""
    builder: Callable[..., nn.Module] | None = None   # model class ('g' and 'd' roles)
    kwargs: tuple = ()             # builder keyword arguments as (key, value) pairs
    train: tuple = ()              # RunConfig defaults as (key, value) pairs
    family: str = ""               # D family (a key of RECIPES): the training recipe
    arch_version: int = 0          # of the G or D it builds (the composed name's is the max)
    batchnorm: bool = False        # a D that normalises over the batch (refused with WGAN-GP's per-sample penalty)


def _pert(level: float, source: str = "stored_uniform") -> tuple:
    return (("level", level), ("mask_source", source))


_V = PERT_ARCH_VERSION
PARTS: tuple[Part, ...] = (
    # generators
    Part("g-dcgan", "g", "DCGAN G (transposed convs)", DCGAN, DCGANGenerator, (("conv", "conv"),)),
    Part("g-dcgan-pert", "g", "DCGAN G with upsample + perturbation layers (same widths/depth)", PGAN, DCGANGenerator,
         (("conv", "perturb"),), arch_version=_V),
    Part("g-resnet", "g", "SNGAN ResNet G", SNGAN, ResNetGenerator),
    Part("g-pert", "g", "the authors' Perturbative G (stored U(-1,1) masks)", PGAN, PerturbativeGenerator,
         _pert(0.1), arch_version=_V),
    Part("g-pert-nonoise", "g", "the authors' Perturbative G with noise level 0 (1x1 convs + bilinear upsampling "
         "only)", PGAN, PerturbativeGenerator, _pert(0.0), arch_version=_V),
    Part("g-pert-conv", "g", "the Perturbative G's topology with a 3x3 conv (same widths, ReLU, BN) in place of "
         "every perturbation layer", PGAN, PerturbativeGenerator, (("layer", "conv3x3"),), arch_version=_V),
    Part("g-pert-lcg", "g", "the authors' Perturbative G (LCG masks)", PGAN, PerturbativeGenerator,
         _pert(0.1, "lcg"), arch_version=_V),
    Part("g-pert-mt", "g", "the authors' Perturbative G (Mersenne-Twister masks)", PGAN, PerturbativeGenerator,
         _pert(0.1, "seeded_uniform"), arch_version=_V),
    Part("g-sastm", "g", "DCGAN G + SASTM", SSGAN, DCGANGenerator, (("conv", "conv"), ("sastm", "mul")),
         arch_version=SASTM_ARCH_VERSION),
    Part("g-sastm-add", "g", "DCGAN G + SASTM with additive recombination", SSGAN, DCGANGenerator,
         (("conv", "conv"), ("sastm", "add")), arch_version=SASTM_ARCH_VERSION),
    Part("g-sastm-b0", "g", "DCGAN G + SASTM whose gate biases start at 0 (the bias-free formula: half the "
         "coefficients zero)", SSGAN, DCGANGenerator, (("conv", "conv"), ("sastm", "mul"), ("sastm_gate_bias", 0.0)),
         arch_version=SASTM_ARCH_VERSION),
    # discriminators
    Part("d-dcgan", "d", "DCGAN D (BN)", DCGAN, DCGANDiscriminator, (("conv", "conv"),), family="dcgan",
         batchnorm=True),
    Part("d-dcgan-pert", "d", "DCGAN D with perturbation layers (keeps a real first conv)", PGAN, DCGANDiscriminator,
         (("conv", "perturb"),), family="dcgan", arch_version=_V, batchnorm=True),
    Part("d-critic", "d", "DCGAN D without normalisation (WGAN-GP critic)", WGAN_GP, DCGANDiscriminator,
         (("conv", "conv"), ("norm", "none")), family="dcgan"),
    Part("d-pnn", "d", "the authors' PNN-style perturbation D", PNN, PerturbativeDiscriminator, _pert(0.1),
         family="dcgan", arch_version=_V, batchnorm=True),
    Part("d-pnn-nonoise", "d", "the authors' PNN-style D with noise level 0", PNN, PerturbativeDiscriminator,
         _pert(0.0), family="dcgan", arch_version=_V, batchnorm=True),
    Part("d-pnn-conv", "d", "the PNN-style D's topology with a 3x3 conv in place of every perturbation layer", PNN,
         PerturbativeDiscriminator, (("layer", "conv3x3"),), family="dcgan", arch_version=_V, batchnorm=True),
    Part("d-sn", "d", "spectral-norm ResNet D", SNGAN, ResNetDiscriminator, (("conv", "conv"),), family="sngan"),
    Part("d-pconv", "d", "spectral-norm ResNet D with PConv", PCONV, ResNetDiscriminator,
         (("conv", "pconv"), ("pconv_kind", "dropout"), ("pconv_rate", 0.1)), family="sngan"),
    Part("d-nice", "d", "spectral-norm ResNet D with NICE", NICE, ResNetDiscriminator,
         (("conv", "conv"), ("nice", True), ("nice_gamma", NICE_GAMMA)), family="sngan", arch_version=NICE_ARCH_VERSION),
    Part("d-nice-noise", "d", "spectral-norm ResNet D with NICE's adaptive noise only (no consistency loss)", NICE,
         ResNetDiscriminator, (("conv", "conv"), ("nice", True), ("nice_gamma", 0.0)), family="sngan",
         arch_version=NICE_ARCH_VERSION),
    # what D sees, loss, optimiser
    Part("da", "aug", "DiffAugment", DIFFAUGMENT, train=(("diffaugment", DA_POLICY),)),
    Part("mask-spatial", "mask", "MaskedGAN spatial masks", MASKEDGAN, train=(("d_mask", "spatial"),)),
    Part("mask-spectral", "mask", "MaskedGAN spectral masks", MASKEDGAN, train=(("d_mask", "spectral"),)),
    Part("mask-both", "mask", "MaskedGAN spatial+spectral masks", MASKEDGAN, train=(("d_mask", "spatial,spectral"),)),
    Part("ns", "loss", "non-saturating loss", train=(("loss", "ns"),)),
    Part("hinge", "loss", "hinge loss", train=(("loss", "hinge"),)),
    Part("wgan-gp", "loss", "WGAN-GP", WGAN_GP, train=(("loss", "wgan-gp"),)),
    Part("ttur", "opt", "TTUR (lr_D 4e-4, lr_G 1e-4)", TTUR, train=tuple(TTUR_LRS.items())),
) + tuple(Part(f"spider-{d}", "input", f"Spider input: {d} images", SPIDER, train=(("g_input", d),))
          for d in DATASET_NAMES if d != "synthetic")


# ---------------------------------------------------------------- registered names: aliases of compositions
# NICE (NeurIPS 2023): adaptive noise in D's blocks 1-3 (of 0-3, [A]; the learned shortcut of block 1 included), beta from the r_t controller (step 1e-3,
# eta 0.6, beta_max 1, EMA 0.9; [A] after the authors' CHAIN code), consistency weight gamma 5 [A: {1, 5, 10}]; run it
# with diffaugment='color,translation,cutout' for the papers' setting (NICE sits on top of DA/ADA [R]). MaskedGAN
# (Huang et al. 2022): masking of every D input in the training loop (RunConfig.d_mask and d_mask_*; defaults P 4,
# rho 0.3, K 4 bands with 1 masked, energy-weighted, DC band kept, every image masked) [A, values not retrieved].
ALIASES: dict[str, tuple[str, str]] = {   # name -> (composition, one line for tables)
    "dcgan": ("g-dcgan+d-dcgan", "DCGAN baseline: transposed-conv G (8w at 4x4) + conv D (ends at 4w)"),
    "dcgan-pert-g": ("g-dcgan-pert+d-dcgan", "DCGAN G with upsample + perturbation layers (same widths/depth) + conv D"),
    "dcgan-pert-gd": ("g-dcgan-pert+d-dcgan-pert", "DCGAN G and D with perturbation layers (D keeps a real first conv)"),
    "pgan-g": ("g-pert+d-dcgan", "perturbation in G only: the authors' Perturbative G (8w at 4x4, stored U(-1,1) "
                                 "masks, level 0.1) + DCGAN D"),
    "pgan-gd": ("g-pert+d-pnn", "perturbation in G and D: the authors' Perturbative G + their PNN-style residual D "
                                "(ends at 4w)"),
    "pgan-g-nonoise": ("g-pert-nonoise+d-dcgan", "control (noise off): pgan-g with noise level 0 (1x1 convs + bilinear "
                                                 "upsampling only)"),
    "pgan-gd-nonoise": ("g-pert-nonoise+d-pnn-nonoise", "control (noise off): pgan-gd with noise level 0 in G and D"),
    "pgan-g-conv": ("g-pert-conv+d-dcgan", "control (architecture): pgan-g's topology with a 3x3 conv (same widths, "
                                           "ReLU, BN) in place of every perturbation layer + DCGAN D"),
    "pgan-gd-conv": ("g-pert-conv+d-pnn-conv", "control (architecture): pgan-gd's G and D topologies with a 3x3 conv in "
                                               "place of every perturbation layer"),
    "pgan-g-lcg": ("g-pert-lcg+d-dcgan", "pgan-g with algorithmic LCG masks (U[0,1], regenerated from seeds, not stored)"),
    "pgan-g-mt": ("g-pert-mt+d-dcgan", "pgan-g with seeded Mersenne-Twister U[0,1) masks (regenerated, not stored)"),
    "wgan-gp": ("g-dcgan+d-critic+wgan-gp", "WGAN-GP baseline: DCGAN G (BN) + critic without BN, lambda 10, n_critic 5, "
                                            "Adam 1e-4 (0.5, 0.9)"),
    "sastm": ("g-sastm+d-critic+wgan-gp", "Self-Sparse GAN: wgan-gp with SASTM after every transposed conv of G "
                                          "(multiplicative recombination)"),
    "sastm-add": ("g-sastm-add+d-critic+wgan-gp", "ablation: SASTM with additive recombination F_c + F_s"),
    "sastm-b0": ("g-sastm-b0+d-critic+wgan-gp", "ablation: sastm with gate biases b_2 = b_s = 0 at the start (the "
                                                "bias-free formula: about half the coefficients zero), not +1"),
    "sngan": ("g-resnet+d-sn", "SNGAN ResNet baseline: ResNet G (4w, BN) + spectral-norm ResNet D (2w), hinge, "
                               "n_critic 5"),
    "sngan-pconv": ("g-resnet+d-pconv", "sngan with PConv (input dropout p 0.1) on every 3x3 conv of D except the first "
                                        "(RGB) one"),
    "sngan-nice": ("g-resnet+d-nice", "sngan + NICE: adaptive multiplicative noise N(1, beta^2) in D's deeper blocks, "
                                      "adaptive beta, consistency of two noisy passes (gamma 5) on real and generated "
                                      "images"),
    "sngan-nice-noise": ("g-resnet+d-nice-noise", "ablation: sngan-nice without the consistency loss (adaptive noise "
                                                  "only)"),
    "sngan-mask-spatial": ("g-resnet+d-sn+mask-spatial", "sngan + MaskedGAN shifted spatial masking of D's inputs "
                                                         "(P 4, ratio 0.3)"),
    "sngan-mask-spectral": ("g-resnet+d-sn+mask-spectral", "sngan + MaskedGAN balanced spectral masking of D's inputs "
                                                           "(1 of 4 bands, DC band kept)"),
    "sngan-mask-both": ("g-resnet+d-sn+mask-both", "sngan + MaskedGAN: each D input spatially or spectrally masked "
                                                   "(equal odds)"),
}
