"""Conversion of metric dicts to strict JSON (used by the engine to write ``eval_<split>.json``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy/torch arrays and scalars turned into lists and Python numbers.

    NaN and infinities become ``None`` so that the output is strict JSON (``json.dumps(...,
    allow_nan=False)`` succeeds); :func:`oltr.reporting.collect_runs` reads ``None`` back as NaN.
    Dicts, lists and tuples are converted recursively; other objects are returned unchanged.

    Example:
        >>> import numpy as np
        >>> to_jsonable({"acc": np.float32(0.5), "per_class": np.array([1.0, np.nan]), "n": np.int64(3)})
        {'acc': 0.5, 'per_class': [1.0, None], 'n': 3}
    """
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch.Tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj
