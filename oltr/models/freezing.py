"""Freezing by sub-module name, and BatchNorm handling of frozen parts.

The reference froze every parameter whose *name* contained neither ``modulatedatt`` nor ``fc``; renaming the
attention layer once silently froze it too (OLTR issue #53). Here a part is a named sub-module (``backbone``,
``attention``, ``fc_add``, ``classifier``): freezing it turns off ``requires_grad`` for exactly its parameters.

BatchNorm layers of a frozen part stay in train mode by default, as in the reference (their running statistics keep
moving with the new data). With ``bn_eval=True`` they are put in eval mode and kept there: :func:`freeze` marks the
part, and :func:`set_train_mode` (called by :meth:`FeatureModel.train`, so ``model.train()`` is enough for feature
models) re-applies eval mode after every switch to training.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

log = logging.getLogger(__name__)

FREEZABLE_PARTS = ("backbone", "attention", "fc_add", "classifier")
_BN_EVAL_FLAG = "_oltr_frozen_bn_eval"


def _find_parts(model: nn.Module, part: str) -> tuple[list[nn.Module], bool]:
    """Sub-modules whose attribute name (last path component) or full dotted path equals ``part``.

    Returns the matches and whether an attribute of that name exists but holds ``None`` (an optional part the
    model was built without, e.g. ``attention`` in stage 1).
    """
    found: list[nn.Module] = []
    absent = False
    for path, module in model.named_modules():
        for child_name, child in module._modules.items():
            full = f"{path}.{child_name}" if path else child_name
            if child_name == part or full == part:
                if child is None:
                    absent = True
                else:
                    found.append(child)
    return found, absent


def freeze(model: nn.Module, parts: Iterable[str], bn_eval: bool = False) -> list[str]:
    """Stop gradients into the named parts of ``model``.

    Args:
        model: any module tree; parts are found by sub-module name at any depth (so a DDP wrapper, a task module
            holding ``feature_model`` and ``classifier``, or a bare :class:`FeatureModel` all work), or by full
            dotted path (``"feature_model.backbone"``).
        parts: names such as ``backbone``, ``attention``, ``fc_add``, ``classifier``.
        bn_eval: also put the BatchNorm layers of the frozen parts in eval mode, now and after every
            :func:`set_train_mode` / ``FeatureModel.train()``. Default ``False`` keeps the reference behaviour.

    Returns:
        The parts that were frozen. Optional parts the model was built without (``attention=None``) are skipped.

    Raises:
        ValueError: a part names nothing in the model.
    """
    if isinstance(parts, str):  # freeze(model, "backbone") must not iterate over characters
        parts = [parts]
    frozen: list[str] = []
    for part in parts:
        modules, absent = _find_parts(model, part)
        if not modules:
            if absent:
                log.info("freeze: %r is not built in this model; nothing to freeze", part)
                continue
            names = sorted({n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n})
            raise ValueError(f"cannot freeze {part!r}: no sub-module of that name. Sub-modules: {', '.join(names)}")
        for module in modules:
            module.requires_grad_(False)
            setattr(module, _BN_EVAL_FLAG, bn_eval)
        frozen.append(part)
    if bn_eval:
        apply_frozen_bn_eval(model)
    return frozen


def apply_frozen_bn_eval(model: nn.Module) -> None:
    """Put BatchNorm layers inside parts frozen with ``bn_eval=True`` into eval mode (no-op otherwise)."""
    for module in model.modules():
        if getattr(module, _BN_EVAL_FLAG, False):
            for sub in module.modules():
                if isinstance(sub, _BatchNorm):
                    sub.eval()


def set_train_mode(model: nn.Module, mode: bool = True) -> nn.Module:
    """``model.train(mode)``, then re-apply eval mode to BatchNorm of parts frozen with ``bn_eval=True``.

    Needed only for models whose ``train`` does not already do it (feature models do); safe to call on any module.
    """
    model.train(mode)
    if mode:
        apply_frozen_bn_eval(model)
    return model


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters that still require gradients (what an optimizer should receive after :func:`freeze`)."""
    return [p for p in model.parameters() if p.requires_grad]
