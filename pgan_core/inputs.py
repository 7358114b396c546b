"""Generator input sources: Gaussian latents, or images of a source dataset (Spider GAN). The input of a run
(:func:`pgan_core.sampling.make_input`) is one of these.

Spider GAN (S. Asokan, C. S. Seelamantula, *Spider GAN: Leveraging Friendly Neighbors to
Accelerate GAN Training*, CVPR 2023, arXiv:2305.07613) feeds the generator images of another
("friendly") dataset instead of Gaussian noise, without any pairing between input and target
images. The DCGAN variant of the paper was not released; this adapts the authors' SpiderStyleGAN input transform [A]:

    u = flatten( resize_{r x r}( gray(x_src) ) ) + sigma * n,   x_src ~ source set, n ~ N(0, I)
    gray(x) = mean over RGB channels of x in [-1, 1];  resize = bilinear with antialiasing
    G(u) replaces G(z);  u in R^{r^2}  (r = g_input_res, default 10 -> 100-d, DCGAN's z size)

Cascading Spider GAN uses the outputs of a trained generator as the source set
(``g_input='generator'``): a pool of :data:`CASCADE_POOL` images is generated once from the
snapshot's EMA generator (fixed seed) and then treated like a dataset.

Every input object has ``dim`` and two ways to draw:

* ``draw(batch, gen)``: a training batch from a per-iteration ``torch.Generator`` (reproducible);
* ``at(indices, seed)``: evaluation inputs, input ``i`` from its own generator seeded by
  ``(seed, i)`` (the same image #i whatever the batch size, as :func:`pgan_core.sampling.latents`).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .errors import bad_param, check_positive

CASCADE_POOL = 10_000          # images generated from a snapshot for cascading
CASCADE_SEED = 7               # per-index seed of that pool (independent of the run's seed)


def _index_generator(seed: int, i: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + int(i))


def images_to_inputs(images_uint8: torch.Tensor, res: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> (N, res * res) float inputs in [-1, 1]: gray, resize, flatten."""
    if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
        raise bad_param("images", getattr(images_uint8, "shape", type(images_uint8).__name__),
                        "a uint8 tensor (N, C, H, W)")
    check_positive("res", res, integer=True)
    out = []
    for lo in range(0, images_uint8.shape[0], 8192):          # chunks keep peak memory small
        x = images_uint8[lo:lo + 8192].float().div_(127.5).sub_(1.0)  # (n, C, H, W) in [-1, 1]
        x = x.mean(dim=1, keepdim=True)                                # (n, 1, H, W) grayscale
        x = F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False, antialias=True)
        out.append(x.flatten(1))                                       # (n, res * res)
    return torch.cat(out) if out else torch.empty(0, res * res)


def inputs_to_images(u: torch.Tensor, res: int, size: int = 32) -> torch.Tensor:
    """(N, res * res) inputs -> uint8 (N, 1, size, size) pictures (bilinear, clamped to [-1, 1]):
    what G is fed, viewed as an image (for plots and for the signed inception distance)."""
    if u.ndim != 2 or u.shape[1] != res * res:
        raise bad_param("u", tuple(u.shape), f"a (N, {res * res}) tensor for res={res}")
    x = u.view(-1, 1, res, res).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)  # (N, 1, size, size)
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class GaussianInput:
    """z ~ N(0, I_dim): the standard GAN input."""

    kind = "gaussian"

    def __init__(self, dim: int) -> None:
        self.dim = int(check_positive("z_dim", dim, integer=True))

    def draw(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """(batch, dim) on ``gen``'s device (a CUDA generator draws on the GPU: no host-to-device copy)."""
        return torch.randn(batch, self.dim, generator=gen, device=gen.device)   # (batch, dim)

    def at(self, indices: Sequence[int], seed: int) -> torch.Tensor:
        out = torch.empty(len(indices), self.dim)
        for row, i in enumerate(indices):
            out[row] = torch.randn(self.dim, generator=_index_generator(seed, i))
        return out                                                     # (N, dim)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "dim": self.dim}


class ImageInput:
    """Spider GAN input: a random source image (gray, res x res, flattened) plus optional noise."""

    kind = "images"

    def __init__(self, table: torch.Tensor, *, res: int, noise: float = 0.0, source: str = "") -> None:
        if table.ndim != 2 or table.shape[1] != res * res or table.shape[0] < 1:
            raise bad_param("table", tuple(table.shape), f"a non-empty (N, {res * res}) tensor")
        self.table = table.contiguous()                                # (N, res * res)
        self.res, self.dim = int(res), int(res * res)
        self.noise = float(check_positive("g_input_noise", noise, allow_zero=True))
        self.source = source
        self._device_tables: dict[str, torch.Tensor] = {}              # copies of the table on other devices

    def draw(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """(batch, dim) on ``gen``'s device (the table is copied there once)."""
        table = self._table_on(gen.device)
        idx = torch.randint(table.shape[0], (batch,), generator=gen, device=gen.device)
        u = table[idx]                                                 # (batch, dim)
        if self.noise > 0:
            u = u + self.noise * torch.randn(batch, self.dim, generator=gen, device=gen.device)
        return u

    def _table_on(self, device: torch.device) -> torch.Tensor:
        if self.table.device != device:
            cached = self._device_tables.get(str(device))
            if cached is None:
                cached = self._device_tables[str(device)] = self.table.to(device)
            return cached
        return self.table

    def at(self, indices: Sequence[int], seed: int) -> torch.Tensor:
        out = torch.empty(len(indices), self.dim)
        n = self.table.shape[0]
        for row, i in enumerate(indices):
            g = _index_generator(seed, i)
            out[row] = self.table[int(torch.randint(n, (1,), generator=g))]
            if self.noise > 0:
                out[row] += self.noise * torch.randn(self.dim, generator=g)
        return out                                                     # (N, dim)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "dim": self.dim, "res": self.res, "noise": self.noise,
                "pool": int(self.table.shape[0])}
