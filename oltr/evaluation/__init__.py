"""Closed-set, open-set and calibration metrics (functional, vectorised, numpy or torch inputs).

Example:
    >>> from oltr.evaluation import closed_set_metrics, open_set_metrics, shot_groups
"""

from oltr.evaluation.calibration import expected_calibration_error
from oltr.evaluation.closed_set import closed_set_metrics, per_class_accuracy
from oltr.evaluation.evaluate import evaluate_logits
from oltr.evaluation.open_set import FP_RULES, open_set_metrics
from oltr.evaluation.serialize import to_jsonable
from oltr.evaluation.shots import GROUPS, RULES, EmptyShotGroupWarning, ShotRule, shot_groups, shot_masks

__all__ = [
    "FP_RULES",
    "GROUPS",
    "RULES",
    "EmptyShotGroupWarning",
    "ShotRule",
    "closed_set_metrics",
    "evaluate_logits",
    "expected_calibration_error",
    "open_set_metrics",
    "per_class_accuracy",
    "shot_groups",
    "shot_masks",
    "to_jsonable",
]
