"""The loop's fast GPU path (device-resident data, queued checks, channels_last, compile) and its fallbacks.

Tests marked ``gpu`` need CUDA and are skipped elsewhere; the divergence and compile-fallback tests run on
every device the machine has, so the queued checks of the GPU path keep the CPU path's guarantees.
"""
from __future__ import annotations

import json
import warnings

import pytest
import torch

import pgan_core.training as training
from pgan_core.config import RunConfig
from pgan_core.errors import TrainingDiverged
from pgan_core.training import train

TINY = dict(dataset="synthetic", width=4, z_dim=16, batch_size=8, steps=6, eval_every=0, ckpt_every=3, log_every=3,
            eval_protocols=(), max_images=128)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def cfg(**kw) -> RunConfig:
    return RunConfig.from_params({**TINY, **kw})


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("device", DEVICES)
def test_divergence_names_the_first_bad_iteration(tmp_path, monkeypatch, device):
    """A NaN D loss at iteration 4 stops the run naming iteration 4 (on the GPU found at the next log step, 6),
    and the checkpoint on disk is the last good one (iteration 3)."""
    real_get_loss = training.get_loss

    def poisoned(name):
        loss = real_get_loss(name)
        calls = {"n": 0}

        def d_loss(D, real, fake, gen=None, **kw):
            out, terms = loss.d_loss(D, real, fake, gen, **kw)
            calls["n"] += 1
            return (out * float("nan") if calls["n"] == 5 else out), terms   # the D step of iteration 4
        return type(loss)(loss.name, d_loss, loss.g_loss)

    monkeypatch.setattr(training, "get_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="iteration 4: discriminator"):
        train(cfg(method="dcgan", device=device), tmp_path, progress=False)
    st = torch.load(tmp_path / "state.pt", weights_only=True)
    assert st["step"] == 3 and not (tmp_path / "record.json").exists()


@pytest.mark.parametrize("device", DEVICES)
def test_compile_failure_falls_back_to_eager(tmp_path, monkeypatch, device):
    def broken(*_a, **_k):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = train(cfg(method="dcgan", device=device, compile=True), tmp_path, progress=False)
    assert rec.status == "complete"
    assert any("torch.compile failed" in str(w.message) for w in caught)
    events = [e for e in _log(tmp_path) if e["kind"] == "event" and e["event"] != "fast_path"]
    assert events and events[0]["event"] == "compile_failed" and "no compiler here" in events[0]["failed"][0]
    assert rec.fast_path["compile_outcome"] == "compile_failed"


def test_compile_trial_restores_the_weights(tmp_path, monkeypatch):
    """The compile trial runs one D and one G step; afterwards G and D hold their initial weights, so a compiled
    run starts where an eager one does (the trial is made to fail after its steps to check the restore)."""
    from pgan_core.data import load_dataset
    from pgan_core.losses import get_loss
    from pgan_core.sampling import make_input

    c = cfg(method="dcgan").resolved()
    G, D = training.build_run_models(c, torch.device("cpu"))
    before = {k: v.clone() for m in (G, D) for k, v in m.state_dict().items()}
    monkeypatch.setattr(torch, "compile", lambda m, **k: m)           # 'compiles' to itself: the trial succeeds
    data = load_dataset("synthetic", max_images=128)
    Gc, Dc, event = training.compile_for_training(c, G, D, get_loss(c.loss), data, make_input(c), torch.device("cpu"))
    assert event["event"] == "compiled" and event["modules"] == ["G", "D"]
    after = {k: v for m in (G, D) for k, v in m.state_dict().items()}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for m in (G, D) for p in m.parameters())


@pytest.mark.gpu
@pytest.mark.parametrize("fast", [dict(channels_last=False, compile=False), dict(channels_last=True, compile=False),
                                  dict(channels_last=True, compile=True)])
@pytest.mark.parametrize("method", ["dcgan", "pgan-g", "wgan-gp"])
def test_gpu_run_is_finite_and_complete(tmp_path, method, fast):
    rec = train(cfg(method=method, device="cuda", amp=True, **fast), tmp_path, progress=False)
    assert rec.status == "complete" and rec.device.startswith("cuda") and rec.real_img_per_s > 0
    losses = [e for e in _log(tmp_path) if e["kind"] == "loss"]
    assert [e["step"] for e in losses] == [3, 6]
    assert all(torch.isfinite(torch.tensor([e["loss_d"], e["loss_g"], e["grad_norm_d"]])).all() for e in losses)


@pytest.mark.gpu
def test_gpu_resume_continues_from_the_checkpoint(tmp_path):
    c = cfg(method="dcgan", device="cuda")
    part = train(c, tmp_path, progress=False, stop_after=4)
    assert part.status == "interrupted"
    rec = train(c, tmp_path, progress=False)
    assert rec.status == "complete" and rec.resumed_from_step == 3 and rec.steps == 6
