"""Open-set metrics of the OLTR protocol: rejection by max-softmax threshold, F-measure, AUROC."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from sklearn.metrics import roc_auc_score

from oltr.evaluation._validation import check_counts, check_labels, check_probability
from oltr.evaluation.closed_set import per_class_accuracy
from oltr.evaluation.logits import as_logits, max_softmax
from oltr.evaluation.shots import get_rule, group_accuracies
from oltr.registry import check_choice

#: How known samples rejected as open count in the F-measure.
FP_RULES = {
    "oltr": "false positives = known samples not classified correctly, rejected ones included "
    "(reference code since 2020-01-29)",
    "oltr2019": "false positives = known samples accepted with a wrong class; rejected known samples "
    "are not counted (paper-era reference code, classifier-balancing)",
}


def _ratio(num: int, den: int, what: str, stacklevel: int) -> float:
    if den == 0:
        warnings.warn(f"{what} is undefined (0/0); reported as 0.0", RuntimeWarning, stacklevel=stacklevel + 1)
        return 0.0
    return num / den


def _open_set_compute(
    known_conf: np.ndarray,
    known_pred: np.ndarray,
    known_labels: np.ndarray,
    open_conf: np.ndarray,
    train_counts: np.ndarray,
    threshold: float,
    rule: str,
    fp_rule: str,
    stacklevel: int = 3,
) -> dict[str, Any]:
    """Open-set metrics from max-softmax confidences and argmax predictions (no validation)."""
    num_classes = train_counts.shape[0]
    rejected_known = known_conf < threshold
    known_pred = np.where(rejected_known, -1, known_pred)
    correct = known_pred == known_labels

    per_class = per_class_accuracy(known_pred, known_labels, num_classes)
    groups = group_accuracies(per_class, get_rule(rule).masks(train_counts), rule=rule, stacklevel=stacklevel + 1)
    rejected_open = open_conf < threshold

    tp = int(correct.sum())
    fp = int((~correct).sum()) if fp_rule == "oltr" else int((~correct & ~rejected_known).sum())
    fn = int((~rejected_open).sum())
    precision = _ratio(tp, tp + fp, "precision", stacklevel)
    recall = _ratio(tp, tp + fn, "recall", stacklevel)
    f_measure = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0

    if open_conf.size == 0:
        warnings.warn("no open-set samples: open_accuracy and auroc are NaN", RuntimeWarning, stacklevel=stacklevel)
        open_accuracy = auroc = float("nan")
    else:
        open_accuracy = float(rejected_open.mean())
        scores = np.concatenate([known_conf, open_conf]).astype(np.float64)
        is_known = np.concatenate([np.ones(known_conf.size, bool), np.zeros(open_conf.size, bool)])
        auroc = float(roc_auc_score(is_known, scores))

    return {
        **groups,
        "overall": float(correct.mean()),
        "open_accuracy": open_accuracy,
        "f_measure": float(f_measure),
        "precision": float(precision),
        "recall": float(recall),
        "auroc": auroc,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "rejected_known": int(rejected_known.sum()),
        "rejected_open": int(rejected_open.sum()),
    }


def open_set_metrics(
    known_logits: Any,
    known_labels: Any,
    open_logits: Any,
    train_counts: Any,
    *,
    threshold: float = 0.1,
    rule: Literal["strict", "oltr"] = "strict",
    fp_rule: Literal["oltr", "oltr2019"] = "oltr",
) -> dict[str, Any]:
    """Metrics of the OLTR open-set protocol on known test samples plus open-class samples.

    A sample is rejected (predicted ``-1``) when its confidence ``p_i = max_k softmax(z_i)_k`` is below
    ``threshold``; otherwise it is predicted ``argmax_k z_ik``. Then:

    * ``many`` / ``medium`` / ``few`` / ``overall``: accuracies on the known samples as in
      :func:`oltr.evaluation.closed_set_metrics`, with rejected known samples counted as errors;
    * ``open_accuracy`` = fraction of open samples rejected;
    * with ``TP`` = known samples classified correctly, ``FN`` = open samples accepted, and
      ``FP`` = known samples not classified correctly (``fp_rule="oltr"``) or only those accepted with
      a wrong class (``fp_rule="oltr2019"``): ``precision = TP / (TP + FP)``,
      ``recall = TP / (TP + FN)``, ``f_measure = 2 P R / (P + R)`` (open samples correctly rejected
      count nowhere; this is the reference's non-standard F-measure);
    * ``auroc``: threshold-free ROC AUC separating known (positive) from open samples by ``p_i``
      (scikit-learn), NaN with a warning when either side is empty;
    * counts ``tp``, ``fp``, ``fn``, ``rejected_known``, ``rejected_open``.

    Args:
        known_logits: Scores of the known-class test samples, shape ``(N, K)``.
        known_labels: Their class ids, shape ``(N,)`` in ``[0, K)``.
        open_logits: Scores of the open-class samples, shape ``(M, K)`` (``M`` may be 0).
        train_counts: Training images per class, shape ``(K,)``.
        threshold: Rejection threshold on the max softmax probability.
        rule: Shot-group rule, ``"strict"`` or ``"oltr"``.
        fp_rule: ``"oltr"`` (current reference) or ``"oltr2019"`` (paper-era reference); see :data:`FP_RULES`.

    Returns:
        A dict with the keys above; rates are Python floats, counts Python ints.

    Example:
        >>> import numpy as np
        >>> known = np.array([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 0.1]])
        >>> m = open_set_metrics(known, [0, 1, 2], np.zeros((2, 3)), [500, 50, 5], threshold=0.5)
        >>> m["tp"], m["fp"], m["fn"], m["open_accuracy"], round(m["f_measure"], 4)
        (2, 1, 0, 1.0, 0.8)
    """
    get_rule(rule)
    check_choice("fp_rule", fp_rule, FP_RULES)
    threshold = check_probability(threshold, "threshold")
    known_logits = as_logits(known_logits, "known_logits")
    num_classes = known_logits.shape[1]
    known_labels = check_labels(
        known_labels, "known_labels", num_samples=known_logits.shape[0], num_classes=num_classes
    )
    open_logits = as_logits(open_logits, "open_logits", num_classes=num_classes, allow_empty=True)
    train_counts = check_counts(train_counts, num_classes=num_classes)

    known_conf, known_pred = max_softmax(known_logits)
    open_conf = max_softmax(open_logits)[0] if open_logits.shape[0] else np.zeros(0, dtype=known_conf.dtype)
    return _open_set_compute(known_conf, known_pred, known_labels, open_conf, train_counts, threshold, rule, fp_rule)
