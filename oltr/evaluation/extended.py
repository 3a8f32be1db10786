"""The metrics beyond the OLTR protocol, added to a split's closed-set and open-set results.

:func:`extend_closed` adds top-5 / NLL / Brier and the shifted-prior accuracies; :func:`score_open_set`
scores known and open samples with a score of :data:`oltr.evaluation.scores.SCORES`, adds the OOD
metrics of :func:`oltr.evaluation.ood_metrics` and, at a threshold on that score, the threshold-dependent
open-set metrics (same definitions as :func:`oltr.evaluation.open_set_metrics`) and the per shot group
rejection rates of known samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oltr.evaluation.calibration import probabilistic_metrics
from oltr.evaluation.ood import ood_metrics
from oltr.evaluation.open_set import _open_set_compute
from oltr.evaluation.priors import shifted_prior_accuracies
from oltr.evaluation.scores import SCORES, open_set_score
from oltr.evaluation.shots import GROUPS, get_rule


def extend_closed(closed: dict[str, Any], logits: np.ndarray, labels: np.ndarray,
                  train_counts: np.ndarray) -> dict[str, Any]:
    """``closed`` plus ``top5``, ``nll``, ``brier`` and ``prior_<direction>_<rho>`` /
    ``prior_corrected_<direction>_<rho>`` (see :mod:`oltr.evaluation.priors`)."""
    out = dict(closed)
    out.update(probabilistic_metrics(logits, labels))
    correct = bool(np.all(train_counts > 0))  # prior correction needs log(train prior) finite
    out.update({f"prior_{k}": v for k, v in
                shifted_prior_accuracies(logits, labels, train_counts, correct=correct).items()})
    return out


def compute_scores(name: str, params: dict[str, Any], logits: np.ndarray | None,
                   features: np.ndarray | None = None, train: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> np.ndarray:
    """Scores of one set of samples: from logits, or from features for feature-based scores."""
    if SCORES.get(name).meta.get("needs_features"):
        if features is None or train is None:
            raise ValueError(f"score {name!r} needs features: features_<split>.npz and features_train.npz "
                             "(run `oltr eval --save-features` on the train and evaluated splits)")
        extra = {"train_labels": train[1]} if name == "mahalanobis" else {}
        return open_set_score(None, name, features=features, train_features=train[0], **extra, **params)
    return open_set_score(logits, name, **params)


def score_open_set(opened: dict[str, Any], known_scores: np.ndarray, known_pred: np.ndarray,
                   known_labels: np.ndarray, open_scores: np.ndarray, train_counts: np.ndarray, *,
                   threshold: float | None, rule: str, fp_rule: str) -> dict[str, Any]:
    """``opened`` plus the OOD metrics of the score; with ``threshold`` (on that score) the
    threshold-dependent metrics are recomputed with it; ``rejected_<group>`` always (at the threshold
    the metrics use)."""
    out = dict(opened)
    correct = known_pred == known_labels
    if open_scores.size:
        out.update(ood_metrics(known_scores, open_scores, correct))
    if threshold is not None:
        out.update(_open_set_compute(known_scores, known_pred, known_labels, open_scores, train_counts,
                                     float(threshold), rule, fp_rule))
        rejected = known_scores < threshold
    else:
        rejected = None
    if rejected is not None:
        masks = get_rule(rule).masks(train_counts)
        for g in GROUPS:
            in_group = masks[g][known_labels]
            out[f"rejected_{g}"] = float(rejected[in_group].mean()) if in_group.any() else float("nan")
    return out
