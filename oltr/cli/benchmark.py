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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from oltr.config import ConfigError
    from oltr.engine import RunDirError, StageHandoffError

    try:
        suite = load_suite(args.suite)
    except ValueError as e:
        raise SystemExit(f"oltr benchmark: {e}") from None
    try:
        _run(args, suite)
    except (ConfigError, RunDirError, StageHandoffError) as e:
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
        progress=progress_enabled(args.progress),
        report_only=args.report_only,
    )
