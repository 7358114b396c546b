"""DiffAugment: shapes, gradients, identity policy, determinism, each operation's closed form, errors."""
from __future__ import annotations

import pytest
import torch

from pgan_core.augment import (POLICIES, brightness, contrast, cut_squares, cutout, diff_augment, saturation,
                               shift_images, translation)
from pgan_core.errors import ConfigError


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(shape=(4, 3, 32, 32), seed=0) -> torch.Tensor:
    return torch.rand(shape, generator=g(seed)) * 2 - 1                          # in [-1, 1)


# ---------------------------------------------------------------- policy-level behaviour

@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout",
                                    "cutout, color", "translation,translation"])
@pytest.mark.parametrize("shape", [(4, 1, 32, 32), (4, 3, 32, 32), (2, 3, 17, 24)])
def test_shapes_and_dtype(policy, shape):
    x = images(shape)
    y = diff_augment(x, policy, g(1))
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()


def test_gradient_flows_to_x():
    x = images().requires_grad_(True)
    w = torch.randn(4, 3, 32, 32, generator=g(2))
    (diff_augment(x, gen=g(3)) * w).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("policy", ["", " ", " , "])
def test_empty_policy_is_the_identity(policy):
    x = images()
    assert diff_augment(x, policy, g(0)) is x


def test_deterministic_for_a_fixed_generator_and_for_the_global_seed():
    x = images()
    a = diff_augment(x, gen=g(5))
    assert torch.equal(a, diff_augment(x, gen=g(5)))
    assert not torch.equal(a, diff_augment(x, gen=g(6)))
    torch.manual_seed(11)
    b = diff_augment(x)
    torch.manual_seed(11)
    assert torch.equal(b, diff_augment(x))


# ---------------------------------------------------------------- colour

def test_brightness_adds_one_offset_per_image_in_range():
    x = images()
    d = brightness(x, g(0)) - x
    per_image = d.view(4, -1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    assert (per_image[:, 0] >= -0.5).all() and (per_image[:, 0] < 0.5).all()


def test_saturation_leaves_gray_images_and_contrast_keeps_the_mean():
    gray = images((4, 1, 8, 8)).expand(4, 3, 8, 8)
    torch.testing.assert_close(saturation(gray, g(0)), gray)                    # x - mean_c = 0
    x = images()
    torch.testing.assert_close(contrast(x, g(0)).mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))


# ---------------------------------------------------------------- translation

def test_shift_images_moves_content_and_pads_with_zeros():
    x = images((2, 3, 8, 8))
    y = shift_images(x, torch.tensor([2, -1]), torch.tensor([-3, 0]))
    torch.testing.assert_close(y[0, :, 2:, :5], x[0, :, :6, 3:])                 # out[h, w] = x[h - 2, w + 3]
    assert (y[0, :, :2] == 0).all() and (y[0, :, :, 5:] == 0).all()
    torch.testing.assert_close(y[1, :, :7], x[1, :, 1:])                        # out[h] = x[h + 1]
    assert (y[1, :, 7] == 0).all()


def test_translation_moves_a_dot_by_at_most_one_eighth():
    x = torch.zeros(16, 1, 32, 32)
    x[:, :, 16, 16] = 1.0
    y = translation(x, g(4))
    assert (y.sum(dim=(1, 2, 3)) == 1).all()                                    # the dot stays inside: |t| <= 4
    pos = y.view(16, -1).argmax(dim=1)
    ty, tx = pos // 32 - 16, pos % 32 - 16
    assert (ty.abs() <= 4).all() and (tx.abs() <= 4).all()
    assert ((ty != 0) | (tx != 0)).any()


# ---------------------------------------------------------------- cutout

def test_cut_squares_zeroes_the_stated_square_clipped_at_the_border():
    x = torch.ones(2, 3, 32, 32)
    y = cut_squares(x, torch.tensor([16, 0]), torch.tensor([10, 31]), 16, 16)
    assert (y[0, :, 8:24, 2:18] == 0).all() and (y[0] == 0).sum() == 3 * 16 * 16
    assert (y[1, :, 0:8, 23:32] == 0).all() and (y[1] == 0).sum() == 3 * 8 * 9  # rows -8..7, cols 23..38 clipped


def test_cutout_zeroes_one_rectangle_of_half_side_per_image():
    x = torch.ones(64, 1, 32, 32)
    y = cutout(x, g(7))
    full = 0
    for b in range(64):
        zero = y[b, 0] == 0
        rows, cols = zero.any(dim=1).nonzero().view(-1), zero.any(dim=0).nonzero().view(-1)
        assert zero.sum() == rows.numel() * cols.numel()                         # a rectangle ...
        assert rows.numel() == rows.max() - rows.min() + 1 and cols.numel() == cols.max() - cols.min() + 1
        assert 8 <= rows.numel() <= 16 and 8 <= cols.numel() <= 16               # ... of side 16, clipped
        full += rows.numel() == 16 and cols.numel() == 16
    assert full > 0


# ---------------------------------------------------------------- errors

X = torch.zeros(2, 3, 8, 8)


@pytest.mark.parametrize("kwargs, name", [
    (dict(policy="colour"), "policy"),
    (dict(policy="color,flip"), "policy"),
    (dict(policy=None), "policy"),
    (dict(policy=["color"]), "policy"),
    (dict(translation_ratio=0.0), "translation_ratio"),
    (dict(translation_ratio=1.5), "translation_ratio"),
    (dict(cutout_ratio=-0.5), "cutout_ratio"),
    (dict(gen=5), "gen"),
    (dict(x=X[0]), "x"),
])
def test_bad_arguments(kwargs, name):
    args = dict(x=X, policy="color") | kwargs
    with pytest.raises(ConfigError, match=f"'{name}'"):
        diff_augment(**args)


def test_unknown_policy_lists_the_allowed_names():
    with pytest.raises(ConfigError, match="'policy'") as info:
        diff_augment(X, "color,rotation")
    assert "'rotation'" in str(info.value)
    for name in POLICIES:
        assert repr(name) in str(info.value)
