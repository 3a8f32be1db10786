"""Many / medium / few-shot class groups from training-set class counts: the one rule of the package.

``oltr.data`` (list statistics) and ``oltr.evaluation`` (group accuracies) both use it. Two rules exist in the
literature, differing only at the boundaries 100 and 20:

* ``"strict"``: many ``n > 100``, medium ``20 <= n <= 100``, few ``n < 20``. The OLTR paper's text,
  the OLTR code before 2019-08 and the decoupling (classifier-balancing) code base.
* ``"oltr"``: many ``n >= 100``, medium ``20 < n < 100``, few ``n <= 20``. The OLTR reference code
  at HEAD (``utils.shot_acc``) and the CFL paper's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from oltr.registry import check_choice

GROUPS = ("many", "medium", "few")


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
    return RULES[check_choice("rule", rule, RULES)]


def _counts(train_counts: Any) -> np.ndarray:
    """Non-negative integer counts ``(K,)`` (numpy, torch on CPU or a sequence) as int64."""
    arr = np.asarray(train_counts.detach().cpu() if hasattr(train_counts, "detach") else train_counts)
    if arr.ndim != 1:
        raise ValueError(f"`train_counts` must have shape (K,), got shape {tuple(arr.shape)}")
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr)))):
        raise ValueError(f"`train_counts` must hold integer counts, got {arr.dtype} values")
    if arr.size and arr.min() < 0:
        raise ValueError(f"`train_counts` must be non-negative, got minimum {arr.min()}")
    return arr.astype(np.int64, copy=False)


def shot_masks(train_counts: Any, rule: str = "strict") -> dict[str, np.ndarray]:
    """Boolean masks of shape ``(K,)`` per group (see :func:`shot_groups`)."""
    return get_rule(rule).masks(_counts(train_counts))


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
