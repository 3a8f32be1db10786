"""Feature models: ResNet trunks on torchvision's residual blocks, plus the OLTR extras.

A :class:`FeatureModel` maps images to ``(feature (B, D), feature_map (B, C, H, W))``:

.. math::

    m = \\mathrm{att}(\\mathrm{trunk}(x)), \\quad f = \\mathrm{avgpool}(m), \\quad
    f \\leftarrow \\mathrm{ReLU}(W_{add} f + b_{add}) \\text{ if fc\\_add}

* ``backbone``: a :class:`ResNetTrunk` (stem + four stages of widths ``width * (1, 2, 4, 8)`` times the block
  expansion). Its keys follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``, ``downsample.0``), so
  torchvision and Caffe-converted state dicts load into it (see :mod:`oltr.models.weights`).
* ``attention``: :class:`~oltr.models.attention.ModulatedAttention` on the last map (stage 2), or ``None``.
* ``fc_add``: ``Linear(C -> fc_add_dim)`` followed by ReLU in :meth:`FeatureModel.forward`, or ``None``.

Adaptive average pooling replaces the reference's fixed ``AvgPool2d(7)``, so any input size works. The ``small`` stem
(3x3 stride-1 convolution, no max-pool) suits 28x28 images; ``imagenet`` is the usual 7x7/2 convolution + max-pool.
Models are registered in :data:`FEATURE_MODELS`; :func:`build_feature_model` is the factory.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1

from oltr.models.attention import ModulatedAttention
from oltr.models.freezing import apply_frozen_bn_eval
from oltr.models.weights import LoadReport, load_weights, resolve_torchvision_weights
from oltr.registry import Registry

log = logging.getLogger(__name__)

Stem = Literal["imagenet", "small"]
Block = type[BasicBlock] | type[Bottleneck]

FEATURE_MODELS: Registry = Registry("feature model")


class ResNetTrunk(nn.Module):
    """ResNet without pooling or head: returns the last convolutional map.

    Args:
        block: torchvision ``BasicBlock`` or ``Bottleneck``.
        layers: blocks per stage, e.g. ``(1, 1, 1, 1)`` for ResNet-10.
        width: stem / first-stage channels; stage ``i`` has ``width * 2**i`` (times the block expansion).
        stem: ``imagenet`` (7x7/2 conv + 3x3/2 max-pool, /4) or ``small`` (3x3/1 conv, no pooling, /1).
        in_channels: image channels.
    """

    def __init__(
        self, block: Block, layers: Sequence[int], *, width: int = 64, stem: Stem = "imagenet", in_channels: int = 3,
        groups: int = 1, width_per_group: int = 64,
    ) -> None:
        super().__init__()
        # ResNeXt: grouped 3x3 convolutions inside each Bottleneck (torchvision's groups / base_width)
        self.groups, self.width_per_group = groups, width_per_group
        if groups > 1 and width * width_per_group < 64:
            raise ValueError(f"width {width} leaves no channel per group ({groups} groups of "
                             f"{width_per_group} * width / 64); use width >= {-(-64 // width_per_group)}")
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        elif stem == "small":
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"unknown stem {stem!r}; expected 'imagenet' or 'small'")
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self._inplanes = width
        self.layer1 = self._stage(block, width, layers[0], stride=1)
        self.layer2 = self._stage(block, width * 2, layers[1], stride=2)
        self.layer3 = self._stage(block, width * 4, layers[2], stride=2)
        self.layer4 = self._stage(block, width * 8, layers[3], stride=2)
        self.out_channels = width * 8 * block.expansion
        self.stem = stem
        # He-normal (fan_out) convolutions and unit BatchNorm: the reference's init and torchvision's.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, block: Block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        # base_width=64 keeps a Bottleneck's inner width equal to `planes` whatever our `width` is.
        downsample = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self._inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
            )
        kw = {"groups": self.groups, "base_width": self.width_per_group}
        stage = [block(self._inplanes, planes, stride, downsample, **kw)]
        self._inplanes = planes * block.expansion
        stage += [block(self._inplanes, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class FeatureModel(nn.Module):
    """Backbone + optional modulated attention + global average pooling + optional ``fc_add``/ReLU.

    Args:
        backbone: the trunk; must expose ``out_channels``.
        use_attention: add :class:`ModulatedAttention` on the last map.
        attention_init: its start, ``identity`` or ``reference`` (see :mod:`oltr.models.attention`).
        use_fc_add: add ``Linear(out_channels -> fc_add_dim)`` + ReLU after pooling (features become >= 0).
        fc_add_dim: width of ``fc_add``.
        arch: registry name, kept for reports.

    Attributes:
        feat_dim: ``D``, width of the returned feature.
        map_channels: ``C``, channels of the returned map.
    """

    def __init__(
        self,
        backbone: ResNetTrunk,
        *,
        use_attention: bool = False,
        use_fc_add: bool = False,
        fc_add_dim: int = 512,
        arch: str = "",
        attention_init: str = "identity",
    ) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        self.map_channels = backbone.out_channels
        # Absent parts are registered as None so that freeze() can tell "not built" from "misspelt".
        self.register_module("attention", ModulatedAttention(self.map_channels, init=attention_init)
                             if use_attention else None)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.register_module("fc_add", nn.Linear(self.map_channels, fc_add_dim) if use_fc_add else None)
        self.feat_dim = fc_add_dim if use_fc_add else self.map_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(feature (B, D), feature_map (B, C, H, W))``; the map is the one pooled (after attention)."""
        fmap = self.backbone(x)
        if self.attention is not None:
            fmap = self.attention(fmap)
        feature = self.pool(fmap).flatten(1)
        if self.fc_add is not None:
            feature = torch.relu(self.fc_add(feature))
        return feature, fmap

    def train(self, mode: bool = True) -> FeatureModel:
        """Switch mode, keeping BatchNorm of parts frozen with ``bn_eval=True`` in eval mode."""
        super().train(mode)
        if mode:
            apply_frozen_bn_eval(self)
        return self


