"""Contract tests run over every registered loss (a new loss is covered without a new test)."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch.autograd import gradcheck

from oltr.losses import available, build_loss, loss_info, loss_params


FOCAL_FAMILY = ("focal", "asl", "cfl", "casl")
COUNTS = [50, 20, 8, 3, 1]


def make_loss(name, **params):
    """What the engine passes: class counts and epochs where the registry metadata asks for them."""
    meta = loss_info(name).meta
    if meta["needs_class_counts"]:
        params.setdefault("class_counts", COUNTS)
    if meta["has_schedule"]:
        params.setdefault("epochs", 10)
    return build_loss(name, **params)
VARIANTS = [(name, {}) for name in available()] + [(name, {"flavour": "reference"}) for name in FOCAL_FAMILY]
IDS = [name + ("-reference" if params else "") for name, params in VARIANTS]


def test_registry_lists_the_issue_losses():
    expected = {"ce", "focal", "asl", "cfl", "casl", "balanced_softmax", "logit_adjusted", "ldam", "class_balanced",
                "label_smoothing"}
    assert expected <= set(available())
    assert available() == sorted(available())


@pytest.mark.parametrize("name", available())
def test_metadata_and_common_parameters(name):
    meta = loss_info(name).meta
    assert isinstance(meta["needs_class_counts"], bool) and isinstance(meta["has_schedule"], bool)
    params = loss_params(name)
    assert "reduction" in params
    assert ("class_counts" in params) == meta["needs_class_counts"]
    assert ("epochs" in params) == meta["has_schedule"]


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_finite_loss_and_gradient(name, params, batch):
    logits, targets, soft = batch
    loss = make_loss(name, **params)
    for t in (targets, soft):
        z = logits.clone().requires_grad_()
        value = loss(z, t)
        value.backward()
        assert value.ndim == 0 and torch.isfinite(value)
        assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_reductions_agree(name, params, batch):
    logits, targets, soft = batch
    for t in (targets, soft):
        none = make_loss(name, reduction="none", **params)(logits, t)
        mean = make_loss(name, reduction="mean", **params)(logits, t)
        total = make_loss(name, reduction="sum", **params)(logits, t)
        assert none.shape == (logits.shape[0],)
        torch.testing.assert_close(total, none.sum(), rtol=1e-12, atol=0)
        torch.testing.assert_close(total, mean * logits.shape[0], rtol=1e-12, atol=0)


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_one_hot_soft_targets_equal_indices(name, params, batch):
    logits, targets, _ = batch
    loss = make_loss(name, reduction="none", **params)
    one_hot = torch.nn.functional.one_hot(targets, logits.shape[1]).double()
    torch.testing.assert_close(loss(logits, one_hot), loss(logits, targets), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_gradcheck_float64(name, params, batch):
    logits, targets, soft = batch
    loss = make_loss(name, reduction="sum", **params)
    loss.set_epoch(3)  # mid-cycle for the cyclical losses: both terms are active
    for t in (targets[:4], soft[:4]):
        assert gradcheck(lambda z: loss(z, t), (logits[:4].clone().requires_grad_(),), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_half_precision_is_computed_in_float32(name, params, batch):
    logits, targets, _ = batch
    loss = make_loss(name, **params)
    for dtype in (torch.float16, torch.bfloat16):
        z = logits.to(dtype).requires_grad_()
        value = loss(z, targets)
        value.backward()
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, loss(logits.to(dtype).float(), targets), rtol=1e-6, atol=1e-6)
        assert z.grad.dtype == dtype and torch.isfinite(z.grad.float()).all()


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_set_epoch_pickle_state_dict_and_device_move(name, params, batch):
    logits, targets, _ = batch
    loss = make_loss(name, **params)
    loss.set_epoch(2)
    expected = loss(logits, targets)
    clone = pickle.loads(pickle.dumps(loss))
    torch.testing.assert_close(clone(logits, targets), expected)
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    fresh = make_loss(name, **params)
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    torch.testing.assert_close(fresh(logits, targets), expected)
    moved = copy.deepcopy(loss).to(torch.float32)  # buffers follow .to(); computing in float32 still works
    assert torch.isfinite(moved(logits.float(), targets))


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_bad_targets_raise(name, params, batch):
    logits, targets, _ = batch
    loss = make_loss(name, **params)
    with pytest.raises(ValueError, match="targets"):
        loss(logits, targets[:3])
    with pytest.raises(ValueError, match="targets"):
        loss(logits, targets.double())
    with pytest.raises(ValueError, match="logits"):
        loss(logits[0], targets[:1])
