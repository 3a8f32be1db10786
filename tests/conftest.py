"""Shared test fixtures.

Reference material (golden values, official split lists) is read from ``../shared`` next to the
checkout (override with ``OLTR_SHARED``); it is never copied into the project.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

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
