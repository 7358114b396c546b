"""SASTM: the equations on a hand example for each recombination rule, shapes, init, probing, errors."""
from __future__ import annotations

import pytest
import torch

from pgan_core.errors import ConfigError
from pgan_core.layers.sastm import RECOMBINE_RULES, SASTM


# ---------------------------------------------------------------- the equations

def hand_module(rule: str) -> SASTM:
    """C = 2, hidden = 1; gates set so that a_c = (2, 0) and a_s = [[2, 0], [2.5, 2]] on hand_input()."""
    m = SASTM(2, reduction=2, recombine=rule)
    with torch.no_grad():
        m.fc1.weight.copy_(torch.tensor([[1.0, 0.0]]))                    # W_1: (1, 2)
        m.fc1.bias.zero_()
        m.fc2.weight.copy_(torch.tensor([[2.0], [-1.0]]))                 # W_2: (2, 1)
        m.fc2.bias.copy_(torch.tensor([-1.0, 0.5]))
        m.spatial.weight.copy_(torch.tensor([1.0, 0.5]).view(1, 2, 1, 1))  # w_s
        m.spatial.bias.zero_()
    return m


def hand_input() -> torch.Tensor:
    return torch.tensor([[[[1.0, -2.0], [3.0, 4.0]],
                          [[2.0, 0.5], [-1.0, -4.0]]]])                   # (1, 2, 2, 2)


# GAP = (1.5, -0.625); h = ReLU(1.5) = 1.5; a_c = ReLU(2 * 1.5 - 1, -1.5 + 0.5) = (2, 0)
# a_s = ReLU(x_0 + 0.5 x_1) = ReLU([[2, -1.75], [2.5, 2]]) = [[2, 0], [2.5, 2]]
# F_c = (2 x_0, 0 x_1) = ([[2, -4], [6, 8]], 0);  F_s = x a_s = ([[2, 0], [7.5, 8]], [[4, 0], [-2.5, -8]])
EXPECTED = {
    "mul": [[[4.0, 0.0], [15.0, 16.0]], [[0.0, 0.0], [0.0, 0.0]]],        # F_c a_s
    "add": [[[4.0, -4.0], [13.5, 16.0]], [[4.0, 0.0], [-2.5, -8.0]]],     # F_c + F_s
    "max": [[[2.0, 0.0], [7.5, 8.0]], [[4.0, 0.0], [0.0, 0.0]]],          # max(F_c, F_s)
}


@pytest.mark.parametrize("rule", RECOMBINE_RULES)
def test_hand_example_exact(rule):
    m = hand_module(rule)
    a_c, a_s = m.coefficients(hand_input())
    assert torch.equal(a_c, torch.tensor([[2.0, 0.0]]))
    assert torch.equal(a_s, torch.tensor([[[[2.0, 0.0], [2.5, 2.0]]]]))
    assert torch.equal(m(hand_input()), torch.tensor([EXPECTED[rule]]))


