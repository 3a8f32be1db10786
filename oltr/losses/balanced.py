r"""Long-tail baselines that re-balance cross-entropy with the training class counts :math:`n_j`.

* ``balanced_softmax`` (Ren et al. 2020): :math:`CE(z + \log n, y)` during training.
* ``logit_adjusted`` (Menon et al. 2021): :math:`CE(z + \tau \log \pi, y)`, :math:`\pi_j = n_j/N`; ``tau=1``
  equals Balanced Softmax (the :math:`\log N` offset cancels in the softmax).
* ``class_balanced`` (Cui et al. 2019): per-class weight :math:`w_j = (1-\beta)/(1-\beta^{n_j})` ("effective
  number"), normalised to :math:`\sum_j w_j = K`, around softmax CE or focal loss:
  :math:`\ell = \sum_c y_c\,w_c\,\ell_{base}(z, c)`.

Counts may be a numpy array, list or tensor; derived tensors are buffers (they follow ``.to(device)``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from oltr.losses._reduce import check_inputs, compute_dtype, reduce_loss
from oltr.losses._registry import LOSSES, REDUCTIONS, check_choice, check_range, class_counts_tensor
from oltr.losses.focal import FocalLoss


def effective_number_weights(class_counts: Any, beta: float) -> torch.Tensor:
    """Class-balanced weights :math:`(1-\\beta)/(1-\\beta^{n_j})`, normalised to sum to K (float64, (K,))."""
    beta = check_range("beta", beta, 0.0, 1.0, high_open=True)
    counts = class_counts_tensor(class_counts)
    weights = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts))
    return weights * (counts.numel() / weights.sum())


def _check_classes(logits: torch.Tensor, num_classes: int) -> None:
    if logits.shape[-1] != num_classes:
        raise ValueError(f"logits have {logits.shape[-1]} classes but class_counts has {num_classes}")


class _LogitOffsetLoss(nn.Module):
    """Cross-entropy on ``logits + offset`` with a per-class offset buffer."""

    def __init__(self, offset: torch.Tensor, reduction: str) -> None:
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction
        self.register_buffer("offset", offset)

    def set_epoch(self, epoch: float) -> None:
        """No schedule."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss for logits (B, K) and targets (B,) indices or (B, K) probabilities."""
        dense = check_inputs(logits, targets)
        _check_classes(logits, self.offset.numel())
        z = compute_dtype(logits)
        if dense:
            targets = targets.to(z.dtype)
        return F.cross_entropy(z + self.offset.to(z.dtype), targets, reduction=self.reduction)


@LOSSES.register("balanced_softmax", needs_class_counts=True, has_schedule=False)
class BalancedSoftmaxLoss(_LogitOffsetLoss):
    """Balanced Softmax (Ren et al. 2020): cross-entropy on ``logits + log(class_counts)``."""

    def __init__(self, *, class_counts: Any = None, reduction: str = "mean") -> None:
        super().__init__(class_counts_tensor(class_counts).log(), reduction)


@LOSSES.register("logit_adjusted", needs_class_counts=True, has_schedule=False)
class LogitAdjustedLoss(_LogitOffsetLoss):
    """Logit-adjusted loss (Menon et al. 2021): cross-entropy on ``logits + tau * log(prior)``.

    Args:
        class_counts: training samples per class (K,).
        tau: adjustment strength :math:`\\tau \\ge 0` (default 1).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.
    """

    def __init__(self, *, class_counts: Any = None, tau: float = 1.0, reduction: str = "mean") -> None:
        tau = check_range("tau", tau, 0.0, None)
        counts = class_counts_tensor(class_counts)
        super().__init__(tau * (counts / counts.sum()).log(), reduction)
        self.tau = tau


@LOSSES.register("class_balanced", needs_class_counts=True, has_schedule=False)
class ClassBalancedLoss(nn.Module):
    """Class-balanced re-weighting by the effective number of samples (Cui et al. 2019).

    Args:
        class_counts: training samples per class (K,).
        beta: :math:`\\beta \\in [0, 1)` (default 0.9999; 0 gives uniform weights).
        base: ``'ce'`` or ``'focal'`` (softmax focal loss, paper form).
        gamma: focal exponent, only with ``base='focal'`` (default 2).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'`` (mean = weighted sum / B).
    """

    def __init__(
        self,
        *,
        class_counts: Any = None,
        beta: float = 0.9999,
        base: str = "ce",
        gamma: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_choice("base", base, ("ce", "focal"))
        check_choice("reduction", reduction, REDUCTIONS)
        if base == "ce" and gamma is not None:
            raise ValueError("`gamma` only applies to base='focal'")
        self.base, self.beta, self.reduction = base, beta, reduction
        self.register_buffer("weight", effective_number_weights(class_counts, beta))
        self.focal = FocalLoss(gamma=2.0 if gamma is None else gamma, reduction="none") if base == "focal" else None

    def set_epoch(self, epoch: float) -> None:
        """No schedule."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss for logits (B, K) and targets (B,) indices or (B, K) probabilities."""
        dense = check_inputs(logits, targets)
        _check_classes(logits, self.weight.numel())
        z = compute_dtype(logits)
        weight = self.weight.to(z.dtype)
        if dense:
            # Both bases are linear in the target distribution, so weighting y_c by w_c is exact.
            weighted = targets.to(z.dtype) * weight
            per_sample = self.focal(z, weighted) if self.focal is not None else -(weighted * z.log_softmax(1)).sum(1)
        else:
            base = self.focal(z, targets) if self.focal is not None else F.cross_entropy(z, targets, reduction="none")
            per_sample = base * weight[targets]
        return reduce_loss(per_sample, self.reduction)

    def extra_repr(self) -> str:
        return f"base={self.base!r}, beta={self.beta:g}, reduction={self.reduction!r}"
