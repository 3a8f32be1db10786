"""The benchmark grid behind ``oltr benchmark``: every (loss, seed) through stage 1, stage 2 and both
evaluations, then the leaderboard.

A suite is a small YAML file (``configs/suites/<name>.yaml``) naming the dataset, the two stage
configs and the loss presets. Data preparation (Fashion-MNIST-LT) is the stage configs' job
(``data.prepare``), so a lone ``oltr train`` prepares it too. Every run writes its own directory;
a run whose outputs are complete is skipped and a partial one resumes from ``last.pt``, so
re-running an interrupted grid loses nothing. With ``nproc_per_node > 1`` each training run goes
through ``torchrun`` (DistributedDataParallel).

``--flavour reference`` computes what the authors ran: the focal-family losses in their reference flavour,
the modulated attention's reference start (``model.attention_init=reference`` in stage 2) and, where the
suite has a ``reference_losses`` section, that preset's per-stage loss sections as written (the CFL fork's
recipes for ImageNet-LT / Places-LT). A ``reference_losses`` label absent from ``losses`` is a preset of the
reference flavour only (pass it with ``--losses``).
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import yaml

from oltr.config import config_hash, load_config
from oltr.engine import RunDirError, is_complete, run_dir_state, train
from oltr.grid import CellJob, execute_cell
from oltr.grid.local import run_local
from oltr.grid.slurm import run_submitit
from oltr.losses import loss_params
from oltr.methods import METHODS, PIPELINE_METHODS, all_method_names
from oltr.reporting import write_leaderboard
from oltr.reporting.suite_reports import write_suite_reports
from oltr.resources import CONFIGS_DIR, config_path
from oltr.suite_grid import expand_protocols, expand_sweeps, override

SUITES_DIR = CONFIGS_DIR / "suites"


@dataclass(frozen=True)
class Suite:
    """One benchmark grid: a dataset, its two stage configs and named loss presets."""

    name: str
    dataset: str
    stage_1: Path
    stage_2: Path | None  # None: a stage-1-only suite
    losses: dict[str, dict[str, Any]]
    seeds: list[int] = field(default_factory=lambda: [0])
    data_root: str | None = None
    lists: str | None = None
    # extra dotted overrides per preset (protocol presets), and what each expanded preset stands for
    preset_overrides: dict[str, list[str]] = field(default_factory=dict)
    sweeps: dict[str, dict[str, Any]] = field(default_factory=dict)
    protocols: dict[str, dict[str, str]] = field(default_factory=dict)
    # dotted overrides applied to every run of the suite (its recipe: epochs, width, ...)
    overrides: list[str] = field(default_factory=list)
    # --flavour reference: label -> {"stage_1": loss section, "stage_2": loss section}, used as written
    reference_losses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # methods compared on every stage-1 run: ``plain`` (the stage-1 model), ``oltr`` (meta-embedding
    # stage 2) and the oltr.methods registry; each ``{name: ..., <method parameters>}``
    methods: list[dict[str, Any]] = field(default_factory=lambda: [{"name": "plain"}, {"name": "oltr"}])


def available_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_path: str | os.PathLike) -> Suite:
    """Load ``configs/suites/<name>.yaml`` (or a path); unknown keys are an error naming the file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown suite {str(name_or_path)!r}; available: {', '.join(available_suites())}")
    raw = yaml.safe_load(path.read_text()) or {}
    allowed = {"dataset", "stage_1", "stage_2", "losses", "seeds", "data_root", "lists", "reference_losses",
               "sweeps", "protocols", "set", "methods"}
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; valid keys: {sorted(allowed)}")
    for key in ("dataset", "stage_1", *(() if "sweeps" in raw else ("losses",))):
        if key not in raw:
            raise ValueError(f"{path}: missing key {key!r}")
    losses = raw.get("losses") or {}
    if not isinstance(losses, dict) or not all(isinstance(v, dict) and "name" in v for v in losses.values()):
        raise ValueError(f"{path}: 'losses' must map a label to a loss section with a 'name'")

    preset_overrides: dict[str, list[str]] = {}
    protocols: dict[str, dict[str, str]] = {}
    if "protocols" in raw:
        losses, preset_overrides, protocols = expand_protocols(raw["protocols"], losses, str(path))
    sweeps: dict[str, dict[str, Any]] = {}
    if "sweeps" in raw:
        swept, sweeps = expand_sweeps(raw["sweeps"], str(path))
        clash = set(swept) & set(losses)
        if clash:
            raise ValueError(f"{path}: sweep presets {sorted(clash)} clash with loss presets")
        losses = {**losses, **swept}
    reference = raw.get("reference_losses") or {}
    if not isinstance(reference, dict):
        raise ValueError(f"{path}: 'reference_losses' must map a label to its stage_1 and stage_2 loss sections")
    for label, stages in reference.items():
        if not (isinstance(stages, dict) and set(stages) == {"stage_1", "stage_2"}
                and all(isinstance(v, dict) and "name" in v for v in stages.values())):
            raise ValueError(f"{path}: reference_losses.{label}: must map stage_1 and stage_2 to a loss section "
                             "with a 'name'")

    return Suite(
        name=path.stem,
        dataset=raw["dataset"],
        stage_1=config_path(raw["stage_1"]),
        stage_2=config_path(raw["stage_2"]) if raw.get("stage_2") else None,
        losses=losses,
        seeds=[int(s) for s in raw.get("seeds", [0])],
        data_root=raw.get("data_root"),
        lists=raw.get("lists"),
        preset_overrides=preset_overrides,
        sweeps=sweeps,
        protocols=protocols,
        overrides=_suite_overrides(raw.get("set"), path),
        reference_losses=reference,
        methods=_parse_methods(raw.get("methods", ["plain", "oltr"] if raw.get("stage_2") else ["plain"]), path,
                               has_stage_2=bool(raw.get("stage_2"))),
    )


