"""Atomic checkpoint writes, seeding, config CLI errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from oltr.cli import main
from oltr.engine.checkpoint import is_complete, load_checkpoint, save_atomic, seed_everything


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("boom")


def test_save_atomic_replaces_or_keeps_the_old_file(tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"epoch": 1}, path)
    assert load_checkpoint(path) == {"epoch": 1}
    with pytest.raises(RuntimeError, match="boom"):
        save_atomic({"epoch": 2, "bad": _Unpicklable()}, path)
    assert load_checkpoint(path) == {"epoch": 1}  # the last good checkpoint survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_seed_everything_fixes_python_numpy_and_torch():
    seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_is_complete(tmp_path):
    assert not is_complete(tmp_path)
    (tmp_path / "best.pt").write_bytes(b"")
    (tmp_path / "complete.json").write_text("{}")
    assert is_complete(tmp_path)


def test_cli_train_config_errors_are_clean(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("optim:\n  lr: 0.1\n")
    with pytest.raises(SystemExit, match=r"bad.yaml: optim.lr: unknown key"):
        main(["train", "--config", str(cfg)])
    cfg.write_text("stage: 1\n")
    with pytest.raises(SystemExit, match=r"--set epochs=x: epochs: expected int"):
        main(["train", "--config", str(cfg), "--set", "epochs=x"])
