"""Reliability drills: SIGKILL at three different moments, determinism across processes,
crashes while writing, loading only plain tensors (weights_only)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pgan_core.errors import IntegrityError
from pgan_core.io import atomic_write, atomic_write_text, load_verified, save_verified

ROOT = Path(__file__).resolve().parent.parent
CFG = dict(method="pgan-g", dataset="synthetic", width=4, z_dim=16, batch_size=8, steps=8, eval_every=4, ckpt_every=2,
           log_every=1, eval_protocols=["fid64_domain"], domain_quality="smoke", max_images=128, ema_kimg=0.01)

CHILD = textwrap.dedent("""
    import json, os, signal, sys
    import pgan_core.checkpoint as ck, pgan_core.training as tr
    from pgan_core.config import RunConfig
    cfg = RunConfig.from_params(json.loads(sys.argv[1])); run_dir = sys.argv[2]
    mode, at = sys.argv[3], int(sys.argv[4])
    def die(): os.kill(os.getpid(), signal.SIGKILL)
    if mode == "mid_step":                       # killed inside iteration `at`, between D and G updates
        real = tr.batch_at
        def batch_at(data, step, *a, **k):
            if step == at: die()
            return real(data, step, *a, **k)
        tr.batch_at = batch_at
    elif mode == "mid_write":                     # killed while the state of iteration `at` is half written
        import pgan_core.io as io
        real_write = io.atomic_write_bytes
        def half_write(path, data):
            if str(path).endswith("state.pt") and tr_step[0] == at:
                with open(str(path) + ".partial-tmp", "wb") as f: f.write(data[: len(data) // 2])
                die()
            return real_write(path, data)
        tr_step = [0]
        real_save = ck.save_state
        def save_state(run_dir, **kw):
            tr_step[0] = kw["step"]; return real_save(run_dir, **kw)
        io.atomic_write_bytes = half_write; ck.save_verified.__globals__["atomic_write_bytes"] = half_write
        tr.save_state = save_state
    elif mode == "mid_eval":                      # killed during the evaluation after iteration `at`
        real_gen = tr.generate
        def generate(*a, **k):
            if tr_calls[0] == at: die()
            return real_gen(*a, **k)
        tr_calls = [0]
        real_log = tr.json.dumps
        tr.generate = generate
        import pgan_core.training
        orig = pgan_core.training.ema_update
        def ema(*a, **k):
            tr_calls[0] += 1; return orig(*a, **k)
        pgan_core.training.ema_update = ema
    rec = tr.train(cfg, run_dir, progress=False)
    print(json.dumps({"fid": [h["fid64_domain"] for h in rec.history]}))
""")


def _run_child(tmp, run_dir, mode="none", at=-1):
    return subprocess.run([sys.executable, "-c", CHILD, json.dumps(CFG), str(run_dir), mode, str(at)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


def _state_hash(run_dir: Path) -> str:
    st = torch.load(run_dir / "state.pt", weights_only=True)
    h = hashlib.sha256()
    for part in ("G", "D", "G_ema"):
        for k, v in sorted(st[part].items()):
            h.update(k.encode()); h.update(v.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref") / "run"
    p = _run_child(None, d)
    assert p.returncode == 0, p.stderr[-2000:]
    return _state_hash(d), json.loads(p.stdout.strip().splitlines()[-1])["fid"]


@pytest.mark.parametrize("mode,at", [("mid_step", 3), ("mid_write", 4), ("mid_eval", 4)])
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference, mode, at):
    run_dir = tmp_path / "run"
    killed = _run_child(tmp_path, run_dir, mode, at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (run_dir / "record.json").exists()
    load_verified(run_dir / "state.pt")                          # the last complete state is intact
    resumed = _run_child(tmp_path, run_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ref_hash, ref_fid = reference
    assert _state_hash(run_dir) == ref_hash
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["fid"] == ref_fid


def test_same_seed_same_metrics_in_two_processes(tmp_path, reference):
    p = _run_child(tmp_path, tmp_path / "again")
    assert p.returncode == 0, p.stderr[-2000:]
    assert (_state_hash(tmp_path / "again"), json.loads(p.stdout.strip().splitlines()[-1])["fid"]) == reference


def test_crash_while_writing_keeps_previous_version(tmp_path):
    path = tmp_path / "table.csv"
    atomic_write_text(path, "v1\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as f:
            f.write("v2 half")
            raise RuntimeError("crash")
    assert path.read_text() == "v1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_truncated_and_altered_files_are_refused(tmp_path):
    path = tmp_path / "x.pt"
    save_verified(path, {"w": torch.arange(1000.0)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="damaged"):
        load_verified(path)
    (tmp_path / "x.pt.sha256").unlink()
    with pytest.raises(IntegrityError, match="no x.pt.sha256"):
        load_verified(path)


class NotATensor:
    pass


def test_only_plain_tensors_are_loaded(tmp_path):
    path = tmp_path / "evil.pt"
    save_verified(path, {"obj": NotATensor()})                  # hash matches, content is not weights-only
    with pytest.raises(IntegrityError, match="cannot be read"):
        load_verified(path)
