"""Discriminative centroid loss and centroid initialisation (OLTR stage 2 memory).

Loss, for ``B`` direct features ``f_n`` (feature-model output, not the meta-embedding) with labels ``y_n`` and
centroids ``c_k`` (K x D), ``d_{nk} = ||f_n - c_k||^2``:

.. math::

    L_{att} = \\frac{1}{2B} \\sum_n d_{n y_n}, \\qquad
    L_{rep} = \\mathrm{clamp}\\Big(m - \\frac{1}{BK} \\sum_n \\sum_{k \\ne y_n} d_{nk},\\ 0,\\ 10^6\\Big)

.. math::

    L_{dc} = L_{att} + \\lambda_{rep} L_{rep}, \\qquad m = 10,\\ \\lambda_{rep} = 0.01

(the own-class entries are excluded from the repel sum but the mean still divides by ``B*K``, as in the reference).
Training adds it to the classification loss with an outer weight (0.01 in the reference configs).

Gradient modes (``grad_mode``):

* ``reference`` (default; what the shipped OLTR configs use, to reproduce the published pipeline): the attract
  term's backward is the reference's hand-written one. Features get the true gradient ``(f_n - c_{y_n}) / B``
  (times the upstream weights), but the centroid gradient is the center-loss-style update
  ``g_k = (1/B) \\sum_{n: y_n = k} (c_k - f_n) / (1 + n_k)`` with ``n_k`` the batch count of class ``k``, and it
  **ignores the upstream gradient**: neither ``repel_weight``-style factors inside nor the outer loss weight scale
  it. The repel term goes through autograd in both modes. Because the centroid gradient ignores the upstream
  gradient, it also misses a loss scale (fp16 GradScaler): pass the scale as ``grad_scale`` and the centroid
  gradient is multiplied by it, so that unscaling gives the same update as an unscaled fp32 step.
* ``autograd``: the true gradient of ``L_dc`` for features and centroids (so every weight scales it).

Initialisation (:func:`init_centroids`): exact class means of the training features in one streaming pass
(``index_add_`` per batch, float64 accumulators), summed over ranks under DistributedDataParallel before dividing.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, Union

import torch
import torch.distributed as dist
from torch import nn

GradMode = Literal["reference", "autograd"]
# the current loss scale (a GradScaler's): a number, a tensor, or a callable read at backward time
GradScale = Union[float, torch.Tensor, Callable[[], Union[float, torch.Tensor, None]], None]


def _scale_value(grad_scale: GradScale) -> float | torch.Tensor | None:
    return grad_scale() if callable(grad_scale) else grad_scale


class _ReferenceAttract(torch.autograd.Function):
    """``L_att`` with the reference's centroid gradient (upstream gradient ignored for the centroids, times the
    loss scale ``grad_scale`` so that a GradScaler's unscale step restores it)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, centroids: torch.Tensor, labels: torch.Tensor,
                grad_scale: GradScale = None) -> torch.Tensor:
        diff = features - centroids.index_select(0, labels)
        ctx.save_for_backward(diff, labels)
        ctx.num_classes = centroids.shape[0]
        ctx.grad_scale = grad_scale
        return diff.pow(2).sum() / (2.0 * features.shape[0])

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        diff, labels = ctx.saved_tensors
        batch = diff.shape[0]
        grad_features = grad_output * diff / batch if ctx.needs_input_grad[0] else None
        grad_centroids = None
        if ctx.needs_input_grad[1]:
            counts = torch.ones(ctx.num_classes, dtype=diff.dtype, device=diff.device)
            counts.index_add_(0, labels, torch.ones_like(labels, dtype=diff.dtype))
            summed = torch.zeros(ctx.num_classes, diff.shape[1], dtype=diff.dtype, device=diff.device)
            summed.index_add_(0, labels, -diff)  # sum of (c_k - f_n) over the class's samples
            grad_centroids = summed / counts.unsqueeze(1) / batch
            scale = _scale_value(ctx.grad_scale)  # read now: the scaler has scaled this step's loss by then
            if scale is not None:
                grad_centroids = grad_centroids * scale
        return grad_features, grad_centroids, None, None


