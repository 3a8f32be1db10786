from __future__ import annotations

import numpy as np
import pytest

from oltr.data import class_counts, imbalance_ratio, read_list, shot_group_of_class, shot_groups, stats_table
from oltr.data.manifest import read_class_counts_tsv


def _sizes(groups):
    return tuple(len(groups[g]) for g in ("many", "medium", "few"))


def test_class_counts_ignores_open_and_checks_range():
    assert class_counts(np.array([0, 2, 2, -1]), 4).tolist() == [1, 0, 2, 0]
    with pytest.raises(ValueError, match="num_classes"):
        class_counts(np.array([0, 5]), 3)


def test_imbalance_ratio():
    assert imbalance_ratio(np.array([1280, 40, 5])) == 256.0
    assert imbalance_ratio(np.array([3, 0])) == float("inf")


def test_boundaries_of_both_rules():
    counts = np.array([101, 100, 99, 21, 20, 19])
    strict = shot_groups(counts, "strict")
    assert {g: ids.tolist() for g, ids in strict.items()} == {"many": [0], "medium": [1, 2, 3, 4], "few": [5]}
    oltr = shot_groups(counts, "oltr")
    assert oltr["many"].tolist() == [0, 1] and oltr["medium"].tolist() == [2, 3] and oltr["few"].tolist() == [4, 5]
    assert shot_group_of_class(counts).tolist() == ["many", "medium", "medium", "medium", "medium", "few"]


def test_groups_partition_classes_and_default_is_strict():
    counts = np.random.default_rng(0).integers(1, 500, 200)
    groups = shot_groups(counts)
    assert np.array_equal(np.sort(np.concatenate(list(groups.values()))), np.arange(200))
    assert _sizes(groups) == _sizes(shot_groups(counts, "strict"))


def test_unknown_rule():
    with pytest.raises(ValueError, match="rule"):
        shot_groups(np.array([1]), "paper")


def test_imagenet_lt_from_class_count_file(data_lists_dir):
    counts = read_class_counts_tsv(data_lists_dir / "ImageNet_LT/ImageNet_LT_train_class_counts.tsv")
    assert len(counts) == 1000 and counts.sum() == 115_846
    assert (counts.min(), counts.max()) == (5, 1280)
    assert _sizes(shot_groups(counts, "strict")) == (385, 479, 136)
    assert _sizes(shot_groups(counts, "oltr")) == (391, 463, 146)


def test_places_lt_from_train_list(data_lists_dir):
    _, labels = read_list(data_lists_dir / "Places_LT/Places_LT_train.txt", 365)
    counts = class_counts(labels, 365)
    assert len(counts) == 365 and counts.sum() == 62_500
    assert imbalance_ratio(counts) == 996.0
    assert _sizes(shot_groups(counts, "strict")) == (131, 163, 71)
    assert _sizes(shot_groups(counts, "oltr")) == (132, 156, 77)
    tsv = read_class_counts_tsv(data_lists_dir / "Places_LT/Places_LT_train_class_counts.tsv")
    assert np.array_equal(tsv, counts)
    table = stats_table(counts, ("strict",))
    assert table["images"].tolist() == [52_762, 8_934, 804]
