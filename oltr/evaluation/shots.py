"""Group accuracies over the many / medium / few-shot classes (the rule itself lives in :mod:`oltr.shots`)."""

from __future__ import annotations

import warnings

import numpy as np

from oltr.shots import GROUPS as GROUPS
from oltr.shots import RULES as RULES
from oltr.shots import ShotRule as ShotRule
from oltr.shots import get_rule as get_rule
from oltr.shots import shot_groups as shot_groups
from oltr.shots import shot_masks as shot_masks


class EmptyShotGroupWarning(UserWarning):
    """A shot group has no class with test samples; its accuracy is reported as NaN."""


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
