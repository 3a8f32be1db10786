"""Threshold-free out-of-distribution metrics of an open-set score, with their conventions stated.

Known samples are the positive class throughout (except ``aupr_out``); a sample is *accepted* (taken
as known) at threshold ``t`` when its score is ``>= t``; higher scores mean "more likely known".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from oltr.evaluation._validation import to_numpy

try:  # numpy >= 2.0
    _trapezoid = np.trapezoid
except AttributeError:  # pragma: no cover - numpy 1.x
    _trapezoid = np.trapz


class EmptyScoresError(ValueError):
    """The known or the open scores are empty: no OOD metric is defined."""


class NonFiniteScoresError(ValueError):
    """Scores contain NaN or infinities (a score function overflowed, or bad logits)."""


def check_scores(x: Any, name: str) -> np.ndarray:
    """A non-empty, finite 1-D float64 array, else a named error."""
    arr = np.asarray(to_numpy(x, name), dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"Expected `{name}` to have shape (N,), but got shape {arr.shape}")
    if arr.size == 0:
        raise EmptyScoresError(f"`{name}` is empty: OOD metrics need at least one known and one open sample")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise NonFiniteScoresError(f"`{name}` holds {bad} NaN/inf values: OOD metrics need finite scores")
    return arr


def acceptance_threshold(known_scores: Any, tpr: float = 0.95) -> float:
    """The largest ``t`` with ``#{known >= t} >= ceil(tpr * N)``: the ``ceil(tpr N)``-th largest known score.

    Ties at ``t`` are all accepted, so the accepted fraction can exceed ``tpr``.
    """
    s = check_scores(known_scores, "known_scores")
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"Expected `tpr` in (0, 1], but got {tpr!r}")
    need = int(np.ceil(round(tpr * s.size, 9)))  # round: 0.95 * 100 is 95.00000000000001 in floating point
    return float(np.sort(s)[::-1][need - 1])


def oscr(known_scores: Any, open_scores: Any, known_correct: Any) -> float:
    """Open-set classification rate area (Dhamija et al. 2018), see :func:`ood_metrics`."""
    k = check_scores(known_scores, "known_scores")
    o = check_scores(open_scores, "open_scores")
    c = np.asarray(to_numpy(known_correct, "known_correct"))
    if c.shape != k.shape or c.dtype != bool:
        raise ValueError(f"Expected `known_correct` to be a boolean array of shape {k.shape}, "
                         f"but got {c.dtype} {c.shape}")
    thresholds = np.unique(np.concatenate([k, o]))[::-1]  # distinct scores, descending
    correct_sorted = np.sort(k[c])
    open_sorted = np.sort(o)
    # #{score >= t} = n - #{score < t}
    ccr = (correct_sorted.size - np.searchsorted(correct_sorted, thresholds, side="left")) / k.size
    fpr = (open_sorted.size - np.searchsorted(open_sorted, thresholds, side="left")) / o.size
    ccr = np.concatenate([[0.0], ccr])  # t = +inf: nothing accepted
    fpr = np.concatenate([[0.0], fpr])
    return float(_trapezoid(ccr, fpr))


def ood_metrics(known_scores: Any, open_scores: Any, known_correct: Any | None = None, *,
                tpr: float = 0.95) -> dict[str, float]:
    """AUROC, AUPR-in/out, FPR at 95 % TPR and OSCR of an open-set score.

    With ``s`` the scores (higher = known) and "accepted at ``t``" meaning ``s >= t``:

    * ``auroc``: ROC AUC with known = positive (``sklearn.metrics.roc_auc_score``); ties between a
      known and an open sample count 1/2.
    * ``aupr_in``: ``average_precision_score`` with known = positive on ``s``; ``aupr_out``: open =
      positive on ``-s``.
    * ``fpr95``: the fraction of open samples accepted at the largest ``t`` that accepts at least
      ``tpr`` (95 %) of the known samples (:func:`acceptance_threshold`; tied scores are accepted
      together).
    * ``oscr`` (only with ``known_correct``): for every distinct score ``t`` plus ``+inf``,
      ``CCR(t) = #{known, correct, s >= t} / N_known`` and ``FPR(t) = #{open, s >= t} / N_open``; the
      trapezoid area under CCR against FPR, from ``(0, 0)`` at ``t = +inf`` to
      ``(1, closed-set accuracy)`` at the lowest score (Dhamija et al. 2018; Vaze et al. 2022).
      Tied known and open samples enter at the same ``t`` (a diagonal segment).

    Empty inputs raise :class:`EmptyScoresError`, NaN/inf scores :class:`NonFiniteScoresError`.

    Example:
        >>> m = ood_metrics([0.9, 0.8, 0.3], [0.5, 0.1], [True, False, True])
        >>> round(m["auroc"], 4), m["fpr95"], m["oscr"]
        (0.8333, 0.5, 0.5)
    """
    k = check_scores(known_scores, "known_scores")
    o = check_scores(open_scores, "open_scores")
    # Sorted once, descending: the metrics depend only on the (score, label) pairs, and scikit-learn's
    # stable sorts of already sorted scores are then linear instead of O(n log n) each.
    s = np.concatenate([k, o])
    order = np.argsort(-s)
    s, is_known = s[order], order < k.size
    t = acceptance_threshold(k, tpr)
    out = {
        "auroc": float(roc_auc_score(is_known, s)),
        "aupr_in": float(average_precision_score(is_known, s)),
        "aupr_out": float(average_precision_score(~is_known, -s)),
        "fpr95": float(np.mean(o >= t)),
    }
    if known_correct is not None:
        out["oscr"] = oscr(k, o, known_correct)
    return out
