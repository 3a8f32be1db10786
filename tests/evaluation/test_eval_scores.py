"""Open-set scores: definitions against scipy / brute force, and their invariances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from oltr.evaluation import SCORES, available_scores, open_set_score


@pytest.fixture(scope="module")
def logits():
    return np.random.default_rng(0).normal(scale=3.0, size=(200, 7)).astype(np.float32)


def test_registry_lists_the_scores():
    assert available_scores() == ["energy", "knn", "mahalanobis", "max_logit", "msp", "temp_msp"]
    assert SCORES.get("knn").meta["needs_features"] and not SCORES.get("energy").meta["needs_features"]


def test_logit_scores_match_scipy(logits):
    z = logits.astype(np.float64)
    assert np.allclose(open_set_score(logits, "msp"), softmax(z, axis=1).max(1), rtol=1e-6)
    assert np.allclose(open_set_score(z, "temp_msp", temperature=4.0), softmax(z / 4, axis=1).max(1), rtol=1e-13)
    assert np.allclose(open_set_score(logits, "temp_msp", temperature=4.0), softmax(z / 4, axis=1).max(1), rtol=1e-6)
    assert np.array_equal(open_set_score(logits, "max_logit"), z.max(1))
    assert np.allclose(open_set_score(z, "energy", temperature=2.0), 2.0 * logsumexp(z / 2.0, axis=1),
                       rtol=0, atol=1e-12)  # float64 logits: float64 maths
    assert np.allclose(open_set_score(logits, "energy", temperature=2.0), 2.0 * logsumexp(z / 2.0, axis=1),
                       rtol=1e-6)  # float32 logits: computed in float32, as the MSP
    big = np.array([[1000.0, 999.0], [-1000.0, -1000.0]])  # no overflow
    assert np.allclose(open_set_score(big, "energy"), [1000 + np.log1p(np.exp(-1.0)), -1000 + np.log(2)])


def test_invariances(logits):
    z = logits.astype(np.float64)
    shifted = z + 5.0
    assert np.allclose(open_set_score(shifted, "energy"), open_set_score(z, "energy") + 5.0, atol=1e-12)
    assert np.allclose(open_set_score(shifted, "max_logit"), open_set_score(z, "max_logit") + 5.0)
    assert np.allclose(open_set_score(shifted, "msp"), open_set_score(z, "msp"))  # softmax: shift-invariant
    y = np.r_[np.ones(100), np.zeros(100)]
    for name in ("energy", "max_logit", "msp"):  # AUROC only sees the order, unchanged by the shift
        assert roc_auc_score(y, open_set_score(shifted, name)) == pytest.approx(
            roc_auc_score(y, open_set_score(z, name)), abs=1e-12)
    # max z <= T logsumexp(z / T) <= max z + T log K: energy tends to the max logit as T -> 0
    t = 1e-3
    e = open_set_score(z, "energy", temperature=t)
    assert np.all(e >= z.max(1) - 1e-12) and np.all(e <= z.max(1) + t * np.log(7) + 1e-12)


def test_knn_matches_brute_force():
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(300, 16)), rng.normal(size=(40, 16))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    for k in (1, 5):
        d, _ = NearestNeighbors(n_neighbors=k).fit(unit(train)).kneighbors(unit(test))
        got = open_set_score(None, "knn", features=test, train_features=train, k=k, block_rows=7)
        assert np.allclose(got, -d[:, -1], atol=1e-5)
    # scale-invariant (features are normalised)
    assert np.allclose(open_set_score(None, "knn", features=3 * test, train_features=train, k=2),
                       open_set_score(None, "knn", features=test, train_features=train, k=2), atol=1e-6)


def test_mahalanobis_matches_definition():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(3), 50)
    means = rng.normal(scale=3, size=(3, 4))
    train = means[labels] + rng.normal(size=(150, 4)) @ rng.normal(size=(4, 4))
    test = rng.normal(scale=3, size=(20, 4))
    mu = np.stack([train[labels == c].mean(0) for c in range(3)])
    centred = train - mu[labels]
    cov = centred.T @ centred / 150
    cov += 1e-6 * np.trace(cov) / 4 * np.eye(4)
    inv = np.linalg.inv(cov)
    expect = -np.min([np.einsum("nd,de,ne->n", test - m, inv, test - m) for m in mu], axis=0)
    got = open_set_score(None, "mahalanobis", features=test, train_features=train, train_labels=labels)
    assert np.allclose(got, expect, rtol=1e-9, atol=1e-9)


def test_errors_name_the_problem(logits):
    with pytest.raises(ValueError, match="unknown open-set score 'energi'.*Did you mean 'energy'"):
        open_set_score(logits, "energi")
    with pytest.raises(ValueError, match="takes no parameter"):
        open_set_score(logits, "msp", temperature=2)
    with pytest.raises(ValueError, match="temperature"):
        open_set_score(logits, "energy", temperature=0)
    with pytest.raises(ValueError, match="needs `features`"):
        open_set_score(logits, "knn")
    with pytest.raises(ValueError, match="k"):
        open_set_score(None, "knn", features=np.ones((2, 3)), train_features=np.ones((4, 3)), k=5)
    with pytest.raises(ValueError, match="finite"):
        open_set_score(np.array([[np.nan, 1.0]]), "energy")
