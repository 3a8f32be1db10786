"""Faults a user meets end in a named error or a correct result: locked run directories (two real
processes), damaged checkpoints and logits, failed writes, unfinished runs, provenance, data checks."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from _engine_helpers import make_tiny_dataset, read_metrics, tiny_cfg, tiny_dict, write_cfg
from oltr.config import load_config
from oltr.data import ListFormatError
from oltr.data.checks import DataCheckError
from oltr.engine import evaluate_run, is_complete, train
from oltr.engine.checkpoint import CheckpointError, OutputWriteError
from oltr.engine.lock import RunLockedError, run_lock
from oltr.engine.logits import LogitsFileError

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def runs(tiny_root, tmp_path_factory):
    """A finished stage 1 (evaluated), a stage 2 from it, and a stage 1 stopped after its first epoch."""
    root = tmp_path_factory.mktemp("reliability_runs")
    s1 = train(tiny_cfg(tiny_root, 1, epochs=1), root / "stage_1_ce_seed0", progress=False)
    evaluate_run(s1, progress=False)
    s2 = train(tiny_cfg(tiny_root, 2, epochs=1), root / "stage_2_meta_embedding_ce_seed0", progress=False)
    cut = train(tiny_cfg(tiny_root, 1, epochs=2), root / "cut", progress=False, stop_after_epoch=0)
    return {"s1": s1, "s2": s2, "cut": cut}


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name))


# ------------------------------------------------------------------------------------------- the lock


def _holder(run_dir: Path) -> subprocess.Popen:
    """A second real process holding the run directory's lock, as a running `oltr train` does."""
    code = ("import sys; from oltr.engine.lock import run_lock\n"
            f"with run_lock({str(run_dir)!r}):\n    print('locked', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=ENV)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_on_a_run_directory_fails_at_once_naming_the_holder(tiny_root, tmp_path):
    # two real processes: a holder (as a running `oltr train`) and this one, training into the same directory
    run_dir = tmp_path / "run"
    cfg = tiny_cfg(tiny_root, 1, epochs=1)
    holder = _holder(run_dir)
    try:
        for resume in (False, True):
            with pytest.raises(RunLockedError, match=rf"is in use by another oltr process \(pid {holder.pid} on host"):
                train(cfg, run_dir, resume=resume, progress=False)
        assert not (run_dir / "config.yaml").exists()  # refused before anything was written
    finally:
        holder.communicate("")
    # released: the same call now trains, and every epoch is logged once
    assert is_complete(train(cfg, run_dir, progress=False))
    assert [r["epoch"] for r in read_metrics(run_dir)] == [1]


def test_a_killed_holder_leaves_a_stale_lock_that_is_reported_and_taken_over(tmp_path, caplog):
    run_dir = tmp_path / "run"
    holder = _holder(run_dir)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert str(holder.pid) in (run_dir / ".lock").read_text()
    with caplog.at_level("WARNING", logger="oltr.engine"), run_lock(run_dir):
        with pytest.raises(RunLockedError):  # and, held, it refuses even this process's second attempt
            with run_lock(run_dir):
                pass
    assert f"stale lock in {run_dir} from pid {holder.pid}" in caplog.text
    assert (run_dir / ".lock").read_text() == ""  # released cleanly


def test_ctrl_c_exits_quietly_with_how_to_resume(tiny_root, tmp_path):
    run_dir = tmp_path / "run"
    config = write_cfg(tmp_path / "c.yaml", tiny_dict(tiny_root, 1, epochs=50))
    proc = subprocess.Popen([sys.executable, "-m", "oltr", "train", "--config", str(config), "--output",
                             str(run_dir), "--progress", "never"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    lock = run_dir / ".lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip() == "oltr train: interrupted; resume with --resume"


# ------------------------------------------------------------------------------- damaged files


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif how == "not_a_checkpoint":
        torch.save([1, 2, 3], path)


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage", "not_a_checkpoint"])
def test_damaged_checkpoints_are_named_errors_on_resume_eval_and_handoff(tiny_root, runs, tmp_path, how):
    cut = _copy(runs["cut"], tmp_path)
    _damage(cut / "last.pt", how)
    with pytest.raises(CheckpointError, match=rf"{cut / 'last.pt'}.*delete .*last.pt to restart"):
        train(tiny_cfg(tiny_root, 1, epochs=2), cut, resume=True, progress=False)
    s1 = _copy(runs["s1"], tmp_path)
    _damage(s1 / "best.pt", how)
    with pytest.raises(CheckpointError, match=rf"{s1 / 'best.pt'}.*train the run again"):
        evaluate_run(s1, progress=False)
    with pytest.raises(CheckpointError, match=str(s1 / "best.pt")):
        train(tiny_cfg(tiny_root, 2, epochs=1), tmp_path / "stage_2_meta_embedding_ce_seed0", progress=False)


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_damaged_logits_are_named_errors(runs, tmp_path, how):
    s1 = _copy(runs["s1"], tmp_path)
    _damage(s1 / "logits_test.npz", how)
    with pytest.raises(LogitsFileError, match=rf"{s1 / 'logits_test.npz'} is truncated or corrupt"):
        evaluate_run(s1, from_logits=True)


def test_from_logits_refuses_logits_of_another_run_or_of_a_changed_list(tiny_root, runs, tmp_path):
    s1 = _copy(runs["s1"], tmp_path)
    other = train(tiny_cfg(tiny_root, 1, epochs=1, seed=1), tmp_path / "other", progress=False)
    shutil.copy(s1 / "logits_test.npz", other / "logits_test.npz")
    with pytest.raises(LogitsFileError, match="computed from another run's config"):
        evaluate_run(other, from_logits=True)
    assert evaluate_run(s1, from_logits=True)["config_hash"]  # its own run: accepted
    data = _copy(tiny_root, tmp_path / "data")  # the same run scored against an edited test list
    test_list = data / "Tiny_LT_test.txt"
    test_list.write_text("".join(test_list.read_text().splitlines(keepends=True)[:-1]))
    cfg = yaml.safe_load((s1 / "config.yaml").read_text())
    cfg["data"]["root"] = str(data)
    (s1 / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(LogitsFileError, match="another version of the split list"):
        evaluate_run(s1, from_logits=True)


def test_disk_full_while_checkpointing_says_disk_and_keeps_the_last_checkpoint(tiny_root, tmp_path, monkeypatch):
    import oltr.engine.checkpoint as ckpt

    run_dir = tmp_path / "run"
    train(tiny_cfg(tiny_root, 1, epochs=2), run_dir, progress=False, stop_after_epoch=0)
    before = (run_dir / "last.pt").read_bytes()

    def full(obj, f):
        f.write(b"x" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", full)
    with pytest.raises(OutputWriteError, match=r"last.pt: no space left on device \(disk full\).*--resume"):
        train(tiny_cfg(tiny_root, 1, epochs=2), run_dir, resume=True, progress=False)
    assert (run_dir / "last.pt").read_bytes() == before and not list(run_dir.glob(".last.pt.*"))

    # torch's own writer reports a full disk as an "enforce fail" RuntimeError without the word "disk"
    def enforce_fail(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(ckpt.torch, "save", enforce_fail)
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    with pytest.raises(OutputWriteError, match="no space left on device"):
        ckpt.save_atomic({"a": 1}, tmp_path / "x.pt")


def test_unwritable_or_file_output_paths_are_named(tiny_root, tmp_path, monkeypatch):
    import oltr.engine.lock as lock

    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    with pytest.raises(NotADirectoryError, match=f"output path {a_file} is a file"):
        train(tiny_cfg(tiny_root, 1), a_file, progress=False)
    assert a_file.read_text() == "mine"
    real_open = os.open

    def read_only(path, flags, mode=0o777):  # root ignores chmod: simulate the read-only folder
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(lock.os, "open", read_only)
    with pytest.raises(OutputWriteError, match=r"cannot write .*\.lock: permission denied: make the folder writable"):
        train(tiny_cfg(tiny_root, 1), tmp_path / "ro", progress=False)


# ------------------------------------------------------------------------------- runs and provenance


def test_eval_of_an_unfinished_run_says_so(runs, tmp_path, capsys):
    from oltr.cli import main

    cut = _copy(runs["cut"], tmp_path)
    result = evaluate_run(cut, progress=False)
    assert (result["complete"], result["epochs_done"], result["epochs"]) == (False, 1, 2)
    assert main(["eval", "--run", str(cut), "--progress", "never"]) == 0
    assert "UNFINISHED run (1 of 2 epochs)" in capsys.readouterr().out


def test_config_yaml_is_fully_resolved_with_the_stage1_run_stage2_loaded(runs):
    s2 = yaml.safe_load((runs["s2"] / "config.yaml").read_text())
    assert s2["init_from"] == str(runs["s1"].resolve())  # not null: the run it actually loaded
    assert s2["loss"] == {"name": "ce", "label_smoothing": 0.0, "reduction": "mean"}  # the loss's defaults
    complete = json.loads((runs["s1"] / "complete.json").read_text())
    rows = read_metrics(runs["s1"])
    assert complete["epochs"] == rows[-1]["epoch"] == 1 and complete["best_epoch"] == rows[0]["best_epoch"] == 1
    assert "epoch 1/1" in (runs["s1"] / "train.log").read_text()


def test_handoff_compares_resolved_loss_parameters(tiny_root, tmp_path):
    s1 = train(tiny_cfg(tiny_root, 1, epochs=1, loss={"name": "focal"}), tmp_path / "stage_1_focal_seed0",
               progress=False)
    s2 = train(tiny_cfg(tiny_root, 2, epochs=1, loss={"name": "focal", "gamma": 2.0, "flavour": "paper"}),
               tmp_path / "stage_2_meta_embedding_focal_seed0", progress=False)
    assert is_complete(s2) and yaml.safe_load((s2 / "config.yaml").read_text())["init_from"] == str(s1.resolve())


def test_nonfinite_loss_in_the_first_epoch_does_not_name_a_missing_checkpoint(tiny_root, tmp_path):
    from oltr.engine import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match="no checkpoint was written") as err:
        train(tiny_cfg(tiny_root, 1, epochs=1, **{"optim.lr_features": 1e30, "optim.lr_classifier": 1e30}),
              tmp_path / "nan", progress=False)
    assert "last.pt" not in str(err.value) and not (tmp_path / "nan" / "last.pt").exists()


# ------------------------------------------------------------------------------- data checks


def _dataset(tmp_path: Path, tiny_root: Path, edit) -> Path:
    root = _copy(tiny_root, tmp_path / "d")
    edit(root)
    return root


def _append(root: Path, split: str, line: str) -> None:
    with open(root / f"Tiny_LT_{split}.txt", "a") as f:
        f.write(line + "\n")


def test_label_minus_one_in_a_training_list_is_refused_naming_the_line(tiny_root, tmp_path):
    root = _dataset(tmp_path, tiny_root, lambda r: _append(r, "train", "open/0000.png -1"))
    with pytest.raises(ListFormatError, match=r"Tiny_LT_train.txt:91: label -1 \(open set\) in the train list"):
        train(tiny_cfg(root, 1, epochs=1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_open_list_with_known_labels_or_known_images_is_refused(tiny_root, runs, tmp_path):
    root = _dataset(tmp_path, tiny_root, lambda r: _append(r, "open", "val/0001.png 2"))
    s1 = _copy(runs["s1"], tmp_path)
    cfg = yaml.safe_load((s1 / "config.yaml").read_text())
    cfg["data"]["root"] = str(root)
    (s1 / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ListFormatError, match=r"Tiny_LT_open.txt:11: label 2 in the open list"):
        evaluate_run(s1, progress=False)
    lines = (root / "Tiny_LT_open.txt").read_text().splitlines()[:-1] + ["train/0003.png -1"]
    (root / "Tiny_LT_open.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ListFormatError, match=r"also in the train list \(first: train/0003.png\)"):
        evaluate_run(s1, progress=False)


def test_empty_validation_list_is_refused_before_training(tiny_root, tmp_path):
    root = _dataset(tmp_path, tiny_root, lambda r: (r / "Tiny_LT_val.txt").write_text(""))
    with pytest.raises(DataCheckError, match=r"Tiny_LT_val.txt: the val list is empty"):
        train(tiny_cfg(root, 1, epochs=1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_classes_without_training_images_are_reported_when_the_data_loads(tiny_root, tmp_path):
    run = train(tiny_cfg(tiny_root, 1, epochs=1, **{"data.num_classes": 6}), tmp_path / "run", progress=False)
    assert "2 of 6 classes have no training image (4, 5; data.num_classes = 6)" in (run / "train.log").read_text()


def test_images_of_different_sizes_name_the_image_and_the_option(tiny_root, tmp_path):
    from PIL import Image

    def bigger(root: Path) -> None:
        Image.new("RGB", (20, 20)).save(root / "train" / "0005.png")

    root = _dataset(tmp_path, tiny_root, bigger)
    cfg = tiny_cfg(root, 1, epochs=1, **{"data.cache": False, "data.augment": False})
    with pytest.raises(DataCheckError, match=r"images of different sizes: .*20x20 px .* set data.image_size"):
        train(cfg, tmp_path / "run", progress=False)
    # the way out named by the message works
    assert is_complete(train(tiny_cfg(root, 1, epochs=1, **{"data.image_size": 16}), tmp_path / "ok", progress=False))
