"""Fixtures for the model tests.

The models here run on tiny batches, where intra-op threads only add synchronisation; on a shared or
oversubscribed CPU, busy-waiting OpenMP threads made this folder 3-4x slower. One thread per test keeps it fast and
stable; the previous setting is restored afterwards.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_intra_op_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
