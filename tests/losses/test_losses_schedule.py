"""The cyclical weight xi: both forms, fractional epochs and how the loss modules follow it."""

from __future__ import annotations

import pytest

from oltr.losses import build_loss, cyclical_xi


def test_paper_form_is_eq8_with_total_epochs():
    expected = [1, 0.8, 0.6, 0.4, 0.2, 0, 0.2, 0.4, 0.6, 0.8]
    assert [round(cyclical_xi(e, 10, 2, "paper"), 10) for e in range(10)] == expected
    f4 = [cyclical_xi(e, 10, 4, "paper") for e in range(10)]
    assert f4[:4] == pytest.approx([1, 0.6, 0.2, 0.2 / 3])
    assert f4[-1] == pytest.approx(0.8666666667)
    assert [cyclical_xi(e, 4, 1, "paper") for e in range(4)] == [1, 0.75, 0.5, 0.25]


def test_reference_form_is_one_at_both_ends():
    for epochs, factor in [(10, 2), (30, 4), (201, 4), (11, 2)]:
        assert cyclical_xi(0, epochs, factor, "reference") == 1.0
        assert cyclical_xi(epochs - 1, epochs, factor, "reference") == pytest.approx(1.0)
    assert cyclical_xi(5, 11, 2, "reference") == 0.0
    assert cyclical_xi(21, 30, 1.4, "reference") == pytest.approx(-0.0138, abs=1e-4)  # kept quirk
    assert cyclical_xi(0, 1, 2, "reference") == 1.0


def test_fractional_epochs_interpolate_and_reference_holds_the_last_epoch():
    assert cyclical_xi(2.5, 10, 2, "paper") == pytest.approx(0.5)
    assert cyclical_xi(0.5, 10, 2, "reference") == pytest.approx(1 - 1 / 9)
    assert cyclical_xi(9.5, 10, 2, "reference") == cyclical_xi(9, 10, 2, "reference")


def test_loss_follows_set_epoch_and_defaults_to_its_flavours_schedule():
    paper = build_loss("cfl", epochs=10, factor=2)
    reference = build_loss("cfl", epochs=10, factor=2, flavour="reference")
    assert (paper.schedule, reference.schedule) == ("paper", "reference")
    assert paper.xi() == reference.xi() == 1.0
    paper.set_epoch(9)
    reference.set_epoch(9)
    assert paper.xi() == pytest.approx(0.8) and reference.xi() == pytest.approx(1.0)
    mixed = build_loss("cfl", epochs=10, factor=2, flavour="reference", schedule="paper")
    mixed.set_epoch(5)
    assert mixed.xi() == 0.0


def test_per_iteration_option():
    per_epoch = build_loss("casl", epochs=10, factor=2)
    per_iter = build_loss("casl", epochs=10, factor=2, per_iteration=True)
    per_epoch.set_epoch(2.5)
    per_iter.set_epoch(2.5)
    assert per_epoch.xi() == cyclical_xi(2, 10, 2) and per_epoch.epoch == 2
    assert per_iter.xi() == pytest.approx(0.5)


def test_schedule_state_survives_state_dict():
    loss = build_loss("cfl", epochs=10, factor=2)
    loss.set_epoch(4)
    fresh = build_loss("cfl", epochs=10, factor=2)
    fresh.load_state_dict(loss.state_dict())
    assert fresh.epoch == 4 and fresh.xi() == loss.xi()


def test_unknown_form_and_bad_arguments():
    with pytest.raises(ValueError, match="`schedule` must be one of"):
        cyclical_xi(0, 10, 2, "code")
    with pytest.raises(ValueError, match="`factor`"):
        cyclical_xi(0, 10, 0.9)
    with pytest.raises(ValueError, match=r"`epoch` must be in \[0, 10\)"):
        cyclical_xi(-0.5, 10, 2)
