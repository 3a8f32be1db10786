"""Discriminative centroid loss (golden values, both gradient modes) and centroid initialisation."""

from __future__ import annotations

import pytest
import torch

from oltr.models import DiscCentroidsLoss, MetaEmbeddingClassifier, disc_centroids_loss, init_centroids


def _case_tensors(case: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    features = torch.tensor(case["features"], dtype=torch.float32, requires_grad=True)
    centroids = torch.tensor(case["centroids"], dtype=torch.float32, requires_grad=True)
    return features, torch.tensor(case["labels"]), centroids


def _cases(golden_oltr) -> dict[str, dict]:
    return {case["name"]: case for case in golden_oltr["disc_centroids_loss"]}


def _naive_loss64(features, labels, centroids, margin=10.0, repel_weight=0.01) -> torch.Tensor:
    """Independent float64 formula, written per pair; autograd of it is the true gradient."""
    batch, num_classes = features.shape[0], centroids.shape[0]
    attract = sum(((features[n] - centroids[labels[n]]) ** 2).sum() for n in range(batch)) / (2 * batch)
    other = sum(
        ((features[n] - centroids[k]) ** 2).sum() for n in range(batch) for k in range(num_classes) if k != labels[n]
    )
    return attract + repel_weight * torch.clamp(margin - other / (batch * num_classes), 0, 1e6)


@pytest.mark.parametrize("name", ["repel_active", "repel_clamped"])
def test_value_matches_golden(golden_oltr, name):
    case = _cases(golden_oltr)[name]
    features, labels, centroids = _case_tensors(case)
    for mode in ("reference", "autograd"):
        loss = disc_centroids_loss(features, labels, centroids, grad_mode=mode)
        assert loss.item() == pytest.approx(case["loss"], rel=1e-5, abs=1e-6)
    attract_only = disc_centroids_loss(features, labels, centroids, repel_weight=0.0)
    assert attract_only.item() == pytest.approx(case["attract"], rel=1e-5, abs=1e-6)
    repel = (case["loss"] - case["attract"]) / 0.01
    assert repel == pytest.approx(case["repel_clamped_value"], rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", ["repel_active", "repel_clamped"])
@pytest.mark.parametrize("weight,key", [(1.0, "w1"), (0.01, "w0.01")])
def test_reference_mode_gradients_match_golden(golden_oltr, name, weight, key):
    case = _cases(golden_oltr)[name]
    features, labels, centroids = _case_tensors(case)
    (weight * disc_centroids_loss(features, labels, centroids, grad_mode="reference")).backward()
    expected_f = torch.tensor(case[f"grad_features_{key}"], dtype=torch.float64)
    expected_c = torch.tensor(case[f"grad_centroids_{key}"], dtype=torch.float64)
    torch.testing.assert_close(features.grad.double(), expected_f, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(centroids.grad.double(), expected_c, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["repel_active", "repel_clamped"])
@pytest.mark.parametrize("weight,key", [(1.0, "w1"), (0.01, "w0.01")])
def test_autograd_mode_is_the_true_gradient(golden_oltr, name, weight, key):
    case = _cases(golden_oltr)[name]
    features, labels, centroids = _case_tensors(case)
    (weight * disc_centroids_loss(features, labels, centroids, grad_mode="autograd")).backward()
    f64 = features.detach().double().requires_grad_()
    c64 = centroids.detach().double().requires_grad_()
    (weight * _naive_loss64(f64, labels, c64)).backward()
    torch.testing.assert_close(features.grad.double(), f64.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(centroids.grad.double(), c64.grad, rtol=1e-5, atol=1e-7)
    # Feature gradients are the same in both modes (and the golden ones); centroid gradients are not.
    torch.testing.assert_close(
        features.grad.double(), torch.tensor(case[f"grad_features_{key}"], dtype=torch.float64), rtol=1e-5, atol=1e-7
    )
    reference_grad = torch.tensor(case[f"grad_centroids_{key}"], dtype=torch.float64)
    assert not torch.allclose(centroids.grad.double(), reference_grad, atol=1e-4)


def test_reference_centroid_gradient_ignores_loss_weight():
    torch.manual_seed(0)
    features, centroids = torch.randn(16, 5) * 4, torch.randn(6, 5).requires_grad_()
    labels = torch.randint(0, 6, (16,))
    grads = []
    for weight in (1.0, 1e-3):
        centroids.grad = None
        (weight * disc_centroids_loss(features, labels, centroids, repel_weight=0.0)).backward()
        grads.append(centroids.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_module_uses_the_classifier_centroids():
    clf = MetaEmbeddingClassifier(4, 3)
    clf.set_centroids(torch.randn(3, 4))
    loss_fn = DiscCentroidsLoss(grad_mode="autograd")
    assert list(loss_fn.parameters()) == []
    loss_fn(torch.randn(5, 4), torch.randint(0, 3, (5,)), clf.centroids).backward()
    assert clf.centroids.grad is not None
    with pytest.raises(ValueError, match="grad_mode"):
        DiscCentroidsLoss(grad_mode="magic")
    with pytest.raises(ValueError, match="labels"):
        disc_centroids_loss(torch.randn(5, 4), torch.zeros(4, dtype=torch.long), clf.centroids)


def naive_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    means = torch.zeros(num_classes, features.shape[1], dtype=torch.float64)
    for k in range(num_classes):
        rows = features[labels == k].double()
        if len(rows):
            means[k] = rows.mean(0)
    return means.float()


def test_init_centroids_equals_naive_class_means():
    torch.manual_seed(1)
    features, labels = torch.randn(203, 7) * 5 + 2, torch.randint(0, 9, (203,))
    batches = [(features[i : i + 32], labels[i : i + 32]) for i in range(0, 203, 32)]
    centroids = init_centroids(iter(batches), num_classes=9, feat_dim=7)
    assert centroids.shape == (9, 7) and centroids.dtype == torch.float32
    torch.testing.assert_close(centroids, naive_means(features, labels, 9), rtol=1e-6, atol=1e-6)


def test_init_centroids_warns_and_keeps_zero_for_empty_classes():
    features, labels = torch.ones(4, 3), torch.tensor([0, 0, 2, 2])
    with pytest.warns(UserWarning, match="1 classes have no training sample"):
        centroids = init_centroids([(features, labels)], num_classes=3, feat_dim=3)
    assert centroids[1].abs().sum() == 0 and torch.equal(centroids[0], torch.ones(3))
    with pytest.raises(ValueError, match="feat_dim"):
        init_centroids([(features, labels)], num_classes=3, feat_dim=4)


def test_loss_is_full_precision_under_autocast():
    torch.manual_seed(3)
    features, centroids = torch.randn(8, 16) * 30 + 100, torch.randn(4, 16) * 30 + 100
    labels = torch.randint(0, 4, (8,))
    expected = disc_centroids_loss(features, labels, centroids)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = disc_centroids_loss(features.bfloat16().float(), labels, centroids)
        half_input = disc_centroids_loss(features.bfloat16(), labels, centroids)
    assert got.dtype == torch.float32 and half_input.dtype == torch.float32
    torch.testing.assert_close(got, disc_centroids_loss(features.bfloat16().float(), labels, centroids))
    assert abs(half_input.item() - expected.item()) / expected.item() < 1e-2


def test_feature_batches_feed_init_centroids_and_restore_mode():
    from oltr.models import build_feature_model, feature_batches

    torch.manual_seed(4)
    model = build_feature_model("resnet10", stem="small", width=4, use_fc_add=True, fc_add_dim=6).train()
    images, labels = torch.randn(10, 3, 28, 28), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    loader = [(images[i : i + 4], labels[i : i + 4], torch.arange(i, min(i + 4, 10))) for i in range(0, 10, 4)]
    centroids = init_centroids(feature_batches(model, loader), num_classes=3, feat_dim=6)
    assert model.training  # restored
    with torch.no_grad():
        features = model.eval()(images)[0]
    torch.testing.assert_close(centroids, naive_means(features, labels, 3), rtol=1e-5, atol=1e-6)
