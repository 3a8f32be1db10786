"""The loss section as it is actually built: explicit parameters plus the loss's own defaults.

``loss: {name: focal}`` and ``loss: {name: focal, gamma: 2.0}`` build the same loss, so they must hash
the same, hand off to each other in stage 2 and share a leaderboard row; and ``config.yaml`` must say
which ``gamma`` was used. Parameters the engine fills in per run (``epochs`` = the stage's epochs,
``class_counts`` = the training counts) and defaults of ``None`` are left out.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from oltr.losses import LOSSES

ENGINE_FILLED = ("epochs", "class_counts")
_PLAIN = (bool, int, float, str)
# YAML 1.1 reads 1e-3 / 5e-4 / 1e6 (no dot, or no sign in the exponent) as strings
SCI_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def as_float_if_scientific(value: Any) -> Any:
    """``"1e-3"`` -> ``0.001``; anything else unchanged."""
    if isinstance(value, str) and SCI_FLOAT.fullmatch(value.strip()):
        return float(value)
    return value


def loss_defaults(name: str) -> dict[str, Any]:
    """Default keyword parameters of loss ``name`` ({} for an unknown name)."""
    try:
        builder = LOSSES.get(name).builder
    except ValueError:
        return {}
    out = {}
    for p in inspect.signature(builder).parameters.values():
        if (p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ENGINE_FILLED
                and isinstance(p.default, _PLAIN)):
            out[p.name] = p.default
    return out


def resolved_loss_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` completed with the defaults of loss ``name`` (explicit values win; ``None`` means default)."""
    defaults = loss_defaults(name)
    given = {k: as_float_if_scientific(v) for k, v in params.items() if v is not None}
    for k, v in given.items():  # gamma: 2 and gamma: 2.0 are one loss (and must hash as one)
        if isinstance(defaults.get(k), float) and isinstance(v, int) and not isinstance(v, bool):
            given[k] = float(v)
    return {**defaults, **given}
