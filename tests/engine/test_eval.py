"""`oltr eval` / evaluate_run end to end on a tiny two-stage run, including --from-logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _engine_helpers import tiny_cfg
from oltr.cli import main
from oltr.engine import evaluate_run, train

KEYS = {"split", "checkpoint", "config_hash", "rule", "threshold", "fp_rule", "closed_set", "open_set",
        "train_counts", "dataset", "loss", "stage", "seed", "score", "threshold_selection",
        "complete", "epochs_done", "epochs"}


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


def test_rescore_energy_sweep_and_val_threshold(stage2_run, capsys):
    """`oltr eval --from-logits --score energy --sweep` re-scores without the model; the threshold chosen
    on val accepts >= 95 % of the val known samples and is recorded with how it was chosen."""
    from oltr.evaluation import ood_metrics, open_set_score

    evaluate_run(stage2_run, split="test", open_set=True, progress=False)
    assert main(["eval", "--run", str(stage2_run), "--open", "--from-logits", "--score", "energy",
                 "--score-param", "temperature=2", "--sweep"]) == 0
    out = json.loads((stage2_run / "eval_test.json").read_text())
    with np.load(stage2_run / "logits_test.npz") as z:
        known = open_set_score(z["logits"], "energy", temperature=2)
        expect = ood_metrics(known, open_set_score(z["open_logits"], "energy", temperature=2),
                             z["logits"].argmax(1) == z["labels"])
    assert out["score"] == {"name": "energy", "params": {"temperature": 2}}
    assert out["threshold_selection"]["score"] == "msp"  # no threshold on energy given: MSP threshold metrics
    for key, value in expect.items():
        assert out["open_set"][key] == pytest.approx(value, abs=1e-12)
    sweep = (stage2_run / "sweep_test_energy.csv").read_text().splitlines()
    assert len(sweep) == 102 and sweep[0].startswith("threshold,f_measure_oltr,f_measure_oltr2019")
    assert "sweep_test_energy.csv" in capsys.readouterr().out

    res = evaluate_run(stage2_run, split="test", open_set=True, progress=False, threshold_from="val")
    sel = res["threshold_selection"]
    with np.load(stage2_run / "logits_val.npz") as z:
        val_scores = open_set_score(z["logits"], "msp")
    assert sel["method"] == "tpr" and sel["split"] == "val" and sel["tpr"] == 0.95
    assert np.mean(val_scores >= sel["value"]) >= 0.95 and res["threshold"] == sel["value"]
    assert np.mean(val_scores > sel["value"]) < 0.95  # the largest such threshold
    assert set(res["open_set"]) >= {"rejected_many", "rejected_medium", "rejected_few", "fpr95", "oscr"}


def test_feature_scores_read_the_features_files(stage2_run, tmp_path):
    """knn / mahalanobis read features_<split>.npz (format of oltr.evaluation.features), not the model."""
    from oltr.evaluation import ood_metrics, open_set_score
    from oltr.evaluation.features import features_path, read_features, write_features

    evaluate_run(stage2_run, split="test", open_set=True, progress=False)
    rng = np.random.default_rng(0)
    write_features(features_path(stage2_run, "train"), rng.normal(size=(90, 6)), np.arange(90) % 4)
    with np.load(stage2_run / "logits_test.npz") as z:
        logits, labels = z["logits"], z["labels"]
    x, open_x = rng.normal(size=(24, 6)), rng.normal(loc=0.5, size=(10, 6))
    write_features(features_path(stage2_run, "test"), x, labels, open_x)
    res = evaluate_run(stage2_run, split="test", open_set=True, from_logits=True, score="knn", score_params={"k": 3})
    train_x, _, _ = read_features(features_path(stage2_run, "train"))
    expect = ood_metrics(open_set_score(None, "knn", features=x, train_features=train_x, k=3),
                         open_set_score(None, "knn", features=open_x, train_features=train_x, k=3),
                         logits.argmax(1) == labels)
    assert res["open_set"]["auroc"] == pytest.approx(expect["auroc"])
    assert res["open_set"]["oscr"] == pytest.approx(expect["oscr"])
    features_path(stage2_run, "train").unlink()
    with pytest.raises(FileNotFoundError, match="features_train.npz"):
        evaluate_run(stage2_run, split="test", open_set=True, from_logits=True, score="mahalanobis")
    (stage2_run / "features_test.npz").unlink()


def test_cli_eval_bad_score_fails_before_any_work(stage2_run):
    with pytest.raises(SystemExit, match="unknown open-set score 'energi'. Did you mean 'energy'"):
        main(["eval", "--run", str(stage2_run), "--open", "--score", "energi"])
    with pytest.raises(SystemExit, match="takes no parameter"):
        main(["eval", "--run", str(stage2_run), "--score", "energy", "--score-param", "k=3"])
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        main(["eval", "--run", str(stage2_run), "--score", "energy", "--score-param", "k"])
