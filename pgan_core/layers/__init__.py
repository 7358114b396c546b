"""Layers of pgan_core: the perturbation layer (PNN / Perturbative GAN) and its LCG mask generator."""
from __future__ import annotations

from .lcg import lcg_states, lcg_uniform
from .perturbation import ACTIVATIONS, MASK_SOURCES, PerturbationLayer, make_mask

__all__ = ["ACTIVATIONS", "MASK_SOURCES", "PerturbationLayer", "lcg_states", "lcg_uniform", "make_mask"]
