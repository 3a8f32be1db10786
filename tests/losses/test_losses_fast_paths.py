"""The focal family's class-index paths (CE-shaped and sparse-target) against the dense general path and float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from oltr.losses import build_loss

PAPER_ASL_CASES = [
    ("asl", {}),
    ("asl", {"gamma_pos": 0.5, "gamma_neg": 3}),
    ("asl", {"gamma_pos": 1, "gamma_neg": 1}),
    ("asl", {"gamma_pos": 0, "gamma_neg": 0}),
    ("asl", {"gamma_pos": 0.3, "gamma_neg": 0.7}),
    ("asl", {"gamma_pos": 2, "gamma_neg": 5}),
    ("casl", {"epochs": 10}),
    ("casl", {"epochs": 10, "gamma_pos": 1, "gamma_neg": 2, "gamma_hc": 3}),
    ("cfl", {"epochs": 10}),
    ("focal", {}),
]


def _logits(batch: int, classes: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(batch * classes)
    logits = torch.randn(batch, classes, generator=gen) * scale
    targets = torch.randint(classes, (batch,), generator=gen)
    if classes < 10:
        logits[0, 1] = logits[0].max()  # a tie for the row maximum (the general path takes such batches)
    logits[1, targets[1]] = logits[1].max() + 12.0  # a confident right answer
    logits[2, (targets[2] + 1) % classes] = logits[2].max() + 12.0  # a confident wrong answer
    return logits, targets


def _value_and_grad(loss, logits, targets):
    z = logits.detach().clone().requires_grad_()
    value = loss(z, targets)
    value.backward()
    return value.detach(), z.grad


@pytest.mark.parametrize(("name", "params"), PAPER_ASL_CASES)
@pytest.mark.parametrize(("batch", "classes", "scale"), [(64, 1000, 3.0), (32, 365, 12.0), (16, 7, 40.0), (8, 2, 1.0)])
def test_class_indices_agree_with_one_hot_and_float64(name, params, batch, classes, scale):
    # Class indices take the fast paths, one-hot targets the general (dense) one; float64 is the reference.
    # scale 12 and 40 reach probabilities whose products with p^gamma would be subnormal (dropped from the weights).
    loss = build_loss(name, reduction="sum", **params)
    loss.set_epoch(3)
    logits, targets = _logits(batch, classes, scale)
    value, grad = _value_and_grad(loss, logits, targets)
    one_hot = F.one_hot(targets, classes).float()
    dense_value, dense_grad = _value_and_grad(loss, logits, one_hot)
    exact_value, exact_grad = _value_and_grad(loss, logits.double(), targets)
    for v, g in ((value, grad), (dense_value, dense_grad)):
        torch.testing.assert_close(v.double(), exact_value, rtol=2e-5, atol=1e-5)
        torch.testing.assert_close(g.double(), exact_grad, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize(("name", "params"), PAPER_ASL_CASES + [("casl", {"epochs": 10, "flavour": "reference"})])
def test_backward_twice_and_with_create_graph(name, params):
    # Backward scales the saved gradient out of place: a second backward (retain_graph) sees it unchanged.
    loss = build_loss(name, **params)
    loss.set_epoch(3)
    logits, targets = _logits(8, 20, 3.0)
    z = logits.clone().requires_grad_()
    value = loss(z, targets)
    first = torch.autograd.grad(value, z, retain_graph=True)[0]
    second = torch.autograd.grad(2.0 * value, z)[0]
    torch.testing.assert_close(second, 2.0 * first, rtol=1e-6, atol=0)
    (with_graph,) = torch.autograd.grad(loss(z, targets), z, create_graph=True)
    torch.testing.assert_close(with_graph, first, rtol=1e-6, atol=0)