def _suite_overrides(sets: Any, path: Path) -> list[str]:
    if sets is None:
        return []
    if not isinstance(sets, dict):
        raise ValueError(f"{path}: 'set' must map dotted config keys to values, e.g. {{epochs: 4}}")

    return [override(k, v) for k, v in sets.items()]


def _parse_methods(items: Any, path: Path, has_stage_2: bool = True) -> list[dict[str, Any]]:
    """``methods:`` entries (a name, or ``{name: ..., <params>}``) checked against the method registry
    and each method's parameters, so a typo fails when the suite loads."""
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: 'methods' must be a non-empty list of method names or {{name: ..., params}}")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        spec = {"name": item} if isinstance(item, str) else item
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValueError(f"{path}: methods[{i}] must be a method name or a mapping with a 'name'")
        name = spec["name"]
        if name not in all_method_names():
            raise ValueError(f"{path}: methods[{i}]: unknown method {name!r}; available: {', '.join(all_method_names())}")
        params = {k: v for k, v in spec.items() if k != "name"}
        valid = [] if name in PIPELINE_METHODS else list(inspect.signature(METHODS.get(name).builder).parameters)[1:]
        bad = sorted(set(params) - set(valid))
        if bad:
            raise ValueError(f"{path}: methods[{i}] ({name}): unknown parameter(s) {bad}; valid: {valid or 'none'}")
        if name == "oltr" and not has_stage_2:
            raise ValueError(f"{path}: methods[{i}]: 'oltr' needs a stage_2 config; this suite has none")
        if any(m["name"] == name for m in out):
            raise ValueError(f"{path}: methods[{i}]: method {name!r} listed twice")
        out.append(spec)
    return out


