"""PerturbationLayer: the equation on hand-computed numbers, masks, fan-out, level 0, errors, determinism."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pgan_core.errors import ConfigError
from pgan_core.layers.lcg import lcg_uniform
from pgan_core.layers.perturbation import MASK_BUFFER as MASK_BUFFER_NAME, MASK_SOURCES, PerturbationLayer, conv1x1, make_mask

REPO = Path(__file__).resolve().parents[2]


def mask_hash(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


# ---------------------------------------------------------------- the equation

def test_equation_hand_example():
    layer = PerturbationLayer(2, 1, (2, 2), level=0.5, bn=False)
    with torch.no_grad():
        layer.mask.copy_(torch.tensor([[[0.2, -0.4], [1.0, -1.0]],
                                       [[-1.0, 0.5], [0.0, 0.8]]]))
        layer.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(1, 2, 1, 1))
        layer.conv.bias.fill_(0.5)
    x = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]],
                       [[-1.0, 3.0], [0.2, -0.4]]]])
    # x + 0.5 N: ch0 [[1.1, -2.2], [1.0, -0.5]] -> ReLU [[1.1, 0], [1.0, 0]]
    #            ch1 [[-1.5, 3.25], [0.2, 0.0]] -> ReLU [[0, 3.25], [0.2, 0]]
    # y = 2 ch0 - ch1 + 0.5
    expected = torch.tensor([[[[2.7, -2.75], [2.3, 0.5]]]])
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("act", ["relu", "lrelu", "identity"])
@pytest.mark.parametrize("res", [4, 16])                  # 16x16 takes the batched-GEMM path
def test_equation_with_bn_matches_formula(act, res):
    torch.manual_seed(0)
    layer = PerturbationLayer(3, 5, (res, res), level=0.3, act=act, mask_source="seeded_normal", seed=4)
    x = torch.randn(4, 3, res, res)
    p = x + 0.3 * layer.mask
    p = {"relu": F.relu(p), "lrelu": F.leaky_relu(p, 0.2), "identity": p}[act]
    y = F.conv2d(p, layer.conv.weight, layer.conv.bias)
    y = F.batch_norm(y, None, None, layer.bn.weight, layer.bn.bias, training=True, eps=layer.bn.eps)
    torch.testing.assert_close(layer(x), y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("res", [4, 16])
def test_level_zero_is_plain_1x1_conv_path(res):
    torch.manual_seed(1)
    layer = PerturbationLayer(3, 4, (res, res), level=0.0, bn=False)
    x = torch.randn(2, 3, res, res)
    assert layer.mask.abs().sum() > 0                      # masks still built
    torch.testing.assert_close(layer(x), F.conv2d(F.relu(x), layer.conv.weight, layer.conv.bias))
    assert torch.equal(layer.perturb(x), F.relu(x))       # x + 0 * N == x exactly


@pytest.mark.parametrize("res", [4, 16])
@pytest.mark.parametrize("bias", [True, False])
def test_conv1x1_matches_conv2d_values_and_grads(res, bias):
    torch.manual_seed(2)
    p = torch.randn(3, 6, res, res, requires_grad=True)
    w = torch.randn(5, 6, 1, 1, requires_grad=True)
    b = torch.randn(5, requires_grad=True) if bias else None
    g = torch.randn(3, 5, res, res)
    ours = torch.autograd.grad((conv1x1(p, w, b) * g).sum(), [p, w] + ([b] if bias else []))
    ref = torch.autograd.grad((F.conv2d(p, w, b) * g).sum(), [p, w] + ([b] if bias else []))
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(conv1x1(p, w, b), F.conv2d(p, w, b), rtol=1e-5, atol=1e-5)


def test_fan_out_shape_and_channel_grouping():
    C, m, H = 3, 4, 2
    layer = PerturbationLayer(C, 5, (H, H), fan_out=m, level=0.7, mask_source="stored_uniform", seed=3)
    assert layer.mask.shape == (C * m, H, H)
    assert layer.conv.weight.shape == (5, C * m, 1, 1)
    x = torch.randn(2, C, H, H)
    p = layer.perturb(x)
    assert p.shape == (2, C * m, H, H)
    for c in range(C):                                    # channel c*m + k = act(x_c + level N_{c*m+k})
        for k in range(m):
            torch.testing.assert_close(p[:, c * m + k], F.relu(x[:, c] + 0.7 * layer.mask[c * m + k]))
    assert layer(x).shape == (2, 5, H, H)


def test_masks_not_trainable_and_get_no_grad():
    layer = PerturbationLayer(2, 3, (4, 4))
    assert all(p is not layer.mask for p in layer.parameters())
    assert not layer.mask.requires_grad
    layer(torch.randn(2, 2, 4, 4)).sum().backward()
    assert layer.mask.grad is None and layer.conv.weight.grad is not None


def test_wrong_input_shape_raises():
    layer = PerturbationLayer(2, 3, (4, 4))
    with pytest.raises(ConfigError, match="spatial"):
        layer(torch.randn(1, 2, 8, 8))


# ---------------------------------------------------------------- masks

def test_mask_sources_values_and_persistence():
    shape = (6, 4, 4)
    for src in MASK_SOURCES:
        layer = PerturbationLayer(3, 2, (4, 4), fan_out=2, mask_source=src, seed=11)
        assert layer.mask.shape == shape and layer.mask.dtype == torch.float32
        assert torch.equal(layer.mask, make_mask(src, 11, shape))
        assert ("noise" in layer.state_dict()) == (src == "stored_uniform")
    stored = make_mask("stored_uniform", 11, shape)
    assert stored.min() >= -1 and stored.max() < 1 and stored.min() < 0
    mt = make_mask("seeded_uniform", 11, shape)
    assert mt.min() >= 0 and mt.max() < 1
    assert torch.equal(stored, mt * 2 - 1)               # same MT stream, affine map to (-1, 1)
    assert torch.equal(make_mask("lcg", 11, shape), lcg_uniform(11, 96).view(shape))
    assert make_mask("seeded_normal", 11, shape).min() < 0


def test_masks_identical_for_same_seed_and_differ_across_seeds():
    for src in MASK_SOURCES:
        a = PerturbationLayer(4, 4, (8, 8), mask_source=src, seed=5).mask
        b = PerturbationLayer(4, 4, (8, 8), mask_source=src, seed=5).mask
        c = PerturbationLayer(4, 4, (8, 8), mask_source=src, seed=6).mask
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_mask_construction_leaves_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for src in MASK_SOURCES:
        make_mask(src, 1, (2, 3, 3))
    assert torch.equal(torch.rand(3), expected)


def test_masks_identical_in_another_process():
    code = (
        "import hashlib, torch\n"
        "from pgan_core.layers.perturbation import PerturbationLayer, MASK_SOURCES\n"
        "for s in MASK_SOURCES:\n"
        "    m = PerturbationLayer(8, 4, (8, 8), fan_out=2, mask_source=s, seed=21).mask\n"
        "    print(s, hashlib.sha256(m.contiguous().numpy().tobytes()).hexdigest())\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    theirs = dict(line.split() for line in out.strip().splitlines())
    ours = {s: mask_hash(PerturbationLayer(8, 4, (8, 8), fan_out=2, mask_source=s, seed=21).mask)
            for s in MASK_SOURCES}
    assert theirs == ours


def test_masks_follow_dtype_and_device():
    layer = PerturbationLayer(2, 3, (4, 4), mask_source="lcg").double()
    assert layer.mask.dtype == torch.float64
    assert layer(torch.randn(2, 2, 4, 4, dtype=torch.float64)).dtype == torch.float64
    assert PerturbationLayer(2, 3, (4, 4)).to("meta").mask.device.type == "meta"


def test_stored_mask_round_trips_through_state_dict():
    a = PerturbationLayer(2, 3, (4, 4), seed=1)
    b = PerturbationLayer(2, 3, (4, 4), seed=2)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.mask, b.mask)


def test_attributes_and_repr():
    layer = PerturbationLayer(2, 3, (4, 5), level=0.25, mask_source="lcg", seed=9, act="lrelu")
    assert (layer.mask_source, layer.level, layer.seed) == ("lcg", 0.25, 9)
    r = repr(layer)
    for text in ("spatial=(4, 5)", "level=0.25", "mask_source='lcg'", "seed=9", "act='lrelu'"):
        assert text in r


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, name", [
    (dict(mask_source="gaussian"), "mask_source"),
    (dict(act="tanh"), "act"),
    (dict(level=-0.1), "level"),
    (dict(fan_out=0), "fan_out"),
    (dict(fan_out=1.5), "fan_out"),
    (dict(in_channels=0), "in_channels"),
    (dict(out_channels=-2), "out_channels"),
    (dict(spatial=(0, 4)), "spatial"),
    (dict(spatial=(4,)), "spatial"),
    (dict(seed=-1), "seed"),
])
def test_bad_arguments_raise_config_error(kwargs, name):
    args = dict(in_channels=2, out_channels=3, spatial=(4, 4))
    args.update(kwargs)
    with pytest.raises(ConfigError, match=f"'{name}'"):
        PerturbationLayer(args.pop("in_channels"), args.pop("out_channels"), args.pop("spatial"), **args)


def test_unknown_mask_source_lists_allowed():
    with pytest.raises(ConfigError) as info:
        PerturbationLayer(2, 3, (4, 4), mask_source="mt")
    for src in MASK_SOURCES:
        assert src in str(info.value)


# ---------------------------------------------------------------- masks regenerated inside forward

def test_lcg_forward_holds_no_buffer_and_regenerates_every_pass(monkeypatch):
    import pgan_core.layers.perturbation as pert

    fwd = PerturbationLayer(3, 4, (5, 5), fan_out=2, level=0.3, mask_source="lcg_forward", seed=8)
    ref = PerturbationLayer(3, 4, (5, 5), fan_out=2, level=0.3, mask_source="lcg", seed=8)
    assert MASK_BUFFER_NAME not in dict(fwd.named_buffers()) and MASK_BUFFER_NAME not in fwd.state_dict()
    fwd.load_state_dict(ref.state_dict())
    assert torch.equal(fwd.mask, ref.mask) and fwd.mask.shape == (6, 5, 5)
    calls = []
    real = pert.lcg_uniform_torch
    monkeypatch.setattr(pert, "lcg_uniform_torch", lambda *a, **k: calls.append(a) or real(*a, **k))
    x = torch.randn(2, 3, 5, 5)
    ref.eval(), fwd.eval()
    torch.testing.assert_close(fwd(x), ref(x), rtol=0, atol=0)
    fwd(x)
    assert len(calls) == 2                                  # one regeneration per forward pass
    ref(x)
    assert len(calls) == 2                                  # the 'lcg' layer reads its buffer


def test_set_mask_source_switches_buffers():
    layer = PerturbationLayer(2, 3, (4, 4), mask_source="stored_uniform", seed=3)
    stored = layer.mask.clone()
    layer.set_mask_source("lcg_forward")
    assert "noise" not in layer.state_dict() and "noise" not in dict(layer.named_buffers())
    assert torch.equal(layer.mask, make_mask("lcg", 3, (2, 4, 4)))
    layer.set_mask_source("stored_uniform")
    assert torch.equal(layer.state_dict()["noise"], stored)
    layer.double().set_mask_source("seeded_normal")
    assert layer.mask.dtype == torch.float64 and "noise" not in layer.state_dict()
    with pytest.raises(ConfigError, match="'mask_source'.*lcg_forward"):
        layer.set_mask_source("lcg_fwd")
