"""Strict weight loading: layouts (ours, torchvision, Caffe-converted, reference checkpoint), errors, hand-off."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torchvision

from oltr.models import DotProductClassifier, WeightLoadError, build_feature_model, load_weights


def _small(**kw):
    return build_feature_model("resnet10", stem="small", width=8, **kw)


def _same_state(a: torch.nn.Module, b: torch.nn.Module, prefix: str = "") -> None:
    sb = b.state_dict()
    for key, value in a.state_dict().items():
        if key.startswith(prefix):
            torch.testing.assert_close(value, sb[key], msg=key)


def test_own_layout_round_trip_via_file(tmp_path):
    source = _small(use_attention=True, use_fc_add=True)
    torch.nn.init.normal_(source.attention.out.weight)
    path = tmp_path / "feat.pt"
    torch.save(source.state_dict(), path)
    target = _small(use_attention=True, use_fc_add=True)
    report = load_weights(target, path)
    assert report.loaded and not report.fresh and not report.dropped
    _same_state(source, target)


def test_missing_keys_fail_and_are_listed():
    stage1 = _small()
    stage2 = _small(use_attention=True, use_fc_add=True)
    with pytest.raises(WeightLoadError) as info:
        load_weights(stage2, stage1.state_dict())
    err = info.value
    assert "attention.theta.weight" in err.missing and "fc_add.weight" in err.missing
    assert "attention.theta.weight" in str(err) and "fc_add.bias" in str(err) and "new_keys" in str(err)
    assert not err.unexpected and not err.mismatched


def test_unexpected_and_mismatched_keys_fail_and_are_listed():
    with pytest.raises(WeightLoadError) as info:
        load_weights(_small(), _small(use_fc_add=True).state_dict())
    assert info.value.unexpected == ["fc_add.weight", "fc_add.bias"]
    with pytest.raises(WeightLoadError) as info:
        load_weights(_small(), build_feature_model("resnet10", stem="small", width=16).state_dict())
    key, got, want = info.value.mismatched[0]
    assert key == "backbone.conv1.weight" and got == (16, 3, 3, 3) and want == (8, 3, 3, 3)
    assert "backbone.conv1.weight: (16, 3, 3, 3) vs (8, 3, 3, 3)" in str(info.value)


def test_stage1_to_stage2_hand_off_with_new_keys():
    """The engine's hand-off: stage-1 FeatureModel weights into the stage-2 model, new parts start fresh."""
    stage1 = _small()
    stage2 = _small(use_attention=True, use_fc_add=True)
    fresh_attention = stage2.attention.state_dict()
    report = load_weights(stage2, stage1.state_dict(), new_keys=("attention.", "fc_add."))
    _same_state(stage1, stage2, prefix="backbone.")
    assert all(k.startswith(("attention.", "fc_add.")) for k in report.fresh)
    for key, value in fresh_attention.items():
        torch.testing.assert_close(stage2.attention.state_dict()[key], value)
    # DDP-saved checkpoints (module. prefix) load the same way.
    ddp_state = {f"module.{k}": v for k, v in stage1.state_dict().items()}
    load_weights(_small(use_attention=True), ddp_state, new_keys=("attention.",))


def test_torchvision_layout_drops_imagenet_head(tmp_path):
    reference = torchvision.models.resnet50()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    model = build_feature_model("resnet50", weights=str(path), use_fc_add=True, new_keys=("fc_add.",))
    assert sorted(model.load_report.dropped) == ["fc.bias", "fc.weight"]
    assert sorted(model.load_report.fresh) == ["fc_add.bias", "fc_add.weight"]
    torch.testing.assert_close(model.backbone.layer4[2].conv3.weight, reference.layer4[2].conv3.weight)
    # Without naming fc_add as new, the same file fails and says which keys are missing.
    with pytest.raises(WeightLoadError, match="fc_add.weight"):
        build_feature_model("resnet50", weights=path, use_fc_add=True)


def test_caffe_converted_layout_without_counters():
    """The reference's caffe_resnet152.pth layout: torchvision names, an ImageNet head, possibly no counters."""
    reference = torchvision.models.resnet18()
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    model = build_feature_model("resnet18")
    report = load_weights(model, state)
    assert report.filled and all(k.endswith("num_batches_tracked") for k in report.filled)
    torch.testing.assert_close(model.backbone.bn1.running_var, reference.bn1.running_var)


def test_reference_oltr_checkpoint_layout():
    """final_model_checkpoint.pth: state_dict_best -> feat_model / classifier, keys prefixed module."""
    source = _small(use_attention=True, use_fc_add=True)
    torch.nn.init.normal_(source.attention.out.weight)
    renamed = {"out": "conv_mask", "spatial": "fc_spatial"}
    feat = {}
    for key, value in source.state_dict().items():
        if key.startswith("backbone."):
            key = key[len("backbone.") :]
        elif key.startswith("attention."):
            layer, rest = key[len("attention.") :].split(".", 1)
            key = f"modulatedatt.{renamed.get(layer, layer)}.{rest}"
        feat[f"module.{key}"] = value
    classifier = DotProductClassifier(source.feat_dim, 4)
    checkpoint = {
        "epoch": 30,
        "state_dict_best": {
            "feat_model": feat,
            "classifier": {f"module.{k}": v for k, v in classifier.state_dict().items()},
        },
    }
    target = _small(use_attention=True, use_fc_add=True)
    load_weights(target, checkpoint)
    _same_state(source, target)
    other = DotProductClassifier(source.feat_dim, 4)
    load_weights(other, checkpoint)
    _same_state(classifier, other)


def test_missing_file_and_bad_weights_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither an existing file"):
        build_feature_model("resnet18", weights=str(tmp_path / "nope.pth"))
    with pytest.raises(FileNotFoundError, match="no torchvision weights"):
        build_feature_model("resnet10", weights="IMAGENET1K_V1")


def test_torchvision_weights_enum_without_network(monkeypatch):
    enum = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    reference = torchvision.models.resnet18()
    # Stand in for the download: the enum's own get_state_dict is what build_feature_model calls.
    monkeypatch.setattr(type(enum), "get_state_dict", lambda self, *a, **k: reference.state_dict())
    for spec in (enum, "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1", "DEFAULT"):
        model = build_feature_model("resnet18", weights=spec)
        torch.testing.assert_close(model.backbone.conv1.weight, reference.conv1.weight)
    with pytest.raises(ValueError, match="width=64"):
        build_feature_model("resnet18", weights=enum, width=32)
    with pytest.raises(ValueError, match="do not belong"):
        build_feature_model("resnet34", weights=enum)


def test_torchvision_download_failure_is_explained(monkeypatch):
    enum = torchvision.models.ResNet18_Weights.IMAGENET1K_V1

    def offline(self, *args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(type(enum), "get_state_dict", offline)
    with pytest.raises(RuntimeError, match="pass its path"):
        build_feature_model("resnet18", weights=enum)


def test_rejects_non_state_dict():
    with pytest.raises(TypeError, match="state dict"):
        load_weights(_small(), SimpleNamespace())  # type: ignore[arg-type]
