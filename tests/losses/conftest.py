"""Shared inputs for the loss tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float64 logits (6, 5), integer targets covering every class, and soft targets."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=gen, dtype=torch.float64) * 2
    targets = torch.tensor([0, 1, 2, 3, 4, 0])
    soft = torch.softmax(torch.randn(6, 5, generator=gen, dtype=torch.float64), 1)
    return logits, targets, soft
