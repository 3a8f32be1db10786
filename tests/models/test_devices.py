"""A stage-2 model (attention + fc_add + meta-embedding) moves between devices, dtypes and state dicts."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from oltr.models import MetaEmbeddingClassifier, build_feature_model, disc_centroids_loss, load_weights


class Stage2(nn.Module):
    """What the engine builds for stage 2: feature model + meta-embedding classifier (centroids inside)."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.feature_model = build_feature_model(
            "resnet10", stem="small", width=8, use_attention=True, use_fc_add=True, fc_add_dim=16
        )
        self.classifier = MetaEmbeddingClassifier(16, num_classes)

    def forward(self, x: torch.Tensor):
        feature, _ = self.feature_model(x)
        logits, extras = self.classifier(feature)
        return logits, feature


def stage2_model() -> Stage2:
    torch.manual_seed(0)
    model = Stage2()
    torch.nn.init.normal_(model.feature_model.attention.out.weight, std=0.1)
    model.classifier.set_centroids(torch.randn(5, 16))
    return model.eval()


def _devices() -> list:
    return ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def test_every_tensor_is_registered_state():
    """Moving to the meta device moves exactly what is module state: nothing may be left behind on CPU."""
    model = stage2_model().to("meta")
    assert all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
    logits, feature = model(torch.randn(2, 3, 28, 28, device="meta"))
    assert logits.device.type == "meta" and logits.shape == (2, 5)


@pytest.mark.parametrize("device", _devices())
def test_moves_between_devices_and_dtypes(device, no_tf32):
    model = stage2_model()
    x = torch.randn(3, 3, 28, 28)
    with torch.no_grad():
        expected = model(x)[0]
        moved = model.to(device)
        got = moved(x.to(device))[0].cpu()
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        as64 = model.to("cpu", torch.float64)
        torch.testing.assert_close(as64(x.double())[0].float(), expected, rtol=1e-4, atol=1e-4)


def test_state_dict_round_trips(tmp_path):
    model = stage2_model()
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        expected = model(x)[0]
    path = tmp_path / "stage2.pt"
    torch.save(model.state_dict(), path)
    fresh = Stage2().eval()
    fresh.load_state_dict(torch.load(path, weights_only=True))
    clone = copy.deepcopy(model)
    strict = Stage2().eval()
    load_weights(strict.feature_model, model.feature_model.state_dict())
    load_weights(strict.classifier, model.classifier.state_dict())
    with torch.no_grad():
        for other in (fresh, clone, strict):
            torch.testing.assert_close(other(x)[0], expected)
    assert "classifier.centroids" in model.state_dict()


def test_training_step_updates_centroids_only_through_the_loss():
    model = stage2_model().train()
    x, y = torch.randn(4, 3, 28, 28), torch.randint(0, 5, (4,))
    logits, feature = model(x)
    loss = nn.functional.cross_entropy(logits, y) + 0.01 * disc_centroids_loss(feature, y, model.classifier.centroids)
    loss.backward()
    assert model.classifier.centroids.grad is not None
    assert model.feature_model.backbone.conv1.weight.grad is not None
