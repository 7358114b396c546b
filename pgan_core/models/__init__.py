"""Generators and discriminators at 32x32: DCGAN (conv or perturbation layers) and Perturbative GAN / PNN.

Notebooks never import these directly; they go through :func:`pgan_core.registry.build_models`.
"""
from __future__ import annotations

from .dcgan import DCGANDiscriminator, DCGANGenerator, weights_init
from .perturbative import PerturbativeDiscriminator, PerturbativeGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "PerturbativeDiscriminator", "PerturbativeGenerator",
           "weights_init"]
