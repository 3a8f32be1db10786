"""``oltr benchmark``: the full two-stage, multi-loss comparison grid and its leaderboard."""

from __future__ import annotations

import argparse
import re

from oltr.benchmark import available_suites, load_suite, run_benchmark
from oltr.cli._progress import add_progress_option, progress_enabled


def _csv(text: str) -> list[str]:
    # commas inside brackets belong to a sweep preset's name: cfl[gamma_hc=2,factor=4]
    return [item.strip() for item in re.split(r",(?![^\[]*\])", text) if item.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="run stage 1 + stage 2 + evaluation for every loss and seed of a suite, then the leaderboard",
        description="Run (or resume) a benchmark grid. Finished runs are skipped; partial ones resume.",
    )
    p.add_argument("--suite", default="fashion_mnist_lt",
                   help=f"suite name ({', '.join(available_suites())}) or a suite YAML path")
    p.add_argument("--losses", type=_csv, default=None, help="comma-separated loss presets (default: all)")
    p.add_argument("--seeds", type=lambda s: [int(x) for x in _csv(s)], default=None,
                   help="comma-separated seeds (default: the suite's)")
    p.add_argument("--out", default=None, help="where the leaderboard goes (default results/<suite>)")
    p.add_argument("--runs-dir", default=None, help="where run directories go (default runs/<suite>)")
    p.add_argument("--data-root", default=None, help="image root (ImageNet-LT / Places-LT)")
    p.add_argument("--lists", default=None, help="folder holding the split lists")
    p.add_argument("--flavour", choices=("paper", "reference"), default=None,
                   help="loss flavour for focal/asl/cfl/casl (default: each loss's default, 'paper')")
    p.add_argument("--rule", choices=("strict", "oltr"), default="strict", help="shot-group boundary rule")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="config overrides applied to every run (repeatable)")
    p.add_argument("--nproc-per-node", type=int, default=1,
                   help="GPUs per node: >1 runs each training run through torchrun (DDP)")
    p.add_argument("--torchrun-args", default="", help="extra torchrun arguments, e.g. '--nnodes 2 ...'")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_progress_option(p)
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the tables from the finished runs, listing the missing ones in grid.json")
    g = p.add_argument_group("where the runs go (oltr.grid)")
    g.add_argument("--jobs", type=int, default=1,
                   help="runs at once, each in its own worker process, stage 1 before its stage 2 (default 1: "
                        "in this process, one after another)")
    g.add_argument("--threads-per-run", type=int, default=None, help="torch threads per run (default cores / jobs)")
    g.add_argument("--gpus-per-run", type=int, default=0,
                   help="GPUs per run: disjoint CUDA_VISIBLE_DEVICES per concurrent run; >1 trains through torchrun "
                        "(locally) or G tasks per job (Slurm)")
    g.add_argument("--launcher", choices=("local", "slurm", "submitit-local", "submitit-debug"), default="local",
                   help="slurm: one Slurm job per run through submitit (pip install 'oltr[slurm]'); submitit-local/"
                        "-debug: the same jobs on this machine")
    g.add_argument("--partition", default=None, help="Slurm partition")
    g.add_argument("--time", default="60", help="Slurm time limit per run: minutes or [D-]H:MM:SS (default 60)")
    g.add_argument("--cpus-per-run", type=int, default=None, help="Slurm CPUs per task")
    g.add_argument("--mem-gb", type=int, default=None, help="Slurm memory per job (GB)")
    g.add_argument("--slurm-folder", default=None, help="submitit job files and logs (default <runs-dir>/submitit)")
    g.add_argument("--slurm-arg", dest="slurm_args", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="extra sbatch options, e.g. account=abc qos=high constraint=a100")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from oltr.config import ConfigError
    from oltr.engine import RunDirError, StageHandoffError
    from oltr.grid import GridError

    try:
        suite = load_suite(args.suite)
    except ValueError as e:
        raise SystemExit(f"oltr benchmark: {e}") from None
    try:
        _run(args, suite)
    except (ConfigError, RunDirError, StageHandoffError, GridError) as e:
        raise SystemExit(f"oltr benchmark: {e}") from None
    return 0


def _run(args: argparse.Namespace, suite) -> None:
    run_benchmark(
        suite,
        losses=args.losses,
        seeds=args.seeds,
        out_dir=args.out or f"results/{suite.name}",  # the suite's name, also for a YAML path
        runs_dir=args.runs_dir,
        data_root=args.data_root,
        lists=args.lists,
        flavour=args.flavour,
        overrides=args.overrides,
        nproc_per_node=args.nproc_per_node,
        torchrun_args=args.torchrun_args,
        rule=args.rule,
        plots=not args.no_plots,
        jobs=args.jobs,
        threads_per_run=args.threads_per_run,
        gpus_per_run=args.gpus_per_run,
        launcher=args.launcher,
        slurm=_slurm_options(args),
        progress=progress_enabled(args.progress),
        report_only=args.report_only,
    )


def _slurm_options(args: argparse.Namespace) -> dict | None:
    from oltr.grid.slurm import parse_time

    if args.launcher == "local":
        return None

    extra = {}
    for item in args.slurm_args:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"oltr benchmark: --slurm-arg {item!r}: expected KEY=VALUE (an sbatch option without "
                             "its dashes, e.g. account=abc)")
        extra[key.replace("-", "_")] = value
    try:
        time_min = parse_time(args.time)
    except ValueError as e:
        raise SystemExit(f"oltr benchmark: {e}") from None
    return dict(partition=args.partition, time_min=time_min, cpus_per_run=args.cpus_per_run,
                mem_gb=args.mem_gb, folder=args.slurm_folder, slurm_args=extra or None)
