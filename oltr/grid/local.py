"""Local workers: up to ``jobs`` grid cells at once, each in its own process, dependencies first.

Each worker (``python -m oltr.grid.worker``) gets ``OMP_NUM_THREADS = threads_per_run`` (default
cores // jobs) and, with ``gpus_per_run = G``, its own G devices in ``CUDA_VISIBLE_DEVICES``
(disjoint between concurrent runs; G > 1 trains through torchrun inside the worker). Its stdout and
stderr go to ``<run_dir>/grid.log``. A cell starts once every run it depends on has finished; a
failed cell blocks its dependents but not the rest of the grid, and the grid raises
:class:`GridError` at the end naming each failure and its log. Interrupting the scheduler stops the
workers; re-running resumes from their ``last.pt`` as the sequential grid does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from oltr.grid.cell import CellJob, GridError, cell_is_current
from oltr.grid.display import GridDisplay

REPO = Path(__file__).resolve().parents[2]


def visible_gpus() -> list[str]:
    """Device ids this process may hand out: ``CUDA_VISIBLE_DEVICES`` if set, else every CUDA device."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    import torch

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
    running: dict[subprocess.Popen, tuple[CellJob, tuple[str, ...] | None, float, Path]] = {}
    free = list(slots)
    current: dict[str, bool] = {}
    tmp = Path(tempfile.mkdtemp(prefix="oltr-grid-"))
    try:
        while pending or running:
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
                    if current[job.run_dir]:  # nothing to do: no worker process for it
                        pending.remove(job)
                        progressed = True
                        ok.add(job.run_dir)
                        display.skipped(job.name)
                    elif free:
                        pending.remove(job)
                        gpus = free.pop(0)
                        result = tmp / f"{len(timings) + len(running) + len(bad)}_{Path(job.run_dir).name}.json"
                        running[_spawn(job, threads, gpus, result)] = (job, gpus, time.perf_counter(), result)
                        display.started(job.name)
                        progressed = True
            if not running:
                if not progressed:
                    raise GridError("grid cells wait on each other (a dependency cycle): "
                                    + ", ".join(c.name for c in pending))
                continue
            time.sleep(poll_s)
            for proc in [p for p in running if p.poll() is not None]:
                job, gpus, t0, result = running.pop(proc)
                free.append(gpus)
                if proc.returncode == 0 and result.is_file():
                    ok.add(job.run_dir)
                    timings[job.run_dir] = round(time.perf_counter() - t0, 1)
                    display.finished(job.name, timings[job.run_dir])
                else:
                    bad[job.run_dir] = f"exit code {proc.returncode}; see {Path(job.run_dir) / 'grid.log'}"
                    display.failed(job.name, bad[job.run_dir])
            display.refresh()
    except BaseException:
        for proc in running:
            proc.terminate()  # SIGTERM; each run keeps its last.pt and resumes on the next invocation
        for proc in running:
            proc.wait()
        raise
    finally:
        display.close()
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    if bad:
        names = {c.run_dir: c.name for c in cells}
        raise GridError("grid cells failed:\n" + "\n".join(f"  {names[d]}: {why}" for d, why in bad.items()))
    return timings


def _with_nproc(job: CellJob, nproc: int) -> CellJob:
    from dataclasses import replace

    return replace(job, nproc_per_node=nproc)


def _spawn(job: CellJob, threads: int, gpus: tuple[str, ...] | None, result: Path) -> subprocess.Popen:
    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "grid.log").open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "oltr.grid.worker", job.to_json(), str(result)],
                                stdout=out, stderr=subprocess.STDOUT, env=worker_env(threads, gpus),
                                start_new_session=True)
