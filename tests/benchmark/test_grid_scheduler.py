"""The grid scheduler (oltr.grid): local worker processes with dependencies, and the submitit launcher
(debug and local executors, including a job interrupted and requeued), against the sequential grid."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest

import oltr.benchmark as bench
from oltr.grid import CellJob, GridError, execute_cell
from oltr.grid.display import GridDisplay
from oltr.grid.local import gpu_slots, run_local, worker_env
from oltr.grid.slurm import parse_time, run_submitit
from test_benchmark_grid import TINY_OVERRIDES, _suite, tiny_data  # noqa: F401  (tiny_data is a fixture)

TABLES = ("leaderboard.md", "leaderboard.csv", "leaderboard.tex")


def _metrics(run_dir: Path) -> dict:
    result = json.loads((run_dir / "eval_test.json").read_text())
    return {k: result[k] for k in ("closed_set", "open_set")}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, tiny_data):  # noqa: F811
    """The tiny grid (ce, cfl; seed 0; both stages) run the default way: one after another, in process."""
    tmp = tmp_path_factory.mktemp("sequential")
    suite = bench.load_suite(str(_suite(tmp, tiny_data)))
    bench.run_benchmark(suite, losses=["ce", "cfl"], seeds=[0], out_dir=tmp / "results", runs_dir=tmp / "runs",
                        overrides=TINY_OVERRIDES, plots=False, log=lambda msg: None,
                        threads_per_run=1)  # a module fixture runs before the per-test one-thread fixture
    return suite, tmp


@pytest.mark.slow
def test_two_workers_give_the_same_tables_as_the_sequential_grid(sequential, tmp_path):
    """Same thread count per run (1, as the test process uses) -> the same bytes in every table."""
    suite, seq = sequential
    messages: list[str] = []
    kwargs = dict(losses=["ce", "cfl"], seeds=[0], out_dir=tmp_path / "results", runs_dir=tmp_path / "runs",
                  overrides=TINY_OVERRIDES, plots=False, jobs=2, threads_per_run=1, log=messages.append)
    bench.run_benchmark(suite, **kwargs)
    for name in TABLES:
        assert (tmp_path / "results" / name).read_bytes() == (seq / "results" / name).read_bytes(), name
    for stage in (1, 2):
        for loss in ("ce", "cfl"):
            run = f"stage_{stage}_{loss}_seed0"
            assert _metrics(tmp_path / "runs" / run) == _metrics(seq / "runs" / run)
            log = (tmp_path / "runs" / run / "grid.log").read_text()
            assert "1 thread(s)" in log and "training" in log  # the worker's own log, in its run directory
    # one line per finished run (the log is not a terminal), stage 2 only after its stage 1
    done = [m for m in messages if ": done in " in m]
    assert len(done) == 4
    order = [m.split("] ", 1)[1].split(":")[0] for m in done]
    assert order.index("stage 2 | ce | seed 0") > order.index("stage 1 | ce | seed 0")
    assert order.index("stage 2 | cfl | seed 0") > order.index("stage 1 | cfl | seed 0")
    assert [m.split("]")[0] for m in done] == ["[1/4", "[2/4", "[3/4", "[4/4"]  # one count, the display's

    # Re-running finds every run current: no worker process, no training, same tables.
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.pt")}
    messages.clear()
    bench.run_benchmark(suite, **kwargs)
    assert sum("complete, skipped" in m for m in messages) == 4 and not any("done in" in m for m in messages)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert (tmp_path / "results" / "leaderboard.md").read_bytes() == (seq / "results" / "leaderboard.md").read_bytes()


def test_a_failed_cell_blocks_its_dependents_and_names_its_log(tmp_path):
    bad = CellJob(name="stage 1 | x", run_dir=str(tmp_path / "stage_1_x"), config=str(tmp_path / "missing.yaml"))
    child = CellJob(name="stage 2 | x", run_dir=str(tmp_path / "stage_2_x"), config=str(tmp_path / "missing.yaml"),
                    depends_on=(bad.run_dir,))
    messages: list[str] = []
    with pytest.raises(GridError) as info:
        run_local([bad, child], jobs=2, threads_per_run=1, log=messages.append, poll_s=0.05)
    text = str(info.value)
    assert "stage 1 | x: ConfigError: " in text and f"missing.yaml: config file not found; see {tmp_path / 'stage_1_x' / 'grid.log'}" in text
    assert "stage 2 | x: blocked: a run it depends on failed" in text
    assert "missing.yaml" in (tmp_path / "stage_1_x" / "grid.log").read_text()  # the worker's traceback
    assert not (tmp_path / "stage_2_x").exists()


def test_one_worker_process_executes_cell_after_cell(tmp_path):
    """A worker slot is one persistent process (imports paid once): with one slot, every cell's log names
    the same pid, and a failed cell does not stop the next one."""
    jobs = [CellJob(name=f"stage 1 | {i}", run_dir=str(tmp_path / f"run_{i}"), config=str(tmp_path / f"missing_{i}.yaml"))
            for i in range(3)]
    with pytest.raises(GridError) as info:
        run_local(jobs, jobs=1, threads_per_run=1, log=lambda msg: None, poll_s=0.05)
    assert all(f"stage 1 | {i}: " in str(info.value) for i in range(3))
    pids = {(tmp_path / f"run_{i}" / "grid.log").read_text().split("| pid ")[1].split()[0] for i in range(3)}
    assert len(pids) == 1
    assert all(f"missing_{i}.yaml" in (tmp_path / f"run_{i}" / "grid.log").read_text() for i in range(3))


def test_a_worker_that_died_between_cells_is_replaced(tmp_path):
    import selectors

    from oltr.grid.local import _Worker

    jobs = [CellJob(name=f"c{i}", run_dir=str(tmp_path / f"run_{i}"), config=str(tmp_path / "missing.yaml"))
            for i in range(2)]
    worker, selector = _Worker(0, 1, None), selectors.DefaultSelector()
    try:
        worker.submit(jobs[0], selector)
        assert selector.select(timeout=120) and worker.answer(selector)["status"] == "failed"
        first = worker.proc.pid
        os.kill(first, signal.SIGKILL)
        worker.proc.wait()
        worker.submit(jobs[1], selector)
        assert selector.select(timeout=120) and worker.answer(selector)["error"].startswith("ConfigError")
        assert worker.proc.pid != first and f"pid {worker.proc.pid}" in (tmp_path / "run_1" / "grid.log").read_text()
    finally:
        worker.close()
        selector.close()


def test_gpu_slots_are_disjoint_and_the_worker_env_carries_them():
    assert gpu_slots(["0", "1", "2", "3", "4"], 2) == [("0", "1"), ("2", "3")]
    assert gpu_slots(["3", "5"], 1) == [("3",), ("5",)]
    with pytest.raises(GridError, match="needs 2 GPU"):
        gpu_slots(["0"], 2)
    env = worker_env(3, ("2", "3"))
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3" and env["OMP_NUM_THREADS"] == "3" and env["TQDM_DISABLE"] == "1"


def test_display_prints_one_line_per_finished_run_off_a_terminal():
    out = io.StringIO()
    d = GridDisplay(3, concurrency=2, stream=out)  # StringIO is not a terminal
    d.started("a")
    d.started("b")
    assert d.status().startswith("grid 0/3 done | running: a, b")
    d.finished("a", 10.0)
    d.skipped("b")
    # ETA: 10 s per run x 2 runs left / 2 at once
    assert out.getvalue().splitlines() == ["[1/3] a: done in 10.0 s (ETA 0m10s)", "[2/3] b: complete, skipped"]
    assert "\r" not in out.getvalue()


def test_slurm_time_limits_parse_to_minutes():
    # Slurm's forms: minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]]
    assert [parse_time(t) for t in ("90", "30:00", "0:45", "1:30:00", "2-00:00:00", "1-12")] == [
        90, 30, 1, 90, 2880, 2160]
    with pytest.raises(ValueError, match="--time 'soon'"):
        parse_time("soon")


needs_submitit = pytest.mark.skipif(importlib.util.find_spec("submitit") is None, reason="pip install 'oltr[slurm]'")


@needs_submitit
@pytest.mark.slow
def test_submitit_debug_executor_runs_the_grid_with_dependencies(sequential, tmp_path):
    suite, seq = sequential
    messages: list[str] = []
    bench.run_benchmark(suite, losses=["ce"], seeds=[0], out_dir=tmp_path / "results", runs_dir=tmp_path / "runs",
                        overrides=TINY_OVERRIDES, plots=False, launcher="submitit-debug", log=messages.append,
                        slurm={"folder": tmp_path / "submitit"})
    assert [m.split(":")[0] for m in messages if "submitted as job" in m] == [
        "stage 1 | ce | seed 0", "stage 2 | ce | seed 0"]
    for stage in (1, 2):
        run = f"stage_{stage}_ce_seed0"
        assert _metrics(tmp_path / "runs" / run) == _metrics(seq / "runs" / run)


def _stage1_cell(suite, runs_dir: Path, overrides: list[str]) -> CellJob:
    cell = bench.plan_grid(suite, ["ce"], [0], runs_dir)[0]
    ovr = bench._overrides(suite, cell, runs_dir, None, None, None, overrides)
    return bench._cell_job(cell, "stage 1 | ce | seed 0", suite.stage_1, ovr, "strict", 1, "")


@needs_submitit
@pytest.mark.slow
def test_submitit_local_job_preempted_and_requeued_resumes_from_last_pt(sequential, tmp_path):
    """Preempt a stage-1 job after its first checkpoint (Slurm signals the job's tasks; submitit uses
    USR2): it checkpoints, is requeued, resumes from last.pt and ends as the uninterrupted run does."""
    suite, _ = sequential
    overrides = [*TINY_OVERRIDES, "epochs=2"]
    ref = _stage1_cell(suite, tmp_path / "ref", overrides)
    execute_cell(ref, log=lambda msg: None)  # uninterrupted, in this process
    preempted: list[str] = []

    def preempt(cell, job):
        last = Path(cell.run_dir) / "last.pt"
        deadline = time.monotonic() + 300
        while not last.is_file() and time.monotonic() < deadline:
            time.sleep(0.02)
        # The local executor's job process is a controller; its child is the task. The controller
        # restarts a task that exits asking to be requeued, as Slurm requeues the job.
        pid = job._process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGUSR2)
        preempted.extend(children)

    cell = _stage1_cell(suite, tmp_path / "runs", overrides)
    # 1 CPU per job -> 1 torch thread, as the reference run in this process: same thread count, same bytes
    run_submitit([cell], cluster="submitit-local", folder=tmp_path / "submitit", on_submit=preempt, log=lambda m: None,
                 cpus_per_run=1)
    assert len(preempted) == 1
    run = Path(cell.run_dir)
    assert "this job is preempted" in "".join(p.read_text() for p in (tmp_path / "submitit").glob("*.err"))
    assert "resumed from" in (run / "train.log").read_text()

    def rows(d: Path) -> list[dict]:
        lines = (d / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]

    assert len(rows(run)) == 2 and rows(run) == rows(Path(ref.run_dir))
    assert _metrics(run) == _metrics(Path(ref.run_dir))


@needs_submitit
@pytest.mark.slow
@pytest.mark.ddp
def test_submitit_job_with_two_tasks_trains_ddp(sequential, tmp_path):
    """Two tasks in one job (as --gpus-per-run 2 asks on Slurm) join one DDP group (gloo on CPU)."""
    suite, _ = sequential
    cell = _stage1_cell(suite, tmp_path / "runs", TINY_OVERRIDES)
    run_submitit([cell], cluster="submitit-local", folder=tmp_path / "submitit", tasks_per_run=2, log=lambda m: None)
    assert "2 process(es)" in (Path(cell.run_dir) / "train.log").read_text()
    assert json.loads((Path(cell.run_dir) / "eval_test.json").read_text())["loss"] == "ce"
