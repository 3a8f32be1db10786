"""Closed-set metrics against the reference (golden file) and against direct definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from eval_golden_keys import GOLDEN_GROUP_KEY, GOLDEN_RULE_KEY
from sklearn.metrics import f1_score

from oltr.evaluation import EmptyShotGroupWarning, closed_set_metrics, shot_groups
from oltr.evaluation.logits import max_softmax

TOL = {"rel": 1e-5, "abs": 1e-6}


def test_predictions_match_reference(golden_eval):
    _, preds = max_softmax(golden_eval.known_logits)
    assert preds.tolist() == [int(p) for p in golden_eval.raw["closed_set"]["preds"]]


@pytest.mark.parametrize("rule", ["strict", "oltr"])
def test_golden(golden_eval, rule):
    ref = golden_eval.raw["closed_set"]
    m = closed_set_metrics(golden_eval.known_logits, golden_eval.known_labels, golden_eval.train_counts, rule=rule)
    assert m["overall"] == pytest.approx(ref["overall_acc"], **TOL)
    assert m["macro_f1"] == pytest.approx(ref["macro_f1_sklearn"], **TOL)
    for ours, theirs in GOLDEN_GROUP_KEY.items():
        assert m[ours] == pytest.approx(ref[GOLDEN_RULE_KEY[rule]][theirs], **TOL), ours
    groups = [ref[GOLDEN_RULE_KEY[rule]][k] for k in ("many", "median", "few")]
    assert m["group_mean"] == pytest.approx(np.mean(groups), **TOL)


def test_keys_and_types(golden_eval):
    m = closed_set_metrics(golden_eval.known_logits, golden_eval.known_labels, golden_eval.train_counts)
    assert set(m) == {"overall", "many", "medium", "few", "group_mean", "macro_f1", "per_class", "ece"}
    assert m["per_class"].shape == (20,)
    assert all(isinstance(m[k], float) for k in m if k != "per_class")


def _loop_reference(logits, labels, counts, rule):
    """Per-class loop straight from the definitions (independent of the vectorised code)."""
    preds = logits.argmax(1)
    per_class = []
    for c in range(logits.shape[1]):
        sel = labels == c
        per_class.append((preds[sel] == c).mean() if sel.any() else np.nan)
    per_class = np.array(per_class)
    groups = {g: np.nanmean(per_class[ids]) for g, ids in shot_groups(counts, rule=rule).items()}
    return per_class, groups


@pytest.mark.parametrize("rule", ["strict", "oltr"])
def test_random_against_loop(rule):
    rng = np.random.default_rng(1)
    k, n = 30, 600
    counts = rng.integers(1, 400, size=k)
    counts[:3] = [100, 20, 101]
    labels = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 2.5 * np.eye(k)[labels] * rng.random((n, 1))
    m = closed_set_metrics(logits, labels, counts, rule=rule)
    per_class, groups = _loop_reference(logits, labels, counts, rule)
    np.testing.assert_allclose(m["per_class"], per_class)
    for g in groups:
        assert m[g] == pytest.approx(groups[g])
    assert m["overall"] == pytest.approx((logits.argmax(1) == labels).mean())
    assert m["macro_f1"] == pytest.approx(f1_score(labels, logits.argmax(1), average="macro"))


def test_torch_inputs_equal_numpy(golden_eval):
    a = closed_set_metrics(golden_eval.known_logits, golden_eval.known_labels, golden_eval.train_counts)
    b = closed_set_metrics(
        torch.from_numpy(golden_eval.known_logits),
        torch.from_numpy(golden_eval.known_labels),
        torch.from_numpy(golden_eval.train_counts),
    )
    np.testing.assert_array_equal(a.pop("per_class"), b.pop("per_class"))
    assert a == b


def test_class_without_test_samples_is_nan_and_skipped():
    logits = np.eye(4)[[0, 0, 2, 1]]
    m = closed_set_metrics(logits, [0, 0, 2, 3], [500, 500, 50, 5])
    assert np.isnan(m["per_class"]).tolist() == [False, True, False, False]
    assert m["many"] == 1.0  # class 1 has no test sample: skipped, not counted as 0
    assert m["few"] == 0.0 and m["overall"] == 0.75


def test_empty_group_warns_and_gives_nan():
    logits = np.eye(2)[[0, 1, 1]]
    with pytest.warns(EmptyShotGroupWarning, match="'medium'"):
        m = closed_set_metrics(logits, [0, 1, 0], [500, 5])
    assert np.isnan(m["medium"]) and np.isnan(m["group_mean"])
    assert m["many"] == 0.5 and m["few"] == 1.0


@pytest.mark.parametrize(
    ("logits", "labels", "counts", "match"),
    [
        (np.zeros((4, 3)), np.zeros(5, int), [1, 2, 3], r"shape \(4,\).*got shape \(5,\)"),
        (np.zeros((4, 3)), [0, 1, 2, 3], [1, 2, 3], r"\[0, 3\).*\[0, 3\]"),
        (np.zeros((4, 3)), [0, 1, 2, -1], [1, 2, 3], r"\[0, 3\).*\[-1, 2\]"),
        (np.zeros((4, 3)), [0, 1, 2, 0], [1, 2], r"K = 3.*\(2,\)"),
        (np.zeros(4), [0, 1, 2, 0], [1, 2, 3], r"\(N, K\)"),
        (np.full((2, 2), np.nan), [0, 1], [1, 2], "finite"),
        (np.zeros((0, 2)), np.zeros(0, int), [1, 2], "at least one sample"),
    ],
)
def test_invalid_inputs(logits, labels, counts, match):
    with pytest.raises(ValueError, match=match):
        closed_set_metrics(logits, labels, counts)


def test_unknown_rule():
    with pytest.raises(ValueError, match="rule"):
        closed_set_metrics(np.zeros((1, 2)), [0], [1, 2], rule="loose")


def test_infinite_logits_rejected():
    with pytest.raises(ValueError, match="1 NaN/inf"):
        closed_set_metrics(np.array([[np.inf, 0.0], [0.0, 1.0]]), [0, 1], [1, 2])


def test_warnings_point_at_the_caller():
    from oltr.evaluation import evaluate_logits, open_set_metrics

    logits = np.eye(2)[[0, 1, 1]] * 5
    for call in (
        lambda: closed_set_metrics(logits, [0, 1, 0], [500, 5]),
        lambda: open_set_metrics(logits, [0, 1, 0], np.zeros((0, 2)), [500, 5]),
        lambda: evaluate_logits(logits, [0, 1, 0], [500, 5], open_logits=np.zeros((0, 2))),
    ):
        with pytest.warns(Warning) as record:
            call()
        assert len(record) >= 1 and {w.filename for w in record} == {__file__}
