"""tau-normalisation, logit adjustment and the tau selector against their defining formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oltr.methods import TAU_GRID, logit_adjust, select_tau, tau_normalize


def test_tau_grid_is_decouplings_sweep():
    assert len(TAU_GRID) == 21 and TAU_GRID[0] == 0.0 and TAU_GRID[-1] == 2.0
    assert np.allclose(np.diff(TAU_GRID), 0.1)


def test_tau_zero_is_the_classifier_and_tau_one_unit_rows():
    w = torch.randn(7, 5, dtype=torch.float64) * torch.arange(1, 8, dtype=torch.float64)[:, None]
    assert torch.equal(tau_normalize(w, 0.0), w)
    unit = tau_normalize(w, 1.0)
    expected = w.numpy() / np.linalg.norm(w.numpy(), axis=1, keepdims=True)  # independent: numpy
    np.testing.assert_allclose(unit.numpy(), expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(unit.norm(dim=1).numpy(), 1.0, rtol=1e-14)
    half = tau_normalize(w, 0.5)
    np.testing.assert_allclose(half.norm(dim=1).numpy(), np.sqrt(np.linalg.norm(w.numpy(), axis=1)), rtol=1e-13)


def test_tau_normalize_needs_a_matrix():
    with pytest.raises(ValueError, match="num_classes, feat_dim"):
        tau_normalize(torch.ones(3), 1.0)


def test_logit_adjustment_identity_and_log_prior():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    counts = np.array([100, 30, 9, 1])
    assert logit_adjust(logits, counts, 0.0) is logits
    adjusted = logit_adjust(logits, counts, 1.0)
    prior = counts / counts.sum()
    np.testing.assert_allclose(adjusted, logits - np.log(prior), rtol=1e-6)
    assert adjusted.dtype == np.float32
    t = logit_adjust(torch.as_tensor(logits, dtype=torch.float64), counts, 2.0)
    np.testing.assert_allclose(t.numpy(), logits - 2 * np.log(prior), rtol=1e-12)
    # tail classes gain: the adjustment is largest for the rarest class
    assert np.argmax(adjusted[0] - logits[0]) == 3


def test_logit_adjustment_bad_counts():
    with pytest.raises(ValueError, match="positive training counts"):
        logit_adjust(np.zeros((2, 3)), [5, 0, 1], 1.0)
    with pytest.raises(ValueError, match="3 classes but class_counts has 2"):
        logit_adjust(np.zeros((2, 3)), [5, 1], 1.0)


def test_tau_is_selected_on_val_only():
    """Val prefers tau = 1 (labels are the tail class), test would prefer tau = 0: the selector sees
    only val, so its choice is 1 whatever the test split says."""
    counts = np.array([90, 10])
    base = np.array([[1.0, 0.0]] * 4)  # head class wins without adjustment
    val_labels = np.array([1, 1, 1, 1])
    test_labels = np.array([0, 0, 0, 0])
    calls: list[float] = []

    def val_logits(tau):
        calls.append(tau)
        return logit_adjust(base, counts, tau)

    best, scores = select_tau(val_logits, val_labels, [0.0, 1.0])
    assert best == 1.0 and scores == {0.0: 0.0, 1.0: 1.0} and calls == [0.0, 1.0]
    test_acc = {t: float((logit_adjust(base, counts, t).argmax(1) == test_labels).mean()) for t in (0.0, 1.0)}
    assert test_acc == {0.0: 1.0, 1.0: 0.0}  # the test split disagrees, and was not consulted


def test_select_tau_ties_pick_the_first_and_empty_grid_fails():
    best, _ = select_tau(lambda t: np.array([[1.0, 0.0]]), np.array([0]), [0.5, 0.1, 2.0])
    assert best == 0.5
    with pytest.raises(ValueError, match="tau grid is empty"):
        select_tau(lambda t: np.zeros((1, 2)), np.array([0]), [])
