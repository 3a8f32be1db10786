"""The loss registry instance and the argument checks every loss builder shares.

Kept apart from ``oltr/losses/__init__.py`` so that family modules can register themselves without a
circular import.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from oltr.registry import Registry, check_choice as check_choice

LOSSES: Registry = Registry("loss")

REDUCTIONS = ("mean", "sum", "none")
FLAVOURS = ("paper", "reference")


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``float(value)`` after checking ``low <= value <= high`` (bounds optionally open)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a real number, got {value!r}") from None
    too_low = low is not None and (v <= low if low_open else v < low)
    too_high = high is not None and (v >= high if high_open else v > high)
    if math.isnan(v) or too_low or too_high:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"`{name}` must be in {lo}, {hi}, got {value!r}")
    return v


def check_gamma(name: str, value: float) -> float:
    """Focusing exponents must be finite and non-negative."""
    return check_range(name, value, 0.0, None)


def class_counts_tensor(class_counts: Any, name: str = "class_counts") -> torch.Tensor:
    """Training counts per class (numpy array, list or tensor) as a float64 tensor of positive values.

    Every count-based loss divides by or takes the log of the counts, so an empty class is an error
    rather than a silent ``inf``.
    """
    if class_counts is None:
        raise ValueError(f"`{name}` is required: the number of training samples per class, shape (K,)")
    if isinstance(class_counts, torch.Tensor):
        counts = class_counts.detach().to("cpu", torch.float64)
    else:
        counts = torch.as_tensor(np.asarray(class_counts, dtype=np.float64))
    if counts.ndim != 1 or counts.numel() < 2:
        raise ValueError(f"`{name}` must be a 1-D sequence of at least 2 class counts, got shape {tuple(counts.shape)}")
    if not bool(torch.isfinite(counts).all()) or bool((counts <= 0).any()):
        raise ValueError(f"`{name}` must hold finite counts > 0 for every class (got min {counts.min().item():g})")
    return counts
