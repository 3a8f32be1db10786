"""The reference flavour against values produced by running the authors' code (tests/golden/losses.json).

Covered: every case of the ASL repository's ``ASLSingleLabel``, timm's ``AsymmetricLossSingleLabel`` and the CFL
repository's TIMM copy (``ASL_FocalLoss``, ``Cyclical_FocalLoss``): loss, gradient, per-sample values, in
float64 (rtol 1e-10) and float32 (rtol 1e-5, atol 1e-6); and the TIMM-variant schedule table.
"""

from __future__ import annotations

import pytest
import torch

from oltr.losses import build_loss, cyclical_xi

IMPLS = (
    "ASL.ASLSingleLabel",
    "timm.loss.AsymmetricLossSingleLabel",
    "CFL.TIMM.ASL_FocalLoss",
    "CFL.TIMM.Cyclical_FocalLoss",
)
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-15}, torch.float32: {"rtol": 1e-5, "atol": 1e-6}}


def reference_losses(case: dict) -> list[torch.nn.Module]:
    """Our reference-flavour losses that must reproduce ``case`` (CFL cases with equal gammas: cfl and casl)."""
    params = {**case.get("effective_params", {}), **case["params"]}
    params.pop("reduction", None)
    common = {"flavour": "reference", "label_smoothing": params.pop("eps", 0.1), "reduction": "none"}
    impl = case["impl"]
    if impl == "CFL.TIMM.ASL_FocalLoss":
        return [build_loss("focal", gamma=params["gamma"], **common)]
    if impl != "CFL.TIMM.Cyclical_FocalLoss":
        return [build_loss("asl", gamma_pos=params["gamma_pos"], gamma_neg=params["gamma_neg"], **common)]
    losses = [build_loss("casl", **params, **common)]
    if params["gamma_pos"] == params["gamma_neg"]:
        gamma = params.pop("gamma_pos")
        params.pop("gamma_neg")
        losses.append(build_loss("cfl", gamma=gamma, **params, **common))
    for loss in losses:
        loss.set_epoch(case["forward_kwargs"]["epoch"])
    return losses


def _cases(golden: dict) -> list[dict]:
    return [c for c in golden["cases"] if c["impl"] in IMPLS]


def test_golden_has_the_expected_cases(golden_losses):
    cases = _cases(golden_losses)
    assert len(cases) == 158
    assert sum("grad" in c for c in cases) >= 150


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_loss_gradient_and_per_sample_values(golden_losses, dtype):
    checked = 0
    for case in _cases(golden_losses):
        data = golden_losses["inputs"][case["input"]]
        targets = torch.tensor(data["targets"])
        for loss in reference_losses(case):
            logits = torch.tensor(data["logits"], dtype=dtype, requires_grad=True)
            per_sample = loss(logits, targets)
            msg = f"{case['id']} ({type(loss).__name__}, {dtype})"
            if "per_sample_loss" in case:
                expected = torch.tensor(case["per_sample_loss"], dtype=torch.float64)
                torch.testing.assert_close(per_sample.double(), expected, **TOL[dtype], msg=msg)
            if "returned_values" in case:  # the reference's reduction='sum' returned per-sample values
                expected = torch.tensor(case["returned_values"], dtype=torch.float64)
                torch.testing.assert_close(per_sample.double(), expected, **TOL[dtype], msg=msg)
                torch.testing.assert_close(per_sample.double().sum(), expected.sum(), **TOL[dtype], msg=msg)
            if "loss" not in case:
                continue
            mean = per_sample.mean()
            mean.backward()
            expected = torch.tensor(case["loss"], dtype=torch.float64)
            torch.testing.assert_close(mean.double(), expected, **TOL[dtype], msg=msg)
            if dtype == torch.float32:
                torch.testing.assert_close(mean.double(), torch.tensor(case["loss_float32"], dtype=torch.float64),
                                           rtol=1e-5, atol=1e-6, msg=msg)
            if "grad" in case:
                expected = torch.tensor(case["grad"], dtype=torch.float64)
                torch.testing.assert_close(logits.grad.double(), expected, **TOL[dtype], msg=msg)
            torch.testing.assert_close(logits.grad.double().sum(), torch.tensor(case["grad_sum"], dtype=torch.float64),
                                       rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-5, msg=msg)
            assert torch.isfinite(logits.grad).all() == case["grad_finite"]
            checked += 1
    assert checked >= 150


def test_eta_recorded_in_cases_matches_schedule(golden_losses):
    for case in _cases(golden_losses):
        if "eta" in case:
            p = case["params"]
            xi = cyclical_xi(case["forward_kwargs"]["epoch"], p["epochs"], p["factor"], "reference")
            assert xi == pytest.approx(case["eta"], rel=1e-12, abs=1e-15), case["id"]


def test_reference_schedule_table(golden_losses):
    tables = [s for s in golden_losses["eta_schedules"] if "timm_variant" in s]
    assert len(tables) == 11
    for table in tables:
        variant = table["timm_variant"]
        assert variant["epoch_base"] == 0
        got = [cyclical_xi(e, table["epochs"], table["factor"], "reference") for e in variant["epoch"]]
        assert got == pytest.approx(variant["eta"], rel=1e-14, abs=1e-15), (table["epochs"], table["factor"])
