"""Strict weight loading from local files, with the checkpoint layouts the OLTR pipeline meets.

The reference filled every key missing from a checkpoint with the layer's fresh initialisation, silently (that is how
its new stage-2 layers came up random, and how a wrong file could go unnoticed). :func:`load_weights` fails instead,
listing missing, unexpected and shape-mismatched keys, unless the caller names the keys meant to start fresh
(``new_keys``, prefixes such as ``"attention."``).

Accepted sources (a path or an in-memory mapping):

* this package's own state dicts (``FeatureModel.state_dict()``, classifiers), optionally saved through
  ``DataParallel``/``DistributedDataParallel`` (a ``module.`` prefix on every key is stripped);
* a torchvision ResNet state dict (``conv1.weight``, ``layer1.0.bn1.running_mean``, ..., ``fc.weight``);
* the Caffe-converted ResNet-152 the reference used for Places-LT (``caffe_resnet152.pth``, converted with the
  torchvision key names; it may lack the ``num_batches_tracked`` counters). Caffe ResNets stride in the first 1x1
  convolution of a bottleneck while torchvision strides in the 3x3; the reference loaded the Caffe weights into the
  torchvision-style network anyway, and so does this package, to reproduce it;
* a reference OLTR checkpoint (``final_model_checkpoint.pth``: ``state_dict_best`` -> ``feat_model`` /
  ``classifier``, keys prefixed ``module.``; ``modulatedatt.*`` maps onto ``attention.*``).

Layout rules for a bare backbone file loaded into a :class:`~oltr.models.resnet.FeatureModel`: every key moves under
``backbone.``, except ``fc_add.*`` (kept) and ``modulatedatt.*`` (renamed); the 1000-way ImageNet head ``fc.*`` is
not part of a feature model and is dropped (reported in :class:`LoadReport`); absent ``num_batches_tracked``
counters keep their current value (they are step counters, not weights, and are reported as ``filled``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn
from torchvision.models import WeightsEnum, get_model_weights, get_weight

log = logging.getLogger(__name__)

StateSource = Union[str, Path, Mapping[str, Any]]

# Reference attention names -> ours (see oltr.models.attention.ModulatedAttention).
_REFERENCE_ATTENTION = {"theta": "theta", "phi": "phi", "g": "g", "conv_mask": "out", "fc_spatial": "spatial"}
_MAX_LISTED = 40


class WeightLoadError(RuntimeError):
    """A checkpoint does not match the model; ``missing``, ``unexpected`` and ``mismatched`` hold every key."""

    def __init__(
        self, source: str, missing: list[str], unexpected: list[str], mismatched: list[tuple[str, tuple, tuple]]
    ) -> None:
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [f"weights from {source} do not match the model:"]
        for title, keys in (
            ("missing from the checkpoint", missing),
            ("unexpected in the checkpoint", unexpected),
            ("shape mismatch (checkpoint vs model)", [f"{k}: {tuple(a)} vs {tuple(b)}" for k, a, b in mismatched]),
        ):
            if keys:
                shown = ", ".join(keys[:_MAX_LISTED])
                more = f" ... and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else ""
                lines.append(f"  {len(keys)} {title}: {shown}{more}")
        if missing or mismatched:
            lines.append("  Keys meant to start fresh must be named in new_keys (prefixes, e.g. 'attention.').")
        super().__init__("\n".join(lines))


@dataclass
class LoadReport:
    """What :func:`load_weights` did: keys loaded, left fresh (``new_keys``), dropped from the file, filled."""

    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)


def read_state_dict(source: StateSource, *, section: str = "feat_model") -> dict[str, torch.Tensor]:
    """Read a state dict from a path or mapping and unwrap the known containers.

    Args:
        source: file written by ``torch.save`` (read on CPU with ``weights_only=True``) or a mapping.
        section: which network of a reference OLTR checkpoint to take (``feat_model`` or ``classifier``).

    Returns:
        A flat ``{key: tensor}`` dict with any ``module.`` prefix removed.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    else:
        state = source
    if isinstance(state, Mapping) and "state_dict_best" in state:  # reference OLTR final_model_checkpoint.pth
        state = state["state_dict_best"][section]
    elif isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise TypeError(f"expected a state dict (mapping of tensors), got {type(state).__name__}")
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):  # saved through (Distributed)DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _adapt_backbone_layout(state: dict[str, torch.Tensor], target_keys: Iterable[str]) -> tuple[dict, list[str]]:
    """Move a bare-backbone layout (torchvision / Caffe / reference) under ``backbone.``; drop the ImageNet head."""
    target_keys = list(target_keys)
    if not any(k.startswith("backbone.") for k in target_keys) or any(k.startswith("backbone.") for k in state):
        return state, []
    adapted: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for key, value in state.items():
        if key.startswith("fc."):
            dropped.append(key)
        elif key.startswith("fc_add."):
            adapted[key] = value
        elif key.startswith("modulatedatt."):
            layer, rest = key[len("modulatedatt.") :].split(".", 1)
            adapted[f"attention.{_REFERENCE_ATTENTION.get(layer, layer)}.{rest}"] = value
        else:
            adapted[f"backbone.{key}"] = value
    return adapted, dropped


