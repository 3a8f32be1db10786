"""Classifier heads: dot product (stage 1) and cosine-norm (inside the meta-embedding of stage 2).

Every classifier registered in :data:`CLASSIFIERS` maps features to ``(logits (B, K), extras: dict)``; ``extras``
carries named intermediate tensors (for logging or feature losses) so callers never unpack positional lists.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from oltr.registry import Registry

CLASSIFIERS: Registry = Registry("classifier")


@CLASSIFIERS.register("dot", stage=1)
class DotProductClassifier(nn.Module):
    """Linear classifier ``logits = W x + b`` (the reference's stage-1 head).

    Args:
        feat_dim: ``D``.
        num_classes: ``K``.

    Example:
        >>> logits, extras = DotProductClassifier(8, 3)(torch.randn(2, 8))
        >>> tuple(logits.shape), sorted(extras)
        ((2, 3), ['direct_feature'])
    """

    def __init__(self, feat_dim: int, num_classes: int) -> None:
        super().__init__()
        self.feat_dim, self.num_classes = feat_dim, num_classes
        self.fc = nn.Linear(feat_dim, num_classes)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.fc(feature), {"direct_feature": feature}


class CosNormClassifier(nn.Module):
    """Cosine classifier with norm squashing.

    .. math::

        \\mathrm{logit}_j = s \\cdot \\frac{\\lVert v \\rVert}{1 + \\lVert v \\rVert}
        \\cdot \\left\\langle \\frac{v}{\\lVert v \\rVert}, \\frac{w_j}{\\lVert w_j \\rVert} \\right\\rangle

    Logits lie in ``[-s, s]``; a small ``||v||`` gives logits near zero (a flat softmax). The reference had no
    guard: here both norms are clamped below by ``eps`` (only inputs with norm < ``eps`` are affected).

    Args:
        feat_dim: ``D``.
        num_classes: ``K``.
        scale: ``s`` (16 in the reference).
        eps: lower bound of the norms in the divisions.

    Shape:
        ``(B, D) -> (B, K)`` (a plain tensor: this is a layer, not a registered classifier).
    """

    def __init__(self, feat_dim: int, num_classes: int, scale: float = 16.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.scale, self.eps = scale, eps
        self.weight = nn.Parameter(torch.empty(num_classes, feat_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``U(-1/sqrt(D), 1/sqrt(D))``, as the reference."""
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        norm = v.norm(dim=1, keepdim=True)
        squashed = (norm / (1.0 + norm)) * (v / norm.clamp_min(self.eps))
        w = self.weight / self.weight.norm(dim=1, keepdim=True).clamp_min(self.eps)
        return self.scale * squashed @ w.t()

    def extra_repr(self) -> str:
        return f"feat_dim={self.weight.shape[1]}, num_classes={self.weight.shape[0]}, scale={self.scale}"


def build_classifier(name: str, feat_dim: int, num_classes: int, **params: Any) -> nn.Module:
    """Build a registered classifier (``dot``, ``meta_embedding``: the config's ``model.classifier``); ``None``
    params are dropped."""
    return CLASSIFIERS.build(name, feat_dim=feat_dim, num_classes=num_classes, **params)