@dataclass(frozen=True)
class GridRun:
    """One cell of the grid: a stage (or method) of one loss preset and seed.

    ``method`` is ``plain`` (stage-1 training), ``oltr`` (stage-2 training) or an ``oltr.methods``
    name applied to the stage-1 run; ``depends_on`` lists the run directories that must be finished
    before this cell starts (a scheduler may run cells whose dependencies are met in parallel).
    """

    stage: int
    loss: str
    seed: int
    run_dir: Path
    method: str = ""
    depends_on: tuple[Path, ...] = ()

    @property
    def trains(self) -> bool:
        """True for the cells trained by ``oltr train`` (stage 1, OLTR stage 2)."""
        return self.method in ("", "plain", "oltr")


def plan_grid(suite: Suite, losses: Sequence[str], seeds: Sequence[int], runs_dir: Path,
              flavour: str | None = None) -> list[GridRun]:
    """Per (seed, loss): stage 1, then every listed method on it (OLTR's stage 2 is trained; the others
    read the stage-1 run), in that order so every cell comes after the cells it depends on."""
    known = set(suite.losses) | (set(suite.reference_losses) if flavour == "reference" else set())
    unknown = [name for name in losses if name not in known]
    if unknown:
        only = sorted(set(suite.reference_losses) - set(suite.losses))
        hint = f" ({', '.join(only)}: with --flavour reference only)" if only and flavour != "reference" else ""
        raise ValueError(f"suite {suite.name!r} has no loss preset {unknown}; presets: {sorted(known)}{hint}")
    grid = []
    for seed in seeds:
        for loss in losses:
            stage1 = runs_dir / f"stage_1_{loss}_seed{seed}"
            grid.append(GridRun(1, loss, seed, stage1, "plain"))
            for spec in suite.methods:
                name = spec["name"]
                if name == "oltr":
                    grid.append(GridRun(2, loss, seed, runs_dir / f"stage_2_{loss}_seed{seed}", name, (stage1,)))
                elif name != "plain":
                    grid.append(GridRun(2, loss, seed, runs_dir / f"{name}_{loss}_seed{seed}", name, (stage1,)))
    return grid


def reported_runs(suite: Suite, grid: Sequence[GridRun]) -> list[Path]:
    """The run directories that go into the leaderboard: every cell of a listed method (the stage-1
    runs only when ``plain`` is listed; they are trained regardless, as every method starts from them)."""
    listed = {m["name"] for m in suite.methods}
    return [c.run_dir for c in grid if c.method in listed]


def _overrides(suite: Suite, cell: GridRun, stage1_dir: Path, data_root: str | None, lists: str | None,
               flavour: str | None, extra: Sequence[str]) -> list[str]:
    """Dotted ``key=value`` overrides that turn a stage config into this grid cell's config."""
    if flavour == "reference" and cell.loss in suite.reference_losses:
        preset = dict(suite.reference_losses[cell.loss][f"stage_{cell.stage}"])
    else:
        preset = dict(suite.losses[cell.loss])
    if flavour is not None and "flavour" in loss_params(preset["name"]):
        preset["flavour"] = flavour
    out = [f"seed={cell.seed}", "loss=" + json.dumps(preset)]
    if flavour == "reference" and cell.stage == 2:
        out.append("model.attention_init=reference")
    root = data_root or suite.data_root
    if root:
        out.append(f"data.root={root}")
    if lists or suite.lists:
        out.append(f"data.lists={lists or suite.lists}")
    if cell.stage == 2:
        out.append(f"init_from={stage1_dir}")
    return out + suite.overrides + suite.preset_overrides.get(cell.loss, []) + list(extra)


def _cell_job(cell: GridRun, tag: str, config: Path | None, overrides: list[str], rule: str, nproc_per_node: int,
              torchrun_args: str, method_params: dict[str, Any] | None = None):
    """The launcher-neutral job of one cell: training cells name their config and overrides; method cells
    (``oltr.methods``) the method, its parameters and the stage-1 run they read."""
    common = dict(name=tag, run_dir=str(cell.run_dir), depends_on=tuple(str(p) for p in cell.depends_on), rule=rule)
    if not cell.trains:
        return CellJob(config="", kind="method", method=cell.method,
                       method_params=json.dumps(method_params or {}, sort_keys=True), **common)
    return CellJob(config=str(config), overrides=tuple(overrides), nproc_per_node=nproc_per_node,
                   torchrun_args=torchrun_args, **common)