@pytest.mark.parametrize("rule", RECOMBINE_RULES)
def test_matches_the_literal_formulas_values_and_gradients(rule):
    torch.manual_seed(5)
    m = SASTM(8, reduction=2, recombine=rule)
    with torch.no_grad():
        m.fc2.bias.normal_()                                              # some gates closed
        m.spatial.bias.fill_(0.0)
    x = torch.randn(4, 8, 16, 16, requires_grad=True)
    g = torch.randn(4, 8, 16, 16)
    gap = x.mean(dim=(2, 3))
    a_c = torch.relu(m.fc2(torch.relu(m.fc1(gap))))[:, :, None, None]
    a_s = torch.relu(torch.nn.functional.conv2d(x, m.spatial.weight, m.spatial.bias))
    f_c, f_s = x * a_c, x * a_s
    ref = {"mul": f_c * a_s, "add": f_c + f_s, "max": torch.maximum(f_c, f_s)}[rule]
    assert 0 < (a_c == 0).sum() < a_c.numel() and 0 < (a_s == 0).sum() < a_s.numel()
    out = m(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    params = [x] + list(m.parameters())
    for ours, theirs in zip(torch.autograd.grad((out * g).sum(), params), torch.autograd.grad((ref * g).sum(), params)):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_record_counts_zero_coefficients_only_when_asked():
    m = hand_module("mul")
    m(hand_input())
    assert m.last_counts is None and m.last_zero_channel is None and m.last_zero_spatial is None
    m.record = True
    m(torch.cat([hand_input(), hand_input()]))                           # batch of 2
    assert m.last_counts == {"channel": (2, 4), "spatial": (2, 8)}
    assert m.last_zero_channel == 0.5 and m.last_zero_spatial == 0.25


# ---------------------------------------------------------------- shapes, modes, gradients, init

@pytest.mark.parametrize("rule", RECOMBINE_RULES)
@pytest.mark.parametrize("channels, reduction", [(1, 4), (6, 4), (16, 4), (16, 16), (3, 1)])
def test_shapes(rule, channels, reduction):
    torch.manual_seed(0)
    m = SASTM(channels, reduction, rule)
    assert m.fc1.out_features == max(1, channels // reduction)
    x = torch.randn(3, channels, 5, 7)
    a_c, a_s = m.coefficients(x)
    assert a_c.shape == (3, channels) and a_s.shape == (3, 1, 5, 7)
    assert (a_c >= 0).all() and (a_s >= 0).all()
    assert m(x).shape == (3, channels, 5, 7)


@pytest.mark.parametrize("rule", RECOMBINE_RULES)
def test_train_and_eval_give_the_same_output(rule):
    torch.manual_seed(1)
    m = SASTM(8, recombine=rule)
    x = torch.randn(4, 8, 6, 6)
    y_train = m.train()(x)
    assert torch.equal(m.eval()(x), y_train)


@pytest.mark.parametrize("rule", RECOMBINE_RULES)
def test_gradient_flows_to_input_and_every_parameter(rule):
    torch.manual_seed(2)
    m = SASTM(8, reduction=4, recombine=rule)
    x = torch.randn(4, 8, 6, 6, requires_grad=True)
    (m(x) * torch.randn(4, 8, 6, 6)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_plus_one_init_starts_with_positive_coefficients():
    torch.manual_seed(3)
    m = SASTM(16)                                                        # the default start, +1
    assert torch.equal(m.fc2.bias, torch.ones(16)) and torch.equal(m.spatial.bias, torch.ones(1))
    assert torch.equal(m.fc1.bias, torch.zeros(4))
    assert abs(m.fc1.weight.std().item() - 0.02) < 0.01
    m.record = True
    m(0.2 * torch.randn(8, 16, 8, 8))                                    # pre-BN scale of DCGAN at init
    assert m.last_counts["channel"][0] == 0 and m.last_counts["spatial"][0] == 0


def test_same_seed_same_module():
    torch.manual_seed(4)
    a = SASTM(8, recombine="add")
    torch.manual_seed(4)
    b = SASTM(8, recombine="add")
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


# ---------------------------------------------------------------- errors

def test_unknown_rule_names_parameter_and_lists_rules():
    with pytest.raises(ConfigError, match="'recombine'") as info:
        SASTM(4, recombine="concat")
    for rule in RECOMBINE_RULES:
        assert repr(rule) in str(info.value)


@pytest.mark.parametrize("kwargs, name", [
    (dict(channels=4, reduction=0), "reduction"),
    (dict(channels=4, reduction=-2), "reduction"),
    (dict(channels=4, reduction=2.0), "reduction"),
    (dict(channels=0), "channels"),
    (dict(channels=3.0), "channels"),
    (dict(channels=True), "channels"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        SASTM(**kwargs)


def test_wrong_input_shape_raises():
    m = SASTM(4)
    with pytest.raises(ConfigError, match="SASTM"):
        m(torch.randn(2, 3, 4, 4))
    with pytest.raises(ConfigError, match="SASTM"):
        m(torch.randn(2, 4, 4))


def test_zero_gate_bias_zeroes_half_the_coefficients_and_the_signal():
    """b_2 = b_s = 0 (the bias-free formula, sastm-b0) gives ReLU of zero-mean pre-activations, about half the
    coefficients exactly 0, and an output cubic in F: at DCGAN's pre-BN scale it is far below BN's eps, so the
    signal dies; the default +1 start gives no zero and keeps the input's scale; the DCGAN generator passes the
    choice to every SASTM."""
    from pgan_core.models import DCGANGenerator

    torch.manual_seed(0)
    x = 0.2 * torch.randn(16, 64, 8, 8)                                 # pre-BN scale of DCGAN at init
    m0, m1 = SASTM(64, 4, "mul", gate_bias=0.0), SASTM(64, 4, "mul")
    assert m0.gate_bias == 0.0 and "gate_bias=0" in repr(m0) and m1.gate_bias == 1.0
    for a in m0.coefficients(x):
        assert 0.3 < float((a == 0).float().mean()) < 0.7
    for a in m1.coefficients(x):
        assert float((a == 0).float().mean()) == 0.0
    eps = torch.nn.BatchNorm2d(64).eps
    with torch.no_grad():
        assert float(m0(x).var()) < eps / 10 < float(x.var()) / 100           # below BN's eps: the signal dies
        assert 0.5 < float(m1(x).std() / x.std()) < 2.0
    G = DCGANGenerator(3, width=4, z_dim=8, sastm="mul")
    gates = [g for g in G.modules() if isinstance(g, SASTM)]
    assert gates and all(g.gate_bias == 1.0 and float(g.fc2.bias.detach().min()) == 1.0 for g in gates)
    G0 = DCGANGenerator(3, width=4, z_dim=8, sastm="mul", sastm_gate_bias=0.0)
    assert all(float(g.fc2.bias.detach().abs().max()) == 0.0 for g in G0.modules() if isinstance(g, SASTM))
    with pytest.raises(ConfigError, match="sastm_gate_bias"):
        DCGANGenerator(3, width=4, z_dim=8, sastm_gate_bias=0.0)                 # without SASTM
