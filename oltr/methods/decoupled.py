"""Decoupled classifier re-training on frozen features (Kang et al., ICLR 2020): cRT and LWS.

Both train only a classifier on the **cached** features of the stage-1 feature model (eval mode,
eval transform: :mod:`oltr.methods.features`), with the class-aware sampler and a cosine learning
rate over the epochs (Decoupling's ``cls_crt.yaml`` / ``cls_lws.yaml`` recipe: 10 epochs, SGD
momentum 0.9, weight decay 5e-4, lr 0.2 at batch 512, class-aware sampling with 4 images per class
visit). The one deviation: the reference re-ran the frozen network on augmented images every
epoch; here the features are computed once without augmentation, so the feature model is provably
untouched and a method costs milliseconds instead of a pass over the images per epoch.

- **cRT**: a freshly initialised linear classifier ``W x + b``.
- **LWS**: the stage-1 classifier frozen, a learnable scale per class: ``s_j (w_j . x + b_j)``,
  ``s`` initialised to 1 (so the untrained LWS equals its input classifier).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from oltr.data import ClassAwareSampler


class LearnableWeightScaling(nn.Module):
    """``logits = s * (W x + b)`` with ``W, b`` frozen (copied) and ``s`` (K,) learnable, initialised to 1."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.scales = nn.Parameter(torch.ones(weight.shape[0], dtype=weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias) * self.scales


def train_classifier(head: nn.Module, features: np.ndarray, labels: np.ndarray, criterion: nn.Module, *,
                     epochs: int = 10, lr: float = 0.2, batch_size: int = 512, momentum: float = 0.9,
                     weight_decay: float = 5e-4, num_samples_cls: int = 4, seed: int = 0,
                     on_epoch: Callable[[int, float], None] | None = None) -> nn.Module:
    """Train ``head`` (features -> logits) on cached features with the class-aware sampler.

    SGD over ``head``'s trainable parameters, cosine annealing of the lr from ``lr`` to 0 over
    ``epochs`` (stepped per epoch), ``floor(N / batch_size)`` steps per epoch (the engine's rule).
    ``criterion`` gets ``set_epoch(epoch)`` when it has a schedule. Returns ``head`` (trained in place).
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0 (got {epochs}, {batch_size}, {lr})")
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    steps = max(1, len(y) // batch_size)
    sampler = ClassAwareSampler(y.numpy(), num_samples_cls=num_samples_cls, num_samples=steps * batch_size, seed=seed)
    params = [p for p in head.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=0.0)
    head.train()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        if hasattr(criterion, "set_epoch"):
            criterion.set_epoch(epoch)
        order = torch.as_tensor(np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler)))
        total = 0.0
        for batch in order[: steps * batch_size].view(steps, batch_size):
            loss = criterion(head(x[batch]), y[batch])
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"non-finite classifier loss at epoch {epoch}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        scheduler.step()
        if on_epoch is not None:
            on_epoch(epoch, total / steps)
    head.eval()
    return head


def fresh_linear(feat_dim: int, num_classes: int, seed: int) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default initialisation under a fixed seed (cRT's re-initialisation)."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return nn.Linear(feat_dim, num_classes)
    finally:
        torch.random.set_rng_state(gen_state)
