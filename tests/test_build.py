"""The build seam (pgan_core.build): one place builds a config's models, optimisers and the D the losses see."""
from __future__ import annotations

import torch

from pgan_core import build, training
from pgan_core.checkpoint import load_snapshot_generator
from pgan_core.config import RunConfig
from pgan_core.layers.perturbation import MASK_BUFFER

CPU = torch.device("cpu")
TINY = dict(dataset="synthetic", width=4, z_dim=16, batch_size=8, steps=2, eval_every=0, ckpt_every=2, log_every=1,
            eval_protocols=(), max_images=64)


def cfg(**kw) -> RunConfig:
    return RunConfig.from_params({**TINY, **kw}).resolved()


def test_run_models_are_seeded_and_carry_the_overrides():
    a, _ = build.run_models(cfg(method="pgan-g", mask_seed=3, noise_level=0.2), CPU)
    b, _ = build.run_models(cfg(method="pgan-g", mask_seed=3, noise_level=0.2), CPU)
    c, _ = build.run_models(cfg(method="pgan-g", mask_seed=4, noise_level=0.2), CPU)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)                                 # same seed: same weights
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)                             # other masks
    g = build.generator(cfg(method="pgan-g", mask_seed=3, noise_level=0.2))
    assert g.state_dict().keys() == sa.keys()                                         # the same G, no D


def test_optimizers_follow_the_recipe_and_the_overrides():
    G, D = build.run_models(cfg(method="sngan"), CPU)
    og, od = build.optimizers(cfg(method="sngan", lr_d=4e-4), G, D)
    assert og.param_groups[0]["lr"] == 2e-4 and od.param_groups[0]["lr"] == 4e-4
    assert og.param_groups[0]["betas"] == (0.0, 0.9)


def test_loss_view_is_d_of_mask_of_augment():
    c = cfg(method="sngan-mask-spatial", diffaugment="translation")
    _, D = build.run_models(c, CPU)
    view = build.loss_view(c, D)
    assert isinstance(view, build.AugmentedD) and isinstance(view.D, build.MaskedD) and view.D.D is D
    plain = cfg(method="sngan")
    _, D0 = build.run_models(plain, CPU)
    assert build.loss_view(plain, D0) is D0                                          # nothing on: D itself


def test_training_and_snapshots_use_the_seam(tmp_path):
    assert training.build_run_models is build.run_models and training.make_optimizers is build.optimizers
    c = cfg(method="pgan-g", mask_seed=2)
    training.train(c, tmp_path, progress=False)
    G, conf = load_snapshot_generator(tmp_path / "snapshot.pt")
    ref = build.generator(RunConfig.from_params(conf))
    assert G.state_dict().keys() == ref.state_dict().keys()
    masks = [k for k in ref.state_dict() if k.endswith("." + MASK_BUFFER)]
    assert masks and all(torch.equal(G.state_dict()[k], ref.state_dict()[k]) for k in masks)   # masks from the config
