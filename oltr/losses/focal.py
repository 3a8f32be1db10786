r"""Softmax focal loss (Lin et al. 2017; Eq. 1/5 of the cyclical focal loss paper) and the shared module base.

``paper`` flavour (default), for target class :math:`t` and softmax probabilities :math:`p`:

.. math:: FL = -(1 - p_t)^{\gamma} \log p_t

``reference`` flavour: the authors' ``ASL_FocalLoss`` (CFL repository), i.e. single-label ASL with
:math:`\gamma_+ = \gamma_- = \gamma` and 0.1 label smoothing by default, where :math:`\gamma` also weights the
smoothing mass on non-target classes (:math:`s_j = \varepsilon/K`):

.. math:: \ell = -(1-\varepsilon+\tfrac{\varepsilon}{K})(1-p_t)^{\gamma}\log p_t
                 - \tfrac{\varepsilon}{K}\textstyle\sum_{j\ne t} p_j^{\gamma}\log p_j

Soft targets :math:`y` (B, K) give the expected loss over the label distribution, :math:`\sum_c y_c\,\ell(z, c)`;
label smoothing (paper flavour) first replaces :math:`y` by :math:`(1-\varepsilon)y + \varepsilon/K`.
"""

from __future__ import annotations

import torch
from torch import nn

from oltr.losses._focal_core import FocalSpec, focal_family
from oltr.losses._reduce import check_inputs, compute_dtype, reduce_loss
from oltr.losses._registry import FLAVOURS, LOSSES, REDUCTIONS, check_choice, check_gamma, check_range

LABEL_SMOOTHING_DEFAULT = {"paper": 0.0, "reference": 0.1}


def focal_spec(
    num_classes: int,
    *,
    gamma_pos: float,
    gamma_neg: float = 0.0,
    gamma_hc: float = 0.0,
    xi: float = 0.0,
    asymmetric: bool = False,
    flavour: str = "paper",
    label_smoothing: float = 0.0,
) -> FocalSpec:
    """Target/negative weights of the focal family for one flavour (see :mod:`oltr.losses._focal_core`)."""
    eps, k = label_smoothing, num_classes
    if flavour == "reference":
        # The code's smoothed one-hot s_j multiplies per-entry weights chosen by the hard label.
        return FocalSpec(gamma_pos, gamma_neg, gamma_hc, xi, "reference", 0.0, 1.0 - eps + eps / k, eps / k, -eps / k)
    if asymmetric:
        # Eq. 6-7 on softmax: every non-target class j contributes L_-(p_j) with weight 1 - y'_j.
        return FocalSpec(gamma_pos, gamma_neg, gamma_hc, xi, "paper", eps / k, 1.0 - eps, 1.0 - eps / k, -(1.0 - eps))
    return FocalSpec(gamma_pos, 0.0, gamma_hc, xi, "none", eps / k, 1.0 - eps, 0.0, 0.0)


class FocalFamilyLoss(nn.Module):
    """Base of FL / ASL / CFL / CASL: validated hyper-parameters, flavour, smoothing and reduction.

    Subclasses set the public parameter names; the cyclical ones override :meth:`xi`.
    """

    asymmetric = False

    def __init__(
        self,
        *,
        gamma_pos: float,
        gamma_neg: float,
        gamma_hc: float = 0.0,
        flavour: str = "paper",
        label_smoothing: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_choice("flavour", flavour, FLAVOURS)
        check_choice("reduction", reduction, REDUCTIONS)
        self.gamma_pos = check_gamma("gamma_pos", gamma_pos)
        self.gamma_neg = check_gamma("gamma_neg", gamma_neg)
        self.gamma_hc = check_gamma("gamma_hc", gamma_hc)
        if label_smoothing is None:
            label_smoothing = LABEL_SMOOTHING_DEFAULT[flavour]
        self.label_smoothing = check_range("label_smoothing", label_smoothing, 0.0, 1.0)
        self.flavour = flavour
        self.reduction = reduction

    def xi(self) -> float:
        """Weight of the high-confidence term; 0 for the non-cyclical losses."""
        return 0.0

    def set_epoch(self, epoch: float) -> None:
        """No schedule: nothing to do (kept so that the engine treats every loss alike)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss for logits (B, K) and targets (B,) class indices or (B, K) probabilities."""
        dense = check_inputs(logits, targets)
        z = compute_dtype(logits)
        spec = focal_spec(
            z.shape[1],
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            gamma_hc=self.gamma_hc,
            xi=self.xi(),
            asymmetric=self.asymmetric,
            flavour=self.flavour,
            label_smoothing=self.label_smoothing,
        )
        return reduce_loss(focal_family(z, targets, dense, spec), self.reduction)

    def extra_repr(self) -> str:
        return f"flavour={self.flavour!r}, label_smoothing={self.label_smoothing:g}, reduction={self.reduction!r}"


@LOSSES.register("focal", needs_class_counts=False, has_schedule=False)
class FocalLoss(FocalFamilyLoss):
    """Softmax focal loss :math:`-(1-p_t)^\\gamma \\log p_t`; ``gamma=0`` is cross-entropy.

    Args:
        gamma: focusing exponent :math:`\\gamma \\ge 0`.
        flavour: ``'paper'`` (Eq. 5) or ``'reference'`` (the authors' ``ASL_FocalLoss``, see module docstring).
        label_smoothing: smoothing :math:`\\varepsilon \\in [0, 1]`; default 0 (paper) or 0.1 (reference).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.

    Example:
        >>> import torch
        >>> z, t = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
        >>> round(FocalLoss(gamma=0.0)(z, t).item(), 4) == round(torch.nn.functional.cross_entropy(z, t).item(), 4)
        True
    """

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        flavour: str = "paper",
        label_smoothing: float | None = None,
        reduction: str = "mean",
    ) -> None:
        gamma = check_gamma("gamma", gamma)
        super().__init__(
            gamma_pos=gamma, gamma_neg=gamma, flavour=flavour, label_smoothing=label_smoothing, reduction=reduction
        )
        self.gamma = gamma
