"""The ``oltr`` command line: subcommands and argument plumbing shared by all of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from oltr.cli import SUBCOMMANDS, build_parser


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "oltr", "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("train", "eval", "leaderboard", "data", "benchmark"):
        assert name in out
    assert set(SUBCOMMANDS) == {"train", "eval", "leaderboard", "data", "benchmark"}


@pytest.mark.parametrize("command", [["train", "--config", "c.yaml"], ["benchmark"]])
def test_repeated_set_flags_accumulate(command):
    # The benchmark runner passes one `--set` per override to `oltr train` under torchrun.
    args = build_parser().parse_args([*command, "--set", "seed=1", "--set", "loss.name=cfl", "loss.gamma_hc=3"])
    assert args.overrides == ["seed=1", "loss.name=cfl", "loss.gamma_hc=3"]
