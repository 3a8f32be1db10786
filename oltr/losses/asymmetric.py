r"""Single-label asymmetric loss (Ridnik et al. 2021; Eq. 6-7 of the cyclical focal loss paper).

``paper`` flavour (default): Eq. 7 applied to softmax probabilities, the target as the positive and every
other class as a negative,

.. math:: \ell = -(1-p_t)^{\gamma_+}\log p_t - \sum_{j \ne t} p_j^{\gamma_-}\log(1-p_j).

``reference`` flavour: the authors' ``ASLSingleLabel`` (ASL repository; identical to timm's
``AsymmetricLossSingleLabel`` apart from defaults). There :math:`\gamma_-` only weights the label-smoothing
mass :math:`\varepsilon/K` of non-target classes, so with ``label_smoothing=0`` it has no effect:

.. math:: \ell = -(1-\varepsilon+\tfrac{\varepsilon}{K})(1-p_t)^{\gamma_+}\log p_t
                 - \tfrac{\varepsilon}{K}\textstyle\sum_{j\ne t} p_j^{\gamma_-}\log p_j

Unlike the reference, ``reduction='sum'`` really sums, and soft targets are accepted (expected loss).
"""

from __future__ import annotations

import torch

from oltr.losses._registry import LOSSES
from oltr.losses.focal import FocalFamilyLoss


@LOSSES.register("asl", needs_class_counts=False, has_schedule=False)
class AsymmetricLoss(FocalFamilyLoss):
    """Single-label asymmetric loss with ``gamma_pos`` (target) and ``gamma_neg`` (other classes).

    Args:
        gamma_pos: exponent :math:`\\gamma_+ \\ge 0` of the target term (default 0, as recommended by ASL).
        gamma_neg: exponent :math:`\\gamma_- \\ge 0` of the non-target terms (default 4).
        flavour: ``'paper'`` or ``'reference'`` (see module docstring).
        label_smoothing: :math:`\\varepsilon \\in [0, 1]`; default 0 (paper) or 0.1 (reference).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.
    """

    asymmetric = True

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        flavour: str = "paper",
        label_smoothing: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            gamma_pos=gamma_pos,
            gamma_neg=gamma_neg,
            flavour=flavour,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
