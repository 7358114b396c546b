"""Snapshots (for sampling) and training states (for resume), written atomically and verified.

Two kinds of file, as in EDM (Karras et al. 2022):

* ``snapshot.pt``: the EMA generator's ``state_dict`` + the run config. Enough to sample.
* ``state.pt``: everything needed to continue bit-exactly: G, D, G_ema, both optimisers,
  the iteration, images seen and the training seconds so far.

Each file is written with :func:`pgan_core.io.save_verified` (temporary file + fsync + rename, and
a sha256 sidecar written after it) and read with :func:`pgan_core.io.load_verified`
(``weights_only=True`` after the hash check), so a truncated or altered file is reported, never
loaded, and a crash while writing leaves the previous version intact.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn

from .build import generator
from .config import RunConfig
from .errors import IntegrityError
from .io import load_verified, save_verified

STATE_FILE = "state.pt"
SNAPSHOT_FILE = "snapshot.pt"


def save_state(run_dir: Path, *, G, D, G_ema, opt_g, opt_d, step: int, cur_nimg: int, train_seconds: float,
               config: dict, config_key: str) -> Path:
    path = Path(run_dir) / STATE_FILE
    save_verified(path, {
        "format": "pgan-state-1", "config": config, "config_key": config_key,
        "step": step, "cur_nimg": cur_nimg, "train_seconds": train_seconds,
        "G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(),
        "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
    })
    return path


def save_snapshot(run_dir: Path, *, G_ema: nn.Module, step: int, config: dict, config_key: str) -> Path:
    path = Path(run_dir) / SNAPSHOT_FILE
    save_verified(path, {"format": "pgan-snapshot-1", "config": config, "config_key": config_key,
                         "step": step, "G_ema": G_ema.state_dict()})
    return path


def load_checkpoint(path: Path, *, expect_format: str, config_key: str | None = None) -> dict[str, Any]:
    """Load and check a state or snapshot; a different config or format raises IntegrityError."""
    obj = load_verified(path, what="checkpoint")
    if not isinstance(obj, dict) or obj.get("format") != expect_format:
        raise IntegrityError(f"checkpoint {path} is not a {expect_format} file (format {obj.get('format') if isinstance(obj, dict) else type(obj).__name__})")
    if config_key is not None and obj.get("config_key") != config_key:
        raise IntegrityError(f"checkpoint {path} belongs to another configuration (key {obj.get('config_key')} != {config_key}); "
                             "use another run folder or delete it")
    return obj


def load_snapshot_generator(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild G_ema from a snapshot file; returns (G_ema in eval mode, config dict)."""
    snap = load_checkpoint(Path(path), expect_format="pgan-snapshot-1")
    cfg = RunConfig.from_params(snap["config"])
    G = generator(cfg)
    try:
        G.load_state_dict(snap["G_ema"])
    except RuntimeError as e:
        raise IntegrityError(f"snapshot {path} does not match method {cfg.method!r}: {e}") from e
    return G.eval(), snap["config"]