def _full_precision(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast off: the distance expansion ``||f||^2 + ||c||^2 - 2 f.c`` cancels badly in half precision."""
    try:
        return torch.autocast(device_type, enabled=False)
    except RuntimeError:  # device types without autocast (e.g. meta)
        return contextlib.nullcontext()


def _check(features: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor) -> None:
    if features.dim() != 2 or centroids.dim() != 2 or features.shape[1] != centroids.shape[1]:
        raise ValueError(
            f"expected features (B, D) and centroids (K, D), got {tuple(features.shape)} and {tuple(centroids.shape)}"
        )
    if labels.shape != features.shape[:1]:
        raise ValueError(f"expected labels of shape ({features.shape[0]},), got {tuple(labels.shape)}")


def disc_centroids_loss(
    features: torch.Tensor,
    labels: torch.Tensor,
    centroids: torch.Tensor,
    grad_mode: GradMode = "reference",
    margin: float = 10.0,
    repel_weight: float = 0.01,
    grad_scale: GradScale = None,
) -> torch.Tensor:
    """Discriminative centroid loss ``L_att + repel_weight * L_rep`` (see the module docstring).

    Args:
        features: direct features ``(B, D)``; extra trailing dimensions are flattened.
        labels: class ids ``(B,)``.
        centroids: ``(K, D)``, typically ``MetaEmbeddingClassifier.centroids`` (the parameter itself, not a copy).
        grad_mode: ``reference`` (hand-written centroid gradient, ignores loss weights) or ``autograd``.
        margin: ``m`` of the repel term.
        repel_weight: ``lambda_rep``.
        grad_scale: ``reference`` mode only: the factor the caller scales the loss by before ``backward`` (a
            GradScaler's scale; a callable is read during backward). The hand-written centroid gradient is
            multiplied by it so that it stays independent of the loss scale after unscaling. ``None`` = 1.

    Returns:
        A scalar tensor, differentiable w.r.t. ``features`` and ``centroids``. It is computed in at least float32
        with autocast off, whatever the caller's autocast context.

    Example:
        >>> f, c = torch.zeros(2, 3), torch.zeros(4, 3)
        >>> round(disc_centroids_loss(f, torch.tensor([0, 1]), c).item(), 6)  # attract 0, 0.01 * clamp(10 - 0)
        0.1
    """
    features = features.flatten(1)
    labels = labels.long()
    _check(features, labels, centroids)
    if grad_mode not in ("reference", "autograd"):
        raise ValueError(f"unknown grad_mode {grad_mode!r}; expected 'reference' or 'autograd'")
    with _full_precision(features.device.type):
        dtype = torch.promote_types(torch.promote_types(features.dtype, centroids.dtype), torch.float32)
        return _disc_centroids_loss(features.to(dtype), labels, centroids.to(dtype), grad_mode, margin, repel_weight,
                                    grad_scale)


def _disc_centroids_loss(
    features: torch.Tensor,
    labels: torch.Tensor,
    centroids: torch.Tensor,
    grad_mode: GradMode,
    margin: float,
    repel_weight: float,
    grad_scale: GradScale = None,
) -> torch.Tensor:
    batch, num_classes = features.shape[0], centroids.shape[0]
    if grad_mode == "reference":
        attract = _ReferenceAttract.apply(features, centroids, labels, grad_scale)
    else:
        attract = (features - centroids.index_select(0, labels)).pow(2).sum() / (2.0 * batch)

    # B x K squared distances by expansion (no B x K x D tensor); own-class entries are excluded from the sum.
    sq = features.pow(2).sum(1, keepdim=True) + centroids.pow(2).sum(1) - 2.0 * features @ centroids.t()
    own = labels.unsqueeze(1) == torch.arange(num_classes, device=labels.device)
    mean_other = sq.masked_fill(own, 0.0).sum() / (batch * num_classes)
    repel = torch.clamp(margin - mean_other, 0.0, 1e6)
    return attract + repel_weight * repel


class DiscCentroidsLoss(nn.Module):
    """Module form of :func:`disc_centroids_loss`. It holds no centroids: pass the classifier's at each call.

    Example:
        >>> from oltr.models.meta_embedding import MetaEmbeddingClassifier
        >>> clf, loss_fn = MetaEmbeddingClassifier(3, 4), DiscCentroidsLoss()
        >>> round(loss_fn(torch.zeros(2, 3), torch.tensor([0, 1]), clf.centroids).item(), 6)
        0.1
    """

    def __init__(self, grad_mode: GradMode = "reference", margin: float = 10.0, repel_weight: float = 0.01) -> None:
        super().__init__()
        if grad_mode not in ("reference", "autograd"):
            raise ValueError(f"unknown grad_mode {grad_mode!r}; expected 'reference' or 'autograd'")
        self.grad_mode, self.margin, self.repel_weight = grad_mode, margin, repel_weight

    def forward(self, features: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
        return disc_centroids_loss(features, labels, centroids, self.grad_mode, self.margin, self.repel_weight)

    def extra_repr(self) -> str:
        return f"grad_mode={self.grad_mode!r}, margin={self.margin}, repel_weight={self.repel_weight}"


@torch.no_grad()
def init_centroids(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    feat_dim: int,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Exact per-class mean of streamed features: ``c_k = sum_{n: y_n = k} f_n / n_k``.

    One ``index_add_`` per batch into float64 sums and counts (the reference added one sample at a time in a
    Python loop). Under ``torch.distributed`` the sums and counts are all-reduced before dividing, so every rank
    gets the global means; each rank must then see a disjoint shard covering every training sample once (a sampler
    that pads with duplicates would bias the means).

    Args:
        batches: iterable of ``(features (B, D), labels (B,))``, e.g. :func:`feature_batches`.
        num_classes: ``K``.
        feat_dim: ``D``.
        device: where to accumulate when a rank gets no batch (default: the batches' device, else CPU). With the
            NCCL backend pass the rank's CUDA device.

    Returns:
        ``(K, D)`` float32 tensor (the features' dtype when floating). Classes with no sample stay zero, with a
        warning.
    """
    sums = counts = None
    dtype = torch.float32
    for features, labels in batches:
        features = features.detach().flatten(1)
        if sums is None:
            device = features.device
            sums = torch.zeros(num_classes, feat_dim, dtype=torch.float64, device=device)
            counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
            dtype = features.dtype if features.is_floating_point() else torch.float32
        if features.shape[1] != feat_dim:
            raise ValueError(f"features have width {features.shape[1]}, expected feat_dim={feat_dim}")
        labels = labels.to(device=device, dtype=torch.long)
        sums.index_add_(0, labels, features.to(torch.float64))
        counts.index_add_(0, labels, torch.ones_like(labels, dtype=torch.float64))
    if sums is None:
        sums = torch.zeros(num_classes, feat_dim, dtype=torch.float64, device=device)
        counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
        dist.all_reduce(counts)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        shown = ", ".join(map(str, empty[:20])) + (" ..." if len(empty) > 20 else "")
        warnings.warn(f"{len(empty)} classes have no training sample; their centroids stay zero: {shown}", stacklevel=2)
    return (sums / counts.clamp_min(1).unsqueeze(1)).to(dtype)


def feature_batches(
    model: nn.Module, loader: Iterable, device: torch.device | str = "cpu"
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(features, labels)`` of a feature model over ``loader`` in eval mode without gradients.

    ``loader`` yields ``(images, labels, ...)``; the model's ``forward`` returns ``(feature, feature_map)``. The
    model's previous train/eval mode is restored when the generator finishes.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                images, labels = batch[0], batch[1]
                feature = model(images.to(device, non_blocking=True))[0]
                yield feature, torch.as_tensor(labels).to(device)
    finally:
        model.train(was_training)
