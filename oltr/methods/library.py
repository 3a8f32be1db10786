"""The registered methods: tau-norm, logit adjustment, NCM (post-hoc) and cRT, LWS (classifier training).

Every method reads the cached stage-1 features through :class:`~oltr.methods.apply.MethodContext` and
returns logits for val, test and the open set; tau-style parameters are chosen on val only.
"""

from __future__ import annotations

import copy
from typing import Optional, Sequence

import numpy as np
import torch

from oltr.config import loss_kwargs
from oltr.losses import build_loss
from oltr.methods.apply import MethodContext, MethodOutput
from oltr.methods.decoupled import LearnableWeightScaling, fresh_linear, train_classifier
from oltr.methods.ncm import ncm_logits
from oltr.methods.posthoc import TAU_GRID, logit_adjust, select_tau
from oltr.methods.registry import METHODS


@METHODS.register("tau_norm", label="τ-norm", trains=False)
def tau_norm(ctx: MethodContext, taus: Sequence[float] = TAU_GRID) -> MethodOutput:
    """tau-normalised stage-1 classifier (bias kept), tau chosen on val over ``taus``.

    ``x . (w_j / ||w_j||^tau) = (x . w_j) / ||w_j||^tau``: one matrix product per split (shared with
    logit adjustment), then a column scaling per tau, instead of one product per tau.
    """
    norms = ctx.weight.norm(dim=1).clamp_min(1e-12)  # the row norms tau_normalize divides by
    buffers: dict[str, torch.Tensor] = {}  # one output buffer per split, reused for every tau

    def at(split: str, tau: float) -> torch.Tensor:
        raw = ctx.raw_logits(split)
        out = buffers.setdefault(split, torch.empty_like(raw))
        torch.mul(raw, norms.pow(-tau).to(raw.dtype), out=out) if tau else out.copy_(raw)
        return out if ctx.bias is None else out.add_(ctx.bias.to(out.dtype))

    best, scores = select_tau(lambda t: at("val", t), ctx.labels("val"), taus)
    return MethodOutput({s: at(s, best).float().numpy() for s in ctx.eval_splits},
                        {"selected": {"tau": best}, "val_top1_by_tau": {str(t): v for t, v in scores.items()}})


@METHODS.register("logit_adjust", label="Logit adj.", trains=False)
def logit_adjustment(ctx: MethodContext, taus: Sequence[float] = TAU_GRID) -> MethodOutput:
    """Stage-1 logits minus tau * log(training prior), tau chosen on val over ``taus``."""
    bias = 0 if ctx.bias is None else ctx.bias.to(ctx.weight.dtype)
    base = {s: ctx.raw_logits(s) + bias for s in ctx.eval_splits}
    shift = torch.as_tensor(logit_adjust(np.zeros((1, ctx.num_classes)), ctx.train_counts, 1.0)[0],
                            dtype=ctx.weight.dtype)  # -log(prior), from logit_adjust itself
    out = torch.empty_like(base["val"])  # reused for every tau: no fresh (N, K) allocation per tau

    def val_at(tau: float) -> torch.Tensor:
        return torch.add(base["val"], shift, alpha=tau, out=out)

    best, scores = select_tau(val_at, ctx.labels("val"), taus)
    return MethodOutput({s: logit_adjust(z, ctx.train_counts, best).float().numpy() for s, z in base.items()},
                        {"selected": {"tau": best}, "val_top1_by_tau": {str(t): v for t, v in scores.items()}})


@METHODS.register("ncm", label="NCM", trains=False)
def nearest_class_mean(ctx: MethodContext, norm: str = "cl2n", distance: str = "euclidean") -> MethodOutput:
    """Nearest class mean of the training features (``norm``: none|l2|cl2n, ``distance``: euclidean|cosine)."""
    train_x, train_y = ctx.features("train"), ctx.labels("train")
    return MethodOutput({s: ncm_logits(train_x, train_y, ctx.features(s), norm=norm, distance=distance,
                                       num_classes=ctx.num_classes) for s in ctx.eval_splits})


def _criterion(ctx: MethodContext, loss: Optional[str], epochs: int) -> torch.nn.Module:
    """The stage-1 run's loss section (``loss=None``) re-built for ``epochs``, or a registered loss by name."""
    cfg = copy.deepcopy(ctx.cfg)
    cfg.epochs = epochs
    if loss is not None:
        cfg.loss.name, cfg.loss.params = loss, {}
    return build_loss(cfg.loss.name, **loss_kwargs(cfg, ctx.train_counts))


def _train(ctx: MethodContext, head: torch.nn.Module, loss: Optional[str], **kw) -> tuple[torch.nn.Module, list]:
    history: list[dict] = []
    train_classifier(head, ctx.features("train"), ctx.labels("train"), _criterion(ctx, loss, kw["epochs"]),
                     seed=ctx.seed, on_epoch=lambda e, v: history.append({"epoch": e, "loss": round(v, 6)}), **kw)
    return head, history


@METHODS.register("crt", label="cRT", trains=True)
def classifier_retraining(ctx: MethodContext, epochs: int = 10, lr: float = 0.2, batch_size: int = 512,
                          momentum: float = 0.9, weight_decay: float = 5e-4, num_samples_cls: int = 4,
                          loss: Optional[str] = None) -> MethodOutput:
    """Re-initialised linear classifier trained on frozen features with class-aware sampling, cosine lr.

    ``loss=None`` uses the stage-1 run's loss (so a row's loss applies to both stages, as OLTR's
    stage 2 does); ``loss='ce'`` is Decoupling's own choice.
    """
    head = fresh_linear(ctx.weight.shape[1], ctx.num_classes, seed=ctx.seed)
    head, history = _train(ctx, head, loss, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                           weight_decay=weight_decay, num_samples_cls=num_samples_cls)
    with torch.no_grad():
        w, b = head.weight.detach(), head.bias.detach()
    return MethodOutput({s: ctx.linear_logits(s, weight=w, bias=b) for s in ctx.eval_splits},
                        {"history": history}, state={k: v.detach().clone() for k, v in head.state_dict().items()})


@METHODS.register("lws", label="LWS", trains=True)
def learnable_weight_scaling(ctx: MethodContext, epochs: int = 10, lr: float = 0.2, batch_size: int = 512,
                             momentum: float = 0.9, weight_decay: float = 5e-4, num_samples_cls: int = 4,
                             loss: Optional[str] = None) -> MethodOutput:
    """Per-class scales on the frozen stage-1 classifier, trained like cRT (scales start at 1)."""
    head = LearnableWeightScaling(ctx.weight, ctx.bias)
    head, history = _train(ctx, head, loss, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                           weight_decay=weight_decay, num_samples_cls=num_samples_cls)
    scales = head.scales.detach()
    logits = {s: (torch.as_tensor(ctx.linear_logits(s)) * scales).numpy().astype(np.float32) for s in ctx.eval_splits}
    return MethodOutput(logits, {"history": history, "scales": scales.tolist()},
                        state={"scales": scales.clone()})