def _matches(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p) for p in prefixes)


def load_weights(
    module: nn.Module, source: StateSource, new_keys: Iterable[str] = (), *, section: str | None = None
) -> LoadReport:
    """Load ``source`` into ``module`` strictly.

    Args:
        module: the model to fill (a ``FeatureModel``, a classifier, ...).
        source: path or state dict in one of the layouts of this module's docstring.
        new_keys: key prefixes of ``module`` allowed to be missing from (or shaped differently in) the checkpoint;
            they keep their fresh initialisation. Stage 2 loads stage 1 with ``("attention.", "fc_add.")``.
        section: network of a reference OLTR checkpoint to read; default ``feat_model`` for modules with a
            ``backbone``, else ``classifier``.

    Returns:
        A :class:`LoadReport`.

    Raises:
        WeightLoadError: listing every missing, unexpected and shape-mismatched key not allowed by ``new_keys``.
    """
    prefixes = tuple(new_keys)
    target = module.state_dict()
    if section is None:
        section = "feat_model" if any(k.startswith("backbone.") for k in target) else "classifier"
    state = read_state_dict(source, section=section)
    state, dropped = _adapt_backbone_layout(state, target)

    report = LoadReport(dropped=dropped)
    missing, mismatched = [], []
    for key, current in target.items():
        if key not in state:
            if _matches(key, prefixes):
                report.fresh.append(key)
            elif key.endswith("num_batches_tracked"):
                report.filled.append(key)
            else:
                missing.append(key)
            continue
        if state[key].shape != current.shape:
            if _matches(key, prefixes):
                report.fresh.append(key)
                del state[key]
            else:
                mismatched.append((key, tuple(state[key].shape), tuple(current.shape)))
    unexpected = [k for k in state if k not in target]
    if missing or unexpected or mismatched:
        name = str(source) if isinstance(source, (str, Path)) else "state dict"
        raise WeightLoadError(name, missing, unexpected, mismatched)

    # Keys left fresh or filled keep the module's own tensors; everything else comes from the checkpoint.
    merged = {**target, **state}
    module.load_state_dict(merged, strict=True)
    report.loaded = [k for k in target if k in state]
    if report.fresh:
        log.info("weights: %d keys start fresh (%s)", len(report.fresh), ", ".join(sorted(prefixes)))
    if report.dropped:
        log.info("weights: dropped %d keys not part of the model: %s", len(dropped), ", ".join(dropped))
    return report


def resolve_torchvision_weights(spec: Any, arch: str | None):
    """Return the torchvision ``WeightsEnum`` member named by ``spec``, or ``None`` when ``spec`` is a file path.

    ``spec`` may be an enum member, ``"ResNet152_Weights.IMAGENET1K_V2"``, or a member name of ``arch``'s enum
    (``"IMAGENET1K_V1"``, ``"DEFAULT"``).
    """
    if isinstance(spec, WeightsEnum):
        return spec
    if isinstance(spec, Mapping):
        return None
    text = str(spec)
    if Path(text).exists():
        return None
    if "_Weights." in text:
        return get_weight(text)
    if arch is not None:
        try:
            members = get_model_weights(arch)
        except ValueError:
            members = None
        if members is not None and text in members.__members__:
            return members[text]
    raise FileNotFoundError(
        f"weights {text!r} is neither an existing file nor a torchvision weights name"
        + (f" for {arch}" if arch else " (this architecture has no torchvision weights)")
    )
