"""Training tasks: feature model + classifier + criterion in one module whose forward returns a dict.

``task(images, labels)`` returns ``{"loss", "logits", <named components>}``; the loop logs every key
starting with ``loss`` without knowing which stage it runs. Wrapping the whole task in
DistributedDataParallel keeps every gradient (stage 2's centroids included) inside one DDP graph.
"""

from __future__ import annotations

import torch
from torch import nn

from oltr.models import disc_centroids_loss


class Stage1Task(nn.Module):
    """Stage 1: ``loss = criterion(classifier(feature_model(x)), y)``."""

    def __init__(self, feature_model: nn.Module, classifier: nn.Module, criterion: nn.Module) -> None:
        super().__init__()
        self.feature_model = feature_model
        self.classifier = classifier
        self.criterion = criterion

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        feature, _ = self.feature_model(images)
        logits, _ = self.classifier(feature)
        out = {"logits": logits}
        if labels is not None:
            # Losses run in fp32 under autocast (as timm / torchvision do for log-softmax).
            out["loss"] = out["loss_cls"] = self.criterion(logits.float(), labels)
        return out


class Stage2Task(Stage1Task):
    """Stage 2: ``loss = criterion(logits, y) + w * disc_centroids_loss(direct_feature, y, centroids)``.

    The centroid loss sees the **direct** feature (feature-model output), as the reference code does;
    the centroids are the meta-embedding classifier's memory (``classifier.centroids``).
    ``loss_scale``: the loss scale of an fp16 GradScaler (:func:`oltr.engine.loop.loss_scale_source`), handed to
    the reference-mode centroid gradient so that its update does not depend on the scale.
    """

    def __init__(self, feature_model: nn.Module, classifier: nn.Module, criterion: nn.Module,
                 centroid_weight: float = 0.01, grad_mode: str = "reference") -> None:
        super().__init__(feature_model, classifier, criterion)
        self.centroid_weight = centroid_weight
        self.grad_mode = grad_mode
        self.loss_scale = None

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        feature, _ = self.feature_model(images)
        logits, _ = self.classifier(feature)
        out = {"logits": logits}
        if labels is not None:
            cls = self.criterion(logits.float(), labels)
            # This step's scale: the scaler updates it only after backward, so forward reads the value backward needs.
            scale = self.loss_scale() if self.loss_scale is not None else None
            dc = disc_centroids_loss(feature.float(), labels, self.classifier.centroids, grad_mode=self.grad_mode,
                                     grad_scale=scale)
            out.update(loss=cls + self.centroid_weight * dc, loss_cls=cls, loss_centroids=dc)
        return out


def loss_xi(criterion: nn.Module) -> float | None:
    """The loss's current schedule value (``xi`` of the cyclical losses) if it exposes one, else None."""
    for name in ("xi", "eta"):
        value = getattr(criterion, name, None)
        if value is None:
            continue
        if callable(value):
            try:
                value = value()
            except TypeError:
                continue
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return None