def _train_in_process(config: Path, overrides: list[str], run_dir: Path, progress: bool = True) -> None:
    train(load_config(config, overrides), run_dir, resume=True, progress=progress)


def _train_torchrun(config: Path, overrides: list[str], run_dir: Path, nproc: int, torchrun_args: str,
                    progress: bool = True) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           *shlex.split(torchrun_args), "-m", "oltr.cli", "train", "--config", str(config),
           "--output", str(run_dir), "--resume", "--progress", "always" if progress else "never"]
    for item in overrides:
        cmd += ["--set", item]
    subprocess.run(cmd, check=True)


def _check_finished_run(config: Path, overrides: list[str], run_dir: Path) -> None:
    """Reuse a finished run only if it was trained with this cell's config, as ``oltr train --resume``
    does; a run of another config (other --set, --flavour or preset) raises ``RunDirError``."""
    cfg = load_config(config, overrides)
    try:
        run_dir_state(run_dir, cfg, config_hash(cfg), resume=True)
    except RunDirError as e:
        raise RunDirError(f"{e} (for the benchmark: pass another --runs-dir, or remove the old run)") from None


def _eval_is_current(run_dir: Path) -> bool:
    result, ckpt = run_dir / "eval_test.json", run_dir / "best.pt"
    return result.is_file() and ckpt.is_file() and result.stat().st_mtime >= ckpt.stat().st_mtime


def cell_finished(cell: GridRun) -> bool:
    """A cell whose run is complete and whose test evaluation is current (nothing left to do)."""
    if not cell.trains:
        return (cell.run_dir / "complete.json").is_file() and (cell.run_dir / "eval_test.json").is_file()
    return is_complete(cell.run_dir) and _eval_is_current(cell.run_dir)


def _cell_name(cell: GridRun) -> str:
    return f"stage {cell.stage}" if cell.trains else f"method {cell.method}"


