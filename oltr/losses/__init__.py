"""Loss registry: ``build_loss(name, **params)``, ``available()``, ``loss_info(name)``.

Every loss is an ``nn.Module`` with ``forward(logits (B, K), targets (B,) int64 | (B, K) probabilities)``,
``reduction`` in ``mean | sum | none`` and ``set_epoch(epoch)`` (0-based; a no-op without a schedule).
Registry metadata: ``needs_class_counts`` (pass ``class_counts=`` (K,)) and ``has_schedule`` (pass ``epochs=``).

Adding a loss is one decorated class in a family module plus its import line below.

Example:
    >>> loss = build_loss("cfl", gamma=2, gamma_hc=3, epochs=30)
    >>> loss.set_epoch(0)
    >>> loss_info("ldam").meta["needs_class_counts"]
    True
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from oltr.losses._registry import LOSSES
from oltr.registry import Entry

# One line per family: importing a module registers its losses.
from oltr.losses import cross_entropy as cross_entropy  # noqa: E402  (ce, label_smoothing)
from oltr.losses import focal as focal  # noqa: E402  (focal)
from oltr.losses import asymmetric as asymmetric  # noqa: E402  (asl)
from oltr.losses import cyclical as cyclical  # noqa: E402  (cfl, casl)
from oltr.losses import balanced as balanced  # noqa: E402  (balanced_softmax, logit_adjusted, class_balanced)
from oltr.losses import ldam as ldam  # noqa: E402  (ldam)
from oltr.losses.schedule import cyclical_xi as cyclical_xi  # noqa: E402

__all__ = ["LOSSES", "available", "build_loss", "cyclical_xi", "loss_info", "loss_params"]


def available(pattern: str = "*") -> list[str]:
    """Sorted names of the registered losses (optionally filtered by an fnmatch ``pattern``)."""
    return LOSSES.names(pattern)


def loss_info(name: str) -> Entry:
    """Registry entry of ``name`` (``builder``, ``meta['needs_class_counts']``, ``meta['has_schedule']``)."""
    return LOSSES.get(name)


def loss_params(name: str) -> list[str]:
    """Keyword parameters accepted by loss ``name``."""
    signature = inspect.signature(LOSSES.get(name).builder)
    return [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def build_loss(name: str, /, **params: Any) -> nn.Module:
    """Build the loss registered as ``name``; parameters set to ``None`` keep the loss's defaults.

    Raises:
        ValueError: unknown loss (the message lists the registered ones), unknown parameter (lists the valid
            ones) or a hyper-parameter out of range (names it and the allowed range).
    """
    valid = loss_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for loss {name!r}; valid: {', '.join(valid)}")
    return LOSSES.build(name, **params)
