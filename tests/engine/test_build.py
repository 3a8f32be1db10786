"""The engine builds models through the registries only: classifiers by config value, backbones with the
options their builder takes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from oltr.engine.build import build_task
from oltr.models import CLASSIFIERS, FEATURE_MODELS, build_feature_model, feature_model_params
from oltr.registry import Entry
from _engine_helpers import tiny_cfg


class _Flat(nn.Module):
    """A backbone without stem/width: mean colour -> Linear."""

    def __init__(self, feat_dim: int) -> None:
        super().__init__()
        self.feat_dim = feat_dim
        self.fc = nn.Linear(3, feat_dim)

    def forward(self, x: torch.Tensor):
        return self.fc(x.mean((2, 3))), x


def test_a_backbone_gets_only_the_options_it_accepts(tmp_path, monkeypatch):
    seen = {}

    def flat(*, use_attention: bool = False) -> _Flat:
        seen["use_attention"] = use_attention
        return _Flat(6)

    monkeypatch.setitem(FEATURE_MODELS._entries, "flat", Entry("flat", flat))
    assert feature_model_params("flat") == ["use_attention"]
    task = build_task(tiny_cfg(tmp_path, 1, **{"model.name": "flat", "model.width": 8}), 4, None)
    assert seen == {"use_attention": False} and task.classifier.fc.in_features == 6


def test_classifier_comes_from_the_registry_by_config_value(tmp_path):
    for stage, name in ((1, "dot"), (2, "meta_embedding")):
        task = build_task(tiny_cfg(tmp_path, stage), 4, None)
        assert name in CLASSIFIERS and type(task.classifier) is CLASSIFIERS.get(name).builder


def test_unknown_backbone_option_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"takes no depth; it takes stem, width"):
        build_feature_model("resnet10", depth=3)
