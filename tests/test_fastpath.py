"""The CPU/GPU fast path: what runs is decided once, recorded, falls back with a warning, keeps resume exact."""
from __future__ import annotations

import json

import pytest
import torch

from pgan_core import fastpath
from pgan_core.config import RunConfig
from pgan_core.errors import ConfigError
from pgan_core.fastpath import resolve_fast_path
from pgan_core.training import train

TINY = dict(dataset="synthetic", width=4, z_dim=16, batch_size=8, steps=6, eval_every=3, ckpt_every=2, log_every=1,
            eval_protocols=("fid64_domain",), domain_quality="smoke", max_images=128)
CPU = torch.device("cpu")


def cfg(**kw) -> RunConfig:
    return RunConfig.from_params({**TINY, **kw})


def _weights(run_dir):
    st = torch.load(run_dir / "state.pt", weights_only=True)
    return {f"{part}.{k}": v for part in ("G", "D", "G_ema") for k, v in st[part].items()}


def test_defaults_are_fp32_eager_and_keep_old_run_keys():
    fp = resolve_fast_path(cfg(), CPU)
    assert (fp.autocast_bf16, fp.channels_last, fp.compile, fp.mode) == (False, False, False, "fp32")
    assert "cpu_amp" not in json.loads(cfg().to_json()) or cfg().key() == cfg(cpu_amp=False).key()
    assert cfg(cpu_amp=True).key() != cfg().key()                       # a different arithmetic, a different run


def test_bad_option_values_are_refused():
    with pytest.raises(ConfigError, match="parameter 'cpu_amp'"):
        cfg(cpu_amp="yes")


def test_bf16_without_native_support_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setattr(fastpath, "cpu_bf16_supported", lambda: False)
    with pytest.warns(RuntimeWarning, match="no native bf16"):
        fp = resolve_fast_path(cfg(cpu_amp=True), CPU)
    assert not fp.autocast_bf16 and fp.mode == "fp32" and len(fp.notes) == 1


def test_compile_without_a_compiler_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setattr(fastpath, "compiler_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        fp = resolve_fast_path(cfg(compile=True), CPU)
    assert fp.compile is False


def test_fallback_is_recorded_in_the_run_and_the_run_completes(tmp_path, monkeypatch):
    monkeypatch.setattr(fastpath, "cpu_bf16_supported", lambda: False)
    with pytest.warns(RuntimeWarning):
        rec = train(cfg(method="dcgan", cpu_amp=True), tmp_path, progress=False)
    assert rec.status == "complete" and rec.fast_path["mode"] == "fp32" and rec.fast_path["notes"]
    events = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "fast_path" and e["notes"] for e in events)


@pytest.mark.skipif(not fastpath.cpu_bf16_supported(), reason="this CPU has no native bf16")
@pytest.mark.parametrize("method", ["dcgan", "sngan"])
def test_bf16_channels_last_runs_resume_bit_exactly(tmp_path, method):
    c = cfg(method=method, cpu_amp=True, channels_last=True, ema_kimg=0.01)
    full = train(c, tmp_path / "full", progress=False)
    assert full.fast_path["mode"] == "bf16+cl"
    train(c, tmp_path / "part", progress=False, stop_after=3)
    resumed = train(c, tmp_path / "part", progress=False)
    assert resumed.resumed_from_step == 2
    wa, wb = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [h["fid64_domain"] for h in full.history] == [h["fid64_domain"] for h in resumed.history]


@pytest.mark.skipif(not fastpath.cpu_bf16_supported(), reason="this CPU has no native bf16")
def test_bf16_changes_the_arithmetic():
    """The switch is real: one D forward under the fast path differs from fp32 (and stays close)."""
    from pgan_core.training import build_run_models

    c = cfg(method="dcgan").resolved()
    _, D = build_run_models(c, CPU)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    ref = D(x)
    with resolve_fast_path(c.replace(cpu_amp=True), CPU).autocast():
        low = D(x)
    assert low.dtype == torch.bfloat16 or not torch.equal(low.float(), ref)
    assert not torch.equal(low.float(), ref)
    torch.testing.assert_close(low.float(), ref, rtol=0.1, atol=0.1)


@pytest.mark.skipif(not fastpath.cpu_bf16_supported(), reason="this CPU has no native bf16")
@pytest.mark.parametrize("method", ["sngan-mask-both", "sngan-nice", "sngan-pconv", "wgan-gp", "pgan-gd", "sastm"])
def test_every_family_trains_on_the_fast_path(tmp_path, method):
    """Spectral masks (FFT), NICE's two passes, PConv, WGAN-GP's double backward, perturbation layers, SASTM."""
    c = cfg(method=method, steps=3, eval_every=0, ckpt_every=3, eval_protocols=(), cpu_amp=True,
            channels_last=True, diffaugment="color,translation,cutout")
    rec = train(c, tmp_path, progress=False)
    assert rec.status == "complete" and rec.fast_path["mode"] == "bf16+cl"
    losses = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines() if '"loss"' in l]
    assert losses and all(torch.isfinite(torch.tensor([l["loss_d"], l["loss_g"]])).all() for l in losses)
