"""MaskedGAN masks: exact spatial coverage (with/without shift, both grids), spectral bands kept/zeroed, determinism."""
from __future__ import annotations

import math

import pytest
import torch

from pgan_core.errors import ConfigError
from pgan_core.layers.masking import GRID_MODES, DInputMask, band_index, mask_visual, spatial_mask, spectral_mask


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def cell_labels(H: int, W: int, P: int, dy: int, dx: int, grid: str) -> torch.Tensor:
    """Cell id of every pixel for grid origin (dy, dx), written directly from the definition: (H, W)."""
    h, w = torch.arange(H)[:, None], torch.arange(W)[None, :]
    if grid == "wrap":
        return ((h - dy) % H // P) * 1000 + ((w - dx) % W // P)
    return ((h - dy) // P) * 1000 + ((w - dx) // P)                          # floor division: clipped cells


def masked_cells_for_some_shift(zero: torch.Tensor, P: int, ratio: float, grid: str) -> tuple[int, int] | None:
    """The first (dy, dx) for which ``zero`` (H, W) is a union of exactly floor(ratio * n_cells) cells."""
    H, W = zero.shape
    for dy in range(P):
        for dx in range(P):
            lab = cell_labels(H, W, P, dy, dx, grid)
            cells = lab.unique()
            hit = lab[zero].unique()
            if all(zero[lab == c].all() for c in hit) and hit.numel() == math.floor(ratio * cells.numel() + 1e-9):
                return dy, dx
    return None


# ---------------------------------------------------------------- spatial masking

@pytest.mark.parametrize("shift", [False, True])
def test_wrap_grid_masks_exactly_floor_ratio_of_the_pixels(shift):
    x = torch.ones(16, 1, 32, 32)
    y = spatial_mask(x, 0.3, 4, g(1), shift=shift)
    zeros = (y == 0).sum(dim=(1, 2, 3))
    # 64 cells of 4x4; k = floor(0.3 * 64) = 19 cells = 304 pixels in every image, whatever the shift
    assert (zeros == 19 * 16).all()
    shifts = [masked_cells_for_some_shift(y[b, 0] == 0, 4, 0.3, "wrap") for b in range(16)]
    assert all(s is not None for s in shifts)
    if not shift:
        assert all(s == (0, 0) for s in shifts)                               # unshifted grid: aligned blocks
        blocks = (y[:, 0] == 0).view(16, 8, 4, 8, 4)
        assert (blocks.all(dim=(2, 4)) == blocks.any(dim=(2, 4))).all()
    else:
        assert any(s != (0, 0) for s in shifts)


@pytest.mark.parametrize("shift", [False, True])
def test_clip_grid_masks_floor_ratio_of_that_images_cells(shift):
    x = torch.ones(12, 1, 32, 32)
    y = spatial_mask(x, 0.3, 8, g(2), shift=shift, grid="clip")
    for b in range(12):
        s = masked_cells_for_some_shift(y[b, 0] == 0, 8, 0.3, "clip")
        assert s is not None
        if not shift:
            assert s == (0, 0) and (y[b] == 0).sum() == math.floor(0.3 * 16) * 64  # 4 of 16 cells of 8x8
    if shift:                                                                  # 25 cells when shifted: k = 7
        shifts = {masked_cells_for_some_shift(y[b, 0] == 0, 8, 0.3, "clip") for b in range(12)}
        assert any(s != (0, 0) for s in shifts)


def test_rounding_rule_floor_with_float_guard():
    # patch 1 on 10x10: 100 cells; 0.29 * 100 = 28.999999999999996 in floats -> k = 29 by the guard
    y = spatial_mask(torch.ones(3, 1, 10, 10), 0.29, 1, g(3), shift=False)
    assert ((y == 0).sum(dim=(1, 2, 3)) == 29).all()
    # 3x3 = 9 cells of 2x2 on 6x6 with ratio 0.5: k = floor(4.5) = 4 cells = 16 pixels
    y = spatial_mask(torch.ones(3, 1, 6, 6), 0.5, 2, g(3), shift=False)
    assert ((y == 0).sum(dim=(1, 2, 3)) == 16).all()


def test_spatial_mask_is_shared_by_channels_and_equals_mask_visual():
    x = torch.rand(4, 3, 32, 32, generator=g(9)) + 0.1
    y = spatial_mask(x, 0.4, 4, g(4))
    m = mask_visual(x, "spatial", g(4), ratio=0.4, patch=4)
    assert m.shape == (4, 1, 32, 32) and set(m.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(y, x * m)
    assert ((y == 0).all(dim=1) == (y == 0).any(dim=1)).all()


@pytest.mark.parametrize("grid", GRID_MODES)
def test_spatial_deterministic_for_a_fixed_generator(grid):
    x = torch.randn(6, 3, 16, 16, generator=g(0))
    a = spatial_mask(x, 0.5, 4, g(5), grid=grid)
    assert torch.equal(a, spatial_mask(x, 0.5, 4, g(5), grid=grid))
    assert not torch.equal(a, spatial_mask(x, 0.5, 4, g(6), grid=grid))


# ---------------------------------------------------------------- spectral masking

def unshifted_keep(x: torch.Tensor, seed: int, **kw) -> torch.Tensor:
    return torch.fft.ifftshift(mask_visual(x, "spectral", g(seed), **kw), dim=(-2, -1)).bool()  # (B, 1, H, W)


@pytest.mark.parametrize("balanced", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spectral_keeps_unmasked_bands_and_zeroes_masked_ones(balanced, dtype):
    x = torch.randn(4, 3, 32, 32, generator=g(0), dtype=dtype)
    y = spectral_mask(x, 4, 2, g(7), balanced=balanced)
    keep = unshifted_keep(x, 7, n_bands=4, n_masked=2, balanced=balanced).expand_as(x)
    X, Y = torch.fft.fft2(x), torch.fft.fft2(y)
    assert (Y - X)[keep].abs().max() < 1e-5 * (1 if dtype == torch.float64 else X.abs().max())
    assert Y[~keep].abs().max() < 1e-5 * (1 if dtype == torch.float64 else X.abs().max())
    band = band_index(32, 32, 4)
    for b in range(4):                                                         # exactly 2 whole bands per image
        masked_bands = band[~keep[b, 0]].unique()
        assert masked_bands.numel() == 2
        assert all((~keep[b, 0][band == k]).all() for k in masked_bands)


def test_spectral_float64_to_1e_5_absolute():
    x = torch.randn(2, 1, 32, 32, generator=g(1), dtype=torch.float64)
    y = spectral_mask(x, 6, 3, g(8))
    keep = unshifted_keep(x, 8, n_bands=6, n_masked=3)
    X, Y = torch.fft.fft2(x), torch.fft.fft2(y)
    assert (Y - X)[keep.expand_as(x)].abs().max() < 1e-5
    assert Y[~keep.expand_as(x)].abs().max() < 1e-5


def test_band_index_is_radial_and_symmetric():
    band = band_index(32, 32, 4)
    assert band[0, 0] == 0 and band[16, 16] == 3 and band.min() == 0 and band.max() == 3
    flipped = band[(-torch.arange(32)) % 32][:, (-torch.arange(32)) % 32]     # band(-f) = band(f)
    assert torch.equal(band, flipped)


def test_balanced_follows_the_energy_uniform_does_not():
    x = torch.ones(32, 1, 8, 8)                                                # all energy in the DC term (band 0)
    assert torch.allclose(spectral_mask(x, 4, 1, g(0), balanced=True, keep_dc=False), torch.zeros_like(x), atol=1e-6)
    y = spectral_mask(x, 4, 1, g(0), balanced=False, keep_dc=False)
    assert torch.allclose(y[y.abs().sum(dim=(1, 2, 3)) > 0], torch.ones(1), atol=1e-6)
    assert (y.abs().sum(dim=(1, 2, 3)) > 0).sum() > 16                         # band 0 hit about 1 in 4


@pytest.mark.parametrize("balanced", [True, False])
def test_keep_dc_never_masks_band_zero(balanced):
    """The review's point: energy-weighted masking almost always took band 0 (the DC term); keep_dc forbids it."""
    x = torch.ones(32, 1, 8, 8)                                                # all energy in band 0
    assert torch.allclose(spectral_mask(x, 4, 1, g(0), balanced=balanced), x, atol=1e-6)   # nothing of it removed
    nat = torch.randn(64, 3, 16, 16, generator=g(5)).cumsum(-1).cumsum(-2)       # low-frequency heavy images
    band = band_index(16, 16, 4)
    keep = torch.fft.ifftshift(mask_visual(nat, "spectral", g(9), n_bands=4, n_masked=3, balanced=balanced),
                               dim=(-2, -1)).bool()                             # (B, 1, H, W)
    assert keep[:, 0][:, band == 0].all()                                       # band 0 kept in every image
    assert not keep[:, 0][:, band > 0].any()                                    # m = K - 1: every other band masked
    X, Y = torch.fft.fft2(nat), torch.fft.fft2(spectral_mask(nat, 4, 3, g(9), balanced=balanced))
    assert torch.allclose(Y[..., band == 0], X[..., band == 0], atol=1e-3)


def test_spectral_deterministic_and_differentiable():
    x = torch.randn(3, 3, 16, 16, generator=g(2), requires_grad=True)
    a = spectral_mask(x, 4, 1, g(3))
    assert torch.equal(a, spectral_mask(x, 4, 1, g(3)))
    a.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_dtypes_preserved(channels):
    x = torch.randn(5, channels, 32, 32, generator=g(4))
    for y in (spatial_mask(x, 0.3, 4, g(1)), spectral_mask(x, 4, 2, g(1))):
        assert y.shape == (5, channels, 32, 32) and y.dtype == x.dtype
    assert mask_visual(x, "spectral", g(1), n_bands=4, n_masked=2).shape == (5, 1, 32, 32)


# ---------------------------------------------------------------- errors

X = torch.zeros(2, 3, 32, 32)


@pytest.mark.parametrize("call, name", [
    (lambda: spatial_mask(X, 0.0, 4, g()), "ratio"),
    (lambda: spatial_mask(X, 1.0, 4, g()), "ratio"),
    (lambda: spatial_mask(X, -0.2, 4, g()), "ratio"),
    (lambda: spatial_mask(X, float("nan"), 4, g()), "ratio"),
    (lambda: spatial_mask(X, 0.3, 0, g()), "patch"),
    (lambda: spatial_mask(X, 0.3, 4.0, g()), "patch"),
    (lambda: spatial_mask(X, 0.3, 33, g()), "patch"),
    (lambda: spatial_mask(X, 0.3, 4, g(), grid="torus"), "grid"),
    (lambda: spatial_mask(X, 0.3, 4, 123), "gen"),
    (lambda: spatial_mask(X[0], 0.3, 4, g()), "x"),
    (lambda: spectral_mask(X, 1, 1, g()), "n_bands"),
    (lambda: spectral_mask(X, 4.0, 1, g()), "n_bands"),
    (lambda: spectral_mask(X, 4, 0, g()), "n_masked"),
    (lambda: spectral_mask(X, 4, 4, g()), "n_masked"),
    (lambda: spectral_mask(X, 4, 5, g()), "n_masked"),
    (lambda: spectral_mask(X, 4, 1, "seed"), "gen"),
    (lambda: spectral_mask(X[0], 4, 1, g()), "x"),
    (lambda: spectral_mask(X, 4, 1, g(), keep_dc=1), "keep_dc"),
    (lambda: mask_visual(X, "temporal", g()), "kind"),
    (lambda: mask_visual(X, "spectral", g(), n_bands=4, n_masked=1, ratio=0.3), "params"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        call()


# ---------------------------------------------------------------- DInputMask (the training loop's masking)

def test_d_input_mask_single_kind_equals_the_function_with_the_global_rng():
    x = torch.randn(6, 3, 32, 32, generator=g(1))
    m = DInputMask(("spatial",), ratio=0.25, patch=4)
    torch.manual_seed(3)
    y = m(x)
    torch.manual_seed(3)
    torch.rand(6)                                                               # the per-image case draw
    assert torch.equal(y, spatial_mask(x, 0.25, 4, None))
    zero = (y == 0).all(1)                                                      # (B, H, W): 4 x 4 cells, 64 per image
    assert torch.equal(zero.flatten(1).sum(1), torch.full((6,), 16 * 16))       # floor(0.25 * 64) cells of 16 px


def test_d_input_mask_prob_and_both_kinds_split_the_images():
    x = torch.randn(400, 1, 16, 16, generator=g(2)) + 3.0                       # no exact zeros in the input
    m = DInputMask(("spatial", "spectral"), prob=0.5, ratio=0.5, patch=4, n_bands=4, n_masked=1)
    torch.manual_seed(0)
    y = m(x)
    intact = (y == x).flatten(1).all(1)
    spatial = ~intact & ((y == 0).flatten(1).sum(1) == 128)                     # half of the 16 px x 16 px zeroed
    spectral = ~intact & ~spatial
    assert abs(intact.float().mean().item() - 0.5) < 0.1
    assert abs(spatial.float().mean().item() - 0.25) < 0.08 and abs(spectral.float().mean().item() - 0.25) < 0.08
    assert torch.allclose(y[spectral].mean(dim=(1, 2, 3)), x[spectral].mean(dim=(1, 2, 3)), atol=1e-4)  # DC kept


def test_d_input_mask_is_differentiable():
    x = torch.randn(4, 3, 32, 32, generator=g(3), requires_grad=True)
    DInputMask(("spatial", "spectral"))(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("kw, name", [
    (dict(kinds=()), "kinds"), (dict(kinds="spatial"), "kinds"), (dict(kinds=("spatial", "spatial")), "kinds"),
    (dict(kinds=("fourier",)), "kinds"), (dict(prob=0.0), "prob"), (dict(prob=1.5), "prob"),
    (dict(ratio=1.0), "ratio"), (dict(ratio=0.0), "ratio"), (dict(patch=0), "patch"), (dict(grid="torus"), "grid"),
    (dict(n_bands=1), "n_bands"), (dict(n_masked=4), "n_masked"), (dict(balanced="yes"), "balanced"),
    (dict(keep_dc=None), "keep_dc"),
])
def test_d_input_mask_bad_arguments(kw, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        DInputMask(**kw)
