"""Feature models: every registered architecture runs forward and backward at 28x28 and 224x224."""

from __future__ import annotations

import pytest
import torch
import torchvision

from oltr.models import FEATURE_MODELS, FeatureModel, build_feature_model

# Reduced widths keep the registry sweep fast on CPU; test_resnet152_full_width_224 covers the real network once.
SWEEP = [
    ("small", 28, 2, 8),  # stem, input size, batch, width
    ("imagenet", 224, 2, 8),
]


def _forward_backward(model: FeatureModel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    feature, fmap = model(x)
    (feature.sum() + fmap.mean()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(param.grad).all(), f"non-finite gradient for {name}"
    return feature, fmap


# The CIFAR ResNets (resnet20 ... resnet110) have only the small stem (a clear error otherwise, tested below).
@pytest.mark.parametrize("name,stem,size,batch,width", [
    (name, *cfg) for name in FEATURE_MODELS.names() for cfg in SWEEP
    if cfg[0] == "small" or not FEATURE_MODELS.get(name).meta.get("cifar")
])
def test_forward_backward(name, stem, size, batch, width):
    torch.manual_seed(0)
    if FEATURE_MODELS.get(name).meta.get("groups", 1) > 1:  # ResNeXt: 32 groups need width >= 16
        width = 16
        with pytest.raises(ValueError, match="no channel per group.*width >= 16"):
            build_feature_model(name, width=8)
    model = build_feature_model(name, stem=stem, width=width, use_attention=True, use_fc_add=True, fc_add_dim=32)
    # Zero-initialised attention output would leave the attention's inner layers without gradient at init.
    torch.nn.init.normal_(model.attention.out.weight, std=0.01)
    feature, fmap = _forward_backward(model, torch.randn(batch, 3, size, size))
    assert feature.shape == (batch, 32) and model.feat_dim == 32
    assert fmap.shape[:2] == (batch, model.map_channels)
    assert (feature >= 0).all()  # fc_add is followed by ReLU


def test_imagenet_stem_on_small_images():
    """Adaptive pooling: the 224-crop stem still works on 28x28 (the last map is 1x1)."""
    model = build_feature_model("resnet10", width=8, use_attention=True)
    feature, fmap = _forward_backward(model, torch.randn(2, 3, 28, 28))
    assert feature.shape == (2, 64) and fmap.shape == (2, 64, 1, 1)


@pytest.mark.parametrize("name,expected", [("resnet10", 512), ("resnet18", 512), ("resnet50", 2048)])
def test_feature_width_and_map_size(name, expected):
    model = build_feature_model(name).eval()
    with torch.no_grad():
        feature, fmap = model(torch.randn(1, 3, 224, 224))
    assert model.feat_dim == expected and feature.shape == (1, expected) and fmap.shape == (1, expected, 7, 7)


def test_width_scales_every_stage():
    model = build_feature_model("resnet10", stem="small", width=16)
    trunk = model.backbone
    assert trunk.conv1.out_channels == 16
    assert [getattr(trunk, f"layer{i}")[0].conv1.out_channels for i in range(1, 5)] == [16, 32, 64, 128]
    assert model.feat_dim == 128
    feature, fmap = model(torch.randn(2, 3, 28, 28))
    assert fmap.shape == (2, 128, 4, 4) and feature.shape == (2, 128)
    bottleneck = build_feature_model("resnet50", width=8)
    assert bottleneck.feat_dim == 8 * 8 * 4


def test_grayscale_input_channels():
    model = build_feature_model("resnet10", stem="small", width=8, in_channels=1)
    assert model(torch.randn(2, 1, 28, 28))[0].shape == (2, 64)


def test_resnet152_full_width_224():
    """The real Places-LT backbone (58M parameters) once: batch 1, forward and backward, with attention."""
    torch.manual_seed(0)
    model = build_feature_model("resnet152", use_attention=True, use_fc_add=True)
    feature, fmap = _forward_backward(model, torch.randn(1, 3, 224, 224))
    assert feature.shape == (1, 512) and fmap.shape == (1, 2048, 7, 7)


def test_matches_torchvision_resnet_features():
    """Same weights, same numbers: the trunk is torchvision's ResNet minus avgpool/fc."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    model = build_feature_model("resnet18", weights=reference.state_dict()).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = torch.flatten(reference.avgpool(torch.nn.Sequential(*list(reference.children())[:-2])(x)), 1)
        torch.testing.assert_close(model(x)[0], expected)


def test_channels_last_model_matches_contiguous():
    torch.manual_seed(0)
    model = build_feature_model("resnet10", stem="small", width=8, use_attention=True).eval()
    torch.nn.init.normal_(model.attention.out.weight, std=0.1)
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        expected = model(x)[0]
        model = model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))[0]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_registry_metadata_and_unknown_name():
    assert {"resnet10", "resnet152"} <= set(FEATURE_MODELS.names())
    assert FEATURE_MODELS.get("resnet10").meta["torchvision_weights"] is False
    assert FEATURE_MODELS.get("resnet152").meta["layers"] == (3, 8, 36, 3)
    with pytest.raises(ValueError, match="resnet10"):
        build_feature_model("resnet11")
    with pytest.raises(ValueError, match="stem"):
        build_feature_model("resnet10", stem="tiny")


def test_cifar_resnets_have_he_et_al_parameter_counts():
    """He et al. (2016), Table 6: ResNet-20 0.27M, ResNet-32 0.46M, ResNet-44 0.66M, ResNet-56 0.85M,
    ResNet-110 1.7M parameters (10-class classifier included; option-A shortcuts add none)."""
    import torch

    from oltr.models import build_feature_model

    for depth, millions in ((20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)):
        model = build_feature_model(f"resnet{depth}", stem="small", width=16)
        n = sum(p.numel() for p in model.parameters()) + 64 * 10 + 10
        assert round(n / 1e6, 2 if depth < 110 else 1) == millions, (depth, n)
    model = build_feature_model("resnet32", stem="small", width=16)
    feature, fmap = model(torch.randn(2, 3, 32, 32))
    assert feature.shape == (2, 64) and fmap.shape == (2, 64, 8, 8) and model.feat_dim == 64
    assert not any("downsample" in k for k in model.state_dict())  # parameter-free shortcuts


def test_cifar_resnet_refuses_the_imagenet_stem_and_bad_depths():
    import pytest

    from oltr.models import build_feature_model
    from oltr.models.resnet_cifar import CifarResNetTrunk

    with pytest.raises(ValueError, match="set model.stem: small"):
        build_feature_model("resnet32", stem="imagenet")
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNetTrunk(33)


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    import torch

    from oltr.models.resnet_cifar import PadShortcut

    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    y = PadShortcut(2, 2)(x)
    assert y.shape == (1, 4, 2, 2)
    assert torch.equal(y[0, 1:3], x[0, :, ::2, ::2]) and not y[0, 0].any() and not y[0, 3].any()


def test_resnext50_32x4d_matches_torchvision():
    """Same keys, shapes and numbers as torchvision's resnext50_32x4d minus its fc head."""
    torch.manual_seed(0)
    ours = build_feature_model("resnext50_32x4d").eval()
    reference = torchvision.models.resnext50_32x4d().eval()
    ref_state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    ours.backbone.load_state_dict(ref_state, strict=True)
    assert ours.feat_dim == 2048 and ours.backbone.layer1[0].conv2.groups == 32
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feature, _ = ours(x)
        expected = torch.flatten(reference.avgpool(torch.nn.Sequential(*list(reference.children())[:-2])(x)), 1)
    torch.testing.assert_close(feature, expected)
