"""The open-set threshold as a curve, and thresholds chosen without the test open set.

Rejection convention as :func:`oltr.evaluation.open_set_metrics`: a sample is rejected when its score
is ``< t`` and accepted (classified by its argmax) when ``>= t``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from oltr.evaluation.ood import acceptance_threshold, check_scores
from oltr.evaluation.shots import GROUPS, get_rule


def _count_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``#{v >= t}`` for each ``t`` (``sorted_values`` ascending)."""
    return sorted_values.size - np.searchsorted(sorted_values, thresholds, side="left")


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), 0.0)


def default_thresholds(known_scores: np.ndarray, open_scores: np.ndarray, n: int = 101,
                       score: str = "msp") -> np.ndarray:
    """``n`` evenly spaced thresholds: over [0, 1] for probability scores (``msp``, ``temp_msp``),
    else from the lowest to the highest score seen."""
    if score in ("msp", "temp_msp"):
        return np.linspace(0.0, 1.0, n)
    both = np.concatenate([known_scores, open_scores])
    return np.linspace(both.min(), both.max(), n)


def threshold_sweep(known_scores: Any, known_pred: Any, known_labels: Any, open_scores: Any, train_counts: Any,
                    thresholds: Any, *, rule: str = "strict") -> pd.DataFrame:
    """Open-set metrics at every threshold, one row per threshold (vectorised over thresholds).

    Columns: ``threshold``; ``f_measure_oltr`` and ``f_measure_oltr2019`` (the two false-positive rules
    of :data:`oltr.evaluation.FP_RULES`: TP = known samples accepted with the right class, FN = open
    samples accepted, FP = known samples not correct / accepted with a wrong class); ``open_accuracy``
    (fraction of open samples rejected); ``overall`` (fraction of known samples accepted and correct);
    ``rejected_known`` (fraction of known samples rejected); per shot group ``acc_<group>`` (unweighted
    mean over the group's classes of the per-class accepted-and-correct rate, as the OLTR open-set
    many/medium/few) and ``rejected_<group>`` (fraction of the group's known samples rejected).
    At a single threshold these equal :func:`oltr.evaluation.open_set_metrics` with the same score.
    """
    k = check_scores(known_scores, "known_scores")
    o = np.asarray(open_scores, dtype=np.float64)
    pred = np.asarray(known_pred)
    y = np.asarray(known_labels)
    counts = np.asarray(train_counts)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError("Expected `thresholds` to be a non-empty 1-D array of finite values")
    n_cls = counts.shape[0]
    correct = pred == y
    tp = _count_at_least(np.sort(k[correct]), t)
    accepted_known = _count_at_least(np.sort(k), t)
    fn = _count_at_least(np.sort(o), t)
    out: dict[str, np.ndarray] = {"threshold": t}
    for fp_rule, fp in (("oltr", k.size - tp), ("oltr2019", accepted_known - tp)):
        p, r = _safe_div(tp, tp + fp), _safe_div(tp, tp + fn)
        out[f"f_measure_{fp_rule}"] = _safe_div(2 * p * r, p + r)
    out["open_accuracy"] = 1.0 - fn / o.size if o.size else np.full(t.size, np.nan)
    out["overall"] = tp / k.size
    out["rejected_known"] = 1.0 - accepted_known / k.size
    # Per class and threshold: correct samples accepted. A sample with score s is accepted for all
    # thresholds t <= s, i.e. the first searchsorted(t_sorted, s, 'right') sorted thresholds.
    order = np.argsort(t, kind="stable")
    ts = t[order]
    idx = np.searchsorted(ts, k, side="right")
    hist = np.zeros((n_cls, ts.size + 1))
    np.add.at(hist, (y[correct], idx[correct]), 1.0)
    hits_sorted = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]  # #{s >= ts_j}
    hits = np.empty_like(hits_sorted)
    hits[:, order] = hits_sorted
    test_count = np.bincount(y, minlength=n_cls)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(test_count[:, None] > 0, hits / np.maximum(test_count, 1)[:, None], np.nan)
    masks = get_rule(rule).masks(counts)
    for g in GROUPS:
        rows = per_class[masks[g] & (test_count > 0)]
        out[f"acc_{g}"] = rows.mean(axis=0) if rows.shape[0] else np.full(t.size, np.nan)
        in_group = masks[g][y]
        out[f"rejected_{g}"] = (1.0 - _count_at_least(np.sort(k[in_group]), t) / in_group.sum()
                                if in_group.any() else np.full(t.size, np.nan))
    return pd.DataFrame(out)


def choose_threshold(val_known_scores: Any, method: str = "tpr", tpr: float = 0.95) -> dict[str, Any]:
    """A threshold chosen on validation known samples only (the test open set is never seen).

    ``method="tpr"``: the largest ``t`` accepting at least ``tpr`` of the validation known samples
    (:func:`oltr.evaluation.ood.acceptance_threshold`). Returns ``{"value", "method", "tpr",
    "accepted_val"}``, what the eval json records as ``threshold_selection``.
    """
    if method != "tpr":
        raise ValueError(f"Expected `method` to be 'tpr', but got {method!r}")
    s = check_scores(val_known_scores, "val_known_scores")
    t = acceptance_threshold(s, tpr)
    return {"value": t, "method": method, "tpr": float(tpr), "accepted_val": float(np.mean(s >= t))}
