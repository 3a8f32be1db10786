r"""Softmax cross-entropy, optionally label-smoothed (Szegedy et al. 2016).

.. math:: \ell = -\sum_j y'_j \log p_j, \qquad y' = (1-\varepsilon)\,y + \varepsilon/K

Thin wrapper over :func:`torch.nn.functional.cross_entropy` (the speed baseline of the benchmark); targets
are class indices (B,) or probabilities (B, K).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from oltr.losses._reduce import check_inputs, compute_dtype
from oltr.losses._registry import LOSSES, REDUCTIONS, check_choice, check_range


@LOSSES.register("ce", needs_class_counts=False, has_schedule=False)
class CrossEntropyLoss(nn.Module):
    """Cross-entropy with optional label smoothing.

    Args:
        label_smoothing: :math:`\\varepsilon \\in [0, 1]` (default 0).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.
    """

    def __init__(self, *, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        self.label_smoothing = check_range("label_smoothing", label_smoothing, 0.0, 1.0)
        self.reduction = reduction

    def set_epoch(self, epoch: float) -> None:
        """No schedule."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss for logits (B, K) and targets (B,) indices or (B, K) probabilities."""
        dense = check_inputs(logits, targets)
        z = compute_dtype(logits)
        if dense:
            targets = targets.to(z.dtype)
        # torch's 'mean' without class weights is sum / B, the project-wide rule.
        return F.cross_entropy(z, targets, label_smoothing=self.label_smoothing, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing:g}, reduction={self.reduction!r}"


@LOSSES.register("label_smoothing", needs_class_counts=False, has_schedule=False)
class LabelSmoothingLoss(CrossEntropyLoss):
    """Label-smoothed cross-entropy, ``label_smoothing`` 0.1 by default."""

    def __init__(self, *, label_smoothing: float = 0.1, reduction: str = "mean") -> None:
        super().__init__(label_smoothing=label_smoothing, reduction=reduction)
