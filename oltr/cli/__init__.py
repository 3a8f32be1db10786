"""``oltr`` command line: a thin argparse layer over the library API.

Each subcommand lives in its own module under ``oltr.cli`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a function taking the parsed namespace and returning an
exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
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


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by the user's input, files or machine: their message is the whole story."""
    from oltr.config import ConfigError
    from oltr.data import ImageLoadError, ListFormatError
    from oltr.engine import NonFiniteLossError, RunDirError, StageHandoffError
    from oltr.engine.checkpoint import CheckpointError
    from oltr.engine.lock import RunLockedError
    from oltr.models import WeightLoadError

    # ValueError / OSError: every check in the library raises these with a message naming the file or key
    return (ConfigError, RunDirError, RunLockedError, StageHandoffError, NonFiniteLossError, CheckpointError,
            ListFormatError, ImageLoadError, WeightLoadError, ValueError, OSError)


def one_line(text: str) -> str:
    """Messages of YAML or torch errors span lines; the user gets one. An error re-raised from a
    DataLoader worker carries the worker's traceback: only its last line (the error itself) is kept."""
    lines = [part.strip() for part in str(text).splitlines() if part.strip()]
    if any(line.startswith("Original Traceback") for line in lines):
        lines = [lines[-1].split(": ", 1)[-1]]
    return " ".join(lines)


_AFTER_INTERRUPT = {"train": "resume with --resume", "benchmark": "run the same command again to resume",
                    "eval": "run it again"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. User errors end in one line on stderr naming the file or key (exit 1), Ctrl-C
    in ``interrupted; ...`` (exit 130); ``OLTR_TRACEBACK=1`` shows the traceback instead."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("OLTR_TRACEBACK"):
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        after = _AFTER_INTERRUPT.get(args.command, "run it again")
        print(f"oltr {args.command}: interrupted; {after}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `oltr ... | head`: the reader left; stop quietly like other command-line tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except SystemExit as e:
        if isinstance(e.code, str):
            raise SystemExit(one_line(e.code)) from None
        raise
    except _user_errors() as e:
        prefix = f"oltr {args.command}: "
        text = one_line(str(e) or type(e).__name__)
        raise SystemExit(text if text.startswith(prefix) else prefix + text) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
