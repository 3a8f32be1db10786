r"""The cyclical mixing weight :math:`\xi` of the cyclical focal losses (Smith, "Cyclical Focal Loss").

:math:`\xi = 1` selects the high-confidence term :math:`L_{hc}` only, :math:`\xi = 0` the focal /
asymmetric term only. Epochs are 0-based everywhere in oltr: ``epoch`` runs over ``[0, epochs)``.

Two forms exist because the paper and the authors' code disagree:

* ``'paper'`` -- Eq. 8 of the paper with :math:`e_n` = ``epochs`` and :math:`f_c` = ``factor``:

  .. math::
     \xi(e) = \begin{cases} 1 - f_c\,e/e_n & \text{if } f_c\,e \le e_n \\
                            (f_c\,e/e_n - 1) / (f_c - 1) & \text{otherwise.} \end{cases}

  With 0-based epochs it starts at 1, reaches 0 at :math:`e = e_n/f_c` and ends below 1 (0.8 for
  ``epochs=10, factor=2``). The paper does not say whether :math:`e_i` is 0- or 1-based; oltr uses 0-based.

* ``'reference'`` -- what the authors' training code computes (CFL repository, TIMM copy): the same two
  branches with :math:`E-1` denominators but the branch test ``factor * epoch < epochs``:

  .. math::
     \xi(e) = \begin{cases} 1 - f_c\,e/(E-1) & \text{if } f_c\,e < E \\
                            0 & \text{elif } f_c = 1 \\
                            (f_c\,e/(E-1) - 1) / (f_c - 1) & \text{otherwise,} \end{cases}

  so that with 0-based epochs :math:`\xi(0) = \xi(E-1) = 1` ("easy at both ends"). Its quirks are kept on
  purpose: the minimum is 0 only when :math:`f_c` divides :math:`E-1`, and a non-integer factor can give a
  slightly negative :math:`\xi` (``epochs=30, factor=1.4, epoch=21``: -0.0138).

A third form reproduces the CFL paper's OLTR fork as it ran (``run_networks.py`` + ``OLTR/loss/asl_focal_loss.py``):

* ``'oltr_fork'`` -- the reference formula without the ``factor == 1`` branch, evaluated at the fork's
  1-based epoch :math:`e + 1` for oltr's 0-based epoch :math:`e`, with :math:`E` = ``epochs`` given to the
  loss independently of the stage's length and no clamping:

  .. math::
     \xi(e) = \begin{cases} 1 - f_c\,(e+1)/(E-1) & \text{if } f_c\,(e+1) < E \\
                            (f_c\,(e+1)/(E-1) - 1) / (f_c - 1) & \text{otherwise.} \end{cases}

  It never starts at 1 (0.862 for ``E=30, f_c=4``), exceeds 1 from the loss's last epoch on (1.046 at
  ``e = 29``; 2.43 at ``e = 59`` of the fork's 60-epoch ImageNet-LT stage 2, where :math:`1-\xi < 0`
  subtracts the focal part), and is undefined where the fork divides by zero: ``factor == 1`` from
  :math:`e + 1 = E` on (the fork's ``ZeroDivisionError``) and ``epochs == 1``. Those raise ``ValueError``.

Fractional epochs (per-iteration updates) are accepted by every form. The reference form is defined on
``[0, E-1]``; values inside the last epoch, ``(E-1, E)``, are held at :math:`\xi(E-1)` instead of being
extrapolated above 1 (the code never sees them: it passes integer epochs).
"""

from __future__ import annotations

from oltr.losses._registry import check_choice, check_range

SCHEDULES = ("paper", "reference", "oltr_fork")


def check_schedule_args(epochs: int, factor: float) -> tuple[int, float]:
    """Validate ``epochs >= 1`` (an integer) and ``factor >= 1``; return them normalised."""
    if isinstance(epochs, bool) or int(epochs) != epochs:
        raise ValueError(f"`epochs` must be an integer >= 1 (total training epochs), got {epochs!r}")
    check_range("epochs", epochs, 1, None)
    factor = check_range("factor", factor, 1.0, None)
    return int(epochs), factor


