"""The CIFAR ResNets of He et al. (2016, Section 4.2): ResNet-20/32/44/56/110, the standard backbone of
CIFAR-LT papers (LDAM-DRW, BALMS use ResNet-32).

A 3x3 convolution with ``width`` (16) channels, then three stages of ``n = (depth - 2) / 6`` basic
blocks with ``width * (1, 2, 4)`` channels at strides 1, 2, 2, then global average pooling: the feature
has ``4 * width`` (64) dimensions. Shortcuts that change shape are parameter-free ("option A" of the
paper, as in the LDAM-DRW code): the input subsampled by 2 and zero-padded with the missing channels.
Registered in :data:`oltr.models.resnet.FEATURE_MODELS`, so configs select it by name
(``model.name: resnet32``, ``model.stem: small``, ``model.width: 16``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from oltr.models.resnet import FEATURE_MODELS, FeatureModel

__all__ = ["CifarResNetTrunk", "PadShortcut"]


class PadShortcut(nn.Module):
    """Option-A shortcut: ``x[:, :, ::s, ::s]`` with ``extra`` zero channels split evenly on both sides."""

    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class CifarResNetTrunk(nn.Module):
    """CIFAR ResNet without pooling or head: returns the last map ``(B, 4 * width, H / 4, W / 4)``."""

    def __init__(self, depth: int = 32, *, width: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self._inplanes = width
        self.layer1 = self._stage(width, n, 1)
        self.layer2 = self._stage(width * 2, n, 2)
        self.layer3 = self._stage(width * 4, n, 2)
        self.out_channels = width * 4
        self.stem = "small"
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)  # fan_in, as the CIFAR-LT reference code
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        shortcut = None
        if stride != 1 or self._inplanes != planes:
            shortcut = PadShortcut(stride, planes - self._inplanes)
        stage = [BasicBlock(self._inplanes, planes, stride, shortcut)]
        self._inplanes = planes
        stage += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))


def _builder(depth: int):
    arch = f"resnet{depth}"

    def build(*, stem: str = "small", width: int = 16, in_channels: int = 3, use_fc_add: bool = False,
              fc_add_dim: int = 512, use_attention: bool = False, attention_init: str = "identity") -> FeatureModel:
        if stem != "small":
            raise ValueError(f"{arch} is a CIFAR ResNet (3x3 stride-1 stem): set model.stem: small, not {stem!r}")
        trunk = CifarResNetTrunk(depth, width=width, in_channels=in_channels)
        return FeatureModel(trunk, use_attention=use_attention, attention_init=attention_init, use_fc_add=use_fc_add,
                            fc_add_dim=fc_add_dim, arch=arch)

    build.__name__ = arch
    build.__doc__ = f"{arch}: CIFAR ResNet, 3 x {(depth - 2) // 6} basic blocks, feature width 4 * width (64)."
    return build


for _depth in (20, 32, 44, 56, 110):
    FEATURE_MODELS.register(f"resnet{_depth}", block="BasicBlock", layers=((_depth - 2) // 6,) * 3, expansion=1,
                            torchvision_weights=False, cifar=True)(_builder(_depth))
