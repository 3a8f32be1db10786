"""Mixup / CutMix of training batches (torchvision ``transforms.v2``), as torchvision's classification
reference applies them.

``data.mixup_alpha`` / ``data.cutmix_alpha`` > 0 switch each on; with both, every batch gets one of the
two, chosen with equal probability (``v2.RandomChoice``). A batch ``(x, y)`` becomes
``(lam x + (1 - lam) x', lam onehot(y) + (1 - lam) onehot(y'))`` with ``lam ~ Beta(alpha, alpha)`` and
``x'`` the batch rolled by one (CutMix: a box of area ``1 - lam`` pasted from ``x'``, ``lam`` corrected
to the pasted area). Targets become ``(B, K)`` probabilities, which every registered loss accepts.

The draws come from torch's global RNG in the main process, which the trainer reseeds at every epoch
from (seed, epoch, rank): runs and resumes stay reproducible.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torchvision.transforms import v2

BatchMix = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def build_batch_mix(mixup_alpha: float, cutmix_alpha: float, num_classes: int) -> Optional[BatchMix]:
    """The batch transform ``(images, labels (B,)) -> (images, targets (B, K))``, or None when both are 0."""
    mixes = []
    if mixup_alpha > 0:
        mixes.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    if cutmix_alpha > 0:
        mixes.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if not mixes:
        return None
    return mixes[0] if len(mixes) == 1 else v2.RandomChoice(mixes)