def run_benchmark(
    suite: Suite | str,
    *,
    losses: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    out_dir: str | os.PathLike = "results/benchmark",
    runs_dir: str | os.PathLike | None = None,
    data_root: str | None = None,
    lists: str | None = None,
    flavour: str | None = None,
    overrides: Sequence[str] = (),
    nproc_per_node: int = 1,
    torchrun_args: str = "",
    rule: str = "strict",
    plots: bool = True,
    log: Callable[[str], None] = print,
    jobs: int = 1,
    threads_per_run: int | None = None,
    gpus_per_run: int = 0,
    launcher: str = "local",
    slurm: dict[str, Any] | None = None,
    progress: bool = True,
    report_only: bool = False,
) -> dict[str, Path]:
    """Run (or resume) the whole grid and write the leaderboard; returns the written files.

    ``jobs > 1`` or ``gpus_per_run > 0``: up to ``jobs`` cells at once in local worker processes
    (:mod:`oltr.grid.local`, ``threads_per_run`` torch threads each, default cores / jobs);
    ``launcher`` ``slurm`` (or submitit's ``local`` / ``debug`` executors): one job per cell
    (:mod:`oltr.grid.slurm`, ``slurm`` holds partition, time, folder, ...). Same cells, same files.

    ``report_only``: train nothing; write the tables from the grid's finished, evaluated runs and list
    the missing ones in ``grid.json`` (a partial grid's report, or re-rendering after a format change).
    """
    suite = load_suite(suite) if isinstance(suite, str) else suite
    losses = list(losses or suite.losses)
    seeds = list(seeds if seeds is not None else suite.seeds)
    out_dir = Path(out_dir)
    runs_dir = Path(runs_dir) if runs_dir is not None else Path("runs") / suite.name
    grid = plan_grid(suite, losses, seeds, runs_dir, flavour)

    timings: dict[str, float] = {}
    start = time.perf_counter()
    log(f"oltr benchmark: suite {suite.name} | {len(losses)} losses x {len(seeds)} seeds x "
        f"{len(suite.methods)} methods ({', '.join(m['name'] for m in suite.methods)}) = {len(grid)} runs -> {runs_dir}")
    missing: list[str] = []
    if report_only:
        missing = [str(c.run_dir) for c in grid if not cell_finished(c)]
        grid = [c for c in grid if str(c.run_dir) not in set(missing)]
        log(f"oltr benchmark: report only: {len(grid)} finished runs, {len(missing)} missing")
        if not grid:
            raise RunDirError(f"no finished run of suite {suite.name!r} in {runs_dir}")
    cells = []
    for cell in [] if report_only else grid:
        tag = f"{_cell_name(cell)} | {cell.loss} | seed {cell.seed}"
        if cell.trains:
            stage1_dir = cell.depends_on[0] if cell.depends_on else runs_dir / f"stage_1_{cell.loss}_seed{cell.seed}"
            config = suite.stage_1 if cell.stage == 1 else suite.stage_2
            ovr = _overrides(suite, cell, stage1_dir, data_root, lists, flavour, overrides)
            cells.append(_cell_job(cell, tag, config, ovr, rule, nproc_per_node, torchrun_args))
        else:
            params = {k: v for k, v in next(m for m in suite.methods if m["name"] == cell.method).items() if k != "name"}
            cells.append(_cell_job(cell, tag, None, [], rule, 1, "", method_params=params))
    if launcher != "local":
        timings.update(run_submitit(cells, cluster=launcher, gpus_per_run=gpus_per_run, log=log, **(slurm or {})))
    elif jobs > 1 or gpus_per_run > 0:
        timings.update(run_local(cells, jobs=jobs, threads_per_run=threads_per_run, gpus_per_run=gpus_per_run,
                                 log=log))
    else:
        threads_before = torch.get_num_threads()
        if threads_per_run:
            torch.set_num_threads(threads_per_run)
        try:
            for k, job in enumerate(cells, 1):
                tag = f"[{k}/{len(cells)}] {job.name}"
                result = execute_cell(job, progress=progress, log=lambda msg, tag=tag: log(f"{tag}: {msg}"))
                if result["status"] == "skipped":
                    log(f"{tag}: complete, skipped")
                    continue
                timings[job.run_dir] = result["seconds"]
                log(f"{tag}: done in {result['seconds']:.1f} s (total {time.perf_counter() - start:.0f} s)")
        finally:
            torch.set_num_threads(threads_before)

    if suite.sweeps and set(losses) <= set(suite.sweeps):
        written = {}  # one leaderboard row per loss would merge the sweep points: the sweep report replaces it
    else:
        written = write_leaderboard(reported_runs(suite, grid), out_dir, formats=("md", "csv", "latex"),
                                    rule=rule, plots=plots)
    written.update(write_suite_reports(suite, grid, out_dir, rule=rule, plots=plots))
    summary = {
        "suite": suite.name,
        "dataset": suite.dataset,
        "losses": {name: (suite.reference_losses[name] if flavour == "reference" and name in suite.reference_losses
                          else suite.losses[name]) for name in losses},
        "methods": suite.methods,
        "flavour": flavour,
        "seeds": seeds,
        "rule": rule,
        "runs": [str(c.run_dir) for c in grid],
        **({"missing_runs": missing} if report_only else {}),
        "seconds_this_invocation": round(time.perf_counter() - start, 1),
        "seconds_per_run_this_invocation": timings,
    }
    summary_path = out_dir / "grid.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    written = dict(written)
    written["grid"] = summary_path
    log(f"oltr benchmark: leaderboard -> {written.get('md', out_dir)}")
    return written
