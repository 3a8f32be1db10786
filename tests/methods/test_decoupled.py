"""cRT / LWS classifier training on cached features."""

from __future__ import annotations

import numpy as np
import torch

from oltr.losses import build_loss
from oltr.methods import LearnableWeightScaling, train_classifier
from oltr.methods.decoupled import fresh_linear


def test_lws_at_its_initial_scales_is_its_input_classifier():
    lin = torch.nn.Linear(6, 4)
    x = torch.randn(10, 6)
    lws = LearnableWeightScaling(lin.weight, lin.bias)
    assert torch.equal(lws(x), lin(x))
    assert [n for n, p in lws.named_parameters()] == ["scales"]  # W, b are frozen buffers


def test_lws_learns_to_favour_the_tail_and_leaves_weights_untouched():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [90, 10])
    x = rng.normal(size=(100, 2)).astype(np.float32) + np.where(y[:, None] == 0, [2.0, 0.0], [0.0, 2.0])
    w = torch.tensor([[2.0, 0.0], [0.0, 0.5]])  # a head-biased classifier: tail row has a small norm
    lws = LearnableWeightScaling(w, torch.zeros(2))
    train_classifier(lws, x, y, build_loss("ce"), epochs=10, lr=0.5, batch_size=20, seed=0)
    assert torch.equal(lws.weight, w)
    assert lws.scales[1] / lws.scales[0] > 1.5  # class-balanced training scales the tail row up


def test_crt_is_seeded_and_learns_separable_features():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), [60, 20, 5])
    x = (np.eye(3)[y] * 3 + rng.normal(size=(85, 3)) * 0.3).astype(np.float32)
    heads = []
    for _ in range(2):
        head = fresh_linear(3, 3, seed=7)
        losses = []
        train_classifier(head, x, y, build_loss("ce"), epochs=5, lr=0.5, batch_size=16, seed=0,
                         on_epoch=lambda e, v: losses.append(v))
        heads.append(head)
        assert losses[-1] < losses[0]
    assert torch.equal(heads[0].weight, heads[1].weight)  # same seed, same classifier
    acc = (heads[0](torch.as_tensor(x)).argmax(1).numpy() == y).mean()
    assert acc > 0.95