def _builder(block: Block, layers: tuple[int, int, int, int], arch: str, groups: int = 1,
             width_per_group: int = 64) -> Callable[..., FeatureModel]:
    """A registry builder for one architecture (keyword-only options, defaults in one place)."""

    def build(
        *,
        stem: Stem = "imagenet",
        width: int = 64,
        in_channels: int = 3,
        use_fc_add: bool = False,
        fc_add_dim: int = 512,
        use_attention: bool = False,
        attention_init: str = "identity",
    ) -> FeatureModel:
        trunk = ResNetTrunk(block, layers, width=width, stem=stem, in_channels=in_channels, groups=groups,
                            width_per_group=width_per_group)
        return FeatureModel(
            trunk, use_attention=use_attention, use_fc_add=use_fc_add, fc_add_dim=fc_add_dim, arch=arch,
            attention_init=attention_init,
        )

    build.__name__ = arch
    build.__doc__ = f"{arch}: {block.__name__} x {layers}, feature width 8 * width * {block.expansion}."
    return build


# name: (block, blocks per stage, torchvision weights available)
_SPECS: dict[str, tuple[Block, tuple[int, int, int, int], bool]] = {
    "resnet10": (BasicBlock, (1, 1, 1, 1), False),
    "resnet18": (BasicBlock, (2, 2, 2, 2), True),
    "resnet34": (BasicBlock, (3, 4, 6, 3), True),
    "resnet50": (Bottleneck, (3, 4, 6, 3), True),
    "resnet101": (Bottleneck, (3, 4, 23, 3), True),
    "resnet152": (Bottleneck, (3, 8, 36, 3), True),
}
for _name, (_block, _layers, _tv) in _SPECS.items():
    _register = FEATURE_MODELS.register(
        _name, block=_block.__name__, layers=_layers, expansion=_block.expansion, torchvision_weights=_tv
    )
    _register(_builder(_block, _layers, _name))
