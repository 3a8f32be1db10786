"""Atomic file writes: a temporary file in the target's folder, moved into place with ``os.replace``.

A crash or an error mid-write leaves the previous file (or none), never a truncated one, and the temporary
file is removed. Every writer of results, lists, checkpoints and metadata goes through :func:`atomic_path`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yields a fresh temporary path next to ``path``; on a clean exit it replaces ``path`` (``fsync``: flushed
    to disk first), on an exception it is deleted.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text(), [p.name for p in target.parent.iterdir()]
        ('done', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden and ending in .tmp (or .tmp.npz, which np.savez needs): a run directory's start removes such leftovers.
    npz = path.suffix == ".npz"
    fd, name = tempfile.mkstemp(prefix=f".{path.stem if npz else path.name}.", suffix=".tmp.npz" if npz else ".tmp",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)
