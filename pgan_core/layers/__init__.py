"""Layers of pgan_core: the perturbation layer (PNN / Perturbative GAN) and its LCG mask generator, the
self-adaptive sparse transform module (Self-Sparse GAN), and the discriminator-side blocks of PConv (perturbed
convolution), NICE (adaptive multiplicative noise + consistency) and MaskedGAN (spatial / spectral masking)."""
from __future__ import annotations

from .lcg import lcg_states, lcg_uniform
from .perturbation import ACTIVATIONS, MASK_SOURCES, PerturbationLayer, make_mask
from .masking import spatial_mask, spectral_mask
from .nice import AdaptiveNoise, BetaController, consistency_loss
from .pconv import PERTURB_KINDS, PConv2d
from .sastm import RECOMBINE_RULES, SASTM

__all__ = ["ACTIVATIONS", "MASK_SOURCES", "PERTURB_KINDS", "AdaptiveNoise", "BetaController", "PConv2d",
           "PerturbationLayer", "RECOMBINE_RULES", "SASTM", "consistency_loss", "lcg_states", "lcg_uniform", "make_mask",
           "spatial_mask", "spectral_mask"]
