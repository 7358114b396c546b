"""Shared fixtures: an isolated cache/runs folder per test session, slow/gpu markers."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
import torch

# nbval's kernels inherit the environment: notebooks run headless (static figures, no interactive widgets), and
# runs go to a temporary folder, set here at import so that a kernel started before any fixture (a session of
# notebooks only) never trains into the repository's runs/; the extractor cache is shared (keyed by config)
os.environ.setdefault("PGAN_HEADLESS", "1")
if "PGAN_RUNS" not in os.environ:
    _RUNS = tempfile.mkdtemp(prefix="pgan-test-runs-")
    os.environ["PGAN_RUNS"] = _RUNS
    atexit.register(shutil.rmtree, _RUNS, ignore_errors=True)


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
