r"""Cyclical focal loss (CFL, Eq. 9) and cyclical asymmetric loss (CASL, Eq. 10) of Smith (2022).

.. math::
   CFL  = \xi\,L_{hc} + (1-\xi)\,L_{lc}, \qquad
   CASL = \xi\,L_{hc} + (1-\xi)(L_+ + L_-), \qquad L_{hc} = -(1+p_t)^{\gamma_{hc}}\log p_t

with :math:`L_{lc}` the focal loss (Eq. 1, exponent ``gamma``), :math:`L_\pm` the asymmetric terms (Eq. 7) and
:math:`\xi` the cyclical schedule of :mod:`oltr.losses.schedule`, advanced by :meth:`set_epoch`.

``reference`` flavour: the authors' ``Cyclical_FocalLoss`` (CFL repository, TIMM copy). It mixes per class
entry, so with label smoothing :math:`\varepsilon` (default 0.1, :math:`s_j = \varepsilon/K` off target)

.. math::
   \ell = -(1-\varepsilon+\tfrac{\varepsilon}{K})\big[(1-\xi)(1-p_t)^{\gamma_+} + \xi(1+p_t)^{\gamma_{hc}}\big]\log p_t
          - \tfrac{\varepsilon}{K}\textstyle\sum_{j\ne t}\big[(1-\xi)p_j^{\gamma_-} + \xi\big]\log p_j,

i.e. :math:`\xi` also switches the label smoothing of non-target classes on and off. ``cfl`` is this with
:math:`\gamma_+ = \gamma_- =` ``gamma``; its default schedule is the code's (``schedule='reference'``).

Defaults: ``cfl`` gamma 2, gamma_hc 3, factor 4 (the repository's README command; the paper uses
:math:`f_c = 4` and :math:`\gamma_{hc} \in \{2, 3\}`); ``casl`` gamma_pos 0, gamma_neg 4, gamma_hc 2, factor 2
(the OLTR scripts' defaults).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from oltr.losses._registry import LOSSES, check_choice, check_gamma
from oltr.losses.focal import FocalFamilyLoss
from oltr.losses.schedule import SCHEDULES, check_schedule_args, cyclical_xi

#: Above this gamma_hc, -(1+p)^g log p increases with p somewhere in (0, 1): min_p (1+p)/(-p log p) = 3.5911
#: (at p = 0.278); the issue's rounded 3.59 is used so that the warning never comes late.
GAMMA_HC_MONOTONE_LIMIT = 3.59


class _CyclicalLoss(FocalFamilyLoss):
    """Schedule state shared by CFL and CASL: ``epochs``, ``factor``, ``schedule``, ``per_iteration``."""

    def __init__(
        self,
        *,
        epochs: int | None,
        factor: float,
        schedule: str | None,
        per_iteration: bool,
        flavour: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(flavour=flavour, **kwargs)
        if epochs is None:
            raise ValueError(
                f"`epochs` is required by {type(self).__name__}: the number of epochs the schedule spans (>= 1)"
            )
        self.epochs, self.factor = check_schedule_args(epochs, factor)
        self.schedule = flavour if schedule is None else schedule
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.gamma_hc > GAMMA_HC_MONOTONE_LIMIT:
            warnings.warn(
                f"gamma_hc={self.gamma_hc:g} > {GAMMA_HC_MONOTONE_LIMIT}: the high-confidence term "
                "-(1+p_t)^gamma_hc log p_t is no longer monotone in p_t (it pushes p_t down on part of (0, 1))",
                UserWarning,
                stacklevel=3,
            )
        self.per_iteration = bool(per_iteration)
        self.set_epoch(0)

    def set_epoch(self, epoch: float) -> None:
        """Move the schedule to a 0-based ``epoch`` in ``[0, epochs)`` (any ``epoch >= 0`` for ``oltr_fork``).

        Fractional values (``epoch + iteration / iterations_per_epoch``) are followed when the loss was built
        with ``per_iteration=True`` and floored otherwise, so the engine may always pass them.
        """
        xi = cyclical_xi(epoch, self.epochs, self.factor, self.schedule)  # validates before flooring
        if not self.per_iteration and epoch != math.floor(epoch):
            epoch = math.floor(epoch)
            xi = cyclical_xi(epoch, self.epochs, self.factor, self.schedule)
        self.epoch, self._xi = epoch, xi

    def xi(self) -> float:
        """Current weight of the high-confidence term."""
        return self._xi

    def get_extra_state(self) -> dict[str, float]:
        return {"epoch": self.epoch}

    def set_extra_state(self, state: dict[str, float]) -> None:
        self.set_epoch(state["epoch"])

    def extra_repr(self) -> str:
        return (
            f"epochs={self.epochs}, factor={self.factor:g}, schedule={self.schedule!r}, epoch={self.epoch}, "
            f"xi={self._xi:.4f}, " + super().extra_repr()
        )


@LOSSES.register("cfl", needs_class_counts=False, has_schedule=True)
class CyclicalFocalLoss(_CyclicalLoss):
    """Cyclical focal loss :math:`\\xi L_{hc} + (1-\\xi) L_{lc}` (Eq. 9).

    Args:
        gamma: low-confidence (focal) exponent :math:`\\gamma_{lc} \\ge 0`; in the reference flavour both
            :math:`\\gamma_+` and :math:`\\gamma_-`.
        gamma_hc: high-confidence exponent :math:`\\gamma_{hc} \\ge 0` (warns above 3.59).
        factor: cyclical factor :math:`f_c \\ge 1`.
        epochs: epochs spanned by the schedule (required; the engine passes the stage's).
        schedule: ``'paper'`` | ``'reference'`` | ``'oltr_fork'`` (see :mod:`oltr.losses.schedule`); defaults to the
            flavour's.
        per_iteration: follow fractional epochs given to :meth:`set_epoch` instead of flooring them.
        flavour: ``'paper'`` (Eq. 9) or ``'reference'`` (the authors' code, see module docstring).
        label_smoothing: :math:`\\varepsilon \\in [0, 1]`; default 0 (paper) or 0.1 (reference).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.

    Example:
        >>> import torch
        >>> loss = CyclicalFocalLoss(epochs=10, factor=2)
        >>> loss.set_epoch(5)  # xi = 0: pure focal loss in the paper schedule
        >>> z, t = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
        >>> torch.allclose(loss(z, t), FocalFamilyLoss(gamma_pos=2.0, gamma_neg=0.0)(z, t))
        True
    """

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        gamma_hc: float = 3.0,
        factor: float = 4.0,
        epochs: int | None = None,
        schedule: str | None = None,
        per_iteration: bool = False,
        flavour: str = "paper",
        label_smoothing: float | None = None,
        reduction: str = "mean",
    ) -> None:
        gamma = check_gamma("gamma", gamma)
        super().__init__(
            gamma_pos=gamma,
            gamma_neg=gamma,
            gamma_hc=gamma_hc,
            epochs=epochs,
            factor=factor,
            schedule=schedule,
            per_iteration=per_iteration,
            flavour=flavour,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
        self.gamma = gamma


@LOSSES.register("casl", needs_class_counts=False, has_schedule=True)
class CyclicalAsymmetricLoss(_CyclicalLoss):
    """Cyclical asymmetric loss :math:`\\xi L_{hc} + (1-\\xi)(L_+ + L_-)` (Eq. 10).

    Args:
        gamma_pos: :math:`\\gamma_+ \\ge 0` of the target term (default 0).
        gamma_neg: :math:`\\gamma_- \\ge 0` of the non-target terms (default 4).
        gamma_hc: high-confidence exponent (default 2; warns above 3.59).
        factor, epochs, schedule, per_iteration, flavour, label_smoothing, reduction: as
            :class:`CyclicalFocalLoss` (default factor 2).
    """

    asymmetric = True

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        gamma_hc: float = 2.0,
        factor: float = 2.0,
        epochs: int | None = None,
        schedule: str | None = None,
        per_iteration: bool = False,
        flavour: str = "paper",
        label_smoothing: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            gamma_pos=gamma_pos,
            gamma_neg=gamma_neg,
            gamma_hc=gamma_hc,
            epochs=epochs,
            factor=factor,
            schedule=schedule,
            per_iteration=per_iteration,
            flavour=flavour,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
