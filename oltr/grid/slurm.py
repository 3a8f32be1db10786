"""Slurm through submitit: one job per grid cell, Slurm dependencies for stage 2, requeue on preemption.

Each cell becomes one submitit job running :func:`oltr.grid.execute_cell` (the same function as the
local workers). With ``gpus_per_run = G`` the job asks for G GPUs and G tasks on one node; every task
joins the DistributedDataParallel group through the environment submitit describes (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` ...), so the engine's own torchrun path runs unchanged. Checkpoints are
in the run directory (a shared filesystem on a cluster). On preemption or timeout submitit calls
:meth:`CellTask.checkpoint` and requeues the job, which resumes from ``last.pt``.

``cluster``: ``slurm`` (sbatch; dependencies are ``--dependency=afterok:<stage-1 job>``), or submitit's
``local`` / ``debug`` executors (this machine; no scheduler, so a cell is submitted once the jobs it
depends on have returned). Needs ``pip install 'oltr[slurm]'``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from oltr.grid.cell import CellJob, GridError, cell_is_current, execute_cell

try:
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:  # the launcher says what to install; the rest of oltr does not need submitit
    submitit = None
    Checkpointable = object

CLUSTERS = {"slurm": "slurm", "submitit-local": "local", "submitit-debug": "debug", "local": "local",
            "debug": "debug"}


class CellTask(Checkpointable):
    """The callable a submitit job runs: one cell on every task of the job (rank 0 writes)."""

    def __init__(self, job: CellJob, threads: int | None = None) -> None:
        self.job = job
        self.threads = threads

    def __call__(self) -> dict:
        os.environ.setdefault("TQDM_DISABLE", "1")  # before oltr imports tqdm: no bars in the job's log
        import torch  # after TQDM_DISABLE, like every import that may pull tqdm in

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # one task per GPU: the env:// variables torchrun would have set
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        if self.threads:
            torch.set_num_threads(self.threads)
        return execute_cell(self.job, log=lambda msg: print(f"{self.job.name}: {msg}", flush=True), progress=False)

    def checkpoint(self, *args: Any, **kwargs: Any):
        """On preemption / timeout: requeue the same cell; training resumes from ``last.pt``."""
        return submitit.helpers.DelayedSubmission(CellTask(self.job, self.threads))


def make_executor(cluster: str, folder: str | os.PathLike, *, gpus_per_run: int = 0, partition: str | None = None,
                  time_min: int = 60, cpus_per_run: int | None = None, mem_gb: int | None = None,
                  slurm_args: dict[str, str] | None = None, tasks_per_run: int | None = None) -> "submitit.AutoExecutor":
    """An AutoExecutor for one grid cell per job: one node, ``gpus_per_run`` GPUs and as many tasks (DDP
    ranks; ``tasks_per_run`` sets the ranks without GPUs, e.g. gloo on CPU)."""
    if submitit is None:
        raise GridError("--launcher slurm needs submitit: pip install 'oltr[slurm]'")
    if cluster not in CLUSTERS:
        raise GridError(f"unknown launcher {cluster!r}; choose from {sorted(CLUSTERS)}")
    executor = submitit.AutoExecutor(folder=str(folder), cluster=CLUSTERS[cluster])
    params: dict[str, Any] = dict(timeout_min=time_min, nodes=1, tasks_per_node=tasks_per_run or max(1, gpus_per_run))
    if gpus_per_run:
        params["gpus_per_node"] = gpus_per_run
    if cpus_per_run:
        params["cpus_per_task"] = cpus_per_run
    if mem_gb:
        params["mem_gb"] = mem_gb
    if partition:
        params["slurm_partition"] = partition
    if slurm_args:
        params["slurm_additional_parameters"] = dict(slurm_args)
    executor.update_parameters(**params)
    return executor


def parse_time(text: str) -> int:
    """Slurm time limit -> minutes: ``90``, ``1:30:00``, ``2-00:00:00`` (days-hours:minutes:seconds)."""
    days, _, clock = text.rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        if days:  # days-hours[:minutes[:seconds]]
            parts = (parts + [0, 0])[:3]
        if len(parts) == 1:
            minutes = parts[0]
        else:
            h, m, sec = ([0] * (3 - len(parts)) + parts)[-3:]
            minutes = h * 60 + m + (1 if sec else 0)
        minutes += int(days or 0) * 24 * 60
    except ValueError:
        raise ValueError(f"--time {text!r}: give minutes (90), H:MM:SS (1:30:00) or D-HH:MM:SS") from None
    return minutes


def _layers(cells: Sequence[CellJob]) -> list[CellJob]:
    """Cells sorted so that each comes after the cells it depends on (stable within a layer)."""
    by_dir = {c.run_dir: c for c in cells}
    depth: dict[str, int] = {}

    def level(c: CellJob, seen: tuple[str, ...] = ()) -> int:
        if c.run_dir in seen:
            raise GridError(f"grid cells wait on each other (a dependency cycle): {c.name}")
        if c.run_dir not in depth:
            deps = [by_dir[d] for d in c.depends_on if d in by_dir]
            depth[c.run_dir] = 1 + max((level(d, seen + (c.run_dir,)) for d in deps), default=-1)
        return depth[c.run_dir]

    return sorted(cells, key=level)


def run_submitit(cells: Sequence[CellJob], *, cluster: str = "slurm", folder: str | os.PathLike | None = None,
                 gpus_per_run: int = 0, partition: str | None = None, time_min: int = 60,
                 cpus_per_run: int | None = None, mem_gb: int | None = None, slurm_args: dict[str, str] | None = None,
                 tasks_per_run: int | None = None, log: Callable[[str], None] = print,
                 on_submit: Callable[[CellJob, Any], None] | None = None) -> dict[str, float]:
    """Submit every cell that is not current and wait for all of them; returns ``{run_dir: seconds}``.

    ``folder``: submitit's job scripts and logs (default ``<runs_dir>/submitit``, next to the runs).
    ``on_submit(cell, job)`` is called after each submission (tests use it to interrupt a job).
    """
    cells = list(cells)
    if not cells:
        return {}
    folder = Path(folder) if folder else Path(cells[0].run_dir).parent / "submitit" / "%j"
    executor = make_executor(cluster, folder, gpus_per_run=gpus_per_run, partition=partition, time_min=time_min,
                             cpus_per_run=cpus_per_run, mem_gb=mem_gb, slurm_args=slurm_args,
                             tasks_per_run=tasks_per_run)
    native = executor.cluster == "slurm"
    base_extra = dict(slurm_args or {})
    submitted: dict[str, Any] = {}
    started: dict[str, float] = {}
    for cell in _layers(cells):
        if cell_is_current(cell):
            log(f"{cell.name}: complete, skipped")
            continue
        deps = [submitted[d] for d in cell.depends_on if d in submitted]
        if native:
            extra = dict(base_extra)
            if deps:
                extra["dependency"] = "afterok:" + ":".join(str(j.job_id) for j in deps)
            executor.update_parameters(name=f"oltr-{Path(cell.run_dir).name}", slurm_additional_parameters=extra)
        else:
            for dep in deps:  # no scheduler to hold the job: wait here (raises if the dependency failed)
                _result(dep, cells)
            executor.update_parameters(name=f"oltr-{Path(cell.run_dir).name}")
        job = executor.submit(CellTask(cell, cpus_per_run))  # torch threads = the CPUs the job was given
        submitted[cell.run_dir], started[cell.run_dir] = job, time.perf_counter()
        log(f"{cell.name}: submitted as job {job.job_id}" + (f" (after {', '.join(str(d.job_id) for d in deps)})"
                                                             if deps and native else ""))
        if on_submit is not None:
            on_submit(cell, job)
    timings, failures = {}, []
    for run_dir, job in submitted.items():
        try:
            _result(job, cells)
            timings[run_dir] = round(time.perf_counter() - started[run_dir], 1)
        except GridError as e:
            failures.append(str(e))
    if failures:
        raise GridError("grid jobs failed:\n" + "\n".join(failures))
    return timings


def _result(job: Any, cells: Sequence[CellJob]) -> dict:
    try:
        return job.results()[0]  # rank 0 (a job with one task per GPU has one result per task)
    except Exception as e:  # submitit wraps the job's exception; name the job and where its log is
        paths = getattr(job, "paths", None)
        where = f"; log {paths.stderr}" if paths is not None else ""
        raise GridError(f"  job {job.job_id}: {type(e).__name__}: {str(e).splitlines()[-1] if str(e) else ''}"
                        f"{where}") from None
