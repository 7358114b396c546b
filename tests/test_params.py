"""count_params / param_table: trainable vs frozen, stored buffers, stored vs regenerated masks."""
from __future__ import annotations

import pytest
import torch.nn as nn

from pgan_core import registry
from pgan_core.errors import ConfigError
from pgan_core.layers.perturbation import PerturbationLayer
from pgan_core.params import FIELDS, count_params, param_table


@pytest.mark.parametrize("c_in, c_out, m", [(3, 5, 1), (4, 2, 3), (8, 8, 2)])
@pytest.mark.parametrize("bn", [True, False])
def test_perturbation_layer_trainable_count(c_in, c_out, m, bn):
    layer = PerturbationLayer(c_in, c_out, (4, 4), fan_out=m, bn=bn)
    c = count_params(layer)
    assert c["trainable"] == c_in * m * c_out + c_out + (2 * c_out if bn else 0)
    assert c["frozen"] == 0
    assert c["masks_stored"] == c_in * m * 16 and c["masks_regenerated"] == 0
    assert c["buffers_stored"] == (2 * c_out if bn else 0)  # running mean/var, no num_batches_tracked


def test_stored_versus_regenerated_masks():
    stored = PerturbationLayer(3, 4, (4, 4), mask_source="stored_uniform")
    regen = PerturbationLayer(3, 4, (4, 4), mask_source="lcg")
    assert count_params(stored)["masks_stored"] == stored.state_dict()["noise"].numel() == 48
    assert "noise" not in regen.state_dict()
    assert count_params(regen)["masks_stored"] == 0 and count_params(regen)["masks_regenerated"] == 48
    assert count_params(stored)["trainable"] == count_params(regen)["trainable"]


def test_batchnorm_and_frozen_and_shared():
    bn = nn.BatchNorm2d(5)
    assert count_params(bn) == dict(trainable=10, frozen=0, buffers_stored=10, masks_stored=0, masks_regenerated=0)
    lin = nn.Linear(3, 2)
    lin.bias.requires_grad_(False)
    assert count_params(lin)["trainable"] == 6 and count_params(lin)["frozen"] == 2
    assert count_params(nn.Sequential(lin, lin))["trainable"] == 6      # shared module counted once


def test_registry_models_and_table():
    g_stored, _ = registry.build_models("pgan-g", img_channels=3, z_dim=16, width=4)
    g_lcg, _ = registry.build_models("pgan-g-lcg", img_channels=3, z_dim=16, width=4)
    a, b = count_params(g_stored), count_params(g_lcg)
    assert a["trainable"] == b["trainable"] and a["buffers_stored"] == b["buffers_stored"]
    assert a["masks_stored"] == b["masks_regenerated"] > 0 and a["masks_regenerated"] == b["masks_stored"] == 0
    rows = param_table({"pgan-g": g_stored, "pgan-g-lcg": g_lcg})
    assert [r["name"] for r in rows] == ["pgan-g", "pgan-g-lcg"]
    assert all(set(r) == {"name", *FIELDS} and all(isinstance(r[f], int) for f in FIELDS) for r in rows)


# ---------------------------------------------------------------- mask memory

def test_mask_memory_by_where_the_masks_live():
    from pgan_core.params import mask_memory

    mk = lambda src: PerturbationLayer(3, 4, (4, 4), fan_out=2, mask_source=src)      # noqa: E731  96 elements
    assert mask_memory(mk("stored_uniform")) == dict(stored_bytes=384, held_bytes=0, in_forward_elements=0,
                                                     largest_in_forward_bytes=0)
    assert mask_memory(mk("lcg")) == dict(stored_bytes=0, held_bytes=384, in_forward_elements=0,
                                          largest_in_forward_bytes=0)
    assert mask_memory(mk("lcg_forward")) == dict(stored_bytes=0, held_bytes=0, in_forward_elements=96,
                                                  largest_in_forward_bytes=384)
    assert mask_memory(mk("stored_uniform").double())["stored_bytes"] == 768


def test_mask_memory_saved_counts_every_mask_of_g_and_d():
    from pgan_core.params import mask_memory_saved

    w = 4   # G: blocks 2 x (8w x 4 x 4) ... ; D (pgan-gd): 12 layers at 8, 4 and 2 px
    g = 16 * (2 * 8 * w + 8 * w) + 64 * (2 * 4 * w + 4 * w) + 256 * (2 * 2 * w + 2 * w) + 1024 * (2 * w + w)
    d = 64 * 5 * w + 16 * (2 * 2 * w + 2 * 2 * w) + 4 * 3 * 4 * w
    r = mask_memory_saved("pgan-g", width=w)
    assert r["masks"] == g and r["registered_bytes"] == r["registered_stored_bytes"] == 4 * g
    assert r["alternative_bytes"] == 0 and r["saved_bytes"] == 4 * g and r["largest_in_forward_bytes"] == 4 * 1024 * w
    r = mask_memory_saved("pgan-gd", width=w, mask_source="lcg")
    assert r["masks"] == g + d and r["alternative_bytes"] == 4 * (g + d) and r["alternative_stored_bytes"] == 0
    assert r["saved_bytes"] == 0
    with pytest.raises(ConfigError, match="'mask_source'.*lcg_forward"):
        mask_memory_saved("pgan-g", width=w, mask_source="lcg-fwd")
    with pytest.raises(ConfigError, match="'method'"):
        mask_memory_saved("pgan-g-conv", width=w)
