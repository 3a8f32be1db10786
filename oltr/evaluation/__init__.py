"""Closed-set, open-set, OOD and calibration metrics (functional, vectorised, numpy or torch inputs).

Example:
    >>> from oltr.evaluation import closed_set_metrics, open_set_metrics, shot_groups
"""

from oltr.evaluation.calibration import expected_calibration_error, probabilistic_metrics, reliability_curve
from oltr.evaluation.closed_set import closed_set_metrics, per_class_accuracy
from oltr.evaluation.evaluate import evaluate_logits
from oltr.evaluation.logits import Logits
from oltr.evaluation.ood import EmptyScoresError, NonFiniteScoresError, acceptance_threshold, ood_metrics
from oltr.evaluation.open_set import FP_RULES, open_set_metrics
from oltr.evaluation.priors import shifted_prior, shifted_prior_accuracies
from oltr.evaluation.scores import SCORES, available_scores, open_set_score
from oltr.evaluation.serialize import to_jsonable
from oltr.evaluation.shots import GROUPS, RULES, EmptyShotGroupWarning, ShotRule, shot_groups, shot_masks
from oltr.evaluation.thresholds import choose_threshold, threshold_sweep

__all__ = [
    "Logits",
    "SCORES",
    "EmptyScoresError",
    "NonFiniteScoresError",
    "acceptance_threshold",
    "available_scores",
    "choose_threshold",
    "ood_metrics",
    "open_set_score",
    "probabilistic_metrics",
    "reliability_curve",
    "shifted_prior",
    "shifted_prior_accuracies",
    "threshold_sweep",
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
