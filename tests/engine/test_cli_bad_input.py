"""Every class of bad input through the `oltr` command: exit code != 0, exactly one line on stderr that
names the file or key, no traceback, and nothing the user produced deleted or overwritten."""

from __future__ import annotations

import errno
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from _engine_helpers import tiny_cfg, tiny_dict, write_cfg
from oltr.cli import main
from oltr.engine import evaluate_run, train


@pytest.fixture(scope="module")
def pristine(tiny_root, tmp_path_factory) -> Path:
    """data/ (Tiny_LT), runs/stage_1_ce_seed0 (finished, evaluated), runs/cut (1 of 2 epochs), c.yaml."""
    ws = tmp_path_factory.mktemp("cli_ws")
    shutil.copytree(tiny_root, ws / "data")
    s1 = train(tiny_cfg(ws / "data", 1, epochs=1), ws / "runs" / "stage_1_ce_seed0", progress=False)
    evaluate_run(s1, progress=False)
    train(tiny_cfg(ws / "data", 1, epochs=2), ws / "runs" / "cut", progress=False, stop_after_epoch=0)
    write_cfg(ws / "c.yaml", tiny_dict(ws / "data", 1, epochs=1))
    return ws


DELETE = object()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


def _set_config(path: Path, dotted: str, value) -> None:
    raw = yaml.safe_load(path.read_text())
    node = raw
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    path.write_text(yaml.safe_dump(raw))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line + "\n")


# case -> (edit of the workspace (may return a context manager to hold), argv, text the error must contain)
def _edit_none(ws, mp):
    pass


def _bad_image(ws, mp):
    (ws / "data" / "test" / "0003.png").write_bytes(b"not a png at all")
    run_cfg = ws / "runs" / "stage_1_ce_seed0" / "config.yaml"
    _set_config(run_cfg, "data.cache", False)
    _set_config(run_cfg, "data.num_workers", 2)  # the error comes back from a DataLoader worker


def _bigger_image(ws, mp):
    from PIL import Image

    Image.new("RGB", (20, 20)).save(ws / "data" / "train" / "0005.png")
    _set_config(ws / "c.yaml", "data.cache", False)


def _disk_full(ws, mp):
    import oltr.engine.checkpoint as ckpt

    def full(obj, f):
        raise OSError(errno.ENOSPC, "No space left on device")

    mp.setattr(ckpt.torch, "save", full)


def _read_only(ws, mp):
    import oltr.engine.lock as lock

    real = lock.os.open

    def deny(path, flags, mode=0o777):  # tests run as root, which ignores chmod
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, flags, mode)

    mp.setattr(lock.os, "open", deny)


def _locked(ws, mp):
    from oltr.engine.lock import run_lock

    return run_lock(ws / "runs" / "cut")  # a second open file description conflicts even in one process


TRAIN = ["train", "--config", "{ws}/c.yaml", "--output", "{ws}/runs/new", "--progress", "never"]
RESUME_CUT = ["train", "--config", "{ws}/cut.yaml", "--output", "{ws}/runs/cut", "--resume", "--progress", "never"]
EVAL = ["eval", "--run", "{ws}/runs/stage_1_ce_seed0", "--open", "--progress", "never"]

