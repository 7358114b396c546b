"""Generators and discriminators at 32x32: DCGAN (conv or perturbation layers), Perturbative GAN / PNN, and the
SNGAN ResNet (optionally with PConv in D). The generator inputs (Gaussian or images) are :mod:`pgan_core.inputs`.

Notebooks never import these directly; they go through :func:`pgan_core.registry.build_models`.
"""
from __future__ import annotations

from .dcgan import DCGANDiscriminator, DCGANGenerator, weights_init
from .perturbative import PerturbativeDiscriminator, PerturbativeGenerator
from .resnet import ResNetDiscriminator, ResNetGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "PerturbativeDiscriminator", "PerturbativeGenerator",
           "ResNetDiscriminator", "ResNetGenerator", "weights_init"]
