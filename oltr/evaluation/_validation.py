"""Argument and array validation shared by the metric functions.

Every message says what was expected and what was received, so that a wrong call fails at the
boundary instead of producing a silently wrong number.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` (numpy array, torch tensor, or nested sequence) as a numpy array, without copying if possible."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        return x.numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # pragma: no cover - exotic inputs
        raise TypeError(f"Expected `{name}` to be a numpy array or torch tensor, but got {type(x).__name__}") from err


class CheckedLogits:
    """Base of :class:`oltr.evaluation.Logits`: holds ``values``, an array :func:`check_logits` has
    already validated (so it only re-checks the shape against the other inputs)."""

    def __init__(self, values: np.ndarray):
        self.values = values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.values.dtype:
            return self.values.astype(dtype)
        return self.values.copy() if copy else self.values


def check_logits(x: Any, name: str, *, num_classes: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """A float array of shape ``(N, K)`` with finite values."""
    prechecked = isinstance(x, CheckedLogits)
    arr = x.values if prechecked else to_numpy(x, name)
    if arr.ndim != 2:
        raise ValueError(f"Expected `{name}` to have shape (N, K), but got shape {tuple(arr.shape)}")
    if num_classes is not None and arr.shape[1] != num_classes:
        raise ValueError(
            f"Expected `{name}` to have K = {num_classes} columns (as the other inputs), "
            f"but got shape {tuple(arr.shape)}"
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"Expected `{name}` to hold at least one sample, but got shape {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating):
        if np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
            arr = arr.astype(np.float64)
        else:
            raise TypeError(f"Expected `{name}` to be a floating-point array, but got dtype {arr.dtype}")
    if prechecked:
        return arr
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    # A sum is one pass without a temporary; NaN/inf propagate into it. Only when it is not finite
    # (or finite values overflowed) is the exact element-wise check run.
    if arr.size and not np.isfinite(arr.sum()):
        n_bad = int((~np.isfinite(arr)).sum())
        if n_bad:
            raise ValueError(f"Expected `{name}` to be finite, but it contains {n_bad} NaN/inf values")
    return arr


def check_labels(x: Any, name: str, *, num_samples: int, num_classes: int) -> np.ndarray:
    """An int64 array of shape ``(num_samples,)`` with values in ``[0, num_classes)``."""
    arr = to_numpy(x, name)
    if arr.ndim != 1 or arr.shape[0] != num_samples:
        raise ValueError(
            f"Expected `{name}` to have shape ({num_samples},) to match the logits, but got shape {tuple(arr.shape)}"
        )
    if arr.dtype.kind == "f":
        if arr.size and not np.all(arr == np.round(arr)):
            raise ValueError(f"Expected `{name}` to hold integer class ids, but got non-integral values")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"Expected `{name}` to hold integer class ids, but got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"Expected `{name}` to lie in [0, {num_classes}) (K = number of logit columns), "
                f"but got values in [{lo}, {hi}]"
            )
    return arr


def check_counts(x: Any, name: str = "train_counts", *, num_classes: int | None = None) -> np.ndarray:
    """Non-negative integer counts of shape ``(K,)``."""
    arr = to_numpy(x, name)
    if arr.ndim != 1:
        raise ValueError(f"Expected `{name}` to have shape (K,), but got shape {tuple(arr.shape)}")
    if num_classes is not None and arr.shape[0] != num_classes:
        raise ValueError(
            f"Expected `{name}` to have one entry per class, K = {num_classes} (logit columns), "
            f"but got shape {tuple(arr.shape)}"
        )
    if arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise ValueError(f"Expected `{name}` to hold integer counts, but got non-integral values")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"Expected `{name}` to hold integer counts, but got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"Expected `{name}` to be non-negative, but got minimum {int(arr.min())}")
    return arr


def check_probability(value: Any, name: str) -> float:
    """A float in [0, 1]."""
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"Expected `{name}` to be a float in [0, 1], but got {value!r}") from err
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"Expected `{name}` to be a float in [0, 1], but got {value!r}")
    return v


def check_n_bins(n_bins: Any) -> int:
    """A positive integer number of bins."""
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"Expected `n_bins` to be an integer larger than 0, but got {n_bins!r}")
    return int(n_bins)
