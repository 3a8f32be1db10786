"""Fixtures of the reporting tests (run directories fabricated by reporting_fake_runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reporting_fake_runs import write_run


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """Two losses x two seeds on one dataset, plus a cyclical-loss run; all scored with the strict rule."""
    root = tmp_path / "runs"
    for loss in ("ce", "focal"):
        for seed in (0, 1):
            write_run(root, loss=loss, seed=seed)
    write_run(root, loss="cfl", seed=0, loss_params={"gamma_hc": 2, "factor": 2})
    return root
