"""Open-set scoring of a run's saved outputs: the score, its threshold (given, or chosen on val), sweeps.

Everything here reads what ``evaluate_run`` saved (``logits_<split>.npz``, and for feature scores
``features_<split>.npz`` / ``features_train.npz``, format in :mod:`oltr.evaluation.features`), so
re-scoring never runs the network.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from oltr.evaluation.curves import plot_reliability, plot_sweep
from oltr.evaluation.extended import compute_scores, extend_closed, score_open_set
from oltr.evaluation.features import features_path, read_features
from oltr.evaluation.logits import as_logits
from oltr.evaluation.scores import SCORES
from oltr.evaluation.thresholds import choose_threshold, default_thresholds, threshold_sweep

log = logging.getLogger("oltr.engine")


def _split_scores(run_dir: Path, split: str, score: str, params: dict[str, Any], logits: np.ndarray | None,
                  open_logits: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    if not SCORES.get(score).meta.get("needs_features"):
        known = compute_scores(score, params, logits)
        return known, (compute_scores(score, params, open_logits) if open_logits is not None else None)
    train_x, train_y, _ = read_features(features_path(run_dir, "train"))
    x, _, open_x = read_features(features_path(run_dir, split))
    known = compute_scores(score, params, None, x, (train_x, train_y))
    opened = compute_scores(score, params, None, open_x, (train_x, train_y)) if open_x is not None else None
    return known, opened


def val_threshold(run_dir: Path, score: str, params: dict[str, Any], tpr: float) -> dict[str, Any]:
    """The threshold accepting ``tpr`` of the validation known samples (``logits_val.npz``)."""
    path = run_dir / "logits_val.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `oltr eval --run {run_dir} --split val` first")
    with np.load(path) as z:
        logits = z["logits"]
    known, _ = _split_scores(run_dir, "val", score, params, logits, None)
    return {**choose_threshold(known, "tpr", tpr), "split": "val"}


def apply_scoring(run_dir: str | os.PathLike, split: str, metrics: dict[str, Any], logits: np.ndarray,
                  labels: np.ndarray, open_logits: np.ndarray | None, train_counts: np.ndarray, *,
                  score: str = "msp", score_params: dict[str, Any] | None = None, threshold: float,
                  threshold_given: bool, threshold_from: str | None = None, tpr: float = 0.95,
                  sweep: bool = False, rule: str, fp_rule: str) -> dict[str, Any]:
    """``metrics`` (from ``evaluate_logits``) extended, plus ``score`` and ``threshold_selection``.

    The threshold-dependent open-set metrics use, in order: the threshold chosen on val
    (``threshold_from="val"``), a threshold given on the chosen score, or (score ``msp`` only) the
    run's max-softmax threshold; for another score without a threshold they stay MSP-based and
    ``threshold_selection["score"]`` says so. ``sweep`` writes ``sweep_<split>_<score>.csv`` (and a
    ``.png`` with matplotlib) and ``reliability_<split>.png``.
    """
    run_dir = Path(run_dir)
    params = dict(score_params or {})
    SCORES.get(score)
    out = dict(metrics)
    out["closed_set"] = extend_closed(metrics["closed_set"], logits, labels, train_counts)
    selection: dict[str, Any] = {"method": "given" if threshold_given else "config", "value": threshold,
                                 "score": score}
    if threshold_from is not None:
        if threshold_from != "val":
            raise ValueError(f"threshold_from must be 'val' (or None), got {threshold_from!r}")
        selection = {**val_threshold(run_dir, score, params, tpr), "score": score}
    elif score != "msp" and not threshold_given:
        selection["score"] = "msp"
    if metrics.get("open_set") is None:
        out["score"] = {"name": score, "params": params}
        out["threshold_selection"] = selection
        return out
    known, opened = _split_scores(run_dir, split, score, params, logits, open_logits)
    pred = as_logits(logits).stats().pred
    if selection["score"] == score:
        out["open_set"] = score_open_set(metrics["open_set"], known, pred, labels, opened, train_counts,
                                         threshold=selection["value"], rule=rule, fp_rule=fp_rule)
    else:  # threshold-dependent metrics by MSP; OOD metrics by the chosen score
        base = score_open_set(metrics["open_set"], compute_scores("msp", {}, logits), pred, labels,
                              compute_scores("msp", {}, open_logits), train_counts, threshold=threshold,
                              rule=rule, fp_rule=fp_rule)
        out["open_set"] = score_open_set(base, known, pred, labels, opened, train_counts, threshold=None,
                                         rule=rule, fp_rule=fp_rule)
    out["score"] = {"name": score, "params": params}
    out["threshold_selection"] = selection
    if sweep:
        out["sweep"] = write_sweep(run_dir, split, score, known, pred, labels, opened, train_counts, rule,
                                   chosen=selection["value"] if selection["score"] == score else None)
        try:
            plot_reliability(logits, labels, run_dir / f"reliability_{split}.png")
        except ImportError as err:
            log.warning("reliability plot skipped: %s", err)
    return out


def write_sweep(run_dir: Path, split: str, score: str, known: np.ndarray, pred: np.ndarray, labels: np.ndarray,
                opened: np.ndarray, train_counts: np.ndarray, rule: str, chosen: float | None = None) -> str:
    """The 101-point threshold sweep as CSV (and PNG when matplotlib is installed); returns the CSV name."""
    table = threshold_sweep(known, pred, labels, opened, train_counts,
                            default_thresholds(known, opened, 101, score), rule=rule)
    csv = run_dir / f"sweep_{split}_{score}.csv"
    table.to_csv(csv, index=False, float_format="%.6g")
    try:
        plot_sweep(table, csv.with_suffix(".png"), score=score, chosen=chosen)
    except ImportError as err:
        log.warning("sweep plot skipped: %s", err)
    return csv.name