CASES = {
    "config_unknown_key": (lambda ws, mp: _append(ws / "c.yaml", "optim2: {lr: 1}"), TRAIN, "c.yaml: optim2: unknown key"),
    "config_not_yaml": (lambda ws, mp: _append(ws / "c.yaml", "data: [1,\n  x: {"), TRAIN, "c.yaml: not valid YAML"),
    "config_missing": (_edit_none, ["train", "--config", "{ws}/nope.yaml"], "nope.yaml: config file not found"),
    "config_no_dataset": (lambda ws, mp: _set_config(ws / "c.yaml", "data.name", DELETE), TRAIN,
                          "c.yaml: data.name: required"),
    "negative_lr": (_edit_none, [*TRAIN, "--set", "optim.lr_features=-0.1"], "optim.lr_features: must be in [0, inf), got -0.1"),
    "wrong_type": (_edit_none, [*TRAIN, "--set", "epochs=many"], "--set epochs=many: epochs: expected int"),
    "bad_loss_param": (_edit_none, [*TRAIN, "--set", "loss.name=focal", "loss.gama=2"],
                       "loss.gama: unknown parameter of loss 'focal' (did you mean 'gamma'?)"),
    "label_outside_num_classes": (_edit_none, [*TRAIN, "--set", "data.num_classes=3"],
                                  "Tiny_LT_train.txt:85: label 3 outside -1..2"),
    "minus_one_in_train": (lambda ws, mp: _append(ws / "data" / "Tiny_LT_train.txt", "open/0000.png -1"), TRAIN,
                           "Tiny_LT_train.txt:91: label -1 (open set) in the train list"),
    "empty_train_list": (lambda ws, mp: (ws / "data" / "Tiny_LT_train.txt").write_text(""), TRAIN,
                         "Tiny_LT_train.txt: the train list is empty"),
    "empty_val_list": (lambda ws, mp: (ws / "data" / "Tiny_LT_val.txt").write_text(""), TRAIN,
                       "Tiny_LT_val.txt: the val list is empty"),
    "missing_list": (lambda ws, mp: (ws / "data" / "Tiny_LT_val.txt").unlink(), TRAIN, "Tiny_LT_val.txt"),
    "images_of_two_sizes": (_bigger_image, TRAIN, "train/0005.png gives 20x20 px"),
    "output_is_a_file": (lambda ws, mp: (ws / "runs" / "afile").write_text("mine"),
                         [*TRAIN[:4], "{ws}/runs/afile"], "runs/afile is a file"),
    "output_read_only": (_read_only, TRAIN, "runs/new/.lock: permission denied"),
    "disk_full": (_disk_full, TRAIN, "no space left on device (disk full)"),
    "run_dir_in_use": (_locked, RESUME_CUT, "runs/cut is in use by another oltr process"),
    "other_config_in_run_dir": (_edit_none, [*TRAIN[:4], "{ws}/runs/cut"], "runs/cut holds a run with a different"),
    "corrupt_last_pt": (lambda ws, mp: (ws / "runs" / "cut" / "last.pt").write_bytes(b"\0garbage" * 64), RESUME_CUT,
                        "runs/cut/last.pt (512 bytes) is truncated or corrupt"),
    "empty_best_pt": (lambda ws, mp: (ws / "runs" / "stage_1_ce_seed0" / "best.pt").write_bytes(b""), EVAL,
                      "stage_1_ce_seed0/best.pt is empty (0 bytes)"),
    "truncated_npz": (lambda ws, mp: (ws / "runs" / "stage_1_ce_seed0" / "logits_test.npz").write_bytes(
        (ws / "runs" / "stage_1_ce_seed0" / "logits_test.npz").read_bytes()[:200]), [*EVAL, "--from-logits"],
        "logits_test.npz is truncated or corrupt"),
    "logits_of_another_run": (lambda ws, mp: shutil.copy(ws / "runs" / "stage_1_ce_seed0" / "logits_test.npz",
                                                         ws / "runs" / "cut"),
                              ["eval", "--run", "{ws}/runs/cut", "--open", "--from-logits"],
                              "runs/cut/logits_test.npz was computed from another run's config"),
    "open_list_with_known_label": (lambda ws, mp: _append(ws / "data" / "Tiny_LT_open.txt", "val/0001.png 2"), EVAL,
                                   "Tiny_LT_open.txt:11: label 2 in the open list"),
    "undecodable_test_image": (_bad_image, EVAL, "cannot decode image"),
    "not_a_run_dir": (_edit_none, ["eval", "--run", "{ws}/data"], "data is not a run directory"),
    "stage2_without_stage1": (_edit_none, ["train", "--config", "{ws}/s2.yaml", "--output",
                                           "{ws}/runs/stage_2_x_focal_seed0"], "stage-1 run not found"),
    "leaderboard_nothing": (_edit_none, ["leaderboard", "{ws}/data"], "no evaluated run"),
    "bad_suite": (lambda ws, mp: (ws / "suite.yaml").write_text("dataset: X\nstages: 2\n"),
                  ["benchmark", "--suite", "{ws}/suite.yaml"], "suite.yaml: unknown key(s) ['stages']"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_named_line(pristine, tmp_path, monkeypatch, capsys, case):
    edit, argv, expected = CASES[case]
    ws = Path(shutil.copytree(pristine, tmp_path / "ws"))
    for cfg in ws.glob("runs/*/config.yaml"):  # the copied runs read the copied data
        _set_config(cfg, "data.root", str(ws / "data"))
    write_cfg(ws / "c.yaml", tiny_dict(ws / "data", 1, epochs=1))
    write_cfg(ws / "cut.yaml", tiny_dict(ws / "data", 1, epochs=2))
    write_cfg(ws / "s2.yaml", tiny_dict(ws / "data", 2, epochs=1, loss={"name": "focal"}))
    monkeypatch.chdir(ws)
    held = edit(ws, monkeypatch)
    before = _snapshot(ws)
    argv = [a.format(ws=ws) for a in argv]
    code: object = 0
    try:
        if hasattr(held, "__enter__"):
            with held:
                code = main(argv)
        else:
            code = main(argv)
    except SystemExit as e:  # what the interpreter would print and return
        code = e.code
    err = capsys.readouterr().err
    if isinstance(code, str):
        err, code = err + code + "\n", 1
    assert code != 0, case
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]
    after = _snapshot(ws)
    for name, content in before.items():  # nothing the user produced is deleted or overwritten
        assert name in after, f"{name} was deleted"
        if name.endswith("train.log"):
            assert after[name].startswith(content), f"{name} was overwritten"
        else:
            assert after[name] == content, f"{name} was changed"
