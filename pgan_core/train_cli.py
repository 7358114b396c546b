"""Command-line entry point of one training run, the script every rank runs under torchrun.

    python -m pgan_core.train_cli --config cfg.json --run-dir runs/x            # one process
    torchrun --standalone --nproc_per_node 2 -m pgan_core.train_cli --config cfg.json --run-dir runs/x

``cfg.json`` holds ``RunConfig`` fields (``RunConfig.to_json()``). The run folder gets what
:func:`pgan_core.training.train` writes; rank 0 prints a one-line summary. Notebooks use
:func:`pgan_core.launcher.launch`, which calls this module.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from torch.distributed.elastic.multiprocessing.errors import record

from .config import RunConfig
from .errors import ConfigError
from .training import train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pgan_core.train_cli", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="JSON file of RunConfig fields")
    p.add_argument("--run-dir", default=None, help="run folder (default: $PGAN_RUNS/<run name>)")
    p.add_argument("--no-resume", action="store_true", help="start from scratch even if state.pt exists")
    p.add_argument("--progress", action="store_true", help="progress bar on rank 0")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many iterations (tests)")
    return p.parse_args(argv)


@record                                      # under torchrun: the failing rank's traceback goes into torchrun's summary
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = Path(args.config)
    try:
        params = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"parameter 'config': cannot read {path} as JSON ({e}); allowed: a JSON file of RunConfig fields") from None
    cfg = RunConfig.from_params(params)
    rec = train(cfg, args.run_dir, progress=args.progress, resume=not args.no_resume, stop_after=args.stop_after)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"[pgan_core.train_cli] {rec.status}: {rec.steps} iterations on {rec.world_size} process(es), "
              f"{rec.train_seconds:.1f} s training, run folder {rec.run_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
