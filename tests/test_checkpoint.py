"""Snapshots and training states (pgan_core.checkpoint): formats, config keys, damage, the snapshot's G."""
from __future__ import annotations

import pytest
import torch

from pgan_core import build
from pgan_core.checkpoint import (SNAPSHOT_FILE, STATE_FILE, load_checkpoint, load_snapshot_generator, save_snapshot,
                                  save_state)
from pgan_core.config import RunConfig
from pgan_core.errors import IntegrityError

CFG = RunConfig(method="pgan-g", dataset="synthetic", width=4, z_dim=8, batch_size=4, eval_protocols=())


def _models():
    return build.run_models(CFG, torch.device("cpu"))


def test_snapshot_round_trip_rebuilds_the_generator(tmp_path):
    G, _ = _models()
    save_snapshot(tmp_path, G_ema=G, step=3, config=CFG.to_dict(), config_key=CFG.key())
    G2, conf = load_snapshot_generator(tmp_path / SNAPSHOT_FILE)
    assert conf == CFG.to_dict() and not G2.training
    z = torch.randn(2, 8)
    G.eval()
    assert torch.equal(G(z), G2(z))


def test_state_checks_format_and_config_key(tmp_path):
    G, D = _models()
    opt_g, opt_d = build.optimizers(CFG, G, D)
    save_state(tmp_path, G=G, D=D, G_ema=G, opt_g=opt_g, opt_d=opt_d, step=5, cur_nimg=20, train_seconds=1.5,
               config=CFG.to_dict(), config_key=CFG.key())
    st = load_checkpoint(tmp_path / STATE_FILE, expect_format="pgan-state-1", config_key=CFG.key())
    assert (st["step"], st["cur_nimg"], st["train_seconds"]) == (5, 20, 1.5)
    with pytest.raises(IntegrityError, match="another configuration"):
        load_checkpoint(tmp_path / STATE_FILE, expect_format="pgan-state-1", config_key="something-else")
    with pytest.raises(IntegrityError, match="is not a pgan-snapshot-1 file"):
        load_checkpoint(tmp_path / STATE_FILE, expect_format="pgan-snapshot-1")


def test_a_snapshot_of_another_method_is_refused(tmp_path):
    G, _ = build.run_models(RunConfig(method="dcgan", dataset="synthetic", width=4, z_dim=8), torch.device("cpu"))
    save_snapshot(tmp_path, G_ema=G, step=1, config=CFG.to_dict(), config_key=CFG.key())   # dcgan weights, pgan-g config
    with pytest.raises(IntegrityError, match="does not match method 'pgan-g'"):
        load_snapshot_generator(tmp_path / SNAPSHOT_FILE)


def test_a_damaged_snapshot_is_never_loaded(tmp_path):
    G, _ = _models()
    save_snapshot(tmp_path, G_ema=G, step=1, config=CFG.to_dict(), config_key=CFG.key())
    data = bytearray((tmp_path / SNAPSHOT_FILE).read_bytes())
    data[len(data) // 3] ^= 0x01
    (tmp_path / SNAPSHOT_FILE).write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_snapshot_generator(tmp_path / SNAPSHOT_FILE)
