"""The features file format read by the feature-based open-set scores (``knn``, ``mahalanobis``).

``features_<split>.npz`` in a run directory (``split`` = ``train``, ``val`` or ``test``), written by
``oltr eval --save-features``: ``features`` float32 ``(N, D)``, ``labels`` int64 ``(N,)`` and, for a
split evaluated open-set, ``open_features`` float32 ``(M, D)``; the same layout as ``logits_<split>.npz``.
This module is the one place that names those arrays.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from oltr.atomic import atomic_path

FEATURES = "features"
LABELS = "labels"
OPEN_FEATURES = "open_features"


def features_path(run_dir: str | os.PathLike, split: str) -> Path:
    """``run_dir/features_<split>.npz``."""
    return Path(run_dir) / f"features_{split}.npz"


def read_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(features (N, D), labels (N,), open_features (M, D) or None)``; a malformed file raises
    ``ValueError`` naming the file and the array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `oltr eval --save-features` for that split first")
    with np.load(path) as z:
        missing = [k for k in (FEATURES, LABELS) if k not in z.files]
        if missing:
            raise ValueError(f"{path}: missing array(s) {missing}; expected {FEATURES!r} (N, D), {LABELS!r} (N,)")
        x, y = z[FEATURES], z[LABELS]
        open_x = z[OPEN_FEATURES] if OPEN_FEATURES in z.files else None
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"{path}: expected {FEATURES!r} of shape (N, D) and {LABELS!r} of shape (N,), "
                         f"got {x.shape} and {y.shape}")
    if open_x is not None and (open_x.ndim != 2 or open_x.shape[1] != x.shape[1]):
        raise ValueError(f"{path}: expected {OPEN_FEATURES!r} of shape (M, {x.shape[1]}), got {open_x.shape}")
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False), open_x


def write_features(path: str | os.PathLike, features: np.ndarray, labels: np.ndarray,
                   open_features: np.ndarray | None = None) -> Path:
    """Write the format above atomically (used by tests and by the features export)."""
    path = Path(path)
    arrays = {FEATURES: np.asarray(features, np.float32), LABELS: np.asarray(labels, np.int64)}
    if open_features is not None:
        arrays[OPEN_FEATURES] = np.asarray(open_features, np.float32)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return path
