"""Multi-process training (pgan_core.distributed) on CPU with gloo and 2 processes: ranks stay identical,
2 processes x B/2 match 1 process x B, bad input stops cleanly (never hangs). Each torchrun launch takes
~10 s on 2 cores (interpreter start and rendezvous dominate)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from pgan_core.config import RunConfig
from pgan_core.distributed import DUMP_ENV, DistEnv, init_distributed
from pgan_core.errors import ConfigError, DistributedError
from pgan_core.launcher import launch, run_torchrun
from pgan_core.training import train

TESTS = Path(__file__).resolve().parent
TINY = dict(dataset="synthetic", width=4, z_dim=16, batch_size=8, steps=4, max_images=64, eval_every=0,
            eval_protocols=(), ckpt_every=2, log_every=1, ema_kimg=0.01, device="cpu")
TIMEOUT = 180                                    # seconds per launch; a hang fails the test instead of blocking it
TOL = 1e-6                                       # 2 x B/2 vs 1 x B: float rounding of the split means (seen: <1e-8)

needs_two_procs = pytest.mark.skipif(not torch.distributed.is_available() or (os.cpu_count() or 1) < 2,
                                     reason="needs torch.distributed and 2 CPU cores")


def cfg(**kw) -> RunConfig:
    return RunConfig.from_params({**TINY, **kw})


def _state(path: Path) -> dict[str, torch.Tensor]:
    st = torch.load(path, weights_only=True)
    return {f"{part}.{k}": v for part in ("G", "D", "G_ema") for k, v in st[part].items()}


@pytest.fixture
def nobn():
    """The BN-free test method of tests/dist_worker.py, registered here too (removed afterwards)."""
    from dist_worker import NOBN, register_test_methods
    from pgan_core.registry import METHODS

    register_test_methods()
    yield NOBN
    METHODS.pop(NOBN, None)


# ---------------------------------------------------------------- ranks agree

@needs_two_procs
def test_ranks_hold_identical_weights(tmp_path):
    """pgan-gd: BN in G and D, stored perturbation masks in both, EMA; via the notebook launcher."""
    c = cfg(method="pgan-gd")
    rec = launch(c, 2, tmp_path / "run", timeout=TIMEOUT, echo=False, env={DUMP_ENV: str(tmp_path / "dump")})
    assert rec.world_size == 2 and rec.steps == 4 and rec.status == "complete"
    r0, r1 = (torch.load(tmp_path / "dump" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for part in ("G", "D", "G_ema"):
        assert r0[part].keys() == r1[part].keys()
        for k in r0[part]:                                  # parameters, BN statistics, masks: bit-identical
            assert torch.equal(r0[part][k], r1[part][k]), f"{part}.{k} differs between ranks"
    saved = _state(tmp_path / "run" / "state.pt")          # rank 0 wrote the checkpoint, of those weights
    assert all(torch.equal(saved[f"{p}.{k}"], v) for p in ("G", "D", "G_ema") for k, v in r0[p].items())
    lines = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if l["kind"] == "loss"] == [1, 2, 3, 4]     # one writer, no duplicate lines


# ---------------------------------------------------------------- 2 x B/2 == 1 x B

@needs_two_procs
def test_two_processes_match_one_process(tmp_path, nobn):
    """For each loss, 2 ranks with 4 samples each end where 1 process with 8 does (BN-free models; data,
    latents and WGAN-GP's eps are the global batch's), up to float rounding (TOL)."""
    runs = {"ns": cfg(method=nobn, loss="ns"), "hinge": cfg(method=nobn, loss="hinge"),
            "wgan-gp": cfg(method=nobn, loss="wgan-gp", n_critic=2, lr_g=1e-4, lr_d=1e-4)}
    jobs = [{"config": c.to_dict(), "run_dir": str(tmp_path / f"two-{n}"), "dump": str(tmp_path / f"dump-{n}")}
            for n, c in runs.items()]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    run_torchrun(2, [str(TESTS / "dist_worker.py"), "--jobs", str(tmp_path / "jobs.json")],
                 log_path=tmp_path / "launch.log", timeout=TIMEOUT, echo=False, env={"PYTHONPATH": str(TESTS)})
    for name, c in runs.items():
        train(c, tmp_path / f"one-{name}", progress=False)
        one, two = _state(tmp_path / f"one-{name}" / "state.pt"), _state(tmp_path / f"two-{name}" / "state.pt")
        assert one.keys() == two.keys()
        worst = max((one[k] - two[k]).abs().max().item() for k in one)
        moved = max((one[k] - _state_at_init(c)[k]).abs().max().item() for k in one if k in _state_at_init(c))
        assert worst < TOL < moved, f"{name}: 1 x B vs 2 x B/2 differ by {worst:.2e} (training moved weights {moved:.2e})"
        la, lb = ([e for e in map(json.loads, (tmp_path / f"{w}-{name}" / "log.jsonl").read_text().splitlines())
                   if e["kind"] == "loss"] for w in ("one", "two"))
        for a, b in zip(la, lb):                               # logged losses: mean over ranks == global mean
            assert a["step"] == b["step"] and abs(a["loss_d"] - b["loss_d"]) < 1e-4 and abs(a["loss_g"] - b["loss_g"]) < 1e-4
        r0, r1 = (torch.load(tmp_path / f"dump-{name}" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
        assert all(torch.equal(r0[p][k], r1[p][k]) for p in r0 for k in r0[p])


@needs_two_procs
def test_two_process_resume_is_bit_identical(tmp_path):
    """sngan-pconv (per-rank PConv dropout draws, spectral norm, BN in G): a 2-process run stopped after
    iteration 3 and resumed by 2 processes from its step-2 checkpoint ends bit-identical to an uninterrupted one."""
    c = cfg(method="sngan-pconv", n_critic=2).to_dict()
    jobs = [{"config": c, "run_dir": str(tmp_path / "full"), "dump": str(tmp_path / "d-full")},
            {"config": c, "run_dir": str(tmp_path / "part"), "dump": str(tmp_path / "d-stop"), "stop_after": 3},
            {"config": c, "run_dir": str(tmp_path / "part"), "dump": str(tmp_path / "d-part"), "resume": True}]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    run_torchrun(2, [str(TESTS / "dist_worker.py"), "--jobs", str(tmp_path / "jobs.json")],
                 log_path=tmp_path / "launch.log", timeout=TIMEOUT, echo=False, env={"PYTHONPATH": str(TESTS)})
    assert json.loads((tmp_path / "part" / "record.json").read_text())["resumed_from_step"] == 2
    full, part = _state(tmp_path / "full" / "state.pt"), _state(tmp_path / "part" / "state.pt")
    assert full.keys() == part.keys() and all(torch.equal(full[k], part[k]) for k in full)
    r0, r1 = (torch.load(tmp_path / "d-part" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(r0[p][k], r1[p][k]) for p in r0 for k in r0[p])


_INIT: dict[str, dict] = {}


def _state_at_init(c: RunConfig) -> dict[str, torch.Tensor]:
    """Initial weights of ``c`` (G, D and G_ema = G), to check that training moved them by more than TOL."""
    from pgan_core.training import build_run_models

    if c.key() not in _INIT:
        G, D = build_run_models(c.resolved(), torch.device("cpu"))
        _INIT[c.key()] = {**{f"G.{k}": v for k, v in G.state_dict().items()},
                          **{f"G_ema.{k}": v for k, v in G.state_dict().items()},
                          **{f"D.{k}": v for k, v in D.state_dict().items()}}
    return _INIT[c.key()]


# ---------------------------------------------------------------- bad input: clear message, clean stop

def test_world_size_one_opens_no_group(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    env = init_distributed("cpu")
    assert (env.world_size, env.rank, env.backend, env.is_main) == (1, 0, None, True)
    assert not torch.distributed.is_initialized()
    x = torch.arange(8)
    assert env.shard(x) is x and env.rank_seed(12345) == 12345


@pytest.mark.parametrize("nproc", [0, -1, 2.0, "2", True, (os.cpu_count() or 1) + 1])
def test_bad_nproc_is_refused_before_launch(tmp_path, nproc):
    with pytest.raises(ConfigError, match="parameter 'nproc'"):
        launch(cfg(method="dcgan"), nproc, tmp_path, echo=False)
    assert not (tmp_path / "launch.log").exists()


def test_nccl_without_gpu_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="parameter 'backend': got 'nccl'"):
        launch(cfg(method="dcgan"), 1, tmp_path, backend="nccl", echo=False)
    monkeypatch.setenv("WORLD_SIZE", "2"); monkeypatch.setenv("RANK", "0"); monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ConfigError, match="parameter 'backend'"):              # under torchrun too, before any group
        init_distributed("cpu", backend="nccl")
    with pytest.raises(ConfigError, match="parameter 'backend'"):
        init_distributed("cpu", backend="mpi")
    assert not torch.distributed.is_initialized()


def test_batch_not_divisible_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="parameter 'batch_size': got 7.*multiple of the number of processes"):
        launch(cfg(method="dcgan", batch_size=7), 2, tmp_path, echo=False)
    with pytest.raises(ConfigError, match="batch_size"):
        DistEnv(world_size=4).check_batch(6)


@needs_two_procs
def test_failing_ranks_stop_cleanly_with_the_log_tail(tmp_path):
    """Every rank fails (the folder holds another config's state.pt): the launcher returns promptly with
    the workers' error in its message."""
    train(cfg(method="dcgan"), tmp_path, progress=False, stop_after=2)
    # the failure is reported as such, not as the timeout: the launcher did not wait for it
    with pytest.raises(DistributedError, match=r"failed \(exit code 1\); first error: .*IntegrityError: .*another configuration"):
        launch(cfg(method="dcgan", lr_g=1e-3), 2, tmp_path, timeout=TIMEOUT, echo=False)


@needs_two_procs
def test_timeout_kills_every_rank(tmp_path):
    with pytest.raises(DistributedError, match="did not finish within timeout=8"):
        launch(cfg(method="dcgan", steps=100_000), 2, tmp_path, timeout=8, echo=False)   # ranks are training by then
    assert not (tmp_path / "record.json").exists()
    assert not _processes_mentioning(str(tmp_path)), "a rank outlived the timeout"


def _processes_mentioning(text: str) -> list[int]:
    """Ids of live processes whose command line contains ``text`` (torchrun and its ranks carry the run folder)."""
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if text in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


@pytest.mark.gpu
def test_nccl_one_process_per_gpu_trains(tmp_path):
    """On a GPU machine: a 1-process NCCL launch trains on cuda and records world size 1 and the GPU."""
    c = cfg(method="dcgan", device="cuda")
    rec = launch(c, 1, tmp_path / "run", timeout=TIMEOUT, backend="nccl", echo=False)
    assert rec.status == "complete" and rec.device.startswith("cuda")


@pytest.mark.gpu
def test_more_processes_than_gpus_is_refused(tmp_path):
    n = torch.cuda.device_count()
    with pytest.raises(ConfigError, match="nproc"):
        launch(cfg(method="dcgan", device="cuda"), n + 1, tmp_path, echo=False)
    assert not any(tmp_path.iterdir())
