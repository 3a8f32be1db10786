"""Threshold sweeps (against open_set_metrics at each threshold), shifted test priors, top-5 / NLL / Brier."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import log_loss, top_k_accuracy_score

from oltr.evaluation import (
    choose_threshold,
    open_set_metrics,
    open_set_score,
    probabilistic_metrics,
    reliability_curve,
    shifted_prior,
    shifted_prior_accuracies,
    threshold_sweep,
)
from oltr.evaluation.calibration import expected_calibration_error

COUNTS = np.array([900, 400, 150, 100, 60, 30, 20, 12, 6, 3])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)
    logits = rng.normal(size=(200, 10)) + 2.5 * np.eye(10)[labels] * (1 + np.log(COUNTS) / 4)[labels][:, None]
    open_logits = rng.normal(size=(60, 10))
    return logits.astype(np.float32), labels, open_logits.astype(np.float32)


@pytest.mark.parametrize("rule", ["strict", "oltr"])
def test_sweep_equals_open_set_metrics_at_every_threshold(data, rule):
    logits, labels, open_logits = data
    known, opened = open_set_score(logits, "msp"), open_set_score(open_logits, "msp")
    ts = np.r_[np.linspace(0, 1, 21), np.sort(known)[::17]]  # includes exact score values (ties at t)
    table = threshold_sweep(known, logits.argmax(1), labels, opened, COUNTS, ts, rule=rule)
    assert list(table["threshold"]) == list(ts)
    masks_few = COUNTS < 20 if rule == "strict" else COUNTS <= 20
    for row in table.itertuples():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = {fp: open_set_metrics(logits, labels, open_logits, COUNTS, threshold=row.threshold, rule=rule,
                                        fp_rule=fp) for fp in ("oltr", "oltr2019")}
        assert row.f_measure_oltr == pytest.approx(ref["oltr"]["f_measure"], abs=1e-12)
        assert row.f_measure_oltr2019 == pytest.approx(ref["oltr2019"]["f_measure"], abs=1e-12)
        assert row.open_accuracy == pytest.approx(ref["oltr"]["open_accuracy"], abs=1e-12)
        assert row.overall == pytest.approx(ref["oltr"]["overall"], abs=1e-12)
        for g in ("many", "medium", "few"):
            assert getattr(row, f"acc_{g}") == pytest.approx(ref["oltr"][g], abs=1e-12)
        assert row.rejected_known == pytest.approx(ref["oltr"]["rejected_known"] / 200, abs=1e-12)
        few = masks_few[labels]
        assert row.rejected_few == pytest.approx(np.mean(known[few] < row.threshold), abs=1e-12)


def test_choose_threshold_uses_only_val_known():
    s = np.linspace(0.01, 1.0, 100)
    chosen = choose_threshold(s, tpr=0.95)
    assert chosen == {"value": s[5], "method": "tpr", "tpr": 0.95, "accepted_val": 0.95}


def test_shifted_prior_formula_and_uniform_is_overall(data):
    logits, labels, _ = data
    p = shifted_prior(COUNTS, 10, "forward")
    # classes already sorted by count: pi_c = 10^(-c/9) / sum
    expect = 10.0 ** (-np.arange(10) / 9)
    assert np.allclose(p, expect / expect.sum(), rtol=1e-15)
    assert p[0] / p[-1] == pytest.approx(10.0)
    assert np.allclose(shifted_prior(COUNTS, 10, "backward"), p[::-1])
    # order by training count, not by class id
    perm = np.array([3, 0, 9, 1, 2, 8, 4, 7, 5, 6])
    assert np.allclose(shifted_prior(COUNTS[perm], 10), p[np.argsort(np.argsort(-COUNTS[perm]))])
    acc = shifted_prior_accuracies(logits, labels, COUNTS)
    overall = float(np.mean(logits.argmax(1) == labels))
    assert acc["uniform"] == overall  # exactly, on a balanced test set
    per_class = np.array([np.mean(logits[labels == c].argmax(1) == c) for c in range(10)])
    assert acc["forward_50"] == pytest.approx(shifted_prior(COUNTS, 50) @ per_class, abs=1e-14)
    assert acc["backward_2"] == pytest.approx(shifted_prior(COUNTS, 2, "backward") @ per_class, abs=1e-14)
    # the head-favouring fabricated model does better under forward priors
    assert acc["forward_50"] > acc["uniform"] > acc["backward_50"]


def test_prior_correction_by_hand(data):
    logits, labels, _ = data
    acc = shifted_prior_accuracies(logits, labels, COUNTS, imbalances=(5,))
    pi = shifted_prior(COUNTS, 5, "backward")
    pred = np.argmax(logits.astype(np.float64) + np.log(pi) - np.log(COUNTS / COUNTS.sum()), axis=1)
    per_class = np.array([np.mean(pred[labels == c] == c) for c in range(10)])
    assert acc["corrected_backward_5"] == pytest.approx(pi @ per_class, abs=1e-14)
    uniform_pred = np.argmax(logits.astype(np.float64) - np.log(COUNTS), axis=1)  # logit adjustment, tau = 1
    assert acc["corrected_uniform"] == pytest.approx(np.mean(uniform_pred == labels), abs=1e-15)


def test_top5_nll_brier_against_sklearn_and_hand(data):
    logits, labels, _ = data
    m = probabilistic_metrics(logits.astype(np.float64), labels)  # float64 in: float64 maths
    p = softmax(logits.astype(np.float64), axis=1)
    m32 = probabilistic_metrics(logits, labels)  # float32 in: float32 exponentials, float64 sums
    assert m32["nll"] == pytest.approx(m["nll"], rel=1e-6) and m32["brier"] == pytest.approx(m["brier"], rel=1e-6)
    assert m["top5"] == pytest.approx(top_k_accuracy_score(labels, logits, k=5, labels=np.arange(10)), abs=1e-15)
    assert m["nll"] == pytest.approx(log_loss(labels, p, labels=np.arange(10)), rel=1e-10)
    assert m["brier"] == pytest.approx(np.mean(((p - np.eye(10)[labels]) ** 2).sum(1)), rel=1e-10)
    # ties: a hit when fewer than k classes score strictly higher (sklearn instead breaks ties by class
    # order, so label 5 of an all-tied row is a miss there)
    tied = np.zeros((3, 6))
    assert probabilistic_metrics(tied, [0, 3, 5], k=5)["top5"] == 1.0
    assert top_k_accuracy_score([0, 3, 5], tied, k=5, labels=np.arange(6)) == pytest.approx(2 / 3)


def test_reliability_curve_reproduces_ece(data):
    logits, labels, _ = data
    c = reliability_curve(logits, labels, n_bins=10)
    ok = c["count"] > 0
    ece = np.sum(c["count"][ok] / c["count"].sum() * np.abs(c["accuracy"][ok] - c["confidence"][ok]))
    assert ece == pytest.approx(expected_calibration_error(logits, labels, n_bins=10), abs=1e-12)
    assert c["count"].sum() == 200 and len(c["edges"]) == 11
