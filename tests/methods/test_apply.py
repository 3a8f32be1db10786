"""Methods applied to a real (tiny) stage-1 run: run directories, reuse by eval / leaderboard, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from oltr.engine import evaluate_run, load_checkpoint
from oltr.methods import (FeaturesError, MethodRunDirError, MethodSourceError, apply_method, export_features,
                          load_features)

ALL = ("tau_norm", "logit_adjust", "ncm", "crt", "lws")
SMALL = {"crt": {"batch_size": 16, "lr": 0.05, "epochs": 3}, "lws": {"batch_size": 16, "lr": 0.05, "epochs": 3}}


def _state(run):
    return load_checkpoint(run / "best.pt")["model"]


@pytest.fixture(scope="module")
def method_runs(tiny_stage1, tmp_path_factory):
    before = _state(tiny_stage1)
    out = tmp_path_factory.mktemp("methods")
    runs = {name: apply_method(name, tiny_stage1, out / name, **SMALL.get(name, {})) for name in ALL}
    return before, runs


def test_every_method_writes_an_ordinary_evaluated_run(tiny_stage1, method_runs):
    _, runs = method_runs
    for name, run in runs.items():
        for f in ("config.yaml", "method.json", "logits_val.npz", "logits_test.npz", "eval_test.json",
                  "eval_val.json", "complete.json"):
            assert (run / f).is_file(), (name, f)
        info = json.loads((run / "method.json").read_text())
        assert info["method"] == name and info["stage1"] == str(tiny_stage1.resolve()) and info["stage"] == 2
        result = json.loads((run / "eval_test.json").read_text())
        assert result["open_set"] is not None
        with np.load(run / "logits_test.npz") as z, np.load(tiny_stage1 / "logits_test.npz") as s1:
            np.testing.assert_array_equal(z["labels"], s1["labels"])
            assert z["logits"].shape == s1["logits"].shape and z["open_logits"].shape == s1["open_logits"].shape
        again = evaluate_run(run, split="test", from_logits=True, threshold=0.3, progress=False)
        assert again["threshold"] == 0.3
    assert "tau" in json.loads((runs["tau_norm"] / "method.json").read_text())["selected"]


def test_crt_and_lws_leave_the_feature_model_bit_identical(tiny_stage1, method_runs):
    before, runs = method_runs
    after = _state(tiny_stage1)
    for part in ("feature_model", "classifier"):
        assert before[part].keys() == after[part].keys()
        for key, tensor in before[part].items():
            assert torch.equal(tensor, after[part][key]), key
    assert set(torch.load(runs["crt"] / "classifier.pt")) == {"weight", "bias"}


def test_tau_zero_and_logit_adjust_zero_reproduce_the_stage1_logits(tiny_stage1, tmp_path):
    with np.load(tiny_stage1 / "logits_test.npz") as s1:
        ref, ref_open = s1["logits"], s1["open_logits"]
    for name in ("tau_norm", "logit_adjust"):
        run = apply_method(name, tiny_stage1, tmp_path / name, taus=[0.0])
        with np.load(run / "logits_test.npz") as z:
            # the network's own classifier vs. the same classifier on cached features: float32 rounding only
            np.testing.assert_allclose(z["logits"], ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(z["open_logits"], ref_open, rtol=1e-5, atol=1e-5)


def test_features_export_matches_the_classifier_input(tiny_stage1):
    paths = export_features(tiny_stage1)
    assert set(paths) == {"train", "val", "test", "open"}
    x, y = load_features(tiny_stage1, "test")
    clf = _state(tiny_stage1)["classifier"]
    logits = torch.as_tensor(x) @ clf["fc.weight"].T + clf["fc.bias"]
    with np.load(tiny_stage1 / "logits_test.npz") as s1:
        np.testing.assert_allclose(logits.numpy(), s1["logits"], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y, s1["labels"])


def test_val_and_test_features_carry_the_open_features_for_the_open_set_scores(tiny_stage1, tmp_path):
    from oltr.evaluation.features import read_features

    copy = tmp_path / "s1"
    shutil.copytree(tiny_stage1, copy)
    for f in copy.glob("features_*.npz"):
        f.unlink()
    export_features(copy, ["train", "test"])
    x, y, open_x = read_features(copy / "features_test.npz")  # issue 14's reader
    open_only, _ = load_features(copy, "open")
    np.testing.assert_array_equal(open_x, open_only)
    assert x.shape[0] == y.shape[0] and open_x.shape[1] == x.shape[1]
    result = evaluate_run(copy, split="test", open_set=True, score="knn", progress=False)
    assert result["score"]["name"] == "knn"


def test_rerun_is_reused_and_another_method_in_the_same_dir_is_refused(tiny_stage1, method_runs):
    _, runs = method_runs
    stamp = (runs["ncm"] / "eval_test.json").stat().st_mtime_ns
    assert apply_method("ncm", tiny_stage1, runs["ncm"]) == runs["ncm"]
    assert (runs["ncm"] / "eval_test.json").stat().st_mtime_ns == stamp
    with pytest.raises(MethodRunDirError, match="holds another method run.*norm"):
        apply_method("ncm", tiny_stage1, runs["ncm"], norm="l2")


def test_bad_sources_and_parameters_fail_at_once(tiny_stage1, method_runs, tmp_path):
    with pytest.raises(MethodSourceError, match="stage-1 run not found"):
        apply_method("ncm", tmp_path / "nothing", tmp_path / "o1")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(tiny_stage1, unfinished)
    (unfinished / "complete.json").unlink()
    with pytest.raises(MethodSourceError, match="not finished"):
        apply_method("ncm", unfinished, tmp_path / "o2")
    with pytest.raises(ValueError, match="tau grid is empty"):
        apply_method("tau_norm", tiny_stage1, tmp_path / "o3", taus=[])
    with pytest.raises(ValueError, match="no parameter.*'tau'.*taus"):
        apply_method("tau_norm", tiny_stage1, tmp_path / "o4", tau=1.0)
    with pytest.raises(ValueError, match="unknown method 'crtt'.*Did you mean 'crt'"):
        apply_method("crtt", tiny_stage1, tmp_path / "o5")
    stage2 = tmp_path / "stage2"
    shutil.copytree(tiny_stage1, stage2)
    raw = yaml.safe_load((stage2 / "config.yaml").read_text())
    raw["stage"], raw["model"]["classifier"] = 2, "meta_embedding"
    (stage2 / "config.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(MethodSourceError, match="is a stage-2 run with a 'meta_embedding' classifier"):
        apply_method("ncm", stage2, tmp_path / "o7")
    with pytest.raises(MethodSourceError, match="is itself a method run"):
        apply_method("ncm", method_runs[1]["crt"], tmp_path / "o6")


def test_missing_or_stale_features_file_is_a_named_error(tiny_stage1, tmp_path):
    copy = tmp_path / "s1"
    shutil.copytree(tiny_stage1, copy)
    (copy / "features_val.npz").unlink(missing_ok=True)
    with pytest.raises(FeaturesError, match="features_val.npz not found.*--save-features"):
        load_features(copy, "val")
    export_features(copy, ["val"])
    ckpt = load_checkpoint(copy / "best.pt")
    ckpt["epoch"] = 99  # the run was retrained since the export
    torch.save(ckpt, copy / "best.pt")
    with pytest.raises(FeaturesError, match="another config or checkpoint"):
        load_features(copy, "val")


def test_cli_method_and_eval_save_features(tiny_stage1, tmp_path, capsys):
    from oltr.cli import main

    copy = tmp_path / "stage_1_ce_seed0"
    shutil.copytree(tiny_stage1, copy)
    for f in copy.glob("features_*.npz"):
        f.unlink()
    assert main(["eval", "--run", str(copy), "--split", "val", "--open", "--save-features", "--no-progress"]) == 0
    assert (copy / "features_val.npz").is_file() and (copy / "features_open.npz").is_file()
    assert main(["method", "--name", "logit_adjust", "--from", str(copy), "--set", "taus=[0, 1]"]) == 0
    out = tmp_path / "logit_adjust_ce_seed0"  # the default: next to the stage-1 run
    assert "chosen on val" in capsys.readouterr().out and (out / "eval_test.json").is_file()
    with pytest.raises(SystemExit, match="oltr method: .*tau grid is empty"):
        main(["method", "--name", "tau_norm", "--from", str(copy), "--set", "taus=[]"])
    with pytest.raises(SystemExit, match="oltr method: stage-1 run not found"):
        main(["method", "--name", "ncm", "--from", str(tmp_path / "nope")])


def test_a_folder_holding_only_the_grid_workers_log_is_a_fresh_method_run(tiny_stage1, tmp_path):
    """``oltr benchmark --jobs N`` opens ``<run_dir>/grid.log`` before the worker applies the method."""
    out = tmp_path / "ncm"
    out.mkdir()
    (out / "grid.log").write_text("oltr grid worker: ...\n")
    assert apply_method("ncm", tiny_stage1, out) == out and (out / "complete.json").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(MethodRunDirError, match="not a method run directory"):
        apply_method("ncm", tiny_stage1, tmp_path / "other")
