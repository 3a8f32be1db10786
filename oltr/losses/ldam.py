r"""LDAM loss with optional deferred re-weighting (DRW) (Cao et al. 2019).

Label-distribution-aware margins :math:`\Delta_j = C / n_j^{1/4}`, with :math:`C` such that
:math:`\max_j \Delta_j` = ``max_margin``, are subtracted from the target logit before a scaled softmax:

.. math:: \ell(z, c) = CE\big(s\,(z - \Delta_c e_c),\ c\big)
          = -s(z_c - \Delta_c) + \operatorname{lse}(s z) + \log\!\big(1 + q_c (e^{-s\Delta_c} - 1)\big),
          \quad q = \operatorname{softmax}(s z).

The second form evaluates every class as the target at once, which gives soft targets their expected loss
:math:`\sum_c y_c\,\ell(z, c)`. With ``drw_epoch`` set, from that 0-based epoch on each sample is weighted by
the class-balanced weight of its class (effective number, ``beta``; normalised to sum K). The batch mean stays
sum / B (the reference's weighted ``cross_entropy`` divides by the summed weights instead).
Cao et al. pair LDAM with a normalised (cosine) classifier, which is the model's business, not the loss's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from oltr.losses._reduce import check_inputs, compute_dtype, reduce_loss
from oltr.losses._registry import LOSSES, REDUCTIONS, check_choice, check_range, class_counts_tensor
from oltr.losses.balanced import effective_number_weights


@LOSSES.register("ldam", needs_class_counts=True, has_schedule=False)
class LDAMLoss(nn.Module):
    """LDAM (+ DRW) loss.

    Args:
        class_counts: training samples per class (K,).
        max_margin: largest margin, that of the rarest class (default 0.5).
        scale: logit scale :math:`s` (default 30).
        drw_epoch: 0-based epoch from which class-balanced weights apply; ``None`` disables DRW.
        beta: effective-number :math:`\\beta \\in [0, 1)` of the DRW weights (default 0.9999).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.
    """

    def __init__(
        self,
        *,
        class_counts: Any = None,
        max_margin: float = 0.5,
        scale: float = 30.0,
        drw_epoch: int | None = None,
        beta: float = 0.9999,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        counts = class_counts_tensor(class_counts)
        self.max_margin = check_range("max_margin", max_margin, 0.0, None, low_open=True)
        self.scale = check_range("scale", scale, 0.0, None, low_open=True)
        if drw_epoch is not None:
            check_range("drw_epoch", drw_epoch, 0, None)
            if int(drw_epoch) != drw_epoch:
                raise ValueError(f"`drw_epoch` must be an integer >= 0 or None, got {drw_epoch!r}")
            drw_epoch = int(drw_epoch)
        self.drw_epoch, self.beta, self.reduction = drw_epoch, beta, reduction
        margins = counts.pow(-0.25)
        self.register_buffer("margins", margins * (self.max_margin / margins.max()))
        self.register_buffer("drw_weight", effective_number_weights(counts, beta))
        self.epoch: float = 0

    def set_epoch(self, epoch: float) -> None:
        """Record the 0-based epoch; DRW weights apply once ``epoch >= drw_epoch``."""
        self.epoch = check_range("epoch", epoch, 0.0, None)

    @property
    def reweighting(self) -> bool:
        """Whether the DRW class weights are active at the current epoch."""
        return self.drw_epoch is not None and self.epoch >= self.drw_epoch

    def get_extra_state(self) -> dict[str, float]:
        return {"epoch": self.epoch}

    def set_extra_state(self, state: dict[str, float]) -> None:
        self.set_epoch(state["epoch"])

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss for logits (B, K) and targets (B,) indices or (B, K) probabilities."""
        dense = check_inputs(logits, targets)
        if logits.shape[1] != self.margins.numel():
            raise ValueError(f"logits have {logits.shape[1]} classes but class_counts has {self.margins.numel()}")
        z = compute_dtype(logits)
        margins = self.margins.to(z.dtype)
        if dense:
            y = targets.to(z.dtype)
            sz = self.scale * z
            log_q = sz.log_softmax(1)
            s_margins = self.scale * margins
            per_class = s_margins - log_q + torch.log1p(log_q.exp() * torch.expm1(-s_margins))
            if self.reweighting:
                y = y * self.drw_weight.to(z.dtype)
            per_sample = (y * per_class).sum(1)
        else:
            index = targets.unsqueeze(1)
            shifted = z.scatter_add(1, index, -margins[index])  # z_c - Delta_c, other logits unchanged
            per_sample = F.cross_entropy(self.scale * shifted, targets, reduction="none")
            if self.reweighting:
                per_sample = per_sample * self.drw_weight.to(z.dtype)[targets]
        return reduce_loss(per_sample, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"max_margin={self.max_margin:g}, scale={self.scale:g}, drw_epoch={self.drw_epoch}, "
            f"beta={self.beta:g}, reduction={self.reduction!r}"
        )
