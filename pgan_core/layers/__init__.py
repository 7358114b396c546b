"""Layers of pgan_core: the perturbation layer (PNN / Perturbative GAN) and its LCG mask generator, and the
self-adaptive sparse transform module (Self-Sparse GAN)."""
from __future__ import annotations

from .lcg import lcg_states, lcg_uniform
from .perturbation import ACTIVATIONS, MASK_SOURCES, PerturbationLayer, make_mask
from .sastm import RECOMBINE_RULES, SASTM

__all__ = ["ACTIVATIONS", "MASK_SOURCES", "PerturbationLayer", "RECOMBINE_RULES", "SASTM", "lcg_states", "lcg_uniform",
           "make_mask"]
