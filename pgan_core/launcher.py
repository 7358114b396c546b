"""Launch a run on several processes of this machine from a notebook or script: ``torchrun`` as a subprocess
with a timeout, its output in ``run_dir/launch.log``, failures raised as one
:class:`~pgan_core.errors.DistributedError` naming the first rank's exception (what each rank does:
:mod:`pgan_core.distributed`; the script every rank runs: :mod:`pgan_core.train_cli`).
"""
from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig
from .distributed import DistEnv, check_backend
from .errors import DistributedError, bad_param, is_number
from .io import REPO_ROOT, atomic_write_text, runs_root
from .training import load_record, resolve_device

LOG_TAIL_LINES = 40             # lines of the launch log quoted in a failure message
_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Diverged|Exception|Interrupt)\b: ")  # 'pkg.FooError: message'


def check_nproc(nproc: Any, device_kind: str) -> int:
    """``nproc`` if this machine can run that many processes on ``device_kind``, else a ConfigError."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise bad_param("nproc", nproc, "an integer >= 1")
    if device_kind == "cuda":
        n = torch.cuda.device_count()
        if nproc > n:
            raise bad_param("nproc", nproc, f"at most {n} on cuda (one process per visible GPU)")
    else:
        n = os.cpu_count() or 1
        if nproc > n:
            raise bad_param("nproc", nproc, f"at most {n} on cpu (os.cpu_count()); more processes than cores "
                            "only time-share them")
    return nproc


def run_torchrun(nproc: int, script_args: list[str], *, log_path: str | Path, timeout: float | None = None,
                 env: dict[str, str] | None = None, echo: bool = True) -> None:
    """Run ``python -m torch.distributed.run --standalone --nproc_per_node nproc <script_args>`` and wait.

    Output (all ranks, stderr merged) goes to ``log_path`` and, with ``echo``, to this process's stdout.
    ``env`` adds variables (``PYTHONPATH`` is prepended to, after this package's root). On a non-zero
    exit, or after ``timeout`` seconds (the whole process group is killed), raises
    :class:`~pgan_core.errors.DistributedError` quoting the log's last lines.
    """
    full_env = dict(os.environ)
    extra = dict(env or {})
    paths = [str(REPO_ROOT), extra.pop("PYTHONPATH", ""), full_env.get("PYTHONPATH", "")]
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    full_env.update(extra)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           *script_args]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    errors: list[str] = []                                          # the ranks' own exception lines, first first
    with open(log_path, "w") as log_f:
        log_f.write("$ " + " ".join(cmd) + "\n")
        log_f.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
                                start_new_session=True)          # own process group: a timeout kills every rank

        def pump() -> None:
            for line in proc.stdout:                               # type: ignore[union-attr]
                log_f.write(line)
                log_f.flush()
                tail.append(line.rstrip("\n"))
                if _ERROR_LINE.match(line.strip()) and "ChildFailedError" not in line and len(errors) < 5:
                    errors.append(line.strip())
                if echo:
                    print(line, end="", flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            reader.join(5)
            raise DistributedError(f"torchrun with nproc={nproc} did not finish within timeout={timeout} s and was "
                                   f"stopped (all ranks killed); log {log_path}, last lines:\n" + "\n".join(tail)) from None
        except BaseException:                                      # KeyboardInterrupt in a notebook: no orphans
            _kill_group(proc)
            raise
        reader.join(5)
    if rc != 0:
        first = f"first error: {errors[0]}; " if errors else ""
        raise DistributedError(f"torchrun with nproc={nproc} failed (exit code {rc}); {first}log {log_path}, "
                               "last lines:\n" + "\n".join(tail))


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the launcher's process group (torchrun and its ranks), SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def launch(cfg: Any, nproc: int, run_dir: str | Path | None = None, *, timeout: float | None = None,
           backend: str | None = None, resume: bool = True, echo: bool = True,
           module: str = "pgan_core.train_cli", env: dict[str, str] | None = None) -> Any:
    """Train ``cfg`` on ``nproc`` processes of this machine (torchrun, as a subprocess) and return its
    :class:`~pgan_core.training.RunRecord`. Usable from a notebook; ``nproc=1`` runs the same path.

    Checked before anything starts: ``nproc`` (>= 1; at most the visible GPUs on cuda, the CPU cores on
    cpu), ``backend`` (None = nccl on GPUs, gloo on CPU; nccl needs GPUs) and ``cfg.batch_size`` (the global
    batch, a multiple of ``nproc``). ``timeout`` (seconds, None = none) stops a run that takes longer,
    killing every rank. A failed run raises :class:`~pgan_core.errors.DistributedError` with the tail of
    ``run_dir/launch.log``. ``module`` is the entry point run by every rank (it takes ``--config`` and
    ``--run-dir``); ``env`` adds environment variables for the ranks.
    """
    if not isinstance(cfg, RunConfig):
        raise bad_param("cfg", type(cfg).__name__, "a RunConfig")
    device_kind = resolve_device(cfg.device).type
    check_nproc(nproc, device_kind)
    backend = check_backend(backend, device_kind)
    DistEnv(world_size=nproc).check_batch(cfg.batch_size)
    if timeout is not None and not (is_number(timeout) and timeout > 0):
        raise bad_param("timeout", timeout, "a number of seconds > 0, or None")
    run_dir = Path(run_dir) if run_dir is not None else runs_root() / cfg.run_name()
    run_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pgan-launch-") as tmp:
        cfg_path = Path(tmp) / "config.json"
        atomic_write_text(cfg_path, json.dumps(cfg.to_dict(), sort_keys=True))
        args = ["-m", module, "--config", str(cfg_path), "--run-dir", str(run_dir)] + ([] if resume else ["--no-resume"])
        run_torchrun(nproc, args, log_path=run_dir / "launch.log", timeout=timeout, echo=echo,
                     env={"PGAN_DIST_BACKEND": backend, **(env or {})})
    return load_record(run_dir)
