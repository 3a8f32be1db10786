"""Shared test fixtures.

Golden values (numbers produced by running the authors' code) live in ``tests/golden/`` (see its
PROVENANCE.md): a missing fixture is a failure, never a skip. The official split lists (large third-party
files) are read from ``../shared/data_lists`` next to the checkout (override with ``OLTR_SHARED``); the tests
that need them skip, saying so, when they are absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OLTR_SHARED", REPO.parent / "shared"))
GOLDEN = REPO / "tests" / "golden"
FASHION_MNIST = Path(os.environ.get("OLTR_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"third-party reference material not found: {path} (set OLTR_SHARED to a folder holding it)")
    return path


def _golden(name: str) -> dict:
    """A golden fixture of the repository; its absence fails the test (a golden check must never vanish)."""
    path = GOLDEN / name
    if not path.is_file():
        pytest.fail(f"golden fixture missing: {path} (it is part of the repository; see tests/golden/PROVENANCE.md)")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def data_lists_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "data_lists")


@pytest.fixture(scope="session")
def golden_losses() -> dict:
    return _golden("losses.json")


@pytest.fixture(scope="session")
def golden_oltr() -> dict:
    return _golden("oltr_eval.json")


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    return _need(FASHION_MNIST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip, saying why, where no CUDA device is visible."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (marker 'gpu')")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """One torch thread per test: the tests run tiny models and tensors, where intra-op threads only add
    synchronisation (3-4x slower on a busy 2-core machine), and DataLoader workers run single-threaded
    too. The previous setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_tf32():
    """Full fp32 on CUDA: PyTorch runs cuDNN convolutions in TF32 by default (10-bit mantissa, logits
    move by ~1e-3), which would hide a real device difference behind the tolerance of a CPU comparison.
    Set and restored by plain assignment: these are properties of torch.backends modules, which
    monkeypatch would try to delete on undo."""
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
