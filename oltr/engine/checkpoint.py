"""Atomic checkpoints and seeding.

A checkpoint is one dict (model, optimizer, scheduler, scaler, epoch, best metric, config hash)
written to a temporary file in the same folder and moved into place with ``os.replace``, so a crash
mid-write never leaves a truncated ``last.pt``. It holds no RNG or sampler state: the trainer reseeds
every generator and the sampler from (seed, epoch, rank) at the start of each epoch, so a resumed run
replays the same streams without them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from oltr.atomic import atomic_path, write_text_atomic

COMPLETE = "complete.json"


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (zero bytes, truncated, garbage, not an oltr checkpoint)."""


class OutputWriteError(OSError):
    """Writing a run's output failed (disk full, read-only folder, a file where a folder should be)."""


_ADVICE = {
    errno.ENOSPC: "no space left on device (disk full): free space, then run the same command with --resume "
                  "(the last complete checkpoint is kept)",
    errno.EDQUOT: "disk quota exceeded: free space, then run the same command with --resume",
    errno.EACCES: "permission denied: make the folder writable or choose another output folder",
    errno.EPERM: "operation not permitted: make the folder writable or choose another output folder",
    errno.EROFS: "read-only file system: choose an output folder on a writable disk",
    errno.ENOTDIR: "a path component is a file, not a folder: choose another output folder",
    errno.EISDIR: "the output path is a folder: choose another output path",
}


def describe_write_error(path: Path, err: BaseException) -> str:
    """One line saying why writing ``path`` failed and what to do."""
    code = getattr(err, "errno", None)
    if code in _ADVICE:
        return f"cannot write {path}: {_ADVICE[code]}"
    if isinstance(err, OSError):
        return f"cannot write {path}: {err.strerror or err}"
    # torch's zip writer reports a full disk as "[enforce fail at inline_container.cc] ... file write failed"
    with contextlib.suppress(OSError):
        if shutil.disk_usage(path.parent).free < 256 * 2**20:
            return f"cannot write {path}: {_ADVICE[errno.ENOSPC]}"
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"cannot write {path} ({first}): check the disk and the folder's permissions"


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a failed write of ``path`` into :class:`OutputWriteError` with a one-line reason."""
    path = Path(path)

    def error(code: int | None, e: BaseException) -> OutputWriteError:
        out = OutputWriteError(describe_write_error(path, e))  # one argument: str() is the message alone
        out.errno = code
        return out

    try:
        yield
    except OSError as e:
        if isinstance(e, OutputWriteError):
            raise
        raise error(e.errno, e) from None
    except RuntimeError as e:
        text = str(e)
        if "PytorchStreamWriter" in text or "file write failed" in text or "inline_container" in text:
            raise error(errno.EIO, e) from None
        raise


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temp file next to ``path``, fsync, then ``os.replace`` onto ``path``."""
    with writing(path), atomic_path(path, fsync=True) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def write_json_atomic(obj: Any, path: str | os.PathLike) -> Path:
    with writing(path):
        return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = (), advice: str | None = None) -> dict:
    """Load a checkpoint on CPU (our own files: full unpickling, as older ones hold NumPy RNG states).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is empty, truncated or garbage, or lacks one of the ``required`` keys;
            the message names the file and ends with ``advice`` (what to do).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    todo = advice or "restore it from a backup or train the run again"
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); {todo}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # zip, pickle and EOF errors all mean the same to the user: unreadable bytes
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise CheckpointError(f"checkpoint {path} ({size:,} bytes) is truncated or corrupt "
                              f"({type(e).__name__}: {first}); {todo}") from None
    missing = [k for k in required if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise CheckpointError(f"{path} is not an oltr checkpoint (no {', '.join(missing)}); {todo}")
    return obj


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir`` holds a finished training run (``complete.json`` and ``best.pt``)."""
    run_dir = Path(run_dir)
    return (run_dir / COMPLETE).is_file() and (run_dir / "best.pt").is_file()
