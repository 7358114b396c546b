"""NICE: AN noise statistics and identity cases, the beta controller on hand sequences, consistency loss, two passes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from pgan_core.errors import ConfigError
from pgan_core.layers.nice import (BETA_MAX, BETA_STEP, ETA, GAMMA, AdaptiveNoise, BetaController, NiceRegularizer,
                                   consistency_loss, two_noisy_passes)


# ---------------------------------------------------------------- AdaptiveNoise

def test_noise_has_mean_one_and_std_beta():
    beta, n = 0.3, 200_000
    torch.manual_seed(0)
    z = AdaptiveNoise(beta).train()(torch.ones(n))                           # X = 1, so the output is Z
    assert abs(z.mean().item() - 1.0) < 5 * beta / math.sqrt(n)             # 5 standard errors of the mean
    assert abs(z.std().item() - beta) < 5 * beta / math.sqrt(2 * n)         # 5 standard errors of the std


def test_noise_is_multiplicative_elementwise_and_fresh():
    m = AdaptiveNoise(0.5).train()
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    y1, y2 = m(x), m(x)
    assert y1.shape == x.shape and not torch.equal(y1, y2)
    z = y1 / x
    assert z.unique().numel() == x.numel()                                  # one draw per element
    torch.manual_seed(1)
    assert torch.equal(m(x), y1)                                            # torch.manual_seed reproduces it


def test_identity_at_eval_and_at_beta_zero():
    x = torch.randn(2, 3, 4, 4)
    assert AdaptiveNoise(0.7).eval()(x) is x
    assert AdaptiveNoise(0.0).train()(x) is x
    m = AdaptiveNoise(0.2).train()
    m.set_beta(0.0)
    assert torch.equal(m(x), x)


def test_beta_is_a_buffer_saved_with_the_module():
    m = AdaptiveNoise(0.25)
    assert list(m.parameters()) == [] and "beta" in m.state_dict()
    other = AdaptiveNoise()
    other.load_state_dict(m.state_dict())
    assert float(other.beta) == 0.25


def test_gradient_flows_through_the_noise():
    torch.manual_seed(2)
    x = torch.randn(3, 4, requires_grad=True)
    m = AdaptiveNoise(0.5).train()
    y = m(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach() / x.detach())             # dy/dx = Z


# ---------------------------------------------------------------- BetaController

def test_defaults_are_the_briefs_constants():
    c = BetaController()
    assert (c.step, c.eta, c.beta_max, c.ema, c.beta) == (1e-3, 0.6, 1.0, 0.9, 0.0)
    assert (BETA_STEP, ETA, BETA_MAX) == (1e-3, 0.6, 1.0)


def test_update_rule_on_a_hand_sequence_with_clipping_at_both_ends():
    c = BetaController(step=0.1, eta=0.5, beta_max=0.25)
    r_seq = [0.9, 0.9, 0.9, 0.5, 0.1, 0.1, 0.1, 0.1, 0.6]
    # +0.1, +0.1, +0.1 -> clip 0.25, sign(0) = 0, -0.1, -0.1, -0.1 -> clip 0, stays 0, +0.1
    expected = [0.1, 0.2, 0.25, 0.25, 0.15, 0.05, 0.0, 0.0, 0.1]
    assert [c.step_beta(r) for r in r_seq] == pytest.approx(expected, abs=1e-12)
    assert c.beta >= 0.0


def test_update_from_logits_uses_the_ema_of_the_mean_sign():
    c = BetaController(step=0.1, eta=0.0, beta_max=1.0, ema=0.5)
    # s_1 = mean(sign([1, 2, -1, 3])) = 0.5 -> r_1 = 0.5 (EMA starts at s_1) -> beta 0.1
    assert c.update(torch.tensor([1.0, 2.0, -1.0, 3.0])) == pytest.approx(0.1)
    assert c.r == 0.5
    # s_2 = -1 -> r_2 = 0.5 * 0.5 + 0.5 * (-1) = -0.25 -> beta 0.0
    assert c.update(torch.tensor([[-1.0], [-2.0], [-0.5], [-4.0]])) == pytest.approx(0.0)
    assert c.r == -0.25
    # s_3 = mean(sign([0, 1])) = 0.5 -> r_3 = 0.125 -> beta 0.1
    assert c.update(torch.tensor([0.0, 1.0])) == pytest.approx(0.1)
    assert c.r == 0.125 and c.n_updates == 3


def test_apply_writes_beta_into_every_noise_module_and_state_round_trips():
    d = nn.Sequential(nn.Linear(4, 4), AdaptiveNoise(), nn.Sequential(nn.Linear(4, 4), AdaptiveNoise()))
    c = BetaController(step=0.05, eta=0.0)
    c.update(torch.ones(8))
    assert c.apply(d) == 2
    assert all(float(m.beta) == pytest.approx(0.05) for m in d.modules() if isinstance(m, AdaptiveNoise))
    c2 = BetaController(step=0.05, eta=0.0)
    c2.load_state_dict(c.state_dict())
    assert (c2.beta, c2.r, c2.n_updates) == (c.beta, c.r, c.n_updates)


# ---------------------------------------------------------------- consistency loss and two passes

def test_consistency_loss_zero_for_identical_features():
    f = torch.randn(3, 8, 2, 2)
    assert consistency_loss(f, f.clone()).item() == 0.0


def test_consistency_loss_hand_example():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    # squared differences 0, 4, 9, 0 -> mean 13 / 4 (||.||^2 / dim, averaged over the batch of 2)
    assert consistency_loss(a, b).item() == 3.25


def test_two_noisy_passes_differ_in_training_and_agree_at_eval():
    torch.manual_seed(3)
    blocks = nn.Sequential(nn.Linear(6, 6), AdaptiveNoise(0.5), nn.ReLU(), nn.Linear(6, 6), AdaptiveNoise(0.5))
    h = torch.randn(5, 6)
    f1, f2 = two_noisy_passes(blocks.train(), h)
    assert f1.shape == f2.shape == (5, 6) and not torch.equal(f1, f2)
    loss = consistency_loss(f1, f2)
    loss.backward()
    assert loss.item() > 0 and all(p.grad is not None for p in blocks.parameters())
    e1, e2 = two_noisy_passes(blocks.eval(), h)
    assert torch.equal(e1, e2)


# ---------------------------------------------------------------- NiceRegularizer (the training loop's plugin)

def test_regularizer_runs_the_controller_on_the_loss_signal_and_writes_beta_everywhere():
    an = [AdaptiveNoise(), AdaptiveNoise()]
    reg = NiceRegularizer(1.0, eta=0.0, step=0.1, ema=0.5)
    reg.attach(an)
    # the same hand sequence as test_update_from_logits_uses_the_ema_of_the_mean_sign, as s_t values
    # s_t as the losses give it (a 0-d tensor) or as a float
    logs = [reg.after_d_step({"d_real_sign": s, "d_real": 9.9}) for s in (torch.tensor(0.5), -1.0, 0.5)]
    assert [l["r_t"] for l in logs] == [0.5, -0.25, 0.125]
    assert [l["beta"] for l in logs] == pytest.approx([0.1, 0.0, 0.1])
    assert float(reg.beta) == pytest.approx(0.1) and float(reg.r) == 0.125 and int(reg.n_updates) == 3
    assert all(float(m.beta) == pytest.approx(0.1) for m in an)
    # the state is in buffers: a fresh regulariser loading it continues identically and updates its AN modules
    an2 = [AdaptiveNoise()]
    reg2 = NiceRegularizer(1.0, eta=0.0, step=0.1, ema=0.5)
    reg2.attach(an2)
    reg2.load_state_dict(reg.state_dict())
    assert float(an2[0].beta) == pytest.approx(0.1)
    assert reg2.after_d_step({"d_real_sign": 1.0}) == reg.after_d_step({"d_real_sign": 1.0})


def test_regularizer_collects_only_inside_a_d_step_in_training_mode():
    reg = NiceRegularizer(2.0).train()
    assert not reg.collecting and reg.d_regularizer() == (None, {})
    reg.begin_d_step()
    assert reg.collecting
    a, b = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    reg.record(a, b)                                                        # L_cons(x) = 3.25
    reg.record(a, a)                                                        # L_cons(x~) = 0
    loss, terms = reg.d_regularizer()
    assert loss.item() == 6.5 and list(terms) == ["loss_cons"]            # gamma (3.25 + 0)
    assert isinstance(terms["loss_cons"], torch.Tensor) and not terms["loss_cons"].requires_grad
    assert float(terms["loss_cons"]) == 3.25                               # a tensor until the loop logs it
    assert not reg.collecting
    reg.begin_d_step()
    assert not reg.eval().collecting and not NiceRegularizer(0.0).train().collecting  # eval / noise-only ablation
    assert GAMMA == 5.0


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("make, name", [
    (lambda: AdaptiveNoise(-0.1), "init_beta"),
    (lambda: AdaptiveNoise("0.1"), "init_beta"),
    (lambda: AdaptiveNoise().set_beta(-1.0), "beta"),
    (lambda: BetaController(step=0.0), "step"),
    (lambda: BetaController(step=-1e-3), "step"),
    (lambda: BetaController(eta=1.5), "eta"),
    (lambda: BetaController(beta_max=0.0), "beta_max"),
    (lambda: BetaController(ema=1.0), "ema"),
    (lambda: BetaController(ema=-0.1), "ema"),
    (lambda: BetaController(init_beta=2.0), "init_beta"),
    (lambda: BetaController().step_beta(float("nan")), "r_t"),
    (lambda: BetaController().observe("x"), "s_t"),
    (lambda: BetaController().update(torch.zeros(0)), "d_real"),
    (lambda: consistency_loss(torch.zeros(2, 3), torch.zeros(3, 2)), "feats_b"),
    (lambda: two_noisy_passes(lambda h: h, torch.zeros(1)), "blocks"),
    (lambda: NiceRegularizer(-1.0), "gamma"),
    (lambda: NiceRegularizer(eta=2.0), "eta"),
    (lambda: NiceRegularizer().after_d_step({"d_real": 1.0}), "terms"),
])
def test_bad_arguments(make, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        make()
