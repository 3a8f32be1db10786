"""collect_runs: reading run directories, re-scoring under another rule."""

from __future__ import annotations

import numpy as np
import pytest
from reporting_fake_runs import TRAIN_COUNTS, fabricate_logits, write_run

from oltr.evaluation import closed_set_metrics, open_set_metrics
from oltr.reporting import collect_runs, find_run_dirs, read_history


def test_collect_runs_one_row_per_run(runs_root):
    df = collect_runs([runs_root])
    assert len(df) == 5
    assert sorted(df["loss"].unique()) == ["ce", "cfl", "focal"]
    assert set(df["dataset"]) == {"FashionMNIST_LT"} and set(df["stage"]) == {1}
    row = df[(df["loss"] == "focal") & (df["seed"] == 1)].iloc[0]
    logits, labels, open_logits = fabricate_logits("focal", 1)
    closed = closed_set_metrics(logits, labels, TRAIN_COUNTS)
    assert row["closed_few"] == pytest.approx(closed["few"])
    assert row["closed_macro_f1"] == pytest.approx(closed["macro_f1"])
    np.testing.assert_allclose(row["per_class"], closed["per_class"])
    assert row["open_f_measure"] == pytest.approx(open_set_metrics(logits, labels, open_logits, TRAIN_COUNTS)["f_measure"])
    assert row["rule"] == "strict" and row["fp_rule"] == "oltr"


def test_rescore_when_rule_differs(tmp_path):
    run = write_run(tmp_path, rule="oltr", loss="ce", seed=3)
    logits, labels, open_logits = fabricate_logits("ce", 3)
    stored = collect_runs(run, rule=None).iloc[0]
    strict = collect_runs(run, rule="strict").iloc[0]
    assert stored["rule"] == "oltr" and strict["rule"] == "strict"
    expected = closed_set_metrics(logits, labels, TRAIN_COUNTS, rule="strict")
    assert strict["closed_many"] == pytest.approx(expected["many"])
    assert strict["closed_many"] != pytest.approx(stored["closed_many"])  # class with 100 images moved group
    expected_open = open_set_metrics(logits, labels, open_logits, TRAIN_COUNTS, rule="strict")
    assert strict["open_few"] == pytest.approx(expected_open["few"])


def test_rescore_without_logits_is_a_clear_error(tmp_path):
    run = write_run(tmp_path, rule="oltr", save_logits=False)
    with pytest.raises(FileNotFoundError, match="logits_test.npz"):
        collect_runs(run, rule="strict")
    assert collect_runs(run, rule="oltr").iloc[0]["rule"] == "oltr"


def test_closed_set_only_run_has_nan_open_columns(tmp_path):
    write_run(tmp_path, open_set=False)
    row = collect_runs(tmp_path).iloc[0]
    assert np.isnan(row["open_f_measure"]) and row["fp_rule"] is None


def test_config_fills_missing_fields(tmp_path):
    import json

    run = write_run(tmp_path, dataset="Places_LT", stage=2, loss="focal", seed=7)
    ev = json.loads((run / "eval_test.json").read_text())
    for key in ("dataset", "loss", "stage", "seed"):
        del ev[key]
    (run / "eval_test.json").write_text(json.dumps(ev))
    row = collect_runs(run).iloc[0]
    assert (row["dataset"], row["stage"], row["loss"], row["seed"]) == ("Places_LT", 2, "focal", 7)


def test_find_run_dirs(tmp_path, runs_root):
    pending = runs_root / "not_evaluated"
    pending.mkdir()
    (pending / "config.yaml").write_text("name: x\n")
    with pytest.warns(UserWarning, match="not evaluated"):
        found = find_run_dirs([runs_root])
    assert len(found) == 5
    with pytest.raises(FileNotFoundError, match="not found"):
        find_run_dirs([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no evaluated run"):
        find_run_dirs([tmp_path / "empty"])


def test_read_history(runs_root):
    hist = read_history(next(runs_root.glob("*cfl*")))
    assert list(hist["epoch"]) == [0, 1, 2, 3] and "xi" in hist
    assert read_history(runs_root).empty
