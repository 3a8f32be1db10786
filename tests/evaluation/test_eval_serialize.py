"""to_jsonable: metric dicts to strict JSON and back."""

from __future__ import annotations

import json

import numpy as np
import torch

from oltr.evaluation import closed_set_metrics, open_set_metrics, to_jsonable


def test_metric_dicts_roundtrip_strict_json(golden_eval):
    g = golden_eval
    closed = closed_set_metrics(g.known_logits, g.known_labels, g.train_counts)
    closed["per_class"][3] = np.nan
    opened = open_set_metrics(g.known_logits, g.known_labels, g.open_logits, g.train_counts)
    text = json.dumps(to_jsonable({"closed_set": closed, "open_set": opened}), allow_nan=False)
    back = json.loads(text)
    assert back["closed_set"]["per_class"][3] is None
    np.testing.assert_allclose(np.array(back["closed_set"]["per_class"], dtype=float), closed["per_class"])
    assert back["open_set"]["tp"] == opened["tp"]


def test_scalars_tensors_and_containers():
    out = to_jsonable({"a": (np.float32(1.5), np.bool_(True)), "t": torch.tensor([1, 2]), 3: float("inf")})
    assert out == {"a": [1.5, True], "t": [1, 2], "3": None}
