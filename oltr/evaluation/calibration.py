"""Expected calibration error (ECE) of the top-1 prediction."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from oltr.evaluation._validation import check_labels, check_n_bins
from oltr.evaluation.logits import as_logits, max_softmax
from oltr.registry import check_choice


def _ece_from_confidences(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> float:
    """ECE from per-sample top-1 confidence and correctness (the compute step, no validation)."""
    n = confidence.shape[0]
    if n == 0:
        return float("nan")
    # Bin b holds confidences in (b/n_bins, (b+1)/n_bins]; a confidence of exactly 0 joins bin 0.
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence.astype(np.float64), minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct.astype(np.float64), minlength=n_bins)
    # sum_b |B_b|/N * |acc(B_b) - conf(B_b)| = sum_b |acc_sum_b - conf_sum_b| / N
    return float(np.abs(acc_sum - conf_sum).sum() / n)


def _looks_like_probabilities(x: np.ndarray) -> bool:
    return bool(x.min() >= 0.0 and x.max() <= 1.0 and np.allclose(x.sum(axis=1), 1.0, atol=1e-3))


def expected_calibration_error(
    logits_or_probs: Any,
    labels: Any,
    *,
    n_bins: int = 15,
    input: Literal["auto", "logits", "probs"] = "auto",
) -> float:
    """Expected calibration error of the top-1 prediction with equal-width confidence bins.

    .. math::
        \\mathrm{ECE} = \\sum_{b=1}^{B} \\frac{|B_b|}{N}\\,
        \\bigl|\\operatorname{acc}(B_b) - \\operatorname{conf}(B_b)\\bigr|

    where sample ``i`` with confidence ``p_i = max_k softmax(z_i)_k`` falls in bin
    ``B_b = ((b-1)/B, b/B]`` (Guo et al., 2017).

    Args:
        logits_or_probs: Scores of shape ``(N, K)``: logits, or probabilities whose rows sum to 1.
        labels: True class ids of shape ``(N,)`` in ``[0, K)``.
        n_bins: Number of equal-width bins ``B`` over ``[0, 1]``.
        input: ``"logits"`` applies a softmax, ``"probs"`` uses the scores as given, ``"auto"`` treats
            the scores as probabilities when they lie in ``[0, 1]`` and every row sums to 1.

    Returns:
        The ECE in ``[0, 1]``.

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
        >>> round(expected_calibration_error(probs, np.array([0, 1, 1]), n_bins=10), 4)
        0.3333
    """
    check_n_bins(n_bins)
    check_choice("input", input, ("auto", "logits", "probs"))
    scores = as_logits(logits_or_probs, "logits_or_probs")
    labels = check_labels(labels, "labels", num_samples=scores.shape[0], num_classes=scores.shape[1])
    if input == "probs" or (input == "auto" and _looks_like_probabilities(scores.values)):
        pred = np.argmax(scores.values, axis=1)
        confidence = scores.values[np.arange(scores.shape[0]), pred]
    else:
        confidence, pred = max_softmax(scores)
    return _ece_from_confidences(confidence, pred == labels, int(n_bins))


def probabilistic_metrics(logits: Any, labels: Any, *, k: int = 5) -> dict[str, float]:
    """Top-k accuracy, negative log-likelihood and Brier score of ``softmax(logits)``.

    * ``top5`` (``top<k>``): fraction of samples with fewer than ``k`` classes scoring strictly higher
      than the true class (without ties, ``sklearn.metrics.top_k_accuracy_score``; a tie at the k-th
      value counts as a hit here, where sklearn breaks it by class order);
    * ``nll`` = ``-1/N sum_i log softmax(z_i)_{y_i}`` (natural log);
    * ``brier`` = ``1/N sum_i sum_c (p_ic - [c = y_i])^2`` (multi-class Brier score, in [0, 2]).
    """
    z = as_logits(logits, "logits")
    y = check_labels(labels, "labels", num_samples=z.shape[0], num_classes=z.shape[1])
    st = z.label_stats(y)  # one pass: true-class logit, its rank, softmax normaliser, sum of squares
    sum_exp = st.sum_exp.astype(np.float64)  # row sums in the logits' precision, means in float64
    log_p = (st.true - st.max).astype(np.float64) - np.log(sum_exp)
    top = float(np.mean(st.n_above < min(int(k), z.shape[1])))
    nll = float(-log_p.mean())
    # sum_c (p_c - [c = y])^2 = sum_c p_c^2 - 2 p_y + 1, with p = exp(z - max) / sum_exp
    brier = float(np.mean(st.sum_sq.astype(np.float64) / (sum_exp * sum_exp) - 2.0 * np.exp(log_p) + 1.0))
    return {f"top{k}": top, "nll": nll, "brier": brier}


def reliability_curve(logits: Any, labels: Any, *, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin (as :func:`expected_calibration_error`): ``count``, mean
    ``confidence`` and ``accuracy`` (NaN in empty bins) and the bin ``edges`` (n_bins + 1)."""
    n_bins = check_n_bins(n_bins)
    z = as_logits(logits, "logits")
    y = check_labels(labels, "labels", num_samples=z.shape[0], num_classes=z.shape[1])
    conf, pred = max_softmax(z)
    conf = conf.astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        acc = np.bincount(bins, weights=(pred == y).astype(np.float64), minlength=n_bins) / count
    return {"edges": np.linspace(0.0, 1.0, n_bins + 1), "count": count, "confidence": mean_conf, "accuracy": acc}
