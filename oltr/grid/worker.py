"""A persistent local grid worker: ``python -m oltr.grid.worker``.

Started once per worker slot by :func:`oltr.grid.local.run_local` and kept for the whole grid, so torch,
torchvision and scikit-learn are imported once per slot, not once per cell (about 7 s per process on a
2-core CPU, more than a post-hoc method's whole work). It reads one :class:`~oltr.grid.CellJob` as JSON
per line on stdin, executes it with :func:`oltr.grid.execute_cell` while its file descriptors 1 and 2
point at ``<run_dir>/grid.log`` (so the cell's prints, tracebacks and any torchrun child land there),
and answers one JSON line per cell on stdout: ``{"status": "done" | "skipped", "seconds": s}`` or
``{"status": "failed", "error": "<the exception in one line>"}``. It exits at the end of stdin.
Threads come from ``OMP_NUM_THREADS``, devices from ``CUDA_VISIBLE_DEVICES``, both set by the scheduler.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from oltr.grid.cell import CellJob, execute_cell


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 (Python's and C's stdout / stderr, and child processes') at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_cell(job: CellJob) -> dict:
    """Execute ``job`` with its output in ``<run_dir>/grid.log``; a failure is returned, not raised."""
    with _output_to(Path(job.run_dir) / "grid.log"):
        print(f"oltr grid worker: {job.name} | pid {os.getpid()} | {torch.get_num_threads()} thread(s) | "
              f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}", flush=True)
        try:
            return execute_cell(job, log=lambda msg: print(f"{job.name}: {msg}", flush=True), progress=False)
        except Exception as e:  # the scheduler reports it, names this log, and blocks the cell's dependents
            traceback.print_exc()
            first = (str(e).strip().splitlines() or [""])[0]
            return {"status": "failed", "error": f"{type(e).__name__}: {first}"[:300]}


def main() -> int:
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    # Answers go through a private copy of the original stdout: fd 1 itself is lent to each cell's log.
    answers = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        if line.strip():
            answers.write(json.dumps(run_cell(CellJob.from_json(line))) + "\n")
            answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
