"""Shared fixtures: an isolated cache/runs folder per test session, slow/gpu markers."""
from __future__ import annotations

import os

import pytest
import torch

# nbval's kernels inherit the environment: notebooks run headless (static figures, no interactive widgets)
os.environ.setdefault("PGAN_HEADLESS", "1")


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory):
    """Runs go to a temporary folder; the domain-extractor cache is shared (it is keyed by config)."""
    os.environ.setdefault("PGAN_RUNS", str(tmp_path_factory.mktemp("runs")))
    yield


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
