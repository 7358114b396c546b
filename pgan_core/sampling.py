"""Per-index seeded latents and generated image batches (EDM's convention).

Latent ``i`` of an evaluation is drawn from its own generator seeded with ``(seed, i)``, so image
#123 is the same whatever the batch size or device, and metrics are reproducible.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .data import to_uint8


def latents(indices: range | list[int], z_dim: int, seed: int) -> torch.Tensor:
    """(len(indices), z_dim) standard normal latents, one seeded generator per index."""
    out = torch.empty(len(indices), z_dim)
    g = torch.Generator()
    for row, i in enumerate(indices):
        g.manual_seed(seed * 1_000_003 + int(i))
        out[row] = torch.randn(z_dim, generator=g)
    return out                                                # (N, z_dim)


@torch.no_grad()
def generate(G: nn.Module, n: int, *, seed: int, batch_size: int = 256, start: int = 0,
             device: str | torch.device = "cpu") -> torch.Tensor:
    """n generated images as uint8 (n, C, H, W) from latents start..start+n-1, G in eval mode."""
    was_training = G.training
    G.eval()
    chunks = []
    try:
        for lo in range(start, start + n, batch_size):
            idx = range(lo, min(lo + batch_size, start + n))
            z = latents(idx, G.z_dim, seed).to(device)
            chunks.append(to_uint8(G(z).float()).cpu())
    finally:
        G.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, dtype=torch.uint8)