def cyclical_xi(epoch: float, epochs: int, factor: float, form: str = "paper") -> float:
    r"""Cyclical weight :math:`\xi` of the high-confidence term at a 0-based (possibly fractional) epoch.

    Args:
        epoch: current epoch, 0-based, in ``[0, epochs)`` (any ``epoch >= 0`` for ``'oltr_fork'``); fractional values
            for per-iteration updates.
        epochs: total number of training epochs (:math:`e_n` / :math:`E`), >= 1.
        factor: cyclical factor :math:`f_c \ge 1` (1: one linear decay; 2: symmetric triangle; 4: fast drop).
        form: ``'paper'`` (Eq. 8), ``'reference'`` (the authors' TIMM code) or ``'oltr_fork'`` (the CFL OLTR fork
            as it ran); see the module docstring.

    Returns:
        :math:`\xi` as a Python float.

    Raises:
        ValueError: ``factor < 1``, ``epochs < 1``, an unknown ``form``, ``epoch`` outside ``[0, epochs)`` (``< 0``
            for ``'oltr_fork'``), or an ``'oltr_fork'`` epoch where the fork divides by zero.

    Example:
        >>> [round(cyclical_xi(e, 10, 2, "reference"), 4) for e in (0, 4, 5, 9)]
        [1.0, 0.1111, 0.1111, 1.0]
        >>> [round(cyclical_xi(e, 10, 2, "paper"), 4) for e in (0, 5, 9)]
        [1.0, 0.0, 0.8]
    """
    check_choice("schedule", form, SCHEDULES)
    epochs, factor = check_schedule_args(epochs, factor)
    if form == "oltr_fork":
        return _oltr_fork_xi(check_range("epoch", epoch, 0.0, None), epochs, factor)
    epoch = check_range("epoch", epoch, 0.0, float(epochs), high_open=True)
    if form == "paper":
        if factor * epoch <= epochs:
            return 1.0 - factor * epoch / epochs
        return (factor * epoch / epochs - 1.0) / (factor - 1.0)
    if epochs == 1:
        return 1.0  # a single epoch is both the first and the last one
    # The expressions mirror the reference code's operation order so that values match it to the last bit.
    epoch = min(epoch, epochs - 1.0)
    if factor * epoch < epochs:
        return 1 - factor * epoch / (epochs - 1)
    if factor == 1:
        return 0.0
    return (factor * epoch / (epochs - 1) - 1) / (factor - 1)


def oltr_fork_zero_division_epoch(epochs: int, factor: float) -> int | None:
    """First 0-based epoch at which the fork's schedule divides by zero (``None``: never, for ``factor > 1``)."""
    if epochs == 1:
        return 0
    if factor == 1:
        return epochs - 1  # the fork's epoch e + 1 = E takes the second branch, whose denominator is f - 1 = 0
    return None


def _oltr_fork_xi(epoch: float, epochs: int, factor: float) -> float:
    bad = oltr_fork_zero_division_epoch(epochs, factor)
    if bad is not None and epoch >= bad:
        why = "epochs=1 (denominator E-1 = 0)" if epochs == 1 else f"factor=1 at 0-based epoch {epoch:g} >= {bad}"
        raise ValueError(
            f"schedule 'oltr_fork' is undefined for {why}: the CFL fork divides by zero there (ZeroDivisionError); "
            "use a factor > 1, epochs > the stage's epochs, or schedule 'reference'"
        )
    e = epoch + 1  # the fork's training loop counts epochs from 1
    # Same operation order as the fork's code, so that values match it to the last bit.
    if factor * e < epochs:
        return 1 - factor * e / (epochs - 1)
    return (factor * e / (epochs - 1) - 1) / (factor - 1)
