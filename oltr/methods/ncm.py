"""Nearest class mean (NCM) on frozen features, with Decoupling's feature normalisations.

Normalisations (applied to training and query features alike):

- ``none``: the raw features;
- ``l2``: ``x / ||x||``;
- ``cl2n``: centred then L2: ``(x - mu) / ||x - mu||`` with ``mu`` the mean training feature.

Class means ``c_k`` are the means of the normalised training features of class ``k``. Logits are
"higher = closer": ``-||x - c_k||`` (euclidean) or ``cos(x, c_k)`` (cosine), so the argmax is the
nearest class mean.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Norm = Literal["none", "l2", "cl2n"]
Distance = Literal["euclidean", "cosine"]
NORMS = ("none", "l2", "cl2n")
DISTANCES = ("euclidean", "cosine")


def _as_tensor(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return t.double() if t.dtype == torch.float64 else t.float()


def normalize_features(features, norm: Norm, center: torch.Tensor | None = None, eps: float = 1e-12) -> torch.Tensor:
    """Apply ``norm`` (``none`` | ``l2`` | ``cl2n``; ``cl2n`` subtracts ``center`` first)."""
    x = _as_tensor(features)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if norm == "none":
        return x
    if norm == "cl2n":
        if center is None:
            raise ValueError("norm='cl2n' needs the mean training feature as center")
        x = x - center
    else:
        x = x.clone()  # the caller's array is not modified
    return x.div_(x.norm(dim=1, keepdim=True).clamp_min(eps))


def class_means(features: torch.Tensor, labels, num_classes: int | None = None) -> torch.Tensor:
    """``(K, D)`` per-class mean of ``features`` (``index_add_``); a class without samples is an error."""
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    k = int(num_classes if num_classes is not None else y.max() + 1)
    sums = torch.zeros(k, features.shape[1], dtype=features.dtype).index_add_(0, y, features)
    counts = torch.bincount(y, minlength=k)
    if (counts == 0).any():
        raise ValueError(f"NCM: class(es) {torch.nonzero(counts == 0).flatten().tolist()} have no training features")
    return sums / counts[:, None].to(features.dtype)


def ncm_logits(train_features, train_labels, features, norm: Norm = "l2", distance: Distance = "euclidean",
               num_classes: int | None = None) -> np.ndarray:
    """Nearest-class-mean logits ``(N, K)`` of ``features`` (float32 numpy; higher = closer).

    Args:
        train_features: ``(N_train, D)`` features of the training split (the class means come from them).
        train_labels: ``(N_train,)`` their labels.
        features: ``(N, D)`` query features.
        norm: ``none`` | ``l2`` | ``cl2n`` (applied to both sides).
        distance: ``euclidean`` (logit = -distance) | ``cosine`` (logit = cosine similarity).
        num_classes: ``K`` (default: max label + 1).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")
    train = _as_tensor(train_features)
    center = train.mean(0) if norm == "cl2n" else None
    means = class_means(normalize_features(train, norm, center), train_labels, num_classes)
    x = normalize_features(features, norm, center).to(means.dtype)
    if distance == "cosine":
        m = means / means.norm(dim=1, keepdim=True).clamp_min(1e-12)
        out = (x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)) @ m.T
    else:
        out = -torch.cdist(x, means)
    return out.numpy().astype(np.float32)
