"""Registry entries, one section per paper: the Perturbative GAN study (Kishi et al. 2019,
arXiv:1902.01514), the WGAN-GP / Self-Sparse GAN family (Qian et al. 2021, arXiv:2101.10556), and the
SNGAN ResNet backbone of the discriminator-side papers (PConv, NICE, MaskedGAN).

Imported lazily by :mod:`pgan_core.registry`; importing it registers every method below once.
The Perturbative GAN methods use the DCGAN baseline's non-saturating loss [A] (the authors' ``main.py``
trains with WGAN-GP: :mod:`pgan_core.models.perturbative`, deviation (f)) and that paper's train scripts'
Adam settings (lr 2e-4, betas (0.5, 0.999) for G and D; Kishi et al.'s code). The WGAN-GP methods carry
their own defaults (see the section below). TTUR and Spider GAN are not methods of their own:
they change the optimiser (lr_d, lr_g) and the generator input (g_input) of a method, by config.

Width semantics: both generators run 8w -> 4w -> 2w -> w (like for like at the same width; the
paper's w = 128 gives 1024 at 4x4); the DCGAN D and the Perturbative (PNN-style) D end at 4w.
The Perturbative GAN G and D are the authors' (:mod:`pgan_core.models.perturbative`); the controls
of every claim are the noise-off models (level 0) and the architecture controls (``-conv``: the same
topology with 3x3 convolutions in place of the perturbation layers).
Discriminator masks start at ``D_MASK_SEED`` above the generator's (:func:`pgan_core.registry.builder_overrides`),
so they never repeat the generator's masks.
"""
from __future__ import annotations

from typing import Any

from .models.dcgan import DCGANDiscriminator, DCGANGenerator
from .models.perturbative import PerturbativeDiscriminator, PerturbativeGenerator
from .registry import D_MASK_SEED, MethodSpec, register  # noqa: F401  (D_MASK_SEED re-exported)

PGAN = "Kishi et al. 2019, arXiv:1902.01514"
PNN = "Juefei-Xu et al. CVPR 2018, arXiv:1806.01817"
DCGAN = "Radford et al. 2016, arXiv:1511.06434"
TRAIN_DEFAULTS: dict[str, Any] = dict(lr_g=2e-4, lr_d=2e-4, betas_g=(0.5, 0.999), betas_d=(0.5, 0.999))


# Architecture versions (MethodSpec.arch_version, part of the run key when > 0). 1: the authors' Perturbative G and D
# (commit 80eae65: bare Linear input, no ReLU after a perturbation layer, their residual D; D's masks from seeds
# disjoint from G's, mask_seed and noise_level reaching the DCGAN perturbation builders). Every method whose G or
# D has perturbation layers or is a Perturbative model has version 1 (the -conv controls too, for uniformity).
PERT_ARCH_VERSION = 1


def _register(name: str, build_G: Any, build_D: Any, g_kwargs: dict, d_kwargs: dict, paper: str,
              description: str) -> None:
    pert = (build_G is PerturbativeGenerator or build_D is PerturbativeDiscriminator
            or g_kwargs.get("conv") == "perturb" or d_kwargs.get("conv") == "perturb")
    register(MethodSpec(name=name, build_G=build_G, build_D=build_D, g_kwargs=g_kwargs, d_kwargs=d_kwargs,
                        loss="ns", train_defaults=dict(TRAIN_DEFAULTS), description=description, paper=paper,
                        arch_version=PERT_ARCH_VERSION if pert else 0))


def _pert(level: float, mask_source: str = "stored_uniform") -> dict[str, Any]:
    return dict(level=level, mask_source=mask_source)


_CONV = dict(layer="conv3x3")   # the architecture control of the perturbative G or D
_DCGAN_D = dict(conv="conv")

_register("dcgan", DCGANGenerator, DCGANDiscriminator, dict(conv="conv"), dict(_DCGAN_D), DCGAN,
          "DCGAN baseline: transposed-conv G (8w at 4x4) + conv D (ends at 4w)")
_register("dcgan-pert-g", DCGANGenerator, DCGANDiscriminator, dict(conv="perturb"), dict(_DCGAN_D), PGAN,
          "DCGAN G with upsample + perturbation layers (same widths/depth) + conv D")
