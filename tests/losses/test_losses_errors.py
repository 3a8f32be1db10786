"""Every documented error path, the gamma_hc warning and numerical safety at saturated probabilities."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from oltr.losses import available, build_loss, loss_info

COUNTS = np.array([50, 20, 8, 3, 1])
SATURATED = torch.tensor(
    [[40.0, -40.0, 0.0, 0.0], [-40.0, 40.0, 0.0, 0.0], [100.0, 0.0, 0.0, -100.0], [0.0, 0.0, 0.0, 0.0],
     [-100.0, 100.0, 20.0, 0.0], [15.0, 15.0, -15.0, 0.5], [200.0, -200.0, -200.0, -200.0]]
)
SATURATED_TARGETS = torch.tensor([0, 0, 3, 2, 0, 1, 0])


def test_unknown_loss_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown loss 'cfll'.*Did you mean 'cfl'.*Available: asl, balanced_softmax"):
        build_loss("cfll")
    with pytest.raises(ValueError, match="unknown loss"):
        loss_info("nope")


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) gama for loss 'focal'; valid: gamma, flavour"):
        build_loss("focal", gama=2)
    with pytest.raises(ValueError, match="gamma_pos.*valid: gamma, gamma_hc"):
        build_loss("cfl", gamma_pos=1, epochs=3)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("cfl", {"factor": 0.5}, r"`factor` must be in \[1, inf\)"),
        ("casl", {"factor": -1}, "`factor`"),
        ("cfl", {"epochs": 0}, r"`epochs` must be in \[1, inf\)"),
        ("cfl", {"epochs": 2.5}, "`epochs` must be an integer"),
        ("focal", {"gamma": -1}, r"`gamma` must be in \[0, inf\)"),
        ("asl", {"gamma_pos": -0.1}, "`gamma_pos`"),
        ("asl", {"gamma_neg": -2}, "`gamma_neg`"),
        ("casl", {"gamma_hc": -1}, "`gamma_hc`"),
        ("cfl", {"gamma": float("nan")}, "`gamma`"),
        ("focal", {"flavour": "code"}, "`flavour` must be one of 'paper', 'reference'"),
        ("cfl", {"schedule": "cosine"}, "`schedule` must be one of 'paper', 'reference'"),
        ("ce", {"reduction": "batchmean"}, "`reduction` must be one of 'mean', 'sum', 'none'"),
        ("focal", {"reduction": "avg"}, "`reduction`"),
        ("ce", {"label_smoothing": 1.5}, r"`label_smoothing` must be in \[0, 1\]"),
        ("asl", {"label_smoothing": -0.1}, "`label_smoothing`"),
        ("class_balanced", {"beta": 1.0}, r"`beta` must be in \[0, 1\)"),
        ("class_balanced", {"base": "bce"}, "`base`"),
        ("class_balanced", {"gamma": 2}, "`gamma` only applies to base='focal'"),
        ("logit_adjusted", {"tau": -1}, "`tau`"),
        ("ldam", {"max_margin": 0}, r"`max_margin` must be in \(0, inf\)"),
        ("ldam", {"scale": -1}, "`scale`"),
        ("ldam", {"drw_epoch": -1}, "`drw_epoch`"),
        ("ldam", {"drw_epoch": 1.5}, "`drw_epoch` must be an integer"),
    ],
)
def test_bad_hyper_parameters_name_parameter_and_range(name, params, match):
    meta = loss_info(name).meta
    if meta["has_schedule"]:
        params = {"epochs": 10, **params}
    if meta["needs_class_counts"]:
        params = {"class_counts": COUNTS, **params}
    with pytest.raises(ValueError, match=match):
        build_loss(name, **params)


def test_cyclical_losses_need_epochs():
    for name in ("cfl", "casl"):
        with pytest.raises(ValueError, match="`epochs` is required"):
            build_loss(name)


@pytest.mark.parametrize("name", [n for n in available() if loss_info(n).meta["needs_class_counts"]])
def test_class_counts_are_required_and_checked(name):
    with pytest.raises(ValueError, match="`class_counts` is required"):
        build_loss(name)
    with pytest.raises(ValueError, match="`class_counts` must hold finite counts > 0"):
        build_loss(name, class_counts=[3, 0, 1])
    with pytest.raises(ValueError, match="1-D"):
        build_loss(name, class_counts=[[1, 2], [3, 4]])
    for counts in (COUNTS, COUNTS.tolist(), torch.tensor(COUNTS)):
        loss = build_loss(name, class_counts=counts)
    with pytest.raises(ValueError, match="classes"):
        loss(torch.zeros(2, 4), torch.tensor([0, 1]))


@pytest.mark.parametrize("schedule", ["paper", "reference"])
def test_epoch_outside_range_raises(schedule):
    loss = build_loss("cfl", epochs=10, schedule=schedule)
    for bad in (-1, 10, 10.5, 30):
        with pytest.raises(ValueError, match=r"`epoch` must be in \[0, 10\)"):
            loss.set_epoch(bad)
    loss.set_epoch(9)


def test_gamma_hc_above_monotone_limit_warns():
    with pytest.warns(UserWarning, match="gamma_hc=4 > 3.59.*no longer monotone"):
        build_loss("cfl", gamma_hc=4, epochs=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_loss("cfl", gamma_hc=3.59, epochs=10)


@pytest.mark.parametrize("flavour", ["paper", "reference"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_fractional_gammas_have_finite_gradients_at_saturation(flavour, dtype):
    # Autograd through (1 - p)^gamma with gamma < 1 gives inf * 0 = nan at p = 1 (ASL's code does).
    cases = [("focal", {"gamma": 0.5}), ("asl", {"gamma_pos": 0.3, "gamma_neg": 0.5}),
             ("cfl", {"gamma": 0.5, "gamma_hc": 0.5, "epochs": 10}),
             ("casl", {"gamma_pos": 0.2, "gamma_neg": 0.7, "gamma_hc": 0.4, "epochs": 10})]
    for name, params in cases:
        loss = build_loss(name, flavour=flavour, **params)
        for epoch in ((0, 2) if "epochs" in params else (0,)):
            loss.set_epoch(epoch)
            logits = SATURATED.to(dtype).detach().requires_grad_()
            value = loss(logits, SATURATED_TARGETS)
            value.backward()
            assert torch.isfinite(value), (name, epoch)
            assert torch.isfinite(logits.grad).all(), (name, epoch)


def test_paper_asl_negative_term_is_accurate_when_a_wrong_class_saturates():
    # -log(1 - p_j) for p_j -> 1 must come from the other classes' mass, not from 1 - p_j (which rounds to 0).
    logits = torch.tensor([[0.0, 60.0, 0.0]], dtype=torch.float32, requires_grad=True)
    loss = build_loss("asl", gamma_pos=0, gamma_neg=0)
    value = loss(logits, torch.tensor([0]))
    value.backward()
    # -log p_0 = 60 + log(1 + 2e-60); -log(1 - p_1) = -log(2e-60 / (1 + e-60 + e-60)) = 60 - log 2; -log(1 - p_2) ~ 0.
    exact = 120 - np.log(2.0)
    assert value.item() == pytest.approx(exact, rel=1e-5)
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("flavour", ["paper", "reference"])
def test_float32_agrees_with_float64_where_one_minus_p_underflows(flavour):
    # 1 - p* ~ e^-120 .. e^-300: below float32's range, handled in log space (loss and gradient).
    logits = torch.tensor([[0.0, 120.0, 0.0, -5.0], [200.0, 0.0, 0.0, 0.0], [0.0, 0.0, 300.0, 1.0]])
    targets = torch.tensor([0, 1, 2])
    for name, params in [("asl", {}), ("casl", {"epochs": 10, "gamma_hc": 3}), ("cfl", {"epochs": 10})]:
        loss = build_loss(name, flavour=flavour, **params)
        loss.set_epoch(3)
        values, grads = [], []
        for dtype in (torch.float32, torch.float64):
            z = logits.to(dtype).detach().clone().requires_grad_()
            value = loss(z, targets)
            value.backward()
            values.append(value.double())
            grads.append(z.grad.double())
        torch.testing.assert_close(values[0], values[1], rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6, msg=name)
