"""Shared test fixtures.

Reference material (golden values, official split lists) is read from ``../shared`` next to the
checkout (override with ``OLTR_SHARED``); it is never copied into the project.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OLTR_SHARED", REPO.parent / "shared"))
FASHION_MNIST = Path(os.environ.get("OLTR_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference material not found: {path} (set OLTR_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def data_lists_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "data_lists")


@pytest.fixture(scope="session")
def golden_losses(shared_dir: Path) -> dict:
    return json.loads(_need(shared_dir / "golden" / "losses.json").read_text())


@pytest.fixture(scope="session")
def golden_oltr(shared_dir: Path) -> dict:
    return json.loads(_need(shared_dir / "golden" / "oltr_eval.json").read_text())


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    return _need(FASHION_MNIST)


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """One torch thread per test: the tests run tiny models and tensors, where intra-op threads only add
    synchronisation (3-4x slower on a busy 2-core machine), and DataLoader workers run single-threaded
    too. The previous setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
