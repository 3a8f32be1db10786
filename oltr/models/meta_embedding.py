"""Meta-embedding classifier (OLTR stage 2).

For a direct feature ``x`` (B x D) and the class centroids ``M`` (K x D, the visual memory):

.. math::

    \\gamma = \\frac{r}{\\max(\\min_k \\lVert x - c_k \\rVert_2, \\epsilon)}, \\qquad
    o = \\mathrm{softmax}(W_h x + b_h), \\qquad
    e = \\tanh(W_s x + b_s)

.. math::

    v = \\gamma \\, (x + e \\odot (o^\\top M)), \\qquad \\mathrm{logits} = \\mathrm{CosNorm}_s(v)

with reachability scale ``r = 10`` and cosine scale ``s = 16`` (see
:class:`~oltr.models.classifiers.CosNormClassifier`). The paper writes ``1 / gamma`` without the factor 10; the code
the published numbers come from has it, and so do we.

The centroids live on this module as a parameter. The reference passed them as a ``forward`` argument, which
``DataParallel`` scattered along the class axis on more than one GPU (issues #7, #35, #56). They are read detached:
the classifier never sends gradient into the memory, which moves only through the discriminative centroid loss
(:func:`oltr.models.centroids.disc_centroids_loss`, fed ``classifier.centroids``) after
:func:`oltr.models.centroids.init_centroids`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from oltr.models.centroids import _full_precision
from oltr.models.classifiers import CLASSIFIERS, CosNormClassifier, DotProductClassifier


@CLASSIFIERS.register("meta_embedding", stage=2)
class MetaEmbeddingClassifier(nn.Module):
    """Hallucinator + concept selector + reachability-scaled memory infusion + cosine classifier.

    Args:
        feat_dim: ``D``.
        num_classes: ``K``.
        reachability_scale: ``r`` in ``gamma = r / min distance``.
        cosnorm_scale: ``s`` of the cosine classifier.
        eps: lower bound of the nearest-centroid distance and of the norms in the cosine classifier. The reference
            had none (a feature on a centroid gave ``inf``/NaN); ``1e-6`` changes nothing for distances and norms
            above it.

    Attributes:
        centroids: ``nn.Parameter`` (K x D), zero until set by :meth:`set_centroids`.
        hallucinator: ``Linear(D -> K)``; initialise it from stage 1 with :meth:`init_hallucinator_from`.
        selector: ``Linear(D -> D)``, the concept selector.
        cosnorm: the :class:`CosNormClassifier`.

    Example:
        >>> clf = MetaEmbeddingClassifier(8, 3)
        >>> clf.set_centroids(torch.randn(3, 8))
        >>> logits, extras = clf(torch.randn(2, 8))
        >>> tuple(logits.shape), sorted(extras)
        ((2, 3), ['direct_feature', 'infused_feature', 'reachability'])
    """

    def __init__(
        self,
        feat_dim: int,
        num_classes: int,
        reachability_scale: float = 10.0,
        cosnorm_scale: float = 16.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.feat_dim, self.num_classes = feat_dim, num_classes
        self.reachability_scale, self.eps = reachability_scale, eps
        self.centroids = nn.Parameter(torch.zeros(num_classes, feat_dim))
        self.hallucinator = nn.Linear(feat_dim, num_classes)
        self.selector = nn.Linear(feat_dim, feat_dim)
        self.cosnorm = CosNormClassifier(feat_dim, num_classes, scale=cosnorm_scale, eps=eps)

    @torch.no_grad()
    def set_centroids(self, centroids: torch.Tensor) -> None:
        """Copy ``centroids`` (K x D) into the memory (e.g. the output of ``init_centroids``)."""
        if centroids.shape != self.centroids.shape:
            raise ValueError(f"centroids must be {tuple(self.centroids.shape)}, got {tuple(centroids.shape)}")
        self.centroids.copy_(centroids)

    @torch.no_grad()
    def init_hallucinator_from(self, source: DotProductClassifier | nn.Linear | Mapping[str, torch.Tensor]) -> None:
        """Copy the stage-1 linear classifier into the hallucinator (as the reference does).

        Args:
            source: a :class:`DotProductClassifier`, an ``nn.Linear``, or a state dict of either
                (``fc.weight``/``fc.bias`` or ``weight``/``bias``; a ``module.`` prefix is ignored).
        """
        if isinstance(source, DotProductClassifier):
            source = source.fc
        if isinstance(source, nn.Linear):
            weight, bias = source.weight, source.bias
        else:
            state = {k.removeprefix("module.").removeprefix("fc."): v for k, v in source.items()}
            weight, bias = state["weight"], state.get("bias")
        if weight.shape != self.hallucinator.weight.shape:
            raise ValueError(
                f"stage-1 classifier is {tuple(weight.shape)}, hallucinator is {tuple(self.hallucinator.weight.shape)}"
            )
        self.hallucinator.weight.copy_(weight)
        if bias is not None:
            self.hallucinator.bias.copy_(bias)

    def reachability(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``gamma`` (B x 1): scale over the distance to the nearest centroid.

        The nearest centroid is found on the cheap ``||x||^2 + ||c||^2 - 2 x.c`` expansion, then its distance is
        recomputed from the difference: exact where it matters (near a centroid), without a B x K x D tensor.
        Autocast is off here: the expansion cancels badly in half precision.
        """
        with _full_precision(x.device.type):
            dtype = torch.promote_types(x.dtype, torch.float32)
            x, memory = x.to(dtype), memory.to(dtype)
            sq = x.pow(2).sum(1, keepdim=True) + memory.pow(2).sum(1) - 2.0 * x @ memory.t()
            nearest = memory[sq.argmin(dim=1)]
            distance = (x - nearest).norm(dim=1, keepdim=True)
            return self.reachability_scale / distance.clamp_min(self.eps)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return ``(logits (B, K), extras)``.

        ``extras``: ``direct_feature`` (the input ``x``), ``infused_feature`` (``e * (o^T M)``) and
        ``reachability`` (``gamma``, B x 1).
        """
        memory = self.centroids.detach()
        gamma = self.reachability(feature, memory)
        memory_feature = self.hallucinator(feature).softmax(dim=1) @ memory
        infused = torch.tanh(self.selector(feature)) * memory_feature
        logits = self.cosnorm(gamma * (feature + infused))
        return logits, {"direct_feature": feature, "infused_feature": infused, "reachability": gamma}

    def extra_repr(self) -> str:
        return f"feat_dim={self.feat_dim}, num_classes={self.num_classes}, reachability_scale={self.reachability_scale}"
