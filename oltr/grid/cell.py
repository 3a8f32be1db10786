"""One grid cell: what to run (:class:`CellJob`, JSON-serialisable for worker processes and
picklable for submitit) and :func:`execute_cell`, the one function that executes it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable


class GridError(RuntimeError):
    """One or more grid cells failed; the message names each cell and its log."""


@dataclass(frozen=True)
class CellJob:
    """One run directory of the grid and how to produce it.

    ``kind``: ``train_eval`` trains ``config`` with ``overrides`` into ``run_dir`` (resuming a partial
    run), then evaluates ``best.pt`` on the test split (closed + open set) with shot rule ``rule``;
    ``method`` applies ``oltr.methods`` entry ``method`` (parameters: the JSON object ``method_params``)
    to the finished stage-1 run ``depends_on[0]``, which writes and evaluates ``run_dir``.
    ``depends_on``: run directories that must be finished first (stage 2 -> its stage 1).
    ``nproc_per_node > 1`` trains through torchrun (DistributedDataParallel).
    """

    name: str
    run_dir: str
    config: str
    overrides: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    kind: str = "train_eval"
    rule: str = "strict"
    nproc_per_node: int = 1
    torchrun_args: str = ""
    method: str = ""
    method_params: str = "{}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "CellJob":
        raw = json.loads(text)
        raw["overrides"], raw["depends_on"] = tuple(raw["overrides"]), tuple(raw["depends_on"])
        return cls(**raw)


def cell_is_current(job: CellJob) -> bool:
    """True when the cell's run is finished (with this cell's config) and its evaluation is newer than
    ``best.pt``. A finished run of another config raises ``RunDirError`` (never silently reused)."""
    # Imported here, not at the top: oltr.benchmark imports this module, and a Slurm job must set
    # TQDM_DISABLE (oltr.grid.slurm) before the engine imports tqdm, which reads it once.
    import oltr.benchmark as bench
    from oltr.engine import is_complete

    run_dir = Path(job.run_dir)
    if job.kind == "method":
        if not ((run_dir / "complete.json").is_file() and (run_dir / "eval_test.json").is_file()):
            return False
        _apply(job)  # returns at once for this method's finished run; raises for another run's folder
        return True
    if not is_complete(run_dir):
        return False
    bench._check_finished_run(Path(job.config), list(job.overrides), run_dir)
    return bench._eval_is_current(run_dir)


def execute_cell(job: CellJob, log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Execute one cell: skip it when current, else train (resuming) if needed and evaluate.

    ``progress``: progress bars while training and evaluating (``--progress``; workers have none).
    Returns ``{"status": "skipped" | "done", "seconds": float}``. Every launcher calls this, so a
    cell gives the same files whether it ran in the benchmark process, a local worker or a Slurm job.
    """
    import oltr.benchmark as bench  # see cell_is_current; module attributes, so tests can stand in for training
    from oltr.engine import evaluate_run, is_complete

    if job.kind not in ("train_eval", "method"):
        raise ValueError(f"{job.name}: unknown cell kind {job.kind!r}; known: train_eval, method")
    t0 = time.perf_counter()
    if job.kind == "method":
        if cell_is_current(job):
            return {"status": "skipped", "seconds": 0.0}
        log(f"applying to {Path(job.depends_on[0]).name}")
        _apply(job, progress=progress)
        return {"status": "done", "seconds": round(time.perf_counter() - t0, 1)}
    run_dir, config, overrides = Path(job.run_dir), Path(job.config), list(job.overrides)
    if is_complete(run_dir):
        if cell_is_current(job):
            return {"status": "skipped", "seconds": 0.0}
    else:
        log("training")
        if job.nproc_per_node > 1:
            bench._train_torchrun(config, overrides, run_dir, job.nproc_per_node, job.torchrun_args, progress)
        else:
            bench._train_in_process(config, overrides, run_dir, progress)
    evaluate_run(run_dir, split="test", open_set=True, rule=job.rule, progress=progress)
    return {"status": "done", "seconds": round(time.perf_counter() - t0, 1)}


def _apply(job: CellJob, progress: bool = False) -> Path:
    from oltr.methods import apply_method

    return apply_method(job.method, Path(job.depends_on[0]), Path(job.run_dir), rule=job.rule, progress=progress,
                        **json.loads(job.method_params))
