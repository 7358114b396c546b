"""DCGAN options of the Self-Sparse GAN / WGAN-GP study: SASTM in G, no BN in D; defaults unchanged."""
from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn as nn

from pgan_core.errors import ConfigError
from pgan_core.layers.perturbation import PerturbationLayer
from pgan_core.layers.sastm import RECOMBINE_RULES, SASTM
from pgan_core.models import DCGANDiscriminator, DCGANGenerator

B, Z = 2, 16


def state_digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.contiguous().numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- generator with SASTM

@pytest.mark.parametrize("rule", RECOMBINE_RULES)
@pytest.mark.parametrize("width, img_channels", [(2, 1), (4, 3)])
def test_sastm_generator_shapes_and_backward(rule, width, img_channels):
    torch.manual_seed(0)
    G = DCGANGenerator(img_channels, z_dim=Z, width=width, sastm=rule)
    fake = G(torch.randn(B, Z))
    assert fake.shape == (B, img_channels, 32, 32)
    assert torch.isfinite(fake).all() and fake.abs().max() <= 1
    fake.mean().backward()
    assert all(p.grad is not None for p in G.parameters())
    assert {m.recombine for m in G.modules() if isinstance(m, SASTM)} == {rule}


def test_sastm_sits_between_each_transposed_conv_and_its_bn():
    G = DCGANGenerator(3, z_dim=Z, width=4, sastm="mul", sastm_reduction=2)
    for block in (G.stem, G.up1, G.up2, G.up3):
        convt, gate, bn, act = block
        assert (type(convt), type(gate), type(bn), type(act)) == (nn.ConvTranspose2d, SASTM, nn.BatchNorm2d, nn.ReLU)
        assert gate.channels == convt.out_channels == bn.num_features
        assert gate.reduction == 2
    assert [type(m) for m in G.out] == [nn.Conv2d]                          # no SASTM before tanh
    flat = [m for name, m in G.named_modules() if name.count(".") == 1]    # block layers in order
    convts = [i for i, m in enumerate(flat) if isinstance(m, nn.ConvTranspose2d)]
    assert len(convts) == 4 == sum(isinstance(m, SASTM) for m in flat)
    for i in convts:                                                        # module order, whole net
        assert isinstance(flat[i + 1], SASTM) and isinstance(flat[i + 2], nn.BatchNorm2d)


def test_sastm_init_survives_weights_init_and_is_seeded():
    torch.manual_seed(0)
    G = DCGANGenerator(3, z_dim=Z, width=4, sastm="add")                       # +1 biases: weights_init would set 0
    for m in G.modules():
        if isinstance(m, SASTM):
            assert torch.equal(m.fc2.bias, torch.ones(m.channels)) and torch.equal(m.spatial.bias, torch.ones(1))
    torch.manual_seed(0)
    assert state_digest(DCGANGenerator(3, z_dim=Z, width=4, sastm="add")) == state_digest(G)


@pytest.mark.parametrize("kwargs, name", [
    (dict(sastm="mul", conv="perturb"), "sastm"),
    (dict(sastm="concat"), "sastm"),
    (dict(sastm="mul", sastm_reduction=0), "sastm_reduction"),
    (dict(sastm_reduction=8), "sastm_reduction"),                          # without sastm
])
def test_bad_sastm_arguments(kwargs, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        DCGANGenerator(3, z_dim=Z, width=4, **kwargs)


# ---------------------------------------------------------------- discriminator without BN

@pytest.mark.parametrize("conv", ["conv", "perturb"])
def test_discriminator_without_norm(conv):
    torch.manual_seed(0)
    D = DCGANDiscriminator(3, width=4, conv=conv, norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert all(l.bn is None for l in D.modules() if isinstance(l, PerturbationLayer))
    x = torch.randn(B, 3, 32, 32)
    logits = D(x)
    assert logits.shape == (B,)
    logits.sum().backward()
    assert all(p.grad is not None for p in D.parameters())
    assert torch.equal(D.eval()(x), D.train()(x))                           # no batch coupling left
    torch.testing.assert_close(D(x[:1]), D(x)[:1])


def test_discriminator_norm_none_only_removes_bn():
    with_bn = DCGANDiscriminator(3, width=4)
    without = DCGANDiscriminator(3, width=4, norm="none")
    keep = lambda d: [(type(m), getattr(m, "weight", torch.empty(0)).shape) for m in d.modules()  # noqa: E731
                      if not isinstance(m, (nn.Sequential, nn.BatchNorm2d, DCGANDiscriminator))]
    assert keep(with_bn) == keep(without)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules()) == 2


def test_bad_norm():
    with pytest.raises(ConfigError, match="'norm'"):
        DCGANDiscriminator(3, width=4, norm="batch")


# ---------------------------------------------------------------- defaults unchanged

# Recorded from the committed dcgan.py *before* the sastm/norm options were added (torch 2.14 CPU;
# a torch upgrade that changes nn.init.normal_'s stream would change these digests, not our code).
G_KEYS = ["stem.0.weight"] + [f"stem.1.{s}" for s in ("weight", "bias", "running_mean", "running_var",
                                                     "num_batches_tracked")]
G_KEYS += [f"{b}.{i}.{s}" for b in ("up1", "up2", "up3") for i, s in
           [(0, "weight")] + [(1, s) for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]]
G_KEYS += ["out.0.weight", "out.0.bias"]
D_KEYS = ["stem.0.weight"] + [f"{b}.{i}.{s}" for b in ("down1", "down2") for i, s in
                              [(0, "weight")] + [(1, s) for s in ("weight", "bias", "running_mean", "running_var",
                                                                  "num_batches_tracked")]] + ["head.weight"]
G_DIGEST = "c77aaa7f0760d8a4fd93d1f4b707dbfc56b4453539e99dc98549e006020e6916"
D_DIGEST = "c837f4eddbfafb39d5de9fae35df7807e7c029757a1646fb13373429c3ce132a"


def test_default_generator_is_unchanged():
    torch.manual_seed(0)
    G = DCGANGenerator(3, z_dim=Z, width=4)
    assert list(G.state_dict()) == G_KEYS
    assert state_digest(G) == G_DIGEST
    assert not any(isinstance(m, SASTM) for m in G.modules())
    torch.manual_seed(0)
    assert state_digest(DCGANGenerator(3, z_dim=Z, width=4, sastm=None, sastm_reduction=4)) == G_DIGEST


def test_default_discriminator_is_unchanged():
    torch.manual_seed(0)
    D = DCGANDiscriminator(3, width=4)
    assert list(D.state_dict()) == D_KEYS
    assert state_digest(D) == D_DIGEST
    torch.manual_seed(0)
    assert state_digest(DCGANDiscriminator(3, width=4, norm="bn")) == D_DIGEST
