"""Image disturbances for validating the FID (Heusel et al. 2017, TTUR, arXiv:1706.08500, Fig. 1 / App.).

TTUR checks that the FID rises monotonically as real images are increasingly disturbed: Gaussian
noise, Gaussian blur, implanted black rectangles, swirl, salt-and-pepper noise and contamination of
the data set with images of another data set. Each function here takes a uint8 batch
``(B, C, H, W)`` (any C, H, W; C = 1 or 3 in practice) and a ``level`` in [0, 1] and returns a
uint8 tensor of the same shape on the same device. ``level = 0`` returns an exact copy. Random
choices use a private CPU ``torch.Generator`` seeded by ``seed`` (never the global RNG), so the
result depends only on the inputs; the random draws do not depend on ``level``, so the disturbed
pixels (rectangles, salt-and-pepper pixels, contaminated rows) are nested as the level grows.

Deviations from TTUR (which used its own per-disturbance parameter grids, mostly via scikit-image):

* ``gaussian_noise``: TTUR mixes ``(1 - a) x + a N`` with a noise image N; here the noise is
  additive, ``x + level * 255 * z`` with z ~ N(0, 1), clamped to [0, 255] and rounded, so level 1
  (std 255) is very strong and each pixel's change grows with the level.
* ``gaussian_blur``: sigma = ``level * 4 * H / 32`` px (4 px at 32 px), kernel radius ceil(3 sigma)
  (capped at side - 1 for reflect padding), separable, reflect padding.
* ``black_rectangles``: ``round(5 * level)`` rectangles of size (H // 4, W // 4) (at least 1 px),
  random positions per image; TTUR also varied the size.
* ``swirl``: not scikit-image's exponential profile, but a compactly supported one: the output
  pixel at distance rho from the centre samples the input rotated by
  ``level * max_strength * (1 - rho / R)^2`` radians for rho < R = min(H, W) / 2 (identity
  outside), ``max_strength = 4``; bilinear ``grid_sample``.
* ``salt_and_pepper``: a fraction ``level * 0.5`` of pixel positions (all channels together) set to
  0 or 255 with equal probability.
* ``contaminate``: ``round(level * B)`` seeded rows of the batch replaced by the same rows of
  ``other`` (TTUR: ImageNet images mixed into CelebA).
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .errors import ConfigError, bad_param, check_choice, check_range

__all__ = ["gaussian_noise", "gaussian_blur", "black_rectangles", "swirl", "salt_and_pepper", "contaminate",
           "DISTURBANCES", "disturb", "BLUR_SIGMA_MAX_32", "MAX_RECTANGLES", "SWIRL_MAX_STRENGTH",
           "SALT_PEPPER_MAX_FRACTION"]

BLUR_SIGMA_MAX_32 = 4.0          # blur sigma (px) at level 1 for a 32-px image; scales with H
MAX_RECTANGLES = 5               # rectangles at level 1
SWIRL_MAX_STRENGTH = 4.0         # rotation (rad) at the centre at level 1
SALT_PEPPER_MAX_FRACTION = 0.5   # fraction of pixel positions hit at level 1


# ---------------------------------------------------------------- checks

def _check_x(x: Any, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 4:
        got = f"{type(x).__name__}" if not isinstance(x, torch.Tensor) else f"tensor {x.dtype} shape {tuple(x.shape)}"
        raise bad_param(name, got, "a torch.uint8 tensor of shape (B, C, H, W)")
    return x


def _check_level(level: Any) -> float:
    return check_range("level", level, 0.0, 1.0)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_param("seed", seed, "an integer >= 0")
    return seed


def _gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


def _to_uint8(y: torch.Tensor) -> torch.Tensor:
    return y.round().clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------- disturbances

def gaussian_noise(x: torch.Tensor, level: float, seed: int = 0) -> torch.Tensor:
    """``x + level * 255 * z``, z ~ N(0, 1) per element, clamped to [0, 255] and rounded."""
    x, level, seed = _check_x(x), _check_level(level), _check_seed(seed)
    if level == 0.0:
        return x.clone()
    z = torch.randn(x.shape, generator=_gen(seed)).to(x.device)  # (B, C, H, W)
    return _to_uint8(x.float() + (level * 255.0) * z)


def _gauss_kernel(sigma: float, size: int) -> torch.Tensor:
    """1-D normalised Gaussian, radius ceil(3 sigma) capped at size - 1 (reflect padding needs < size)."""
    radius = max(0, min(math.ceil(3.0 * sigma), size - 1))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, level: float) -> torch.Tensor:
    """Separable Gaussian blur, sigma = ``level * 4 * H / 32`` px, reflect padding."""
    x, level = _check_x(x), _check_level(level)
    if level == 0.0 or x.numel() == 0:
        return x.clone()
    b, c, h, w = x.shape
    sigma = level * BLUR_SIGMA_MAX_32 * h / 32.0
    y = x.float().reshape(b * c, 1, h, w)
    kh = _gauss_kernel(sigma, h).to(x.device)
    kw = _gauss_kernel(sigma, w).to(x.device)
    rh, rw = kh.numel() // 2, kw.numel() // 2
    if rh:
        y = F.conv2d(F.pad(y, (0, 0, rh, rh), mode="reflect"), kh.view(1, 1, -1, 1))
    if rw:
        y = F.conv2d(F.pad(y, (rw, rw, 0, 0), mode="reflect"), kw.view(1, 1, 1, -1))
    return _to_uint8(y.reshape(b, c, h, w))


def black_rectangles(x: torch.Tensor, level: float, seed: int = 0) -> torch.Tensor:
    """Set ``round(5 * level)`` rectangles of (H // 4, W // 4) px per image to 0, random positions."""
    x, level, seed = _check_x(x), _check_level(level), _check_seed(seed)
    out = x.clone()
    n = _round_half_up(level * MAX_RECTANGLES)
    if n == 0 or x.numel() == 0:
        return out
    b, _, h, w = x.shape
    rh, rw = max(1, h // 4), max(1, w // 4)
    g = _gen(seed)
    top = torch.randint(0, h - rh + 1, (b, MAX_RECTANGLES), generator=g)    # drawn for all 5: nested in level
    left = torch.randint(0, w - rw + 1, (b, MAX_RECTANGLES), generator=g)
    rows, cols = torch.arange(h).view(1, 1, h, 1), torch.arange(w).view(1, 1, 1, w)
    t, l_ = top[:, :n].view(b, n, 1, 1), left[:, :n].view(b, n, 1, 1)
    hit = ((rows >= t) & (rows < t + rh) & (cols >= l_) & (cols < l_ + rw)).any(dim=1)  # (B, H, W)
    out[hit.unsqueeze(1).expand_as(out).to(x.device)] = 0
    return out


def swirl(x: torch.Tensor, level: float) -> torch.Tensor:
    """Swirl around the centre: rotation ``level * 4 * (1 - rho / R)^2`` rad for rho < R = min(H, W) / 2."""
    x, level = _check_x(x), _check_level(level)
    if level == 0.0 or x.numel() == 0:
        return x.clone()
    b, c, h, w = x.shape
    radius = min(h, w) / 2.0
    yy = torch.arange(h, dtype=torch.float32).view(h, 1) - (h - 1) / 2.0   # pixel offsets from the centre
    xx = torch.arange(w, dtype=torch.float32).view(1, w) - (w - 1) / 2.0
    rho = torch.sqrt(xx * xx + yy * yy)                                     # (H, W)
    angle = level * SWIRL_MAX_STRENGTH * (1.0 - rho / radius).clamp_min(0.0) ** 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx = cos * xx - sin * yy + (w - 1) / 2.0                                # source pixel coordinates
    sy = sin * xx + cos * yy + (h - 1) / 2.0
    grid = torch.stack([(sx + 0.5) / w * 2 - 1, (sy + 0.5) / h * 2 - 1], dim=-1)  # (H, W, 2), align_corners=False
    grid = grid.unsqueeze(0).expand(b, h, w, 2).to(x.device)
    y = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return _to_uint8(y)


def salt_and_pepper(x: torch.Tensor, level: float, seed: int = 0) -> torch.Tensor:
    """A fraction ``level * 0.5`` of pixel positions (all channels) set to 0 or 255, equally likely."""
    x, level, seed = _check_x(x), _check_level(level), _check_seed(seed)
    out = x.clone()
    if level == 0.0 or x.numel() == 0:
        return out
    b, _, h, w = x.shape
    g = _gen(seed)
    u = torch.rand((b, 1, h, w), generator=g)                               # same draws at every level: nested
    salt = torch.rand((b, 1, h, w), generator=g) < 0.5
    hit = (u < level * SALT_PEPPER_MAX_FRACTION).to(x.device)
    value = torch.where(salt, 255, 0).to(torch.uint8).to(x.device)
    return torch.where(hit, value, out)


def contaminate(x: torch.Tensor, other: torch.Tensor, level: float, seed: int = 0) -> torch.Tensor:
    """Replace ``round(level * B)`` seeded rows of ``x`` by the same rows of ``other`` (same shape)."""
    x, level, seed = _check_x(x), _check_level(level), _check_seed(seed)
    other = _check_x(other, "other")
    if other.shape != x.shape:
        raise bad_param("other", f"shape {tuple(other.shape)}", f"the shape of x, {tuple(x.shape)}")
    out = x.clone()
    k = _round_half_up(level * x.shape[0])
    if k == 0:
        return out
    rows = torch.randperm(x.shape[0], generator=_gen(seed))[:k].to(x.device)  # prefix of one perm: nested
    out[rows] = other[rows].to(x.device)
    return out


DISTURBANCES: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "gaussian_blur": gaussian_blur,
    "black_rectangles": black_rectangles,
    "swirl": swirl,
    "salt_and_pepper": salt_and_pepper,
    "contaminate": contaminate,
}


def disturb(name: str, x: torch.Tensor, level: float, **kw: Any) -> torch.Tensor:
    """Apply ``DISTURBANCES[name](x, level=level, **kw)`` (``contaminate`` needs ``other=``)."""
    check_choice("name", name, DISTURBANCES)
    if name == "contaminate" and "other" not in kw:
        raise ConfigError("parameter 'other': required for disturbance 'contaminate' (uint8 tensor shaped like x)")
    fn = DISTURBANCES[name]
    allowed = [p for p in inspect.signature(fn).parameters if p not in ("x", "level")]
    for key in kw:
        if key not in allowed:
            raise bad_param(key, kw[key], f"keyword arguments of {name!r}: " + (", ".join(allowed) or "none"))
    return fn(x, level=level, **kw)
