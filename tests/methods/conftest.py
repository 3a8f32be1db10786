"""A tiny finished stage-1 run (the engine tests' Tiny_LT images) shared by the method tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from _engine_helpers import make_tiny_dataset, tiny_cfg  # noqa: E402


@pytest.fixture(scope="session")
def tiny_stage1(tmp_path_factory) -> Path:
    """Finished and test-evaluated stage-1 run on Tiny_LT (4 classes, 90 training images, 2 epochs)."""
    from oltr.engine import evaluate_run, train

    root = make_tiny_dataset(tmp_path_factory.mktemp("tiny_lt_methods"))
    run = train(tiny_cfg(root, 1), tmp_path_factory.mktemp("runs") / "stage_1_ce_seed0", progress=False)
    evaluate_run(run, split="test", open_set=True, progress=False)
    return run


@pytest.fixture(scope="session")
def tiny_root_methods(tiny_stage1) -> Path:
    from oltr.config import load_config

    return Path(load_config(tiny_stage1 / "config.yaml", check_loss=False).data.root)
