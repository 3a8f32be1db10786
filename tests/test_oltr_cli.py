"""The ``oltr`` command line: subcommands and argument plumbing shared by all of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from oltr.cli import SUBCOMMANDS, build_parser


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "oltr", "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("train", "eval", "leaderboard", "data", "benchmark", "method"):
        assert name in out
    assert set(SUBCOMMANDS) == {"train", "eval", "leaderboard", "data", "benchmark", "method"}


@pytest.mark.parametrize("command", [["train", "--config", "c.yaml"], ["benchmark"]])
def test_repeated_set_flags_accumulate(command):
    # The benchmark runner passes one `--set` per override to `oltr train` under torchrun.
    args = build_parser().parse_args([*command, "--set", "seed=1", "--set", "loss.name=cfl", "loss.gamma_hc=3"])
    assert args.overrides == ["seed=1", "loss.name=cfl", "loss.gamma_hc=3"]


def test_train_with_missing_data_is_a_one_line_error(tmp_path, monkeypatch):
    # a missing split list (or image, or a malformed line) ends `oltr train` with its message, no traceback
    from oltr.cli import main

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\ndata:\n  name: X\n  root: nowhere\n  num_workers: 0\n")
    with pytest.raises(SystemExit, match=r"oltr train: train list not found: .*nowhere/X_train.txt"):
        main(["train", "--config", str(config), "--output", str(tmp_path / "run"), "--no-progress"])


def test_benchmark_default_out_is_results_slash_suite_name_also_for_a_suite_path(tmp_path, monkeypatch):
    import oltr.cli.benchmark as cli_bench
    from oltr.cli import main

    suite = tmp_path / "my_suite.yaml"
    suite.write_text("dataset: X\nstage_1: a.yaml\nstage_2: b.yaml\nlosses: {ce: {name: ce}}\n")
    seen = {}
    monkeypatch.setattr(cli_bench, "run_benchmark", lambda s, **kw: seen.update(suite=s, **kw))
    assert main(["benchmark", "--suite", str(suite)]) == 0
    assert seen["out_dir"] == "results/my_suite" and seen["suite"].name == "my_suite"
    with pytest.raises(SystemExit, match="oltr benchmark: unknown suite 'nope'"):
        main(["benchmark", "--suite", "nope"])
