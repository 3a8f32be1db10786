"""Class profiles and selections of the CIFAR-LT and 4,000-image protocols, against the published numbers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from oltr.data.subsets import (
    cfl_sampler,
    lt_class_counts,
    protocol_4k_counts,
    select_per_class,
    subset_4k,
    unused_per_class,
)


def test_cifar10_lt_if100_counts_match_the_issue_and_ldam():
    counts = lt_class_counts(5000, 10, 100)
    assert counts.tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert counts.sum() == 12_406


@pytest.mark.parametrize("imb, total", [(100, 10_847), (50, 12_608), (10, 19_573)])
def test_cifar100_lt_totals(imb, total):
    # CIFAR-100-LT sizes as reported in the LDAM / BBN literature (IF 100: 10,847; IF 50: 12,608; IF 10: 19,573)
    counts = lt_class_counts(500, 100, imb)
    assert counts.sum() == total and counts[0] == 500 and counts[-1] == 500 // imb


def test_step_profile_and_bad_arguments():
    assert lt_class_counts(5000, 10, 10, "step").tolist() == [5000] * 5 + [500] * 5
    with pytest.raises(ValueError, match="imb_factor"):
        lt_class_counts(5000, 10, 0.5)
    with pytest.raises(ValueError, match="profile"):
        lt_class_counts(5000, 10, 10, "linear")


def test_first_selection_takes_the_first_images_of_each_class():
    labels = np.array([2, 0, 1, 0, 2, 1, 0, 2, 1, 0])
    idx = select_per_class(labels, np.array([2, 1, 3]), "first")
    assert idx.tolist() == [0, 1, 2, 3, 4, 7]


def test_ldam_selection_equals_the_ldam_procedure():
    """LDAM-DRW: np.random.seed(seed) once, then per class (label order) shuffle its indices, keep n_c."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 5, 400)
    counts = np.array([60, 40, 20, 10, 5])
    np.random.seed(3)
    expected = []
    for cls, n in enumerate(counts):
        idx = np.where(labels == cls)[0]
        np.random.shuffle(idx)
        expected.extend(idx[:n])
    got = select_per_class(labels, counts, "ldam", seed=3)
    assert got.tolist() == sorted(int(i) for i in expected)
    with pytest.raises(ValueError, match="requested"):
        select_per_class(labels, np.array([1000, 1, 1, 1, 1]))


def test_unused_per_class_avoids_the_training_images():
    labels = np.tile(np.arange(3), 10)
    used = np.arange(0, 15)
    val = unused_per_class(labels, used, 2, 3)
    assert not set(val) & set(used) and np.bincount(labels[val]).tolist() == [2, 2, 2]
    assert val.tolist() == sorted(val.tolist()) and max(val) == 29  # the last images of each class


def test_4k_profiles_sum_to_4000():
    assert protocol_4k_counts("5_3").tolist() == list(range(490, 300, -20))
    assert protocol_4k_counts("6_2").tolist() == list(range(580, 180, -40))
    assert protocol_4k_counts("5_3").sum() == protocol_4k_counts("6_2").sum() == 4000


@pytest.mark.parametrize("name", ["c10_sampler5_3", "c10_sampler6_2", "c100_sampler5_3", "c100_sampler6_2"])
def test_shipped_samplers_are_4000_distinct_training_positions(name):
    ds, proto = name.split("_sampler")
    idx = cfl_sampler(ds, proto, num_train=50_000)
    assert idx.size == 4000 and np.unique(idx).size == 4000 and idx.min() >= 0 and idx.max() < 50_000


def test_sampler_index_beyond_the_training_set_is_an_error():
    with pytest.raises(ValueError, match="beyond the training set of 5000"):
        cfl_sampler("c10", "6_2", num_train=5000)
    with pytest.raises(FileNotFoundError, match="no CFL sampler"):
        cfl_sampler("c10", "7_1")


def test_balanced_is_the_first_4000():
    labels = np.arange(5000) % 10
    assert subset_4k(labels, "balanced").tolist() == list(range(4000))
    with pytest.raises(ValueError, match="4,000"):
        subset_4k(labels[:100], "balanced")


def test_fashion_mnist_protocol_counts_on_the_real_data(fashion_mnist_dir):
    from oltr.data.fashion_mnist_lt import load_fashion_mnist

    labels = load_fashion_mnist(fashion_mnist_dir)["train"][1]
    for proto, expected in (("5_3", range(490, 300, -20)), ("6_2", range(580, 180, -40))):
        idx = subset_4k(labels, proto)
        assert np.bincount(labels[idx], minlength=10).tolist() == list(expected)
        # the first images of each class: no image of class c before the last chosen one is left out
        for c in range(10):
            chosen = idx[labels[idx] == c]
            assert chosen.tolist() == np.flatnonzero(labels == c)[: chosen.size].tolist()


CIFAR = os.environ.get("OLTR_CIFAR")


@pytest.mark.skipif(not CIFAR, reason="the real CIFAR-10 archive is needed (set OLTR_CIFAR); not on this machine")
def test_published_cifar10_samplers_have_the_papers_class_counts():
    from oltr.data.cifar import load_cifar

    labels = load_cifar(10, Path(CIFAR))["train"][1]
    for proto in ("5_3", "6_2"):
        idx = cfl_sampler("c10", proto, num_train=labels.size)
        assert np.bincount(labels[idx], minlength=10).tolist() == protocol_4k_counts(proto).tolist()
    assert np.bincount(labels[:4000], minlength=10).tolist() == [396, 366, 420, 384, 422, 393, 414, 385, 407, 413]
