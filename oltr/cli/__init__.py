"""``oltr`` command line: a thin argparse layer over the library API.

Each subcommand lives in its own module under ``oltr.cli`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a function taking the parsed namespace and returning an
exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# Order is the order shown by ``oltr --help``.
SUBCOMMANDS = ("train", "eval", "leaderboard", "data", "benchmark", "method")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oltr",
        description="Long-tailed and open-set recognition benchmark suite (OLTR two-stage pipeline).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"oltr.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
