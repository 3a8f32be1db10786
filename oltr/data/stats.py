"""Class statistics of a training list: counts, imbalance ratio, many / medium / few shot groups.

Two boundary rules exist in the literature for the same three groups:

- ``strict`` (default): many ``n > 100``, medium ``20 <= n <= 100``, few ``n < 20``. The OLTR paper
  text, classifier-balancing, RIDE/SADE, BALMS, PaCo.
- ``oltr``: many ``n >= 100``, medium ``20 < n < 100``, few ``n <= 20``. The OLTR reference code
  (``utils.shot_acc`` at HEAD).

They differ only for classes with exactly 100 or exactly 20 training images. The rule itself lives
in :mod:`oltr.shots` (one implementation for data statistics and metrics); ``shot_groups``
is re-exported from there: ``shot_groups(train_counts, rule='strict') -> {'many', 'medium', 'few'}``
of sorted int64 class ids.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from oltr.shots import GROUPS, RULES, shot_groups, shot_masks

__all__ = [
    "SHOT_GROUPS",
    "SHOT_RULES",
    "class_counts",
    "imbalance_ratio",
    "shot_groups",
    "shot_group_of_class",
    "stats_table",
]

SHOT_GROUPS = GROUPS
SHOT_RULES: dict[str, tuple[int, int]] = {name: (r.many_min, r.few_max) for name, r in RULES.items()}
"""rule -> (many if ``n >= many_min``, few if ``n <= few_max``); integers make both rules exact."""


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Number of samples per known class; open-set labels (``-1``) are ignored.

    Args:
        labels: integer labels, shape ``(N,)``.
        num_classes: number of known classes ``K``.

    Returns:
        ``int64`` array of shape ``(K,)``.

    Example:
        >>> class_counts(np.array([0, 0, 2, -1]), 3)
        array([2, 0, 1])
    """
    labels = np.asarray(labels, dtype=np.int64)
    known = labels[labels >= 0]
    if known.size and known.max() >= num_classes:
        raise ValueError(f"label {known.max()} >= num_classes={num_classes}")
    return np.bincount(known, minlength=num_classes).astype(np.int64)


def imbalance_ratio(counts: np.ndarray) -> float:
    """``max(counts) / min(counts)``; ``inf`` when a class has no sample.

    Example:
        >>> imbalance_ratio(np.array([1280, 50, 5]))
        256.0
    """
    counts = np.asarray(counts)
    if counts.size == 0:
        raise ValueError("imbalance ratio of an empty count vector")
    low = counts.min()
    return float("inf") if low == 0 else float(counts.max() / low)


def shot_group_of_class(train_counts: np.ndarray, rule: str = "strict") -> np.ndarray:
    """Group name (``'many'``, ``'medium'`` or ``'few'``) of every class.

    Args:
        train_counts: training images per class, shape ``(K,)``.
        rule: ``'strict'`` or ``'oltr'`` (module docstring).

    Returns:
        Array of shape ``(K,)`` with dtype ``<U6``.

    Example:
        >>> shot_group_of_class(np.array([101, 100, 19])).tolist()
        ['many', 'medium', 'few']
    """
    masks = shot_masks(train_counts, rule)
    return np.select([masks["many"], masks["few"]], ["many", "few"], "medium")


def stats_table(train_counts: np.ndarray, rules: tuple[str, ...] = ("strict", "oltr")) -> pd.DataFrame:
    """Shot-group table: classes, images and count range per group, one row per (rule, group).

    Args:
        train_counts: training images per class, shape ``(K,)``.
        rules: rules to tabulate.

    Returns:
        DataFrame with columns ``rule, group, classes, images, min, max``.
    """
    counts = np.asarray(train_counts, dtype=np.int64)
    rows = []
    for rule in rules:
        for name, ids in shot_groups(counts, rule).items():
            sel = counts[ids]
            rows.append(
                {
                    "rule": rule,
                    "group": name,
                    "classes": len(ids),
                    "images": int(sel.sum()),
                    "min": int(sel.min()) if len(sel) else None,
                    "max": int(sel.max()) if len(sel) else None,
                }
            )
    return pd.DataFrame(rows)
