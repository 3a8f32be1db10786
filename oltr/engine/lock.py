"""An exclusive lock on a run directory for the whole life of a process that writes it.

Two ``oltr train`` (or a train and a ``--resume``, or a benchmark cell and a lone train) on one
directory would interleave ``metrics.jsonl`` and overwrite each other's checkpoints. The lock is
``<run_dir>/.lock``, held with ``fcntl.flock`` (released by the kernel when the holder dies, so a
killed run never blocks its own resume) and holding ``host pid start-time`` of the holder, so the
refusal can name it. A lock file left by a dead holder is stale: it is reported in the log and taken
over.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from oltr.engine.checkpoint import writing

log = logging.getLogger("oltr.engine")

LOCK_FILE = ".lock"


class RunLockedError(RuntimeError):
    """Another process holds the run directory."""


def _describe(text: str) -> str:
    parts = text.split()
    if len(parts) >= 2:
        return f"pid {parts[1]} on host {parts[0]}" + (f", started {parts[2]}" if len(parts) > 2 else "")
    return "an unknown process"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold ``run_dir/.lock`` exclusively (creating ``run_dir``); raise :class:`RunLockedError` at once
    when another process holds it."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"output path {run_dir} is a file, not a run directory; choose another --output")
    with writing(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    with writing(path):  # a read-only folder fails here, before anything is written
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace")
            raise RunLockedError(f"{run_dir} is in use by another oltr process ({_describe(holder)}); wait for it "
                                 f"to finish or stop it, or choose another --output") from None
        old = os.pread(fd, 256, 0).decode(errors="replace").strip()
        if old:  # the previous holder died without releasing (kill -9, power loss): its lock is stale
            log.warning("stale lock in %s from %s (that process is gone); taking it over", run_dir, _describe(old))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()} {os.getpid()} {stamp}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # an empty lock file is a cleanly released one
    finally:
        os.close(fd)  # closing the descriptor releases the flock
