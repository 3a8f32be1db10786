"""Freezing by sub-module, and BatchNorm mode of frozen parts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from oltr.models import (
    DotProductClassifier,
    build_feature_model,
    freeze,
    set_train_mode,
    trainable_parameters,
)


class _Stage2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feature_model = build_feature_model("resnet10", stem="small", width=8, use_attention=True, use_fc_add=True)
        self.classifier = DotProductClassifier(512, 3)


def _requires_grad(module: nn.Module) -> set[bool]:
    return {p.requires_grad for p in module.parameters()}


def test_freeze_backbone_keeps_attention_and_fc_add_trainable():
    model = build_feature_model("resnet10", stem="small", width=8, use_attention=True, use_fc_add=True)
    assert freeze(model, ["backbone"]) == ["backbone"]
    assert _requires_grad(model.backbone) == {False}
    assert _requires_grad(model.attention) == {True} and _requires_grad(model.fc_add) == {True}
    # The reference's substring rule would have kept any parameter with "fc" in its name trainable; ours keeps
    # exactly the non-frozen modules.
    assert {id(p) for p in trainable_parameters(model)} == {
        id(p) for m in (model.attention, model.fc_add) for p in m.parameters()
    }


def test_freeze_parts_of_a_composite_and_missing_parts():
    model = _Stage2()
    freeze(model, ["attention", "classifier"])
    assert _requires_grad(model.classifier) == {False} and _requires_grad(model.feature_model.attention) == {False}
    assert _requires_grad(model.feature_model.backbone) == {True}
    stage1 = build_feature_model("resnet10", stem="small", width=8)
    assert freeze(stage1, ["attention", "fc_add"]) == []  # built without them: nothing to do
    with pytest.raises(ValueError, match="cannot freeze 'backbon'"):
        freeze(stage1, ["backbon"])
    assert freeze(stage1, "backbone") == ["backbone"]  # a single name, not its characters


def test_frozen_backbone_batchnorm_stays_in_train_mode_by_default():
    model = build_feature_model("resnet10", stem="small", width=8)
    freeze(model, ["backbone"])
    model.train()
    assert model.backbone.bn1.training
    before = model.backbone.bn1.running_mean.clone()
    model(torch.randn(4, 3, 28, 28) + 1.0)
    assert not torch.equal(before, model.backbone.bn1.running_mean)  # running stats still move (reference)


def test_frozen_backbone_batchnorm_eval_flag_survives_train():
    model = _Stage2()
    freeze(model, ["backbone"], bn_eval=True)
    bns = [m for m in model.feature_model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(bn.training for bn in bns)
    model.train()  # FeatureModel.train re-applies eval mode to the frozen BatchNorm
    assert not any(bn.training for bn in bns) and model.feature_model.attention.training
    set_train_mode(model, True)
    assert not any(bn.training for bn in bns)
    before = bns[0].running_mean.clone()
    model.feature_model(torch.randn(4, 3, 28, 28) + 1.0)
    assert torch.equal(before, bns[0].running_mean)
    model.eval()
    assert not model.feature_model.attention.training
