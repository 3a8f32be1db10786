"""summary.csv and TensorBoard event files beside metrics.jsonl, read back independently."""

from __future__ import annotations

import json
import logging
import math

import pandas as pd
import pytest

import oltr.engine.epoch_logs as epoch_logs
from oltr.engine import train
from _engine_helpers import read_metrics, tiny_cfg


def _flat_rows(run_dir):
    return [epoch_logs.flatten(r) for r in read_metrics(run_dir, drop_time=False)]


def _event_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_resumed_run_writes_csv_and_events_equal_to_metrics_jsonl(tiny_root, tmp_path):
    pytest.importorskip("tensorboard")
    cfg = tiny_cfg(tiny_root, 1, epochs=3)
    run = train(cfg, tmp_path / "run", progress=False, stop_after_epoch=0)
    # A kill between the epoch-2 logs and its checkpoint leaves stale epoch-2 events behind: resuming
    # from the epoch-1 checkpoint must purge them, not keep them beside the redone epoch.
    stale = epoch_logs.EpochLogs(run, start_epoch=0)
    stale.writer.add_scalar("loss", 999.0, global_step=2)
    stale.close()
    train(cfg, run, resume=True, progress=False)
    rows = _flat_rows(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]  # epochs done, counted from 1

    csv = pd.read_csv(run / "summary.csv")
    assert list(csv["epoch"]) == [1, 2, 3]
    for key in ("loss", "val_overall", "lr/features", "lr/classifier", "time/epoch_s", "best_overall"):
        assert csv[key].tolist() == pytest.approx([r[key] for r in rows], rel=0, abs=0), key

    events = _event_scalars(run)
    expected = {k for r in rows for k, v in r.items()
                if k != "epoch" and isinstance(v, (int, float)) and v is not None and math.isfinite(v)}
    assert set(events) == expected
    for tag, points in events.items():
        assert [s for s, _ in points] == [1, 2, 3], tag  # one value per epoch, none left over from the cut
        # event files store float32
        assert [v for _, v in points] == pytest.approx([float(r[tag]) for r in rows], rel=1e-6), tag


def test_without_tensorboard_the_run_trains_and_says_so_once(tiny_root, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(epoch_logs, "_summary_writer_class", lambda: None)
    monkeypatch.setattr(epoch_logs, "_said_off", False)
    with caplog.at_level(logging.INFO, logger="oltr"):
        run = train(tiny_cfg(tiny_root, 1), tmp_path / "run", progress=False)
        epoch_logs.EpochLogs(tmp_path / "other")  # a second run in the same process stays quiet
    assert sum("TensorBoard logging is off" in r.getMessage() for r in caplog.records) == 1
    assert not (run / "tensorboard").exists()
    csv = pd.read_csv(run / "summary.csv")
    assert csv["val_overall"].tolist() == [r["val_overall"] for r in _flat_rows(run)]
    assert json.loads((run / "complete.json").read_text())["epochs"] == 2
