"""Generator inputs (pgan_core.inputs, and a run's input from pgan_core.sampling.make_input): transform shapes,
determinism, sources, errors."""
from __future__ import annotations

import pytest
import torch

from pgan_core.config import RunConfig
from pgan_core.errors import ConfigError
from pgan_core.inputs import GaussianInput, ImageInput, images_to_inputs, inputs_to_images
from pgan_core.sampling import latents, make_input, source_images


def _images(n=20, c=3, seed=0):
    return torch.randint(0, 256, (n, c, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_transform_shapes_range_and_gray():
    x = _images()
    u = images_to_inputs(x, 10)
    assert u.shape == (20, 100) and u.dtype == torch.float32
    assert u.min() >= -1 and u.max() <= 1
    gray = x.float().mean(1, keepdim=True).round().to(torch.uint8)       # gray first gives the same input
    assert torch.allclose(images_to_inputs(gray.repeat(1, 3, 1, 1), 10), images_to_inputs(gray, 10), atol=1e-6)
    assert images_to_inputs(x, 32).shape == (20, 1024)
    # a constant image stays constant after the transform
    const = torch.full((2, 1, 32, 32), 255, dtype=torch.uint8)
    assert torch.allclose(images_to_inputs(const, 7), torch.ones(2, 49))
    pics = inputs_to_images(u, 10)
    assert pics.shape == (20, 1, 32, 32) and pics.dtype == torch.uint8


def test_image_input_is_deterministic_per_index_and_seed():
    table = images_to_inputs(_images(50), 10)
    inp = ImageInput(table, res=10, noise=0.25)
    a = inp.at(range(8), seed=3)
    b = torch.cat([inp.at(range(0, 5), seed=3), inp.at(range(5, 8), seed=3)])   # batch-size independent
    assert torch.equal(a, b) and a.shape == (8, 100)
    assert not torch.equal(a, inp.at(range(8), seed=4))
    d1 = inp.draw(16, torch.Generator().manual_seed(1))
    d2 = inp.draw(16, torch.Generator().manual_seed(1))
    assert torch.equal(d1, d2) and d1.shape == (16, 100)
    # without noise every draw is a row of the table (unpaired image inputs, no made-up values)
    clean = ImageInput(table, res=10).draw(32, torch.Generator().manual_seed(0))
    assert all((table == row).all(1).any() for row in clean)


def test_gaussian_input_matches_latents_and_training_draws():
    g = GaussianInput(16)
    assert torch.equal(g.at(range(4), 5), latents(range(4), 16, 5))
    gen1, gen2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(g.draw(4, gen1), torch.randn(4, 16, generator=gen2))


def test_make_input_from_config():
    inp = make_input(RunConfig(dataset="synthetic", g_input="synthetic", g_input_res=8, g_input_noise=0.1))
    assert isinstance(inp, ImageInput) and inp.dim == 64 and inp.describe()["source"] == "synthetic"
    assert isinstance(make_input(RunConfig(z_dim=12)), GaussianInput)


def test_unknown_source_and_missing_snapshot():
    with pytest.raises(ConfigError, match="g_input"):
        source_images("svhn")
    with pytest.raises(ConfigError, match="g_input_snapshot"):
        make_input(RunConfig(g_input="generator", g_input_snapshot="/nonexistent/snapshot.pt"))
    with pytest.raises(ConfigError, match="table"):
        ImageInput(torch.zeros(3, 10), res=10)
