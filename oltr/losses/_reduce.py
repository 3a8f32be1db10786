"""The one reduction rule shared by every loss, and target normalisation.

``mean`` is the mean over the batch of per-sample losses (each already summed over classes) and ``sum``
is a real sum, so ``sum == mean * B`` for every registered loss. This differs from torch's
``cross_entropy(weight=...)``, whose mean divides by the summed weights: class-weighted losses here
keep the plain batch mean so that the three reductions stay interchangeable.
"""

from __future__ import annotations

import torch

from oltr.losses._registry import REDUCTIONS, check_choice


def reduce_loss(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce a per-sample loss of shape (B,) with ``mean`` | ``sum`` | ``none``."""
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    check_choice("reduction", reduction, REDUCTIONS)
    raise AssertionError("unreachable")


def compute_dtype(logits: torch.Tensor) -> torch.Tensor:
    """Half-precision logits are up-cast to float32: pow/log of probabilities underflow in fp16/bf16."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        return logits.float()
    return logits


def check_inputs(logits: torch.Tensor, targets: torch.Tensor) -> bool:
    """Validate shapes and return ``True`` for dense (B, K) probability targets, ``False`` for indices."""
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (B, K), got {tuple(logits.shape)}")
    if targets.ndim == 1 and not targets.is_floating_point():
        if targets.shape[0] != logits.shape[0]:
            raise ValueError(f"targets (B,) must match logits' batch {logits.shape[0]}, got {tuple(targets.shape)}")
        return False
    if targets.ndim == 2 and targets.is_floating_point():
        if targets.shape != logits.shape:
            raise ValueError(
                f"dense targets must have the logits' shape {tuple(logits.shape)}, got {tuple(targets.shape)}"
            )
        return True
    raise ValueError(
        "targets must be class indices (B,) of an integer dtype or probabilities (B, K) of a float dtype, "
        f"got {tuple(targets.shape)} {targets.dtype}"
    )
