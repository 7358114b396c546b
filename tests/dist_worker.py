"""Test helper run by every rank under torchrun (tests/test_distributed.py): trains a list of runs in one
process group, so one launch covers several configurations.

    torchrun --standalone --nproc_per_node 2 tests/dist_worker.py --jobs jobs.json

``jobs.json`` is a list of ``{"config": RunConfig fields, "run_dir": str, "dump": str}`` with optional
``"resume"`` (default False) and ``"stop_after"``; each rank saves its final G, D, G_ema to ``<dump>/rank<r>.pt``. Registers ``test-nobn``, a DCGAN G and critic with every BatchNorm
removed, the model on which N processes with B/N must match one process with B (BN couples a batch's samples).
"""
from __future__ import annotations

import argparse
import json
import os

import torch.nn as nn

NOBN = "test-nobn"


def _strip_bn(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.Identity())
        else:
            _strip_bn(child)
    return module


def _g_nobn(**kw):
    from pgan_core.models.dcgan import DCGANGenerator

    return _strip_bn(DCGANGenerator(**kw))


def register_test_methods() -> None:
    """Register ``test-nobn`` once (DCGAN G without BN, critic without BN, ns loss by default)."""
    from pgan_core.methods import RECIPES
    from pgan_core.models.dcgan import DCGANDiscriminator
    from pgan_core.registry import METHODS, MethodSpec, method_names, register

    method_names()                                             # load the package's own entries first
    if NOBN not in METHODS:
        register(MethodSpec(name=NOBN, build_G=_g_nobn, build_D=DCGANDiscriminator, g_kwargs=dict(conv="conv"),
                            d_kwargs=dict(conv="conv", norm="none"), loss="ns", train_defaults=RECIPES["dcgan"].train(),
                            description="test only: no BN"))


def main() -> None:
    from pgan_core.config import RunConfig
    from pgan_core.distributed import DUMP_ENV, init_distributed
    from pgan_core.training import train

    p = argparse.ArgumentParser()
    p.add_argument("--jobs", required=True)
    args = p.parse_args()
    register_test_methods()
    env = init_distributed("cpu", timeout_s=120)               # one group for all jobs; train() reuses it
    try:
        for job in json.loads(open(args.jobs).read()):
            os.environ[DUMP_ENV] = job["dump"]
            train(RunConfig.from_params(job["config"]), job["run_dir"], progress=False, resume=job.get("resume", False),
                  stop_after=job.get("stop_after"))
    finally:
        env.close()


if __name__ == "__main__":
    main()
