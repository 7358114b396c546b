r"""MaskedGAN: shifted spatial patch masking and balanced spectral band masking of D's inputs.

Reference: J. Huang, K. Cui, D. Guan, A. Xiao, F. Zhan, S. Lu, S. Liao, E. Xing. *Masked Generative
Adversarial Networks are Data-Efficient Generation Learners.* NeurIPS 2022,
https://openreview.net/forum?id=js2ssA77fX . No official code was found.

What is verified [V] (abstract and supplement): images are masked "in the spatial dimensions with random
shifts" and "certain image spectral bands" are masked "with self-adaptive probabilities", real and
fake D inputs alike. **The exact masks were not retrieved**; this module implements our
proposal [A]. For x of shape (B, C, H, W), every image gets its own mask, shared by its C channels.

Shifted spatial masking (:func:`spatial_mask`), patch size P, ratio rho in (0, 1)::

    (dy, dx) ~ U{0 .. P-1}^2 per image (0 when shift=False)
    cells of a P x P grid whose origin is moved to (dy, dx); n_cells cells in the image
    k = floor(rho * n_cells)  cells, chosen uniformly without replacement, are set to 0
    x_masked = x \odot M_spatial

  Rounding rule: k = floor(rho * n_cells + 1e-9) (the 1e-9 absorbs float error, e.g. 0.29 * 100).
  Grid at the image border (``grid``):

  * ``'wrap'`` (default, *ours* [A]): the shifted grid wraps around (a cell cut by the border
    continues on the opposite side, as ``torch.roll`` of the unshifted grid would), so every cell
    has P x P pixels and, when P divides H and W, exactly k * P^2 pixels = floor(rho * HW / P^2) * P^2
    are masked whatever the shift, and every pixel is masked with the same probability.
  * ``'clip'`` (the plain shifted grid [A]): cells partly outside the image are clipped, so with a
    non-zero shift there are ceil((H - dy) / P) + 1 rows of cells (9 for H = 32, P = 4), the border
    cells are smaller and the masked pixel fraction varies with the shift; k is floor(rho * n_cells)
    of that image's cells.

Balanced spectral masking (:func:`spectral_mask`), K = ``n_bands`` bands, m = ``n_masked``::

    X_f   = FFT2(x) per channel (unshifted layout; frequencies f_y, f_x from ``fftfreq``)
    r     = sqrt(f_y^2 + f_x^2) / max r   in [0, 1];    band(u, v) = min(floor(K r), K - 1)
    choose m of the K bands per image, without replacement, with probabilities p_k
    x_masked = Re( IFFT2( X_f \odot M_spectral ) ),   M_spectral = 0 on the chosen bands, 1 elsewhere

  ``balanced=True`` (default [A]): p_k proportional to band k's share of the image's
  spectral energy sum_{c, (u,v) in band k} |X_f|^2 (the "self-adaptive" probabilities; a floor of
  1e-6 keeps every band possible), drawn with ``torch.multinomial``; ``balanced=False``: uniform p_k.
  *Ours* [A]: a fixed number m of bands per image instead of independent Bernoulli(p_k) draws, so
  the amount masked is controlled. Because |f| and |-f| fall in the same band, M_spectral is
  Hermitian-symmetric and the inverse FFT of the masked spectrum of a real image is real: taking
  the real part discards only float round-off.

  ``keep_dc=True`` (default, *ours* [A]): band 0, which holds the DC term (the image's mean colour)
  and the lowest frequencies, is never masked (p_0 = 0; the m bands are drawn among bands 1 .. K-1).
  Natural images hold most of their energy in band 0, so without this the energy-weighted rule
  masks it almost always (an all-but-blank D input, not a "masked" image); ``keep_dc=False`` gives
  the plain energy-weighted rule (band 0 included).

In the training loop (:class:`DInputMask`) [A]: every D input image, real
or fake, in the D and the G step, is masked with probability ``prob`` (q_0 = 1 - prob) and left
intact otherwise; when both kinds are on, a masked image gets spatial or spectral masking with
equal probability (q_s = q_f = prob / 2) [A: the paper's odds were not retrieved]. One u ~ U[0, 1) per image
picks its case. With DiffAugment also on, the loop masks the *augmented* images:
D(mask(augment(x))).

Randomness: every draw comes from ``gen`` (a ``torch.Generator``; masks are drawn on its device and
moved to x's), or from torch's global generator when ``gen`` is None, so a fixed generator gives the
same masks on any device. :func:`mask_visual` returns the masks themselves; with a generator in
the same state it returns exactly the masks the masking functions apply.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..errors import bad_param, check_choice, check_positive, check_range

GRID_MODES = ("wrap", "clip")
MASK_KINDS = ("spatial", "spectral")
_ROUND_EPS = 1e-9        # k = floor(rho * n_cells + eps)
_BAND_FLOOR = 1e-6       # minimum band probability in balanced spectral masking


# ---------------------------------------------------------------- helpers

def _check_images(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise bad_param("x", shape, "a (B, C, H, W) tensor")
    return x


def _check_gen(gen) -> None:
    if gen is not None and not isinstance(gen, torch.Generator):
        raise bad_param("gen", type(gen).__name__, "a torch.Generator or None")


def _draw_device(gen: torch.Generator | None, device: torch.device) -> torch.device:
    return gen.device if gen is not None else device


# ---------------------------------------------------------------- spatial

def spatial_keep_mask(batch: int, height: int, width: int, ratio: float, patch: int, gen: torch.Generator | None = None,
                      shift: bool = True, *, grid: str = "wrap", device=None) -> torch.Tensor:
    """M_spatial of shape (B, 1, H, W), float 0/1 (0 = masked); see the module docstring."""
    check_positive("batch", batch, integer=True)
    check_positive("height", height, integer=True)
    check_positive("width", width, integer=True)
    check_range("ratio", ratio, 0.0, 1.0, lo_open=True, hi_open=True)
    check_positive("patch", patch, integer=True)
    if patch > min(height, width):
        raise bad_param("patch", patch, f"an integer in [1, {min(height, width)}] (at most the image side)")
    check_choice("grid", grid, GRID_MODES)
    _check_gen(gen)
    device = torch.device("cpu") if device is None else torch.device(device)
    dd = _draw_device(gen, device)
    B, H, W, P = batch, height, width, patch
    if shift:
        dy = torch.randint(0, P, (B,), generator=gen, device=dd).to(device)     # (B,)
        dx = torch.randint(0, P, (B,), generator=gen, device=dd).to(device)     # (B,)
    else:
        dy = dx = torch.zeros(B, dtype=torch.long, device=device)
    hh = torch.arange(H, device=device)[None]                                   # (1, H)
    ww = torch.arange(W, device=device)[None]                                   # (1, W)
    if grid == "wrap":
        rows = ((hh - dy[:, None]) % H) // P                                    # cell row of each pixel: (B, H)
        cols = ((ww - dx[:, None]) % W) // P                                    # (B, W)
        n_h = torch.full((B,), math.ceil(H / P), device=device)
        n_w = torch.full((B,), math.ceil(W / P), device=device)
        g_h, g_w = math.ceil(H / P), math.ceil(W / P)
    else:                                                                        # clip: cells cut by the border
        off_y, off_x = (P - dy) % P, (P - dx) % P                               # (B,)
        rows = (hh + off_y[:, None]) // P                                       # (B, H)
        cols = (ww + off_x[:, None]) // P                                       # (B, W)
        n_h = (H - 1 + off_y) // P + 1                                          # cells per column of each image
        n_w = (W - 1 + off_x) // P + 1
        g_h, g_w = (H + P - 2) // P + 1, (W + P - 2) // P + 1                   # the most cells any shift gives
    u = torch.rand((B, g_h, g_w), generator=gen, device=dd).to(device)          # cell scores: (B, g_h, g_w)
    valid = (torch.arange(g_h, device=device)[None, :, None] < n_h[:, None, None]) & \
            (torch.arange(g_w, device=device)[None, None, :] < n_w[:, None, None])
    u = torch.where(valid, u, torch.full_like(u, 2.0)).view(B, -1)              # invalid cells rank last
    rank = u.argsort(dim=1).argsort(dim=1)                                      # rank of each cell: (B, g_h * g_w)
    k = torch.floor(ratio * (n_h * n_w).double() + _ROUND_EPS).long()           # k = floor(rho n_cells): (B,)
    masked = (rank < k[:, None]).view(B, g_h, g_w)                              # masked cells: (B, g_h, g_w)
    bi = torch.arange(B, device=device)[:, None, None]
    masked_px = masked[bi, rows[:, :, None], cols[:, None, :]]                  # (B, H, W)
    return (~masked_px).float()[:, None]                                        # (B, 1, H, W)


def spatial_mask(x: torch.Tensor, ratio: float, patch: int, gen: torch.Generator | None = None, shift: bool = True,
                 *, grid: str = "wrap") -> torch.Tensor:
    """x * M_spatial: a fraction ``ratio`` of each image's patch cells zeroed; x (B, C, H, W) -> same shape.

    Args:
      ratio: rho in (0, 1); k = floor(rho * n_cells + 1e-9) cells are masked per image.
      patch: P, the side of a cell in pixels, 1 <= P <= min(H, W).
      gen: the generator of every draw (or None: torch's global generator).
      shift: draw a random grid offset (dy, dx) in {0..P-1}^2 per image.
      grid: 'wrap' (equal cells, exact pixel ratio) or 'clip' (cells cut by the border).
    """
    B, _, H, W = _check_images(x).shape
    keep = spatial_keep_mask(B, H, W, ratio, patch, gen, shift, grid=grid, device=x.device)
    return x * keep.to(x.dtype)                                                 # (B, C, H, W)


# ---------------------------------------------------------------- spectral

def band_index(height: int, width: int, n_bands: int, device=None) -> torch.Tensor:
    """Radial band of every FFT2 coefficient, (H, W) long in [0, K), in the unshifted (``fft2``) layout."""
    fy = torch.fft.fftfreq(height, device=device)                               # (H,)
    fx = torch.fft.fftfreq(width, device=device)                                # (W,)
    r = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)                         # |f|: (H, W)
    r = r / r.max().clamp_min(1e-12)                                            # r in [0, 1]
    return torch.clamp(torch.floor(r * n_bands).long(), max=n_bands - 1)        # band(u, v)


def _check_spectral(n_bands: int, n_masked: int) -> None:
    check_positive("n_bands", n_bands, integer=True)
    if n_bands < 2:
        raise bad_param("n_bands", n_bands, "an integer >= 2")
    if isinstance(n_masked, bool) or not isinstance(n_masked, int) or not 1 <= n_masked < n_bands:
        raise bad_param("n_masked", n_masked, f"an integer in [1, {n_bands - 1}] (fewer than n_bands)")


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise bad_param(name, value, "True or False")
    return value


def _spectral_keep(x: torch.Tensor, xf: torch.Tensor, n_bands: int, n_masked: int, gen, balanced: bool,
                   keep_dc: bool = True) -> torch.Tensor:
    """M_spectral (B, 1, H, W), float 0/1, unshifted layout, for the spectrum xf of x."""
    B, _, H, W = x.shape
    band = band_index(H, W, n_bands, device=x.device).view(-1)                  # (H*W,)
    if balanced:
        with torch.no_grad():
            power = (xf.real ** 2 + xf.imag ** 2).sum(1).view(B, -1).double()   # |X_f|^2 over channels: (B, H*W)
            energy = torch.zeros(B, n_bands, dtype=power.dtype, device=x.device)
            energy.index_add_(1, band, power)                                   # per band: (B, K)
            p = energy / energy.sum(1, keepdim=True).clamp_min(1e-30) + _BAND_FLOOR
    else:
        p = torch.ones(B, n_bands, dtype=torch.float64, device=x.device)        # uniform p_k
    if keep_dc:
        p[:, 0] = 0.0                                                           # band 0 (DC) never drawn
    dd = _draw_device(gen, x.device)
    chosen = torch.multinomial(p.to(dd), n_masked, replacement=False, generator=gen).to(x.device)  # (B, m)
    masked_bands = torch.zeros(B, n_bands, dtype=torch.bool, device=x.device)
    masked_bands.scatter_(1, chosen, True)                                      # (B, K)
    masked = masked_bands[:, band]                                              # (B, H*W)
    return (~masked).float().view(B, 1, H, W)


def spectral_mask(x: torch.Tensor, n_bands: int, n_masked: int, gen: torch.Generator | None = None,
                  balanced: bool = True, *, keep_dc: bool = True) -> torch.Tensor:
    """Re(IFFT2(FFT2(x) * M_spectral)): ``n_masked`` of ``n_bands`` radial bands zeroed per image.

    Args:
      n_bands: K >= 2 equal-width radial bands of the normalised frequency radius.
      n_masked: m in [1, K - 1] bands masked per image.
      gen: the generator of every draw (or None: torch's global generator).
      balanced: band probabilities proportional to the image's energy per band (True) or uniform.
      keep_dc: never mask band 0 (the DC term and lowest frequencies); the m bands come from 1 .. K-1.

    x (B, C, H, W), float32/float64 -> same shape and dtype; differentiable w.r.t. x.
    """
    _check_images(x)
    _check_spectral(n_bands, n_masked)
    _check_gen(gen)
    _check_bool("keep_dc", keep_dc)
    xf = torch.fft.fft2(x)                                                      # X_f: (B, C, H, W) complex
    keep = _spectral_keep(x, xf, n_bands, n_masked, gen, balanced, keep_dc)    # (B, 1, H, W)
    return torch.fft.ifft2(xf * keep).real.to(x.dtype)                          # (B, C, H, W)


# ---------------------------------------------------------------- masks for plotting

def mask_visual(x: torch.Tensor, kind: str = "spatial", gen: torch.Generator | None = None, **params) -> torch.Tensor:
    """The masks themselves, (B, 1, H, W) float 0/1 (1 = kept), for plotting.

    ``kind='spatial'``: M_spatial in pixel space; ``params`` are :func:`spatial_mask`'s (ratio, patch,
    shift, grid). ``kind='spectral'``: M_spectral ``fftshift``-ed so the zero frequency is at the
    centre (index (H//2, W//2)); ``params`` are :func:`spectral_mask`'s (n_bands, n_masked, balanced,
    keep_dc). With ``gen`` in the same state, the masks equal those the masking function applies to ``x``.
    """
    check_choice("kind", kind, MASK_KINDS)
    B, _, H, W = _check_images(x).shape
    if kind == "spatial":
        return spatial_keep_mask(B, H, W, gen=gen, device=x.device, **params)
    params = dict(params)
    n_bands, n_masked = params.pop("n_bands", None), params.pop("n_masked", None)
    balanced = params.pop("balanced", True)
    keep_dc = _check_bool("keep_dc", params.pop("keep_dc", True))
    if params:
        raise bad_param("params", sorted(params), "n_bands, n_masked, balanced, keep_dc for kind='spectral'")
    _check_spectral(n_bands, n_masked)
    _check_gen(gen)
    keep = _spectral_keep(x, torch.fft.fft2(x), n_bands, n_masked, gen, balanced, keep_dc)
    return torch.fft.fftshift(keep, dim=(-2, -1))


# ---------------------------------------------------------------- D inputs in the training loop

class DInputMask(nn.Module):
    """MaskedGAN masking of D's inputs: each image masked with probability ``prob`` by one of ``kinds``.

    Args:
      kinds: a non-empty tuple of distinct ``MASK_KINDS`` ('spatial', 'spectral').
      prob: probability in (0, 1] that an image is masked; with two kinds each gets prob / 2.
      ratio, patch, grid: :func:`spatial_mask`'s rho, P and grid mode.
      n_bands, n_masked, balanced, keep_dc: :func:`spectral_mask`'s K, m, band rule and DC rule.

    x (B, C, H, W) -> same shape; differentiable w.r.t. x (G gets gradients through the masked D).
    Every draw comes from torch's global generator (the training loop seeds it per iteration). Has no
    parameters and acts in train and eval mode alike (it is a transform of the inputs, like DiffAugment);
    the loop applies it only to the D inputs of the losses, never to probes or metrics.
    """

    def __init__(self, kinds: tuple[str, ...] = ("spatial",), prob: float = 1.0, *, ratio: float = 0.3,
                 patch: int = 4, grid: str = "wrap", n_bands: int = 4, n_masked: int = 1, balanced: bool = True,
                 keep_dc: bool = True) -> None:
        super().__init__()
        if isinstance(kinds, str) or not isinstance(kinds, (tuple, list)) or not kinds or \
                len(set(kinds)) != len(kinds) or any(k not in MASK_KINDS for k in kinds):
            raise bad_param("kinds", kinds, "a non-empty list of distinct kinds among " + ", ".join(MASK_KINDS))
        self.kinds = tuple(kinds)
        self.prob = check_range("prob", prob, 0.0, 1.0, lo_open=True)
        self.ratio = check_range("ratio", ratio, 0.0, 1.0, lo_open=True, hi_open=True)
        self.patch = check_positive("patch", patch, integer=True)
        self.grid = check_choice("grid", grid, GRID_MODES)
        _check_spectral(n_bands, n_masked)
        self.n_bands, self.n_masked = n_bands, n_masked
        self.balanced = _check_bool("balanced", balanced)
        self.keep_dc = _check_bool("keep_dc", keep_dc)

    def _mask_all(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        if kind == "spatial":
            return spatial_mask(x, self.ratio, self.patch, None, True, grid=self.grid)
        return spectral_mask(x, self.n_bands, self.n_masked, None, self.balanced, keep_dc=self.keep_dc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = _check_images(x).shape[0]
        u = torch.rand(B, device=x.device)                                      # one u ~ U[0, 1) per image
        case = torch.where(u < self.prob, (u / self.prob * len(self.kinds)).long(), -1)  # -1: intact; i: kinds[i]
        out = x
        for i, kind in enumerate(self.kinds):
            masked = self._mask_all(kind, x)                                    # (B, C, H, W), every image
            out = masked if self.prob == 1.0 and len(self.kinds) == 1 else \
                torch.where((case == i)[:, None, None, None], masked, out)
        return out                                                              # (B, C, H, W)

    def extra_repr(self) -> str:
        return (f"kinds={self.kinds}, prob={self.prob}, ratio={self.ratio}, patch={self.patch}, grid={self.grid!r}, "
                f"n_bands={self.n_bands}, n_masked={self.n_masked}, balanced={self.balanced}, keep_dc={self.keep_dc}")
