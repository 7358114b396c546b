"""A run's generator input, per-index seeded latents and generated image batches (EDM's convention).

Latent ``i`` of an evaluation is drawn from its own generator seeded with ``(seed, i)``, so image
#123 is the same whatever the batch size or device, and metrics are reproducible. Generators fed
with images (Spider GAN) pass their input object (:mod:`pgan_core.inputs`, from :func:`make_input`) as
``inputs``; a cascading Spider input is generated here from a finished run's snapshot.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn as nn

from .checkpoint import load_snapshot_generator
from .config import DATASET_NAMES, RunConfig
from .data import load_dataset, to_uint8
from .errors import ConfigError, check_choice
from .inputs import CASCADE_POOL, CASCADE_SEED, GaussianInput, ImageInput, images_to_inputs
from .io import in_runs


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


def source_images(g_input: str, *, snapshot: str | None = None, n: int | None = None,
                  pool: int | None = None) -> torch.Tensor:
    """uint8 source images of a Spider input: a dataset's train split (first ``n`` when given) or
    ``pool`` (default :data:`pgan_core.inputs.CASCADE_POOL`) images of the generator stored in ``snapshot`` (cascading;
    a relative path is read from the runs root, as configs store it)."""
    check_choice("g_input", g_input, ("generator",) + DATASET_NAMES)
    if g_input == "generator":
        path = in_runs(snapshot) if snapshot is not None else None
        if path is None or not path.is_file():
            raise ConfigError(f"parameter 'g_input_snapshot': got {snapshot!r}, no such file; allowed: the path of a "
                              "finished run's snapshot.pt (train the source generator first)")
        G, cfg = load_snapshot_generator(path)
        if cfg.get("g_input", "gaussian") != "gaussian":
            raise ConfigError(f"parameter 'g_input_snapshot': {snapshot} was trained on g_input="
                              f"{cfg['g_input']!r}; allowed: a generator with Gaussian input")
        return generate(G, n or pool or CASCADE_POOL, seed=CASCADE_SEED)
    images = load_dataset(g_input, "train").images
    return images if n is None else images[:n]


def make_input(cfg: Any) -> GaussianInput | ImageInput:
    """The generator input of a RunConfig (or its dict)."""
    if isinstance(cfg, dict):
        cfg = RunConfig.from_params(cfg)
    if cfg.g_input == "gaussian":
        return GaussianInput(cfg.z_dim)
    stamp = None
    path = in_runs(cfg.g_input_snapshot) if cfg.g_input == "generator" else None
    if path is not None and path.is_file():
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)                  # a rewritten snapshot is not served from the cache
    table = _input_table(cfg.g_input, cfg.g_input_res, cfg.g_input_snapshot, stamp, CASCADE_POOL)
    return ImageInput(table, res=cfg.g_input_res, noise=cfg.g_input_noise, source=cfg.g_input)


@functools.lru_cache(maxsize=8)
def _input_table(g_input: str, res: int, snapshot: str | None, stamp: Any, pool: int) -> torch.Tensor:
    """(N, res^2) inputs of a source, cached per process (runs of a grid share it; never modified)."""
    return images_to_inputs(source_images(g_input, snapshot=snapshot, pool=pool), res)
