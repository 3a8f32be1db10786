"""Significance marks: Welch's t-test over seeds (scipy and the formula), paired bootstrap with one seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from reporting_fake_runs import write_run
from scipy import stats

from oltr.cli import main
from oltr.reporting import collect_runs, leaderboard_table, render
from oltr.reporting.leaderboard import select_columns
from oltr.reporting.significance import best_lead, paired_bootstrap, welch_p


def test_welch_matches_the_formula():
    a, b = np.array([74.1, 73.8, 74.6]), np.array([73.7, 72.9, 73.2, 73.5])
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    assert welch_p(a, b) == pytest.approx(2 * stats.t.sf(abs(t), dof), rel=1e-12)
    assert np.isnan(welch_p([1.0], [2.0, 3.0]))


def test_best_lead_orientation_and_significance():
    far = [[90.0, 91.0, 90.5], [70.0, 71.0, 70.2], [60.0, 61.0, 60.5]]
    lead = best_lead(far)
    assert (lead.best, lead.runner_up, lead.test, lead.significant) == (0, 1, "welch", True)
    close = [[74.1, 74.5], [73.7, 74.4]]
    assert best_lead(close).significant is False
    lower = best_lead([[0.2, 0.21], [0.05, 0.06]], higher_is_better=False)
    assert lower.best == 1 and lower.significant
    assert best_lead([[np.nan], [np.nan]]) is None
    assert best_lead([[1.0]]).runner_up is None


def test_paired_bootstrap_interval():
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.8).astype(float)
    b = (rng.random(2000) < 0.6).astype(float)
    lo, hi = paired_bootstrap(lambda idx: (a[idx].mean(), b[idx].mean()), 2000, n_boot=300)
    diff = a.mean() - b.mean()
    se = np.sqrt(np.var(a - b, ddof=1) / 2000)
    assert lo < diff < hi and lo > 0
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.2)  # normal approximation of the same interval
    assert paired_bootstrap(lambda idx: (a[idx].mean(), b[idx].mean()), 2000, n_boot=50) == \
        paired_bootstrap(lambda idx: (a[idx].mean(), b[idx].mean()), 2000, n_boot=50)  # seeded


def test_leaderboard_marks_from_welch(runs_root):
    runs = collect_runs([runs_root])
    table = leaderboard_table(runs, published=False)
    ours = table.set_index("loss")  # our rows: one per (method, loss); these are all Plain
    best = ours["closed_overall"].idxmax()
    assert ours.loc[best, "closed_overall_mark"] in ("best", "best*")
    assert (ours.drop(index=best)["closed_overall_mark"] == "").all()
    # the mark's p-value is Welch's between the two best rows with >= 2 seeds (cfl has one)
    per_loss = {m: runs.loc[runs["loss"] == m, "closed_overall"].to_numpy() * 100 for m in ("ce", "focal")}
    order = sorted(per_loss, key=lambda m: -per_loss[m].mean())
    if best in per_loss and order[0] == best:
        assert ours.loc[best, "closed_overall_p"] == pytest.approx(welch_p(per_loss[order[0]], per_loss[order[1]]))
    md = render(table, "md")
    assert "**Bold**: best of our rows" in md and "Significant leads:" in md


def test_single_seed_rows_use_the_bootstrap(tmp_path):
    for loss in ("ce", "cfl"):
        write_run(tmp_path / "runs", loss=loss, seed=0)
    table = leaderboard_table(collect_runs([tmp_path / "runs"]), published=False)
    row = table[table["closed_overall_mark"] != ""].iloc[0]
    assert row["loss"] == "cfl" and np.isfinite(row["closed_overall_ci_low"])
    assert row["closed_overall_ci_low"] < row["closed_overall_ci_high"]
    assert row["closed_overall_mark"] == ("best*" if row["closed_overall_ci_low"] > 0 else "best")


def test_columns_selection_and_formats_agree(runs_root, tmp_path):
    runs = collect_runs([runs_root])
    table = leaderboard_table(runs, published=False, columns="closed_overall,ood")
    keys = [c.key for c in select_columns("closed_overall,ood")]
    assert keys[0] == "closed_overall" and "open_fpr95" in keys and keys.count("closed_overall") == 1
    csv = pd.read_csv(__import__("io").StringIO(render(table, "csv")))
    assert np.allclose(csv["closed_overall"], table["closed_overall"])
    assert "Open FPR95" in render(table, "md") and "FPR95" in render(table, "latex")
    with pytest.raises(ValueError, match="unknown leaderboard column 'nope'"):
        select_columns("nope")
    out = tmp_path / "t.md"
    assert main(["leaderboard", str(runs_root), "--columns", "calibration", "--out", str(out), "--no-plots"]) == 0
    assert "Closed Brier" in out.read_text()
    assert main(["leaderboard", str(runs_root), "--columns", "bad"]) == 2


def test_tied_best_is_not_marked():
    assert best_lead([[0.0, 0.0], [0.0, 0.0], [-1.0, -1.0]]).runner_up is None


def test_weighted_open_metrics_equal_the_library_on_the_resampled_samples():
    """Each row of multiplicity weights gives what open_set_metrics / score_open_set / sklearn give on
    the resample itself (ties included: scores rounded to 2 decimals)."""
    from scipy.special import softmax
    from sklearn.metrics import roc_auc_score

    from oltr.evaluation import open_set_metrics
    from oltr.evaluation.extended import score_open_set
    from oltr.reporting.significance import open_metrics_weighted

    rng = np.random.default_rng(3)
    counts = np.array([300, 120, 60, 40, 15, 8])
    y = rng.integers(0, 6, 150)
    logits = rng.normal(size=(150, 6)) + 2.0 * np.eye(6)[y]
    open_logits = rng.normal(size=(40, 6))
    s_k = np.round(softmax(logits, axis=1).max(1), 2)
    s_o = np.round(softmax(open_logits, axis=1).max(1), 2)
    pred = logits.argmax(1)
    draws = [rng.integers(0, 190, 190) for _ in range(5)]
    weights = np.stack([np.bincount(d, minlength=190) for d in draws]).astype(float)
    for fp_rule in ("oltr", "oltr2019"):
        got = open_metrics_weighted(weights, s_k, pred, y, s_o, counts, threshold=0.5, rule="strict", fp_rule=fp_rule)
        for b, d in enumerate(draws):
            k, o = d[d < 150], d[d >= 150] - 150
            ref = score_open_set({}, s_k[k], pred[k], y[k], s_o[o], counts, threshold=0.5, rule="strict",
                                 fp_rule=fp_rule)
            lib = open_set_metrics(logits[k], y[k], open_logits[o], counts, threshold=0.5, rule="strict", fp_rule=fp_rule)
            for name in ("many", "medium", "few", "overall", "open_accuracy", "f_measure", "precision", "recall",
                         "rejected_many", "rejected_medium", "rejected_few"):
                assert got[name][b] == pytest.approx(ref[name], abs=1e-12, nan_ok=True), name
            assert got["auroc"][b] == pytest.approx(roc_auc_score(np.r_[np.ones(k.size), np.zeros(o.size)],
                                                                   np.r_[s_k[k], s_o[o]]), abs=1e-12)
            if fp_rule == "oltr":  # the MSP itself, not rounded, through the public function
                exact = open_metrics_weighted(weights[b:b + 1], softmax(logits, axis=1).max(1), pred, y,
                                              softmax(open_logits, axis=1).max(1), counts, threshold=0.5,
                                              rule="strict", fp_rule=fp_rule)
                assert exact["f_measure"][0] == pytest.approx(lib["f_measure"], abs=1e-12)


def test_single_seed_open_set_columns_use_the_bootstrap_over_test_and_open_samples(tmp_path):
    """The AUROC interval equals a bootstrap written here with sklearn and scipy on the same resamples
    (numpy's seeded generator, known and open samples drawn together, as the docstring states)."""
    from scipy.special import softmax
    from sklearn.metrics import roc_auc_score

    runs = {loss: write_run(tmp_path / "runs", loss=loss, seed=0) for loss in ("ce", "cfl")}
    table = leaderboard_table(collect_runs([tmp_path / "runs"]), published=False)
    row = table[table["open_auroc_mark"] != ""].iloc[0]
    other = "ce" if row["loss"] == "cfl" else "cfl"
    msp = {}
    for loss, run in runs.items():
        z = np.load(run / "logits_test.npz")
        msp[loss] = np.concatenate([softmax(z["logits"].astype(np.float64), axis=1).max(1),
                                    softmax(z["open_logits"].astype(np.float64), axis=1).max(1)])
        n_known = z["labels"].size
    is_known = np.arange(msp["ce"].size) < n_known
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(1000):
        idx = rng.integers(0, is_known.size, is_known.size)
        diffs.append(roc_auc_score(is_known[idx], msp[row["loss"]][idx]) - roc_auc_score(is_known[idx], msp[other][idx]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    assert (row["open_auroc_ci_low"], row["open_auroc_ci_high"]) == pytest.approx((lo, hi), abs=1e-9)
    for key in ("open_f_measure", "open_few"):
        marked = table[table[f"{key}_mark"] != ""].iloc[0]
        assert marked[f"{key}_ci_low"] <= marked[f"{key}_ci_high"]


def test_runs_scored_by_another_open_set_score_get_no_msp_bootstrap(tmp_path):
    import json

    for loss in ("ce", "cfl"):
        run = write_run(tmp_path / "runs", loss=loss, seed=0)
        ev = json.loads((run / "eval_test.json").read_text())
        ev["score"] = {"name": "energy", "params": {}}  # its AUROC is not the MSP's: no re-scoring by MSP
        (run / "eval_test.json").write_text(json.dumps(ev))
    table = leaderboard_table(collect_runs([tmp_path / "runs"]), published=False)
    row = table[table["open_auroc_mark"] != ""].iloc[0]
    assert np.isnan(row["open_auroc_ci_low"]) and row["open_auroc_mark"] == "best"
    assert np.isfinite(table[table["closed_overall_mark"] != ""].iloc[0]["closed_overall_ci_low"])
