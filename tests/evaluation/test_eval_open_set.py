"""Open-set metrics against the reference (golden file, both group rules x both FP rules)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from eval_golden_keys import GOLDEN_FP_SUFFIX, GOLDEN_GROUP_KEY, GOLDEN_RULE_KEY
from sklearn.metrics import roc_auc_score

from oltr.evaluation import EmptyShotGroupWarning, open_set_metrics
from oltr.evaluation.logits import max_softmax

TOL = {"rel": 1e-5, "abs": 1e-6}


def _metrics(g, **kw):
    return open_set_metrics(g.known_logits, g.known_labels, g.open_logits, g.train_counts, threshold=g.threshold, **kw)


def test_confidence_and_rejection_match_reference(golden_eval):
    ref = golden_eval.raw["open_set"]
    conf, preds = max_softmax(np.concatenate([golden_eval.known_logits, golden_eval.open_logits]))
    np.testing.assert_allclose(conf, ref["max_softmax"], rtol=1e-5, atol=1e-6)
    preds = np.where(conf < golden_eval.threshold, -1, preds)
    assert preds.tolist() == [int(p) for p in ref["preds_after_threshold"]]


@pytest.mark.parametrize(("rule", "fp_rule"), list(itertools.product(["strict", "oltr"], ["oltr", "oltr2019"])))
def test_golden(golden_eval, rule, fp_rule):
    ref = golden_eval.raw["open_set"]
    m = _metrics(golden_eval, rule=rule, fp_rule=fp_rule)
    for ours, theirs in GOLDEN_GROUP_KEY.items():
        assert m[ours] == pytest.approx(ref[GOLDEN_RULE_KEY[rule]][theirs], **TOL), ours
    assert m["overall"] == pytest.approx(ref["overall_acc_known"], **TOL)
    assert m["open_accuracy"] == pytest.approx(ref["openset_acc"], **TOL)
    suffix = GOLDEN_FP_SUFFIX[fp_rule]
    assert m["f_measure"] == pytest.approx(ref[f"f_measure_{suffix}"], **TOL)
    counts = ref[f"derived_counts_{suffix}"]
    assert (m["tp"], m["fp"], m["fn"]) == (counts["tp"], counts["fp"], counts["fn"])
    assert m["precision"] == pytest.approx(counts["tp"] / (counts["tp"] + counts["fp"]))
    assert m["recall"] == pytest.approx(counts["tp"] / (counts["tp"] + counts["fn"]))
    assert (m["rejected_known"], m["rejected_open"]) == (ref["n_rejected_known"], ref["n_rejected_open"])


def test_auroc_matches_sklearn_on_max_softmax(golden_eval):
    ref_conf = np.asarray(golden_eval.raw["open_set"]["max_softmax"])
    is_known = np.r_[np.ones(160), np.zeros(40)]
    assert _metrics(golden_eval)["auroc"] == pytest.approx(roc_auc_score(is_known, ref_conf), abs=1e-9)


def test_default_fp_rule_is_current_reference(golden_eval):
    assert _metrics(golden_eval)["f_measure"] == pytest.approx(golden_eval.raw["open_set"]["f_measure_head"], **TOL)


def test_threshold_zero_rejects_nothing_and_matches_closed_set(golden_eval):
    m = open_set_metrics(golden_eval.known_logits, golden_eval.known_labels, golden_eval.open_logits, golden_eval.train_counts, threshold=0.0)
    assert m["rejected_known"] == m["rejected_open"] == 0
    assert m["overall"] == pytest.approx(golden_eval.raw["closed_set"]["overall_acc"])
    assert m["fn"] == 40 and m["open_accuracy"] == 0.0


def test_torch_inputs_equal_numpy(golden_eval):
    g = golden_eval
    a = _metrics(g)
    b = open_set_metrics(
        torch.from_numpy(g.known_logits), torch.from_numpy(g.known_labels), torch.from_numpy(g.open_logits),
        torch.from_numpy(g.train_counts), threshold=g.threshold,
    )
    assert a == b


def test_no_open_samples_gives_nan_with_warning(golden_eval):
    g = golden_eval
    with pytest.warns(RuntimeWarning, match="no open-set samples"):
        m = open_set_metrics(g.known_logits, g.known_labels, np.zeros((0, 20), np.float32), g.train_counts)
    assert np.isnan(m["open_accuracy"]) and np.isnan(m["auroc"]) and m["fn"] == 0


def test_all_rejected_old_rule_precision_undefined():
    known = np.zeros((4, 3))  # max softmax 1/3 < 0.5: everything rejected, so TP = FP = FN = 0
    with pytest.warns(RuntimeWarning, match="precision"), pytest.warns(RuntimeWarning, match="recall"):
        m = open_set_metrics(known, [0, 1, 2, 0], np.zeros((2, 3)), [500, 50, 5], threshold=0.5, fp_rule="oltr2019")
    assert m["precision"] == 0.0 and m["f_measure"] == 0.0 and m["overall"] == 0.0


def test_empty_group_warns():
    with pytest.warns(EmptyShotGroupWarning, match="'few'"):
        m = open_set_metrics(np.eye(2) * 5, [0, 1], np.zeros((1, 2)), [500, 50])
    assert np.isnan(m["few"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"open_logits": np.zeros((3, 4))}, ValueError, r"K = 20 columns.*\(3, 4\)"),
        ({"known_labels": np.zeros(7, int)}, ValueError, r"shape \(160,\)"),
        ({"train_counts": np.ones(19, int)}, ValueError, "one entry per class"),
        ({"threshold": 1.5}, ValueError, "threshold"),
        ({"fp_rule": "new"}, ValueError, "'oltr', 'oltr2019'"),
        ({"rule": "x"}, ValueError, "'strict', 'oltr'"),
    ],
)
def test_invalid_inputs(golden_eval, kwargs, error, match):
    g = golden_eval
    args = {"known_logits": g.known_logits, "known_labels": g.known_labels, "open_logits": g.open_logits, "train_counts": g.train_counts}
    opts = {k: kwargs.pop(k) for k in ("threshold", "fp_rule", "rule") if k in kwargs}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        open_set_metrics(*args.values(), **opts)


@pytest.mark.parametrize(("rule", "fp_rule"), [("strict", "oltr"), ("oltr", "oltr2019")])
def test_evaluate_logits_equals_separate_calls(golden_eval, rule, fp_rule):
    from oltr.evaluation import closed_set_metrics, evaluate_logits

    g = golden_eval
    both = evaluate_logits(g.known_logits, g.known_labels, g.train_counts, open_logits=g.open_logits, threshold=g.threshold, rule=rule, fp_rule=fp_rule)
    closed = closed_set_metrics(g.known_logits, g.known_labels, g.train_counts, rule=rule)
    np.testing.assert_array_equal(both["closed_set"].pop("per_class"), closed.pop("per_class"))
    assert both["closed_set"] == closed
    assert both["open_set"] == _metrics(g, rule=rule, fp_rule=fp_rule)
    assert evaluate_logits(g.known_logits, g.known_labels, g.train_counts)["open_set"] is None
