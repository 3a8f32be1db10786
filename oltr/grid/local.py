"""Local workers: up to ``jobs`` grid cells at once, each in a worker process, dependencies first.

Each worker slot is one persistent process (``python -m oltr.grid.worker``) fed one cell at a time, so
the heavy imports are paid once per slot, not once per cell. It gets ``OMP_NUM_THREADS =
threads_per_run`` (default cores // jobs) and, with ``gpus_per_run = G``, its own G devices in
``CUDA_VISIBLE_DEVICES`` (disjoint between concurrent runs; G > 1 trains through torchrun inside the
worker). Each cell's stdout and stderr go to ``<run_dir>/grid.log``. A cell starts once every run it depends on has finished; a
failed cell blocks its dependents but not the rest of the grid, and the grid raises
:class:`GridError` at the end naming each failure and its log. Interrupting the scheduler stops the
workers; re-running resumes from their ``last.pt`` as the sequential grid does.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import torch

from oltr.grid.cell import CellJob, GridError, cell_is_current
from oltr.grid.display import GridDisplay

REPO = Path(__file__).resolve().parents[2]


def visible_gpus() -> list[str]:
    """Device ids this process may hand out: ``CUDA_VISIBLE_DEVICES`` if set, else every CUDA device."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def gpu_slots(devices: Sequence[str], gpus_per_run: int) -> list[tuple[str, ...]]:
    """Split ``devices`` into disjoint blocks of ``gpus_per_run`` (a leftover remainder stays idle)."""
    if gpus_per_run < 1:
        raise GridError(f"--gpus-per-run must be >= 1, got {gpus_per_run}")
    n = len(devices) // gpus_per_run
    if n == 0:
        raise GridError(f"--gpus-per-run {gpus_per_run} needs {gpus_per_run} GPU(s); this machine shows "
                         f"{len(devices)} (CUDA_VISIBLE_DEVICES={','.join(devices) or 'none'})")
    return [tuple(devices[i * gpus_per_run:(i + 1) * gpus_per_run]) for i in range(n)]


