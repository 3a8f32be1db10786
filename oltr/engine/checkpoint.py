"""Atomic checkpoints and seeding.

A checkpoint is one dict (model, optimizer, scheduler, scaler, epoch, best metric, config hash)
written to a temporary file in the same folder and moved into place with ``os.replace``, so a crash
mid-write never leaves a truncated ``last.pt``. It holds no RNG or sampler state: the trainer reseeds
every generator and the sampler from (seed, epoch, rank) at the start of each epoch, so a resumed run
replays the same streams without them.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

COMPLETE = "complete.json"


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temp file next to ``path``, fsync, then ``os.replace`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(obj: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint on CPU (our own files: full unpickling, as older ones hold NumPy RNG states)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=False)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir`` holds a finished training run (``complete.json`` and ``best.pt``)."""
    run_dir = Path(run_dir)
    return (run_dir / COMPLETE).is_file() and (run_dir / "best.pt").is_file()
