r"""DiffAugment: differentiable colour, translation and cutout augmentation of D's real and fake inputs.

Reference: S. Zhao, Z. Liu, J. Lin, J.-Y. Zhu, S. Han. *Differentiable Augmentation for
Data-Efficient GAN Training.* NeurIPS 2020, arXiv:2006.10738 (code: mit-han-lab/data-efficient-gans).
Re-implemented here from the paper's description of the operations; no code was copied. NICE and
MaskedGAN run on top of it (Ni & Koniusz 2023; Huang et al. 2022).

Operations on x of shape (B, C, H, W), every random number drawn per image (u ~ U[0, 1)):

    'color'        brightness   x <- x + (u_1 - 0.5)
                   saturation   x <- (x - \bar x_c) \cdot 2 u_2 + \bar x_c      \bar x_c: mean over channels, per pixel
                   contrast     x <- (x - \bar x) (u_3 + 0.5) + \bar x           \bar x: mean over C, H, W
    'translation'  x[b, :, h, w] <- x[b, :, h - t_y, w - t_x], 0 outside the image,
                   t_y ~ U{-s_y .. s_y}, s_y = round(H / 8) (same for x with W): content moves by (+t_y, +t_x)
    'cutout'       zero the square of side c_y = round(H / 2) (c_x = round(W / 2)) whose top-left corner is
                   (o_y - c_y // 2, o_x - c_x // 2), o_y ~ U{0 .. H - (c_y mod 2)} (o_x likewise),
                   clipped to the image (so a square near the border is cut off by it)

(round(v) = floor(v + 0.5).) The policy string lists the groups to apply, in order, separated by
commas ("color,translation,cutout" for the BigGAN-CIFAR setting); "" is the identity.

How to use it (the paper's Algorithm): D only ever sees augmented images, real and fake, in
both the D and the G step: ``D(diff_augment(x_real))``, ``D(diff_augment(G(z)))``. Each call draws
its own transformations; the operations are differentiable w.r.t. x so G receives gradients through them.

Choices [A] (where the paper's text leaves a detail open we follow the reference behaviour as we
understand it, and say so): uniform ranges as above; translation pads with zeros (no reflection);
the cutout centre's range lets the square hang over every border by up to half its side.

Randomness: every draw comes from ``gen`` (drawn on its device, moved to x's), or from torch's
global generator when ``gen`` is None; a fixed generator gives the same augmentation on any device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import bad_param, check_choice, check_range

POLICIES = ("color", "translation", "cutout")
DEFAULT_POLICY = "color,translation,cutout"
TRANSLATION_RATIO = 0.125   # s = round(ratio * side): at most 1/8 of the image
CUTOUT_RATIO = 0.5          # c = round(ratio * side): a square of half the image side


# ---------------------------------------------------------------- random numbers

def _uniform(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """u ~ U[0, 1) per image: (B, 1, 1, 1), x's device and dtype."""
    dev = gen.device if gen is not None else x.device
    return torch.rand((x.shape[0], 1, 1, 1), generator=gen, device=dev, dtype=x.dtype).to(x.device)


