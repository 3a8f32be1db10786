"""schedule='oltr_fork': the CFL paper's OLTR fork as it ran (1-based epochs, E-1 denominators, no clamping)."""

from __future__ import annotations

import math

import pytest

from oltr.losses import build_loss, cyclical_xi


def fork_formula(e: int, epochs: int, factor: float) -> float:
    """The fork's rule at its 1-based epoch ``e`` (OLTR copy: no factor-1 branch), written out here."""
    if factor * e < epochs:
        return 1 - factor * e / (epochs - 1)
    return (factor * e / (epochs - 1) - 1) / (factor - 1)


@pytest.mark.parametrize("epochs,factor,stage_epochs",
                         [(30, 4, 30), (30, 4, 60), (30, 2, 30), (30, 2, 60), (10, 1.5, 9)])
def test_oltr_fork_is_the_fork_formula_at_one_based_epochs(epochs, factor, stage_epochs):
    got = [cyclical_xi(e, epochs, factor, "oltr_fork") for e in range(stage_epochs)]
    assert got == [fork_formula(e, epochs, factor) for e in range(1, stage_epochs + 1)]


def test_oltr_fork_leaves_zero_one_as_the_fork_did():
    # E = 30: stage 1 ends at (f*30/29 - 1)/(f - 1); the 60-epoch stage 2 ends at (f*60/29 - 1)/(f - 1).
    assert cyclical_xi(29, 30, 2, "oltr_fork") == pytest.approx(31 / 29)  # 1.069
    assert cyclical_xi(29, 30, 4, "oltr_fork") == pytest.approx((120 / 29 - 1) / 3)  # 1.046
    assert cyclical_xi(59, 30, 2, "oltr_fork") == pytest.approx(120 / 29 - 1)  # 3.14
    assert cyclical_xi(59, 30, 4, "oltr_fork") == pytest.approx((240 / 29 - 1) / 3)  # 2.43
    assert cyclical_xi(0, 30, 4, "oltr_fork") == pytest.approx(1 - 4 / 29)  # never 1 at the start


def test_oltr_fork_matches_the_forks_own_outputs(golden_losses):
    """Every eta the fork's OLTR loss produced (golden, incl. its ZeroDivisionError), bit for bit."""
    checked = 0
    for sched in golden_losses["eta_schedules"]:
        variant = sched["oltr_variant"]
        assert variant["epoch_base"] == 1
        for e, eta in zip(variant["epoch"], variant["eta"]):
            if eta == "ZeroDivisionError":
                with pytest.raises(ValueError, match="divides by zero"):
                    cyclical_xi(e - 1, sched["epochs"], sched["factor"], "oltr_fork")
            else:
                assert cyclical_xi(e - 1, sched["epochs"], sched["factor"], "oltr_fork") == eta
            checked += 1
    assert checked > 400


def test_factor_one_and_single_epoch_are_refused_where_the_fork_divides_by_zero():
    assert cyclical_xi(28, 30, 1, "oltr_fork") == 1 - 29 / 29  # the fork's epoch 29 of 30
    with pytest.raises(ValueError, match="factor=1 .* divides by zero"):
        cyclical_xi(29, 30, 1, "oltr_fork")
    with pytest.raises(ValueError, match="epochs=1"):
        build_loss("casl", epochs=1, schedule="oltr_fork")
    with pytest.raises(ValueError, match="epoch"):
        cyclical_xi(-1, 30, 2, "oltr_fork")


def test_cyclical_losses_follow_the_fork_schedule():
    for name in ("cfl", "casl"):
        loss = build_loss(name, epochs=30, factor=4, schedule="oltr_fork", flavour="reference")
        for epoch in (0, 29, 45, 59):
            loss.set_epoch(epoch)
            assert loss.xi() == fork_formula(epoch + 1, 30, 4)
        assert math.isfinite(loss.xi())
