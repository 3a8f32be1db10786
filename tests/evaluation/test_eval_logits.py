"""`Logits`: the wrapper gives the numbers of the plain arrays, in one pass over the logits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from oltr.evaluation import (
    Logits,
    closed_set_metrics,
    evaluate_logits,
    expected_calibration_error,
    open_set_metrics,
    open_set_score,
    probabilistic_metrics,
    reliability_curve,
    shifted_prior_accuracies,
)
from oltr.evaluation import logits as logits_module
from oltr.evaluation.logits import block_rows, row_stats

K = 37
COUNTS = np.r_[np.full(12, 300), np.full(13, 50), np.full(12, 8)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, K, 500)
    z = rng.normal(scale=2.0, size=(500, K)).astype(np.float32)
    z[np.arange(500), labels] += 2.0
    z[:5, :3] = 1.5  # exact ties, with the true class among them for some rows
    return z, labels, rng.normal(size=(120, K)).astype(np.float32)


def _all_metrics(known, labels, opened):
    out = {
        "both": evaluate_logits(known, labels, COUNTS, open_logits=opened, threshold=0.3, rule="oltr"),
        "closed": closed_set_metrics(known, labels, COUNTS),
        "open": open_set_metrics(known, labels, opened, COUNTS, threshold=0.3),
        "ece": expected_calibration_error(known, labels, input="logits"),
        "reliability": reliability_curve(known, labels),
        "prob": probabilistic_metrics(known, labels),
        "priors": shifted_prior_accuracies(known, labels, COUNTS),
    }
    for name, params in (("msp", {}), ("temp_msp", {"temperature": 7.0}), ("max_logit", {}),
                         ("energy", {}), ("energy", {"temperature": 7.0})):
        out[f"{name}{params}"] = (open_set_score(known, name, **params), open_set_score(opened, name, **params))
    return out


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b, equal_nan=True) if isinstance(a, np.ndarray) else (a == b or (a != a and b != b))


def test_wrapped_logits_give_the_same_numbers_bit_for_bit(data):
    z, labels, open_z = data
    plain = _all_metrics(z, labels, open_z)
    wrapped = _all_metrics(Logits(z, labels), labels, Logits(open_z))
    assert _equal(plain, wrapped)
    no_labels = _all_metrics(Logits(z), labels, Logits(open_z))  # label statistics computed on demand
    assert _equal(plain, no_labels)


def test_one_pass_per_wrapper_and_temperature(data, monkeypatch):
    """Everything above reads one temperature-1 pass per wrapper, plus one pass per other temperature."""
    z, labels, open_z = data
    calls = {"row_stats": 0, "scaled": 0}
    real_stats, real_scaled = logits_module.row_stats, logits_module.scaled_sum_exp

    def counting_stats(*a, **kw):
        calls["row_stats"] += 1
        return real_stats(*a, **kw)

    def counting_scaled(*a, **kw):
        calls["scaled"] += 1
        return real_scaled(*a, **kw)
    monkeypatch.setattr(logits_module, "row_stats", counting_stats)
    monkeypatch.setattr(logits_module, "scaled_sum_exp", counting_scaled)
    _all_metrics(Logits(z, labels), labels, Logits(open_z))
    assert calls == {"row_stats": 2, "scaled": 2}  # known + open; T = 7 for known + open
    calls.update(row_stats=0, scaled=0)
    _all_metrics(z, labels, open_z)  # plain arrays: a pass per function call
    assert calls["row_stats"] > 10


def test_row_stats_against_direct_definitions(data, monkeypatch):
    z, labels, _ = data
    zz = z.astype(np.float64)
    s = row_stats(zz, labels)
    np.testing.assert_array_equal(s.pred, zz.argmax(1))  # first maximum on ties, as numpy
    np.testing.assert_array_equal(s.max, zz.max(1))
    np.testing.assert_allclose(s.max + np.log(s.sum_exp), logsumexp(zz, axis=1), rtol=1e-13)
    np.testing.assert_allclose(s.sum_sq / s.sum_exp**2, (softmax(zz, axis=1) ** 2).sum(1), rtol=1e-12)
    np.testing.assert_array_equal(s.true, zz[np.arange(len(labels)), labels])
    np.testing.assert_array_equal(s.n_above, (zz > zz[np.arange(len(labels)), labels][:, None]).sum(1))
    # the block size (a last, partial block included) does not change a row's numbers
    monkeypatch.setattr(logits_module, "BLOCK_ELEMENTS", 3 * K)
    assert block_rows(K) == 3
    small = row_stats(zz, labels)
    for field in ("pred", "max", "sum_exp", "true", "n_above", "sum_sq"):
        np.testing.assert_array_equal(getattr(small, field), getattr(s, field))


def test_label_stats_for_other_labels_are_computed_not_reused(data):
    z, labels, _ = data
    wrapped = Logits(z, labels)
    other = (labels + 1) % K
    assert probabilistic_metrics(wrapped, other) == probabilistic_metrics(z, other)
    assert wrapped.label_stats(labels) is wrapped.stats()  # its own labels: the cached statistics


def test_wrapper_is_validated_once_and_read_only(data):
    z, labels, _ = data
    wrapped = Logits(z, labels)
    assert not wrapped.values.flags.writeable and z.flags.writeable
    assert np.asarray(wrapped) is wrapped.values and wrapped.shape == z.shape and len(wrapped) == 500
    with pytest.raises(ValueError, match="Expected `logits` to be finite, but it contains 3 NaN/inf"):
        Logits(np.where(np.eye(3, K) > 0, np.nan, 0.0))
    with pytest.raises(ValueError, match="Expected `labels` to lie in \\[0, 37\\)"):
        Logits(z, labels + K)
    with pytest.raises(ValueError, match="Expected `open_logits` to have K = 37 columns"):
        evaluate_logits(wrapped, labels, COUNTS, open_logits=Logits(z[:, :5], name="open_logits"))
    with pytest.raises(ValueError, match="Expected `known_logits` to hold at least one sample"):
        evaluate_logits(Logits(z[:0]), labels[:0], COUNTS)