def _randint(low: int, high: int, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Integers in [low, high) per image: (B,) long on x's device."""
    dev = gen.device if gen is not None else x.device
    return torch.randint(low, high, (x.shape[0],), generator=gen, device=dev).to(x.device)


def _round(v: float) -> int:
    return int(v + 0.5)


# ---------------------------------------------------------------- colour

def brightness(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    return x + (_uniform(x, gen) - 0.5)                                          # x + (u - 0.5)


def saturation(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)                                           # \bar x_c: (B, 1, H, W)
    return (x - mean) * (2.0 * _uniform(x, gen)) + mean


def contrast(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)                                   # \bar x: (B, 1, 1, 1)
    return (x - mean) * (_uniform(x, gen) + 0.5) + mean


def color(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Brightness, then saturation, then contrast."""
    return contrast(saturation(brightness(x, gen), gen), gen)


# ---------------------------------------------------------------- translation

def shift_images(x: torch.Tensor, ty: torch.Tensor, tx: torch.Tensor) -> torch.Tensor:
    """out[b, :, h, w] = x[b, :, h - ty[b], w - tx[b]], 0 where that lies outside; differentiable in x.

    x (B, C, H, W); ty, tx (B,) integer shifts with |ty| <= H, |tx| <= W.
    """
    B, C, H, W = x.shape
    s_y, s_x = int(ty.abs().max()), int(tx.abs().max())
    xp = F.pad(x, (s_x, s_x, s_y, s_y))                                          # zeros around: (B, C, H+2s_y, W+2s_x)
    rows = torch.arange(H, device=x.device)[None] + s_y - ty[:, None]           # source row in xp: (B, H)
    cols = torch.arange(W, device=x.device)[None] + s_x - tx[:, None]           # source col in xp: (B, W)
    bi = torch.arange(B, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]        # (B, H, W, C)
    return out.permute(0, 3, 1, 2)                                               # (B, C, H, W)


def translation(x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    H, W = x.shape[-2:]
    s_y, s_x = _round(H * ratio), _round(W * ratio)
    ty = _randint(-s_y, s_y + 1, x, gen)                                         # t_y ~ U{-s_y .. s_y}: (B,)
    tx = _randint(-s_x, s_x + 1, x, gen)                                         # t_x: (B,)
    return shift_images(x, ty, tx)


# ---------------------------------------------------------------- cutout

def cut_squares(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, c_y: int, c_x: int) -> torch.Tensor:
    """Zero rows [oy - c_y // 2, oy - c_y // 2 + c_y) x cols [ox - c_x // 2, ...) of each image, clipped."""
    H, W = x.shape[-2:]
    y0, x0 = (oy - c_y // 2)[:, None], (ox - c_x // 2)[:, None]                  # top-left corners: (B, 1)
    hh = torch.arange(H, device=x.device)[None]                                  # (1, H)
    ww = torch.arange(W, device=x.device)[None]                                  # (1, W)
    in_y = (hh >= y0) & (hh < y0 + c_y)                                          # (B, H)
    in_x = (ww >= x0) & (ww < x0 + c_x)                                          # (B, W)
    keep = ~(in_y[:, :, None] & in_x[:, None, :])                                # (B, H, W)
    return x * keep[:, None].to(x.dtype)                                         # (B, C, H, W)


def cutout(x: torch.Tensor, gen: torch.Generator | None = None, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    H, W = x.shape[-2:]
    c_y, c_x = _round(H * ratio), _round(W * ratio)
    oy = _randint(0, H + 1 - c_y % 2, x, gen)                                    # o_y ~ U{0 .. H - (c_y mod 2)}
    ox = _randint(0, W + 1 - c_x % 2, x, gen)
    return cut_squares(x, oy, ox, c_y, c_x)


# ---------------------------------------------------------------- policy

def parse_policy(policy: str) -> list[str]:
    """'color, translation' -> ['color', 'translation']; '' -> []; unknown names raise ConfigError."""
    if not isinstance(policy, str):
        raise bad_param("policy", policy, "a comma-separated string of " + ", ".join(repr(p) for p in POLICIES))
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        check_choice("policy", name, POLICIES)
    return names


def diff_augment(x: torch.Tensor, policy: str = DEFAULT_POLICY, gen: torch.Generator | None = None, *,
                 translation_ratio: float = TRANSLATION_RATIO, cutout_ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Apply the policy's operations in order to x (B, C, H, W); same shape; differentiable in x.

    Args:
      policy: comma-separated names from ``POLICIES``; "" returns x unchanged (the same tensor).
      gen: the generator of every draw, or None for torch's global generator.
      translation_ratio: maximum shift as a fraction of each side, in (0, 1].
      cutout_ratio: side of the cutout square as a fraction of each side, in (0, 1].
    """
    names = parse_policy(policy)
    check_range("translation_ratio", translation_ratio, 0.0, 1.0, lo_open=True)
    check_range("cutout_ratio", cutout_ratio, 0.0, 1.0, lo_open=True)
    if gen is not None and not isinstance(gen, torch.Generator):
        raise bad_param("gen", type(gen).__name__, "a torch.Generator or None")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise bad_param("x", shape, "a (B, C, H, W) tensor")
    for name in names:
        if name == "color":
            x = color(x, gen)
        elif name == "translation":
            x = translation(x, gen, translation_ratio)
        else:
            x = cutout(x, gen, cutout_ratio)
    return x