# ResNeXt-50 (32x4d): the standard ImageNet-LT backbone of Decoupling, BALMS, RIDE
FEATURE_MODELS.register("resnext50_32x4d", block="Bottleneck", layers=(3, 4, 6, 3), expansion=4,
                        torchvision_weights=True, groups=32, width_per_group=4)(
    _builder(Bottleneck, (3, 4, 6, 3), "resnext50_32x4d", groups=32, width_per_group=4))


def feature_model_params(name: str) -> list[str]:
    """Keyword options accepted by the builder of feature model ``name``."""
    signature = inspect.signature(FEATURE_MODELS.get(name).builder)
    return [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def build_feature_model(name: str, *, weights: Any = None, new_keys: Iterable[str] = (), **params: Any) -> FeatureModel:
    """Build a registered feature model, optionally loading weights strictly.

    Args:
        name: registry name (``resnet10``, ``resnet18``, ``resnet34``, ``resnet50``, ``resnet101``, ``resnet152``).
        params: the builder's options (:func:`feature_model_params`); the ResNets take:
        stem: ``imagenet`` (224 crops) or ``small`` (28x28 images).
        width: base channel count; stages have ``width * (1, 2, 4, 8)`` (times 4 for bottlenecks). 64 is standard.
        in_channels: image channels.
        use_fc_add: append ``Linear(C -> fc_add_dim)`` + ReLU (reference ``use_fc``).
        fc_add_dim: width of ``fc_add``.
        use_attention: insert modulated attention before pooling.
        attention_init: ``identity`` (zero output conv) or ``reference`` (the reference's re-drawn convs).
        weights: ``None``; a local file / state dict (our layout, torchvision, Caffe-converted or reference
            checkpoint, see :mod:`oltr.models.weights`); or a torchvision weights enum / name
            (``"IMAGENET1K_V2"``, ``"ResNet152_Weights.IMAGENET1K_V2"``), fetched through torchvision's cache.
        new_keys: key prefixes allowed to be absent from ``weights`` (they start fresh), e.g. ``("fc_add.",)``
            when ImageNet weights feed a model with ``fc_add``.

    Returns:
        The model; ``model.load_report`` holds the :class:`~oltr.models.weights.LoadReport` when weights were
        loaded.

    Example:
        >>> model = build_feature_model("resnet10", stem="small", width=16)
        >>> feature, fmap = model(torch.randn(2, 3, 28, 28))
        >>> tuple(feature.shape), model.feat_dim, tuple(fmap.shape)
        ((2, 128), 128, (2, 128, 4, 4))
    """
    entry = FEATURE_MODELS.get(name)
    unknown = sorted(set(params) - set(feature_model_params(name)))
    if unknown:
        raise ValueError(f"feature model {name!r} takes no {', '.join(unknown)}; "
                         f"it takes {', '.join(feature_model_params(name))}")
    model: FeatureModel = entry.builder(**params)
    if weights is None:
        return model
    enum = resolve_torchvision_weights(weights, name if entry.meta["torchvision_weights"] else None)
    if enum is not None:
        if type(enum).__name__.lower() != f"{name}_weights":
            raise ValueError(f"torchvision weights {enum} do not belong to {name}")
        shape = {k: params.get(k, v) for k, v in (("stem", "imagenet"), ("width", 64), ("in_channels", 3))}
        if shape != {"stem": "imagenet", "width": 64, "in_channels": 3}:
            raise ValueError(f"torchvision weights need stem='imagenet', width=64, in_channels=3 (got {shape})")
        try:
            state = enum.get_state_dict(progress=False)
        except Exception as err:  # offline machines: say what to do instead
            raise RuntimeError(
                f"could not fetch {enum} ({err}); without network, save the state dict to a file and pass its path"
            ) from err
        report = load_weights(model, state, new_keys)
    else:
        report = load_weights(model, weights, new_keys)
    model.load_report: LoadReport = report
    log.info("%s: loaded %d tensors from %s", name, len(report.loaded), weights)
    return model