_register("dcgan-pert-gd", DCGANGenerator, DCGANDiscriminator, dict(conv="perturb"), dict(conv="perturb"), PGAN,
          "DCGAN G and D with perturbation layers (D keeps a real first conv)")
_register("pgan-g", PerturbativeGenerator, DCGANDiscriminator, _pert(0.1), dict(_DCGAN_D), PGAN,
          "perturbation in G only: the authors' Perturbative G (8w at 4x4, stored U(-1,1) masks, level 0.1) + DCGAN D")
_register("pgan-gd", PerturbativeGenerator, PerturbativeDiscriminator, _pert(0.1), _pert(0.1), PGAN + "; " + PNN,
          "perturbation in G and D: the authors' Perturbative G + their PNN-style residual D (ends at 4w)")
_register("pgan-g-nonoise", PerturbativeGenerator, DCGANDiscriminator, _pert(0.0), dict(_DCGAN_D), PGAN,
          "control (noise off): pgan-g with noise level 0 (1x1 convs + bilinear upsampling only)")
_register("pgan-gd-nonoise", PerturbativeGenerator, PerturbativeDiscriminator, _pert(0.0), _pert(0.0), PGAN,
          "control (noise off): pgan-gd with noise level 0 in G and D")
_register("pgan-g-conv", PerturbativeGenerator, DCGANDiscriminator, dict(_CONV), dict(_DCGAN_D), PGAN,
          "control (architecture): pgan-g's topology with a 3x3 conv (same widths, ReLU, BN) in place of every "
          "perturbation layer + DCGAN D")
_register("pgan-gd-conv", PerturbativeGenerator, PerturbativeDiscriminator, dict(_CONV), dict(_CONV), PGAN,
          "control (architecture): pgan-gd's G and D topologies with a 3x3 conv in place of every perturbation layer")
_register("pgan-g-lcg", PerturbativeGenerator, DCGANDiscriminator, _pert(0.1, "lcg"), dict(_DCGAN_D), PGAN,
          "pgan-g with algorithmic LCG masks (U[0,1], regenerated from seeds, not stored)")
_register("pgan-g-mt", PerturbativeGenerator, DCGANDiscriminator, _pert(0.1, "seeded_uniform"), dict(_DCGAN_D), PGAN,
          "pgan-g with seeded Mersenne-Twister U[0,1) masks (regenerated, not stored)")


# ---------------------------------------------------------------- Self-Sparse GAN (Qian et al. 2021)
# WGAN-GP with the DCGAN-like nets of Gulrajani et al. (BN in G, none in the critic), lambda 10, n_critic 5,
# Adam 1e-4 (0.5, 0.9): the base model of Self-Sparse GAN [A, settings not retrieved]. The same entry is the
# WGAN-GP of the TTUR notebook, where the learning rates, betas and n_critic are overridden per run.
WGAN_GP = "Gulrajani et al. 2017, arXiv:1704.00028"
SSGAN = "Qian et al. 2021, arXiv:2101.10556"
WGAN_DEFAULTS: dict[str, Any] = dict(lr_g=1e-4, lr_d=1e-4, betas_g=(0.5, 0.9), betas_d=(0.5, 0.9), n_critic=5)


def _register_wgan(name: str, g_kwargs: dict, paper: str, description: str) -> None:
    register(MethodSpec(name=name, build_G=DCGANGenerator, build_D=DCGANDiscriminator, g_kwargs=g_kwargs,
                        d_kwargs=dict(conv="conv", norm="none"), loss="wgan-gp", train_defaults=dict(WGAN_DEFAULTS),
                        description=description, paper=paper))


_register_wgan("wgan-gp", dict(conv="conv"), WGAN_GP,
               "WGAN-GP baseline: DCGAN G (BN) + critic without BN, lambda 10, n_critic 5, Adam 1e-4 (0.5, 0.9)")
_register_wgan("sastm", dict(conv="conv", sastm="mul"), SSGAN,
               "Self-Sparse GAN: wgan-gp with SASTM after every transposed conv of G (multiplicative recombination)")
_register_wgan("sastm-add", dict(conv="conv", sastm="add"), SSGAN,
               "ablation: SASTM with additive recombination F_c + F_s")


