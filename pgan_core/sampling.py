"""Per-index seeded latents and generated image batches (EDM's convention).

Latent ``i`` of an evaluation is drawn from its own generator seeded with ``(seed, i)``, so image
#123 is the same whatever the batch size or device, and metrics are reproducible. Generators fed
with images (Spider GAN) pass their input object (:mod:`pgan_core.models.spider`) as ``inputs``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .data import to_uint8
from .models.spider import GaussianInput, ImageInput


def latents(indices: range | list[int], z_dim: int, seed: int) -> torch.Tensor:
    """(len(indices), z_dim) standard normal latents, one seeded generator per index."""
    return GaussianInput(z_dim).at(indices, seed)             # (N, z_dim)


@torch.no_grad()
def generate(G: nn.Module, n: int, *, seed: int, batch_size: int = 256, start: int = 0,
             device: str | torch.device = "cpu", inputs: GaussianInput | ImageInput | None = None) -> torch.Tensor:
    """n generated images as uint8 (n, C, H, W) from inputs start..start+n-1, G in eval mode.
    ``inputs`` defaults to Gaussian latents of size ``G.z_dim``."""
    inputs = inputs if inputs is not None else GaussianInput(G.z_dim)
    was_training = G.training
    G.eval()
    chunks = []
    try:
        for lo in range(start, start + n, batch_size):
            idx = range(lo, min(lo + batch_size, start + n))
            z = inputs.at(idx, seed).to(device)
            chunks.append(to_uint8(G(z).float()).cpu())
    finally:
        G.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, dtype=torch.uint8)
