"""The one progress option of every command that shows progress: ``--progress auto|always|never``.

``auto`` draws bars only when stderr is a terminal; in a log file (``nohup``, a batch job) the
commands write their one line per epoch / per run instead of thousands of carriage-return updates.
"""

from __future__ import annotations

import argparse
import sys

CHOICES = ("auto", "always", "never")


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=CHOICES, default="auto",
                        help="progress bars: auto (only on a terminal, default), always, never")
    parser.add_argument("--no-progress", dest="progress", action="store_const", const="never",
                        help="same as --progress never")


def progress_enabled(mode: str) -> bool:
    """Whether to draw bars for ``mode`` (auto: stderr is a terminal)."""
    if mode == "auto":
        return sys.stderr.isatty()
    return mode == "always"
