"""Closed-set and open-set metrics of one split in a single pass over the logits."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from oltr.evaluation._validation import (
    check_counts,
    check_labels,
    check_n_bins,
    check_probability,
)
from oltr.evaluation.closed_set import _closed_set_compute
from oltr.evaluation.logits import as_logits, max_softmax
from oltr.evaluation.open_set import FP_RULES, _open_set_compute
from oltr.evaluation.shots import get_rule
from oltr.registry import check_choice


def evaluate_logits(
    known_logits: Any,
    known_labels: Any,
    train_counts: Any,
    *,
    open_logits: Any | None = None,
    threshold: float = 0.1,
    rule: Literal["strict", "oltr"] = "strict",
    fp_rule: Literal["oltr", "oltr2019"] = "oltr",
    n_bins: int = 15,
) -> dict[str, dict[str, Any] | None]:
    """``{"closed_set": closed_set_metrics(...), "open_set": open_set_metrics(...) or None}``.

    Same numbers as calling :func:`oltr.evaluation.closed_set_metrics` and
    :func:`oltr.evaluation.open_set_metrics`, but the softmax of the known logits is computed once;
    ``open_set`` is ``None`` when ``open_logits`` is ``None``.

    Example:
        >>> import numpy as np
        >>> out = evaluate_logits(np.eye(3) * 5, [0, 1, 2], [500, 50, 5], open_logits=np.zeros((2, 3)))
        >>> out["closed_set"]["overall"], out["open_set"]["open_accuracy"]
        (1.0, 0.0)
    """
    get_rule(rule)
    check_choice("fp_rule", fp_rule, FP_RULES)
    threshold = check_probability(threshold, "threshold")
    n_bins = check_n_bins(n_bins)
    known_logits = as_logits(known_logits, "known_logits")
    num_classes = known_logits.shape[1]
    known_labels = check_labels(
        known_labels, "known_labels", num_samples=known_logits.shape[0], num_classes=num_classes
    )
    train_counts = check_counts(train_counts, num_classes=num_classes)
    conf, pred = max_softmax(known_logits)
    out: dict[str, dict[str, Any] | None] = {
        "closed_set": _closed_set_compute(conf, pred, known_labels, train_counts, rule, n_bins, stacklevel=3),
        "open_set": None,
    }
    if open_logits is not None:
        open_logits = as_logits(open_logits, "open_logits", num_classes=num_classes, allow_empty=True)
        open_conf = max_softmax(open_logits)[0] if open_logits.shape[0] else np.zeros(0, dtype=conf.dtype)
        out["open_set"] = _open_set_compute(
            conf, pred, known_labels, open_conf, train_counts, threshold, rule, fp_rule, stacklevel=3
        )
    return out
