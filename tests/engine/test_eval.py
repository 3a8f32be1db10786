"""`oltr eval` / evaluate_run end to end on a tiny two-stage run, including --from-logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _engine_helpers import tiny_cfg
from oltr.cli import main
from oltr.engine import evaluate_run, train

KEYS = {"split", "checkpoint", "config_hash", "rule", "threshold", "fp_rule", "closed_set", "open_set",
        "train_counts", "dataset", "loss", "stage", "seed", "complete", "epochs_done", "epochs"}


@pytest.fixture(scope="module")
def stage2_run(tiny_root, tmp_path_factory):
    runs = tmp_path_factory.mktemp("eval_runs")
    train(tiny_cfg(tiny_root, 1, epochs=1), runs / "stage_1_ce_seed0", progress=False)
    return train(tiny_cfg(tiny_root, 2, epochs=1), runs / "stage_2_meta_embedding_ce_seed0", progress=False)


def test_evaluate_run_writes_logits_and_json(stage2_run):
    result = evaluate_run(stage2_run, split="test", open_set=True, progress=False)
    assert set(result) == KEYS
    assert (result["split"], result["dataset"], result["loss"], result["stage"], result["seed"]) == \
        ("test", "Tiny_LT", "ce", 2, 0)
    assert result["train_counts"] == [48, 24, 12, 6] and result["threshold"] == 0.1 and result["rule"] == "strict"
    assert isinstance(result["closed_set"]["per_class"], list) and len(result["closed_set"]["per_class"]) == 4
    assert result["open_set"] is not None
    with np.load(stage2_run / "logits_test.npz") as z:
        assert z["logits"].shape == (24, 4) and z["labels"].shape == (24,) and z["open_logits"].shape == (10, 4)
    on_disk = json.loads((stage2_run / "eval_test.json").read_text())
    assert on_disk == result
    closed = evaluate_run(stage2_run, split="val", open_set=False, progress=False)
    assert closed["open_set"] is None and (stage2_run / "eval_val.json").is_file()


def test_from_logits_rescoring_matches_and_changes_threshold(stage2_run):
    first = evaluate_run(stage2_run, split="test", open_set=True, progress=False)
    again = evaluate_run(stage2_run, split="test", open_set=True, from_logits=True)
    assert again == first
    rescored = evaluate_run(stage2_run, split="test", open_set=True, from_logits=True, threshold=0.9, rule="oltr")
    assert rescored["threshold"] == 0.9 and rescored["rule"] == "oltr"
    assert rescored["closed_set"]["overall"] == first["closed_set"]["overall"]


def test_cli_eval(stage2_run, capsys):
    assert main(["eval", "--run", str(stage2_run), "--open", "--no-progress"]) == 0
    assert main(["eval", "--run", str(stage2_run), "--open", "--from-logits", "--threshold", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "closed-set: overall" in out and "threshold 0.5" in out and "F-measure 0." in out
    assert json.loads((stage2_run / "eval_test.json").read_text())["threshold"] == 0.5


def test_cli_eval_errors(tmp_path):
    with pytest.raises(SystemExit, match="not a run directory"):
        main(["eval", "--run", str(tmp_path)])
