"""Many / medium / few-shot class groups from training-set class counts.

This is the single implementation of the group rule used across oltr (``oltr.data`` re-exports
it). Two rules exist in the literature, differing only at the boundaries 100 and 20:

* ``"strict"``: many ``n > 100``, medium ``20 <= n <= 100``, few ``n < 20``. The OLTR paper's text,
  the OLTR code before 2019-08 and the decoupling (classifier-balancing) code base.
* ``"oltr"``: many ``n >= 100``, medium ``20 < n < 100``, few ``n <= 20``. The OLTR reference code
  at HEAD (``utils.shot_acc``) and the CFL paper's text.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from oltr.evaluation._validation import check_choice, check_counts

GROUPS = ("many", "medium", "few")


class EmptyShotGroupWarning(UserWarning):
    """A shot group has no class with test samples; its accuracy is reported as NaN."""


@dataclass(frozen=True)
class ShotRule:
    """Integer boundaries of a group rule: many ``n >= many_min``, few ``n <= few_max``, medium otherwise."""

    name: str
    many_min: int
    few_max: int
    description: str

    def masks(self, train_counts: np.ndarray) -> dict[str, np.ndarray]:
        """Boolean class masks ``{'many', 'medium', 'few'}`` of shape ``(K,)``."""
        many = train_counts >= self.many_min
        few = train_counts <= self.few_max
        return {"many": many, "medium": ~(many | few), "few": few}


RULES: dict[str, ShotRule] = {
    "strict": ShotRule("strict", many_min=101, few_max=19, description="many > 100, medium 20..100, few < 20"),
    "oltr": ShotRule("oltr", many_min=100, few_max=20, description="many >= 100, medium 21..99, few <= 20"),
}


def get_rule(rule: str) -> ShotRule:
    """The :class:`ShotRule` named ``rule``; unknown names raise ``ValueError`` listing the valid ones."""
    return RULES[check_choice(rule, "rule", RULES)]


def shot_masks(train_counts: Any, rule: str = "strict") -> dict[str, np.ndarray]:
    """Boolean masks of shape ``(K,)`` per group (see :func:`shot_groups`)."""
    return get_rule(rule).masks(check_counts(train_counts))


def shot_groups(train_counts: Any, rule: str = "strict") -> dict[str, np.ndarray]:
    """Class ids of the many-, medium- and few-shot groups.

    Args:
        train_counts: Training images per class, shape ``(K,)`` (index = class id).
        rule: ``"strict"`` (many ``n > 100``, few ``n < 20``) or ``"oltr"`` (many ``n >= 100``,
            few ``n <= 20``); see :data:`RULES`.

    Returns:
        ``{'many', 'medium', 'few'}`` -> sorted int64 class ids; the three groups partition ``0..K-1``.

    Example:
        >>> shot_groups([150, 100, 20, 5], rule="strict")["medium"].tolist()
        [1, 2]
        >>> shot_groups([150, 100, 20, 5], rule="oltr")["few"].tolist()
        [2, 3]
    """
    return {g: np.flatnonzero(m) for g, m in shot_masks(train_counts, rule).items()}


def group_accuracies(
    per_class: np.ndarray, masks: dict[str, np.ndarray], *, rule: str = "", stacklevel: int = 3
) -> dict[str, float]:
    """Unweighted mean of per-class accuracies within each group, ignoring classes without test samples.

    ``per_class`` holds NaN for classes absent from the evaluated labels. A group left with no class
    gives NaN and an :class:`EmptyShotGroupWarning` (never an exception).
    """
    out: dict[str, float] = {}
    for group in GROUPS:
        values = per_class[masks[group]]
        values = values[~np.isnan(values)]
        if values.size == 0:
            warnings.warn(
                f"shot group {group!r} has no class with test samples under rule {rule or '?'!r}; "
                f"its accuracy is NaN",
                EmptyShotGroupWarning,
                stacklevel=stacklevel,
            )
            out[group] = float("nan")
        else:
            out[group] = float(values.mean())
    return out
