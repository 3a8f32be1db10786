"""Shot-group rules: exact boundaries, partition, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oltr.evaluation import RULES, shot_groups


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("strict", {"many": [0], "medium": [1, 2, 3, 4], "few": [5, 6]}),
        ("oltr", {"many": [0, 1], "medium": [2, 3], "few": [4, 5, 6]}),
    ],
)
def test_boundaries(rule, expected):
    counts = [101, 100, 99, 21, 20, 19, 0]
    groups = shot_groups(counts, rule=rule)
    assert {k: v.tolist() for k, v in groups.items()} == expected


@pytest.mark.parametrize("rule", sorted(RULES))
def test_partition_and_inputs(rule):
    counts = np.random.default_rng(0).integers(0, 1300, size=1000)
    groups = shot_groups(counts, rule=rule)
    assert set(groups) == {"many", "medium", "few"}
    ids = np.concatenate(list(groups.values()))
    assert np.array_equal(np.sort(ids), np.arange(1000))
    torch_groups = shot_groups(torch.as_tensor(counts), rule=rule)
    assert all(np.array_equal(groups[k], torch_groups[k]) for k in groups)


def test_default_rule_is_strict():
    assert shot_groups([100])["medium"].tolist() == [0]


def test_errors():
    with pytest.raises(ValueError, match=r"`rule` must be one of 'strict', 'oltr', got 'paper'"):
        shot_groups([1, 2], rule="paper")
    with pytest.raises(ValueError, match="non-negative"):
        shot_groups([5, -1])
    with pytest.raises(ValueError, match="shape"):
        shot_groups(np.ones((2, 2), dtype=int))
    with pytest.raises(ValueError, match="integer"):
        shot_groups([1.5, 2.0])
