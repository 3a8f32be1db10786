"""fp16 loss scaling must not change the centroid update (the reference gradient ignores grad_output).

Checked on the CPU with a manual scale factor and with ``torch.amp.GradScaler("cpu")``: the update after
unscaling equals the update at scale 1, for both gradient modes; without the scale the reference mode's
attract part would be divided away (the defect this guards against).
"""

from __future__ import annotations

import pytest
import torch

from oltr.engine.loop import loss_scale_source
from oltr.engine.tasks import Stage2Task
from oltr.losses import build_loss
from oltr.models import MetaEmbeddingClassifier, build_feature_model, disc_centroids_loss

SCALE = 65536.0


def _inputs():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(12, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (12,), generator=g)
    centroids = torch.randn(4, 6, generator=g, dtype=torch.float64)
    return features, labels, centroids


def _grads(scale: float, grad_scale, mode: str):
    features, labels, centroids = _inputs()
    features.requires_grad_(True)
    centroids.requires_grad_(True)
    loss = 0.01 * disc_centroids_loss(features, labels, centroids, grad_mode=mode, grad_scale=grad_scale)
    (loss * scale).backward()
    return features.grad / scale, centroids.grad / scale


@pytest.mark.parametrize("mode", ["reference", "autograd"])
@pytest.mark.parametrize("as_callable", [False, True])
def test_manual_loss_scale_gives_the_unscaled_update(mode, as_callable):
    f1, c1 = _grads(1.0, None, mode)
    source = (lambda: torch.tensor(SCALE, dtype=torch.float64)) if as_callable else SCALE
    fs, cs = _grads(SCALE, source if mode == "reference" else None, mode)
    torch.testing.assert_close(fs, f1, rtol=1e-14, atol=0)
    torch.testing.assert_close(cs, c1, rtol=1e-14, atol=0)


def test_without_the_scale_the_reference_attract_part_would_vanish():
    _, c1 = _grads(1.0, None, "reference")
    _, unscaled = _grads(SCALE, None, "reference")  # the defect: scaled loss, unscaled hand-written gradient
    assert (unscaled - c1).abs().max() > 0.5 * c1.abs().max()


def _stage2_task(seed: int = 0) -> Stage2Task:
    torch.manual_seed(seed)
    model = build_feature_model("resnet10", stem="small", width=4, use_attention=True, use_fc_add=True, fc_add_dim=8)
    clf = MetaEmbeddingClassifier(model.feat_dim, 3)
    with torch.no_grad():
        clf.centroids.copy_(torch.randn(3, model.feat_dim))
    return Stage2Task(model, clf, build_loss("ce"), centroid_weight=0.01, grad_mode="reference")


def _task_grads(use_scaler: bool) -> dict[str, torch.Tensor]:
    task = _stage2_task()
    opt = torch.optim.SGD(task.parameters(), lr=0.1)
    images = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    scaler = torch.amp.GradScaler("cpu", init_scale=SCALE) if use_scaler else None
    task.loss_scale = loss_scale_source(scaler)
    loss = task(images, labels)["loss"]
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
    return {n: p.grad.clone() for n, p in task.named_parameters() if p.grad is not None}


def test_grad_scaler_gives_the_same_centroid_update_as_no_scaling():
    plain, scaled = _task_grads(False), _task_grads(True)
    assert plain.keys() == scaled.keys() and "classifier.centroids" in plain
    # The centroid gradient, attract part included, survives scale + unscale (powers of two: exact up to
    # rounding of the float32 products); the rest of the model too.
    for name in plain:
        torch.testing.assert_close(scaled[name], plain[name], rtol=1e-5, atol=1e-7, msg=name)


def test_no_scaler_means_no_scale():
    from oltr.engine.loop import NoScaler

    assert loss_scale_source(None) is None and loss_scale_source(NoScaler()) is None
    assert loss_scale_source(torch.amp.GradScaler("cpu", enabled=False)) is None
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0)
    assert float(loss_scale_source(scaler)()) == 8.0
