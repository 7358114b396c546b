"""Tests of pgan_core.disturb: shape/dtype, exact identity at level 0, determinism, monotone
pixel change and (the TTUR claim, Heusel et al. 2017 Fig. 1) monotone FID in a cheap feature space."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pgan_core import disturb as D
from pgan_core.data import load_dataset
from pgan_core.errors import ConfigError
from pgan_core.metrics.frechet import fid_from_features

NAMES = list(D.DISTURBANCES)
SEEDED = ["gaussian_noise", "black_rectangles", "salt_and_pepper", "contaminate"]


def _noise_like(x: torch.Tensor, seed: int = 123) -> torch.Tensor:
    return torch.randint(0, 256, x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _kw(name: str, x: torch.Tensor) -> dict:
    return {"other": _noise_like(x)} if name == "contaminate" else {}


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return load_dataset("synthetic", "test").images[:64]


def _mad(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().mean().item()


def _features(x: torch.Tensor) -> torch.Tensor:
    """Deterministic, training-free features: 4x4 average pool, flattened ((N, C*H/4*W/4))."""
    return F.avg_pool2d(x.float(), 4).flatten(1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(3, 1, 32, 32), (2, 3, 32, 32), (2, 3, 20, 28), (1, 1, 5, 7)])
def test_shape_dtype_and_identity(name, shape):
    x = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    for level in (0.0, 0.3, 1.0):
        y = D.disturb(name, x, level, **_kw(name, x))
        assert y.shape == x.shape and y.dtype == torch.uint8
    y0 = D.disturb(name, x, 0, **_kw(name, x))
    assert torch.equal(y0, x) and y0.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_global_rng_untouched(name, real):
    kw = _kw(name, real)
    state = torch.get_rng_state()
    a = D.disturb(name, real, 0.6, **kw)
    torch.manual_seed(999)  # the global RNG must not matter
    b = D.disturb(name, real, 0.6, **kw)
    assert torch.equal(a, b)
    torch.set_rng_state(state)
    if name in SEEDED:
        c = D.disturb(name, real, 0.6, seed=1, **kw)
        assert not torch.equal(a, c)
        assert torch.equal(c, D.disturb(name, real, 0.6, seed=1, **kw))


@pytest.mark.parametrize("name", NAMES)
def test_pixel_change_monotone_in_level(name, real):
    kw = _kw(name, real)
    mads = [_mad(D.disturb(name, real, lv, **kw), real) for lv in (0, 0.25, 0.5, 0.75, 1)]
    assert mads[0] == 0.0
    assert all(a <= b for a, b in zip(mads, mads[1:])), mads
    assert mads[-1] > 1.0, mads


@pytest.mark.parametrize("name", NAMES)
def test_fid_increases_with_level(name):
    """TTUR Fig. 1: the FID between real data and disturbed real data rises with the disturbance level."""
    x = load_dataset("synthetic", "test").images          # (256, 3, 32, 32), the images disturbed
    ref = load_dataset("synthetic", "train").images[:256]  # an independent real sample as reference
    kw = _kw(name, x)
    fids = [fid_from_features(_features(ref), _features(D.disturb(name, x, lv, **kw))) for lv in (0, 0.5, 1)]
    assert all(a <= b for a, b in zip(fids, fids[1:])), fids
    assert fids[-1] > 1.5 * fids[0], fids


def test_specific_behaviour(real):
    # salt and pepper: only 0/255 introduced, about level * 0.5 of positions hit
    y = D.salt_and_pepper(real, 1.0)
    changed = (y != real).any(dim=1)
    assert set(torch.unique(y[y != real]).tolist()) <= {0, 255}
    assert 0.4 < changed.float().mean().item() <= 0.5
    # contamination: exactly round(level * B) rows replaced, nested across levels
    other = _noise_like(real)
    rows = lambda lv: set(torch.nonzero((D.contaminate(real, other, lv) != real).flatten(1).any(1)).flatten().tolist())
    assert len(rows(0.5)) == 32 and rows(0.25) <= rows(0.5) <= rows(1.0) and len(rows(1.0)) == 64
    # black rectangles: only zeros introduced
    z = D.black_rectangles(real, 1.0)
    assert (z[z != real] == 0).all()
    # swirl leaves the corners (outside the radius) unchanged
    s = D.swirl(real, 1.0)
    assert torch.equal(s[..., 0, 0], real[..., 0, 0]) and torch.equal(s[..., -1, -1], real[..., -1, -1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("level", [-0.1, 1.5, float("nan"), "0.5", True])
def test_bad_level(name, level, real):
    with pytest.raises(ConfigError, match=r"'level'.*\[0\.0, 1\.0\]"):
        D.disturb(name, real, level, **_kw(name, real))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [torch.zeros(2, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.uint8), "img"])
def test_bad_x(name, bad):
    other = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ConfigError, match="'x'"):
        D.disturb(name, bad, 0.5, **({"other": other} if name == "contaminate" else {}))


def test_bad_name_other_seed_and_kwargs(real):
    with pytest.raises(ConfigError, match="'name'.*gaussian_noise.*contaminate"):
        D.disturb("jpeg", real, 0.5)
    with pytest.raises(ConfigError, match="'other'"):
        D.contaminate(real, real[:10], 0.5)
    with pytest.raises(ConfigError, match="'other'"):
        D.contaminate(real, real.float(), 0.5)
    with pytest.raises(ConfigError, match="'other'"):
        D.disturb("contaminate", real, 0.5)
    with pytest.raises(ConfigError, match="'seed'"):
        D.gaussian_noise(real, 0.5, seed=-1)
    with pytest.raises(ConfigError, match="'seed'"):
        D.disturb("gaussian_blur", real, 0.5, seed=0)
