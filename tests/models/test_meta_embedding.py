"""Meta-embedding classifier: golden logits/features from the reference, guards, centroid ownership."""

from __future__ import annotations

import pytest
import torch

from oltr.models import DotProductClassifier, MetaEmbeddingClassifier, build_classifier


def _as32(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


@pytest.fixture()
def golden(golden_oltr) -> dict:
    return golden_oltr["meta_embedding"]


def _golden_classifier(golden: dict) -> MetaEmbeddingClassifier:
    inputs = golden["inputs"]
    num_classes, feat_dim = _as32(inputs["W_hall"]).shape
    clf = MetaEmbeddingClassifier(
        feat_dim, num_classes, reachability_scale=golden["reachability_scale"], cosnorm_scale=golden["cosnorm_scale"]
    )
    with torch.no_grad():
        clf.hallucinator.weight.copy_(_as32(inputs["W_hall"]))
        clf.hallucinator.bias.copy_(_as32(inputs["b_hall"]))
        clf.selector.weight.copy_(_as32(inputs["W_sel"]))
        clf.selector.bias.copy_(_as32(inputs["b_sel"]))
        clf.cosnorm.weight.copy_(_as32(inputs["W_cos"]))
    clf.set_centroids(_as32(inputs["centroids"]))
    return clf


def test_matches_reference_golden(golden):
    clf = _golden_classifier(golden)
    logits, extras = clf(_as32(golden["inputs"]["x"]))
    expected = torch.tensor(golden["logits"], dtype=torch.float64)
    torch.testing.assert_close(logits.double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        extras["direct_feature"].double(), torch.tensor(golden["direct_feature"], dtype=torch.float64)
    )
    torch.testing.assert_close(
        extras["infused_feature"].double(),
        torch.tensor(golden["infused_feature"], dtype=torch.float64),
        rtol=1e-5,
        atol=1e-6,
    )


def test_logits_bounded_by_scale_and_far_samples_flat():
    clf = MetaEmbeddingClassifier(8, 5)
    clf.set_centroids(torch.randn(5, 8))
    logits, _ = clf(torch.randn(64, 8) * 3)
    assert logits.abs().max() <= 16.0 + 1e-4
    # Memory far from a small feature, selector closed (e = 0): gamma ~ 10 / 1e4, so ||v|| ~ 1e-2 and the
    # logits are nearly flat (the open-set rejection mechanism).
    clf.set_centroids(torch.randn(5, 8) * 1e4)
    torch.nn.init.zeros_(clf.selector.weight)
    torch.nn.init.zeros_(clf.selector.bias)
    far_logits, _ = clf(torch.randn(4, 8))
    assert far_logits.abs().max() < 0.1


def test_feature_on_a_centroid_and_zero_feature_are_finite():
    clf = MetaEmbeddingClassifier(4, 3)
    clf.set_centroids(torch.randn(3, 4))
    x = torch.cat([clf.centroids.detach()[:1], torch.zeros(1, 4)]).requires_grad_()
    logits, extras = clf(x)
    logits.sum().backward()
    assert torch.isfinite(logits).all() and torch.isfinite(x.grad).all()
    assert torch.isfinite(extras["reachability"]).all()
    # All-zero memory (before initialisation) and a zero input: both divisions hit eps, output stays finite.
    fresh = MetaEmbeddingClassifier(4, 3)
    assert torch.isfinite(fresh(torch.zeros(2, 4))[0]).all()


def test_classifier_sends_no_gradient_into_centroids():
    clf = MetaEmbeddingClassifier(6, 4)
    clf.set_centroids(torch.randn(4, 6))
    x = torch.randn(5, 6, requires_grad=True)
    logits, _ = clf(x)
    logits.logsumexp(1).sum().backward()
    assert clf.centroids.grad is None
    assert x.grad is not None and clf.hallucinator.weight.grad is not None and clf.selector.weight.grad is not None


def test_centroids_are_module_state_and_forward_takes_only_features():
    clf = MetaEmbeddingClassifier(6, 4)
    assert "centroids" in dict(clf.named_parameters())
    assert "centroids" in clf.state_dict()
    with pytest.raises(ValueError, match="centroids must be"):
        clf.set_centroids(torch.zeros(3, 6))


def test_init_hallucinator_from_stage1_classifier_and_state_dict():
    dot = DotProductClassifier(6, 4)
    clf = MetaEmbeddingClassifier(6, 4)
    clf.init_hallucinator_from(dot)
    torch.testing.assert_close(clf.hallucinator.weight, dot.fc.weight)
    torch.testing.assert_close(clf.hallucinator.bias, dot.fc.bias)
    other = DotProductClassifier(6, 4)
    clf.init_hallucinator_from({f"module.{k}": v for k, v in other.state_dict().items()})
    torch.testing.assert_close(clf.hallucinator.weight, other.fc.weight)
    with pytest.raises(ValueError, match="stage-1 classifier"):
        clf.init_hallucinator_from(DotProductClassifier(6, 5))


def test_classifier_registry_builds_both_heads():
    dot = build_classifier("dot", 8, 3)
    meta = build_classifier("meta_embedding", 8, 3, cosnorm_scale=None)  # None falls back to the default
    assert isinstance(dot, DotProductClassifier) and isinstance(meta, MetaEmbeddingClassifier)
    assert meta.cosnorm.scale == 16.0
    for head in (dot, meta):
        logits, extras = head(torch.randn(2, 8))
        assert logits.shape == (2, 3) and "direct_feature" in extras


def test_reachability_is_full_precision_under_autocast():
    torch.manual_seed(0)
    clf = MetaEmbeddingClassifier(16, 6)
    clf.set_centroids(torch.randn(6, 16) + 50)
    x = clf.centroids.detach()[:3] + 0.01 * torch.randn(3, 16)  # near a centroid, far from the origin
    expected = clf.reachability(x, clf.centroids.detach())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = clf.reachability(x, clf.centroids.detach())
        logits, _ = clf(x)
    torch.testing.assert_close(got, expected)
    assert torch.isfinite(logits).all()
