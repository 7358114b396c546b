"""Metrics tests run on one thread: tiny networks and small linear algebra are as fast on one, and far
faster when the 2 cores are shared (no OpenMP spin)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
