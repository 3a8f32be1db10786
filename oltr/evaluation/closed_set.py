"""Closed-set metrics: accuracy overall and per shot group, macro F1, calibration."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.metrics import f1_score

from oltr.evaluation._validation import check_counts, check_labels, check_n_bins
from oltr.evaluation.calibration import _ece_from_confidences
from oltr.evaluation.logits import as_logits, max_softmax
from oltr.evaluation.shots import get_rule, group_accuracies


def per_class_accuracy(preds: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``correct_c / test_count_c`` per class, shape ``(K,)``; NaN for classes absent from ``labels``.

    ``preds`` may contain ``-1`` (rejected), which is never correct.
    """
    total = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels, weights=(preds == labels), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / np.maximum(total, 1), np.nan)


def _closed_set_compute(
    confidence: np.ndarray,
    preds: np.ndarray,
    labels: np.ndarray,
    train_counts: np.ndarray,
    rule: str,
    n_bins: int,
    stacklevel: int = 3,
) -> dict[str, Any]:
    """Closed-set metrics from max-softmax confidences and argmax predictions (no validation)."""
    num_classes = train_counts.shape[0]
    correct = preds == labels
    per_class = per_class_accuracy(preds, labels, num_classes)
    groups = group_accuracies(per_class, get_rule(rule).masks(train_counts), rule=rule, stacklevel=stacklevel + 1)
    return {
        "overall": float(correct.mean()),
        **groups,
        "group_mean": float(np.mean([groups["many"], groups["medium"], groups["few"]])),
        # As the reference: sklearn macro F1 over the labels present in labels or preds.
        "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
        "per_class": per_class,
        "ece": _ece_from_confidences(confidence, correct, n_bins),
    }


def closed_set_metrics(
    logits: Any,
    labels: Any,
    train_counts: Any,
    *,
    rule: Literal["strict", "oltr"] = "strict",
    n_bins: int = 15,
) -> dict[str, Any]:
    """Top-1 metrics of a classifier on known classes only (no rejection).

    With ``y_hat_i = argmax_k z_ik`` and ``acc_c = #{i: y_i = c, y_hat_i = c} / #{i: y_i = c}``:

    * ``overall`` = ``#{i: y_hat_i = y_i} / N`` (micro accuracy; on a balanced test set also the
      class-count-weighted mean of the group accuracies);
    * ``many`` / ``medium`` / ``few`` = unweighted mean of ``acc_c`` over the classes of the group that
      occur in ``labels`` (groups from ``train_counts`` under ``rule``, see
      :func:`oltr.evaluation.shot_groups`); an empty group is NaN with an ``EmptyShotGroupWarning``;
    * ``group_mean`` = ``(many + medium + few) / 3`` (the CFL paper's "Average" column);
    * ``macro_f1`` = scikit-learn ``f1_score(average="macro")`` (the reference's closed-set
      "Averaged F-measure");
    * ``per_class`` = ``acc_c`` as an array of shape ``(K,)``, NaN for classes without test samples;
    * ``ece`` = expected calibration error of the max-softmax confidence (``n_bins`` equal bins).

    Args:
        logits: Scores of shape ``(N, K)`` (numpy array or torch tensor); softmax is monotonic, so the
            prediction is the argmax of the logits.
        labels: True class ids of shape ``(N,)`` in ``[0, K)``.
        train_counts: Training images per class, shape ``(K,)``.
        rule: Shot-group rule, ``"strict"`` (> 100 / < 20) or ``"oltr"`` (>= 100 / <= 20).
        n_bins: Bins of the calibration error.

    Returns:
        A dict with the keys above; scalars are Python floats.

    Example:
        >>> import numpy as np
        >>> logits = np.eye(3)[[0, 1, 1, 0]]
        >>> m = closed_set_metrics(logits, [0, 1, 2, 0], [500, 50, 5])
        >>> m["overall"], m["many"], m["medium"], m["few"]
        (0.75, 1.0, 1.0, 0.0)
    """
    get_rule(rule)
    check_n_bins(n_bins)
    logits = as_logits(logits, "logits")
    num_classes = logits.shape[1]
    labels = check_labels(labels, "labels", num_samples=logits.shape[0], num_classes=num_classes)
    train_counts = check_counts(train_counts, num_classes=num_classes)
    confidence, preds = max_softmax(logits)
    return _closed_set_compute(confidence, preds, labels, train_counts, rule, n_bins)