def worker_env(threads: int, gpus: tuple[str, ...] | None) -> dict[str, str]:
    """The environment of one worker: its thread count, its devices, no progress bars, this oltr."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TQDM_DISABLE="1",
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]))
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    return env


def run_local(cells: Sequence[CellJob], *, jobs: int = 2, threads_per_run: int | None = None,
              gpus_per_run: int = 0, log: Callable[[str], None] = print, poll_s: float = 0.2,
              live: bool | None = None) -> dict[str, float]:
    """Execute ``cells`` with up to ``jobs`` workers; returns ``{run_dir: seconds}`` of executed cells."""
    if jobs < 1:
        raise GridError(f"--jobs must be >= 1, got {jobs}")
    slots: list[tuple[str, ...] | None] = [None] * jobs
    if gpus_per_run > 0:
        slots = gpu_slots(visible_gpus(), gpus_per_run)[:jobs]
        jobs = len(slots)
        cells = [c if gpus_per_run == 1 else _with_nproc(c, gpus_per_run) for c in cells]
    threads = threads_per_run or max(1, (os.cpu_count() or 1) // jobs)
    display = GridDisplay(len(cells), jobs, live=live if live is not None else (None if log is print else False),
                          log=log)
    log(f"oltr grid: {len(cells)} runs, up to {jobs} at once, {threads} thread(s) each"
        + (f", {gpus_per_run} GPU(s) each" if gpus_per_run else "") + "; per-run logs: <run_dir>/grid.log")

    in_grid = {c.run_dir for c in cells}
    pending = list(cells)
    ok: set[str] = set()
    bad: dict[str, str] = {}
    timings: dict[str, float] = {}
    workers = [_Worker(i, threads, gpus) for i, gpus in enumerate(slots)]
    busy: dict[_Worker, tuple[CellJob, float]] = {}
    current: dict[str, bool] = {}
    selector = selectors.DefaultSelector()
    try:
        while pending or busy:
            progressed = False
            for job in list(pending):
                deps = [d for d in job.depends_on if d in in_grid]
                if any(d in bad for d in deps):
                    pending.remove(job)
                    bad[job.run_dir] = "blocked: a run it depends on failed"
                    display.failed(job.name, bad[job.run_dir])
                    progressed = True
                elif all(d in ok for d in deps):
                    if job.run_dir not in current:
                        current[job.run_dir] = cell_is_current(job)
                    if current[job.run_dir]:  # nothing to do: no worker for it
                        pending.remove(job)
                        progressed = True
                        ok.add(job.run_dir)
                        display.skipped(job.name)
                    else:
                        idle = [w for w in workers if w not in busy]
                        if not idle:
                            continue
                        pending.remove(job)
                        worker = idle[0]
                        worker.submit(job, selector)
                        busy[worker] = (job, time.perf_counter())
                        display.started(job.name)
                        progressed = True
            if not busy:
                if not progressed:
                    raise GridError("grid cells wait on each other (a dependency cycle): "
                                    + ", ".join(c.name for c in pending))
                continue
            for key, _ in selector.select(timeout=poll_s):
                worker = key.data
                job, t0 = busy.pop(worker)
                answer = worker.answer(selector)
                log_path = Path(job.run_dir) / "grid.log"
                if answer.get("status") in ("done", "skipped"):
                    ok.add(job.run_dir)
                    timings[job.run_dir] = round(time.perf_counter() - t0, 1)
                    display.finished(job.name, timings[job.run_dir])
                else:
                    bad[job.run_dir] = f"{answer.get('error', 'failed')}; see {log_path}"
                    display.failed(job.name, bad[job.run_dir])
            display.refresh()
    except BaseException:
        for worker in workers:
            worker.stop()  # SIGTERM; each run keeps its last.pt and resumes on the next invocation
        raise
    finally:
        display.close()
        for worker in workers:
            worker.close()
        selector.close()
    if bad:
        names = {c.run_dir: c.name for c in cells}
        raise GridError("grid cells failed:\n" + "\n".join(f"  {names[d]}: {why}" for d, why in bad.items()))
    return timings


class _Worker:
    """One worker slot: a persistent ``python -m oltr.grid.worker`` process, started on its first cell
    (and again if it dies), fed one cell at a time."""

    def __init__(self, index: int, threads: int, gpus: tuple[str, ...] | None) -> None:
        self.index, self.threads, self.gpus = index, threads, gpus
        self.proc: subprocess.Popen | None = None

    def submit(self, job: CellJob, selector: selectors.BaseSelector) -> None:
        Path(job.run_dir).mkdir(parents=True, exist_ok=True)
        for attempt in range(2):
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen([sys.executable, "-m", "oltr.grid.worker"], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, env=worker_env(self.threads, self.gpus),
                                             text=True, start_new_session=True)
            try:
                self.proc.stdin.write(job.to_json() + "\n")
                self.proc.stdin.flush()
                break
            except BrokenPipeError:  # it died after its last answer: start another once
                self.proc.wait()
                self.proc = None
                if attempt:
                    raise
        selector.register(self.proc.stdout, selectors.EVENT_READ, self)

    def answer(self, selector: selectors.BaseSelector) -> dict:
        """The worker's answer for its cell; a worker that died answers with its exit code."""
        selector.unregister(self.proc.stdout)
        line = self.proc.stdout.readline()
        if line:
            return json.loads(line)
        code = self.proc.wait()
        self.proc = None
        return {"status": "failed", "error": f"the worker exited with code {code}"}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: a torchrun child stops too

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.stdin.close()  # end of input: the worker exits after its current cell
            self.proc.wait()
            self.proc.stdout.close()

    def __hash__(self) -> int:
        return self.index

    def __eq__(self, other: object) -> bool:
        return self is other


def _with_nproc(job: CellJob, nproc: int) -> CellJob:
    return replace(job, nproc_per_node=nproc)
