"""Expected calibration error against a direct loop over bins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax

from oltr.evaluation import closed_set_metrics, expected_calibration_error


def _loop_ece(probs, labels, n_bins):
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if lo == 0:
            sel |= conf == 0
        if sel.any():
            ece += sel.mean() * abs((pred[sel] == labels[sel]).mean() - conf[sel].mean())
    return ece


@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_against_loop(n_bins):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3, size=(500, 7))
    labels = rng.integers(0, 7, size=500)
    expected = _loop_ece(softmax(logits, axis=1), labels, n_bins)
    assert expected_calibration_error(logits, labels, n_bins=n_bins) == pytest.approx(expected)
    assert expected_calibration_error(softmax(logits, axis=1), labels, n_bins=n_bins) == pytest.approx(expected)
    assert expected_calibration_error(torch.from_numpy(logits), torch.from_numpy(labels), n_bins=n_bins) == pytest.approx(expected)


def test_closed_set_uses_15_bins(golden_eval):
    g = golden_eval
    m = closed_set_metrics(g.known_logits, g.known_labels, g.train_counts)
    assert m["ece"] == pytest.approx(expected_calibration_error(g.known_logits, g.known_labels, n_bins=15))
    probs = softmax(g.known_logits.astype(np.float64), axis=1)
    assert m["ece"] == pytest.approx(_loop_ece(probs, g.known_labels, 15), rel=1e-5)


def test_perfectly_calibrated_is_zero():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    assert expected_calibration_error(probs, [0, 1, 0, 1], n_bins=2) == pytest.approx(0.0)


def test_input_override():
    one_hot = np.eye(3)[[0, 1, 2]]  # would be read as probabilities
    assert expected_calibration_error(one_hot, [0, 1, 2]) == 0.0
    as_logits = expected_calibration_error(one_hot, [0, 1, 2], input="logits")
    assert as_logits == pytest.approx(1 - np.e / (np.e + 2))


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True])
def test_invalid_bins(n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.zeros((2, 2)), [0, 1], n_bins=n_bins)
