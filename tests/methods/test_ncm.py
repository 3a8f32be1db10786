"""NCM against scikit-learn's NearestCentroid on the same normalised features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestCentroid

from oltr.methods import ncm_logits
from oltr.methods.ncm import normalize_features


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(5, 16)) * 2
    train_y = np.repeat(np.arange(5), [40, 20, 10, 5, 3])
    train_x = centers[train_y] + rng.normal(size=(len(train_y), 16)) + 4  # offset: centring matters
    query = centers[rng.integers(0, 5, 200)] + rng.normal(size=(200, 16)) * 1.5 + 4
    return train_x.astype(np.float32), train_y, query.astype(np.float32)


def _normalise_np(x, norm, mu):
    if norm == "none":
        return x
    if norm == "cl2n":
        x = x - mu
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("norm", ["none", "l2", "cl2n"])
def test_ncm_euclidean_equals_sklearn_nearest_centroid(data, norm):
    train_x, train_y, query = data
    x64, q64 = train_x.astype(np.float64), query.astype(np.float64)
    mu = x64.mean(0)
    ref = NearestCentroid().fit(_normalise_np(x64, norm, mu), train_y)
    logits = ncm_logits(x64, train_y, q64, norm=norm, distance="euclidean")
    np.testing.assert_array_equal(logits.argmax(1), ref.predict(_normalise_np(q64, norm, mu)))
    dist = np.linalg.norm(_normalise_np(q64, norm, mu)[:, None] - ref.centroids_[None], axis=2)
    np.testing.assert_allclose(logits, -dist, rtol=1e-5, atol=1e-6)


def test_ncm_cosine_is_cosine_similarity_to_class_means(data):
    train_x, train_y, query = data
    x, q = _normalise_np(train_x.astype(np.float64), "l2", None), _normalise_np(query.astype(np.float64), "l2", None)
    means = np.stack([x[train_y == k].mean(0) for k in range(5)])
    cos = q @ (means / np.linalg.norm(means, axis=1, keepdims=True)).T
    np.testing.assert_allclose(ncm_logits(train_x, train_y, query, norm="l2", distance="cosine"), cos, atol=1e-6)


def test_ncm_errors(data):
    train_x, train_y, query = data
    with pytest.raises(ValueError, match="norm must be one of none, l2, cl2n"):
        ncm_logits(train_x, train_y, query, norm="l1")
    with pytest.raises(ValueError, match="distance must be one of euclidean, cosine"):
        ncm_logits(train_x, train_y, query, distance="manhattan")
    with pytest.raises(ValueError, match=r"class\(es\) \[5\] have no training features"):
        ncm_logits(train_x, train_y, query, num_classes=6)
    with pytest.raises(ValueError, match="needs the mean training feature"):
        normalize_features(torch.ones(2, 3), "cl2n")