# ---------------------------------------------------------------- SNGAN ResNet family (PConv / NICE / MaskedGAN backbone)
# The CIFAR ResNet of Miyato et al. (G 4w, D 2w channels, spectral norm in D; pgan_core.models.resnet), hinge loss,
# Adam 2e-4 with betas (0.0, 0.9) for G and D and n_critic 5: the SNGAN CIFAR ResNet settings (Miyato et al. 2018,
# section 4 / official chainer configs; also Mimicry's SNGAN CIFAR-10 config) [R]. PConv's own settings were not
# retrieved; this backbone and loss are our choice [A], PConv kind 'dropout', rate 0.1 [A].
from .models.resnet import ResNetDiscriminator, ResNetGenerator  # noqa: E402

SNGAN = "Miyato et al. 2018, arXiv:1802.05957"
PCONV = "Park et al. 2021, arXiv:2101.10841"
SNGAN_DEFAULTS: dict[str, Any] = dict(lr_g=2e-4, lr_d=2e-4, betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), n_critic=5)


def _register_sngan(name: str, d_kwargs: dict, paper: str, description: str, **train: Any) -> None:
    register(MethodSpec(name=name, build_G=ResNetGenerator, build_D=ResNetDiscriminator, g_kwargs={},
                        d_kwargs=d_kwargs, loss="hinge", train_defaults={**SNGAN_DEFAULTS, **train},
                        description=description, paper=paper))


_register_sngan("sngan", dict(conv="conv"), SNGAN,
                "SNGAN ResNet baseline: ResNet G (4w, BN) + spectral-norm ResNet D (2w), hinge, n_critic 5")
_register_sngan("sngan-pconv", dict(conv="pconv", pconv_kind="dropout", pconv_rate=0.1), PCONV + "; " + SNGAN,
                "sngan with PConv (input dropout p 0.1) on every 3x3 conv of D except the first (RGB) one")


# NICE (NeurIPS 2023): adaptive noise in D's two deeper blocks (2 of 4, [A]), beta from the r_t controller (step 1e-3,
# eta 0.6, beta_max 1, EMA 0.9; [A] after the authors' CHAIN code), consistency weight gamma 5 [A: {1, 5, 10}].
# Run it with diffaugment='color,translation,cutout' for the papers' setting (NICE sits on top of DA/ADA [R]).
NICE = "Ni & Koniusz, NeurIPS 2023, openreview.net/forum?id=YFW6MVGVTn"
from .layers.nice import GAMMA as NICE_GAMMA  # noqa: E402

_register_sngan("sngan-nice", dict(conv="conv", nice=True, nice_gamma=NICE_GAMMA), NICE + "; " + SNGAN,
                "sngan + NICE: adaptive multiplicative noise N(1, beta^2) in D's deeper blocks, adaptive beta, "
                "consistency of two noisy passes (gamma 5) on real and generated images")
_register_sngan("sngan-nice-noise", dict(conv="conv", nice=True, nice_gamma=0.0), NICE + "; " + SNGAN,
                "ablation: sngan-nice without the consistency loss (adaptive noise only)")

# MaskedGAN (Huang et al. 2022): masking of every D input in the training loop (RunConfig.d_mask and d_mask_*; defaults
# P 4, rho 0.3, K 4 bands with 1 masked, energy-weighted, DC band kept, every image masked) [A, values not retrieved].
MASKEDGAN = "Huang et al., NeurIPS 2022, openreview.net/forum?id=js2ssA77fX"
_register_sngan("sngan-mask-spatial", dict(conv="conv"), MASKEDGAN + "; " + SNGAN,
                "sngan + MaskedGAN shifted spatial masking of D's inputs (P 4, ratio 0.3)", d_mask="spatial")
_register_sngan("sngan-mask-spectral", dict(conv="conv"), MASKEDGAN + "; " + SNGAN,
                "sngan + MaskedGAN balanced spectral masking of D's inputs (1 of 4 bands, DC band kept)",
                d_mask="spectral")
_register_sngan("sngan-mask-both", dict(conv="conv"), MASKEDGAN + "; " + SNGAN,
                "sngan + MaskedGAN: each D input spatially or spectrally masked (equal odds)", d_mask="spatial,spectral")
