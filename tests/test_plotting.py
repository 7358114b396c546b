"""Figures (pgan_core.plotting): sample grids readable at their saved size."""
from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from pgan_core import plotting


def _imgs(n: int, value: int) -> torch.Tensor:
    return torch.full((n, 3, 32, 32), value, dtype=torch.uint8)


def test_image_grid_places_every_image_with_gaps():
    x = torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 32, 32).contiguous()
    g = plotting.image_grid(x, nrow=2)
    assert g.shape == (2 * 33 + 1, 2 * 33 + 1, 3)
    assert g[1, 1, 0] == 0 and g[1, 34, 0] == 1 and g[34, 1, 0] == 2 and g[34, 34, 0] == 3 and g[0, 0, 0] == 255


def test_sample_grids_wrap_and_keep_native_size():
    grids = {f"method-{i}": _imgs(16, 20 * i) for i in range(9)}      # notebook 00 shows nine methods
    fig = plotting.sample_grids(grids, nrow=8, title="samples, seed 0", dpi=80)
    try:
        axes = [a for a in fig.axes if a.images]
        assert len(axes) == 9 and len(fig.axes) == 12                 # 3 rows of at most 4 panels
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        w, h = Image.open(io.BytesIO(buf.getvalue())).size
        assert w >= 4 * (8 * 33 + 1) and h >= 3 * (2 * 33 + 1)        # every 32 px sample >= 32 saved pixels
        assert w / h < 3                                             # not a strip squeezed to one line
        for ax in axes:                                               # each panel drawn at >= its mosaic's pixels
            bbox = ax.get_window_extent()
            assert bbox.width >= (8 * 33 + 1) * 0.99
    finally:
        plt.close(fig)


def test_long_titles_wrap_to_their_panel():
    long = "pgan-g at noise level 0.1 with stored uniform masks, seed 3"
    fig = plotting.sample_grids({long: _imgs(8, 0)}, nrow=8, title=long, dpi=80)
    try:
        title = fig.axes[0].get_title()
        assert "\n" in title and title.replace("\n", " ") == long
    finally:
        plt.close(fig)
    assert np.isfinite(plotting._dpi(None)) and plotting._dpi(72) == 72.0


def test_lines_draws_a_band_per_line():
    import pandas as pd

    df = pd.DataFrame({"x": [0, 1, 0, 1], "y": [1.0, 2.0, 3.0, 4.0], "lo": [0.5, 1.5, 2.5, 3.5],
                       "hi": [1.5, 2.5, 3.5, 4.5], "h": ["a", "a", "b", "b"]})
    fig = plotting.lines(df, x="x", y="y", hue="h", band=("lo", "hi"))
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2          # one shaded band per line
    bottom = ax.collections[0].get_paths()[0].vertices[:, 1].min()
    assert bottom == pytest.approx(0.5)
    assert len(plotting.lines(df, x="x", y="y", hue="h").axes[0].collections) == 0
