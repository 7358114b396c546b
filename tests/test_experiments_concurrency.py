"""Several runs at once (run_grid(concurrency=N)): the same records as one after another."""
from __future__ import annotations

import pytest
import torch

from pgan_core.errors import ConfigError
from pgan_core.experiments import run_grid

TINY = dict(dataset="synthetic", width=4, z_dim=16, batch_size=8, steps=4, eval_every=2, ckpt_every=2, log_every=1,
            eval_protocols=("fid64_domain",), domain_quality="smoke", max_images=128)


def _grid(tmp_path, name, **kw):
    return run_grid(notebook="t", profile="smoke", methods=["dcgan", "pgan-g"], datasets=["synthetic"], seeds=[0, 1],
                    overrides={k: v for k, v in TINY.items() if k != "dataset"}, final_protocols=["fid64_domain"],
                    progress=False, runs_dir=tmp_path / name, **kw)


def _weights(rec):
    st = torch.load(f"{rec.run_dir}/state.pt", weights_only=True)
    return {f"{p}.{k}": v for p in ("G", "D") for k, v in st[p].items()}


def test_concurrent_grid_equals_sequential_at_the_same_threads(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seq = _grid(tmp_path, "seq")
    finally:
        torch.set_num_threads(before)
    par = _grid(tmp_path, "par", concurrency=2, threads_per_run=1)
    assert [(r.config["method"], r.config["seed"]) for r in par.records] == \
           [(r.config["method"], r.config["seed"]) for r in seq.records]
    for a, b in zip(seq.records, par.records):
        wa, wb = _weights(a), _weights(b)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), a.run_dir
        # the float64 statistics go through numpy's BLAS, whose thread pool is per process: equal to 1e-9
        assert [h["fid64_domain"] for h in a.history] == pytest.approx([h["fid64_domain"] for h in b.history], rel=1e-9)
    assert seq.runs()["fid64_domain"].tolist() == pytest.approx(par.runs()["fid64_domain"].tolist(), rel=1e-9)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_concurrency_is_refused_before_training(tmp_path, bad):
    with pytest.raises(ConfigError, match="concurrency"):
        _grid(tmp_path, "bad", concurrency=bad)
    assert not (tmp_path / "bad").exists()


def test_bad_environment_value_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("PGAN_CONCURRENCY", "two")
    with pytest.raises(ConfigError, match="PGAN_CONCURRENCY"):
        _grid(tmp_path, "env")
