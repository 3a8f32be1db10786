"""Fixtures of the engine tests (helpers live in ``_engine_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _engine_helpers import make_tiny_dataset  # pytest puts this rootless test folder on sys.path


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """Tiny_LT: 4 classes (48/24/12/6 train images of 16x16), val 20, test 24, open 10."""
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny_lt"))
