"""generator_probes: hand-set weights and gates give the hand-computed fractions; keys; modes restored."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from pgan_core.layers.sastm import SASTM
from pgan_core.models import DCGANGenerator
from pgan_core.probes import discriminator_probes, generator_probes

Z, WIDTH, B = 4, 2, 3
SASTM_KEYS = {"sastm_zero_channel", "sastm_zero_spatial"}


def build(sastm: str | None = None) -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(3, z_dim=Z, width=WIDTH, sastm=sastm)


def sastms(G: nn.Module) -> list[SASTM]:
    return [m for m in G.modules() if isinstance(m, SASTM)]


def test_deconv_neg_weight_hand_example():
    G = build()
    with torch.no_grad():
        # ConvT weights at width 2, z_dim 4: stem (4, 16, 4, 4) = 1024, up1 (16, 8, 4, 4) = 2048,
        # up2 (8, 4, 4, 4) = 512, up3 (4, 2, 4, 4) = 128; 3712 in all
        G.stem[0].weight.fill_(-0.5)                                        # 1024 negative
        G.up1[0].weight.fill_(0.5)                                          # 0
        G.up2[0].weight.zero_()                                             # 0 (zero is not negative)
        G.up3[0].weight.fill_(1.0)
        G.up3[0].weight.view(-1)[:64] = -1.0                                # 64 negative
        G.out[0].weight.fill_(-1.0)                                         # a Conv2d: not counted
    assert [G.stem[0].weight.numel(), G.up1[0].weight.numel(), G.up2[0].weight.numel(),
            G.up3[0].weight.numel()] == [1024, 2048, 512, 128]
    probes = generator_probes(G, torch.randn(B, Z))
    assert probes == {"deconv_neg_weight": (1024 + 64) / 3712}


def test_sastm_zero_fractions_are_element_weighted():
    G = build("mul")
    gates = sastms(G)
    assert [m.channels for m in gates] == [16, 8, 4, 2]                     # 8w, 4w, 2w, w
    with torch.no_grad():
        for m in gates:
            m.fc2.weight.zero_()
            m.fc2.bias.fill_(1.0)
            m.fc2.bias[0] = -1.0                                            # a_c = 0 for channel 0 only
            m.spatial.weight.zero_()
            m.spatial.bias.fill_(1.0)
        gates[0].spatial.bias.fill_(-1.0)                                   # a_s = 0 on the whole 4x4 map
    probes = generator_probes(G, torch.randn(B, Z))
    assert set(probes) == {"deconv_neg_weight"} | SASTM_KEYS
    # channel: B zeros per module out of B * (16 + 8 + 4 + 2); spatial: B * 16 out of B * (16 + 64 + 256 + 1024)
    assert probes["sastm_zero_channel"] == (4 * B) / (30 * B)
    assert probes["sastm_zero_spatial"] == (16 * B) / (1360 * B)


def test_keys_present_only_where_they_apply():
    z = torch.randn(B, Z)
    assert set(generator_probes(build(), z)) == {"deconv_neg_weight"}
    assert set(generator_probes(build("max"), z)) == {"deconv_neg_weight"} | SASTM_KEYS
    assert generator_probes(nn.Sequential(nn.Linear(Z, 8)), z) == {}      # no ConvT, no SASTM
    fractions = generator_probes(build("add"), z)
    assert all(0.0 <= v <= 1.0 for v in fractions.values())


def test_modes_flags_and_running_stats_restored():
    G = build("mul")
    G.train()
    G.up1.eval()                                                            # a mixed-mode model
    modes = {name: m.training for name, m in G.named_modules()}
    running = {k: v.clone() for k, v in G.state_dict().items() if "running" in k or "num_batches" in k}
    generator_probes(G, torch.randn(B, Z))
    assert {name: m.training for name, m in G.named_modules()} == modes
    assert all(not m.record for m in sastms(G))                             # training pays no probing cost
    for k, v in G.state_dict().items():
        if k in running:
            assert torch.equal(v, running[k]), k                            # eval mode: BN stats untouched
    G.eval()
    generator_probes(G, torch.randn(B, Z))
    assert not G.training
    gates = sastms(G)
    gates[1].record = True                                                  # a caller's own flag survives
    generator_probes(G, torch.randn(B, Z))
    assert [m.record for m in gates] == [False, True, False, False]


def test_no_autograd_graph_and_same_result_as_manual_count():
    G = build("mul")
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in sastms(G):
            m.fc2.bias.copy_(torch.randn(m.channels, generator=gen))       # some channel gates closed
    z = torch.randn(B, Z, requires_grad=True)
    probes = generator_probes(G, z)
    assert z.grad is None
    assert 0.0 < probes["sastm_zero_channel"] < 1.0
    G.eval()
    zeros = total = 0
    with torch.no_grad():
        x = G.stem[0](z.view(B, Z, 1, 1))
        for block in (G.stem, G.up1, G.up2, G.up3):
            if block is not G.stem:
                x = block[0](x)
            a_c, _ = block[1].coefficients(x)
            zeros, total = zeros + int((a_c == 0).sum()), total + a_c.numel()
            x = block[3](block[2](block[1](x)))
    assert probes["sastm_zero_channel"] == zeros / total


# ---------------------------------------------------------------- discriminator: memorisation gap

class MeanD(nn.Module):
    """D(x) = 2 * mean(x) per image, with a dropout that would change the result in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * self.drop(x).flatten(1).mean(1)


def test_memorisation_gap_hand_example_in_eval_mode_and_modes_restored():
    D = MeanD().train()
    x_train = torch.stack([torch.full((1, 2, 2), v) for v in (0.5, 0.25, -0.25)])      # D: 1, 0.5, -0.5 -> mean 1/3
    x_held = torch.stack([torch.full((1, 2, 2), v) for v in (-0.5, 0.0)])              # D: -1, 0 -> mean -1/2
    out = discriminator_probes(D, x_train, x_held, batch=2)                            # batches of 2 and 1
    assert out == pytest.approx({"d_train": 1 / 3, "d_heldout": -0.5, "mem_gap": 1 / 3 + 0.5})
    assert D.training and D.drop.training                                               # restored
    assert discriminator_probes(D.eval(), x_train, x_train)["mem_gap"] == 0.0 and not D.training
