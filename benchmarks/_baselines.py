"""Baseline image pipelines the data-loading benchmark compares oltr against (no config can select them).

- ``pil``: the OLTR reference's classic ``torchvision.transforms`` on PIL images (PIL decoding);
- ``v2``: the same recipe as a ``torchvision.transforms.v2.Compose`` on uint8 tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image

from oltr.data import ImageListDataset
from oltr.data.transforms import IMAGENET_MEAN, IMAGENET_STD, SMALL_MEAN, SMALL_STD


def pil_load(path: str | Path) -> Image.Image:
    """The reference's decoder: ``PIL.Image.open(...).convert('RGB')``."""
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def v2_transform(preset: str, train: bool, size: int) -> Callable:
    """The preset's recipe with ``torchvision.transforms.v2`` on uint8 tensors."""
    from torchvision.transforms import v2

    if preset == "imagenet":
        head = (
            [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip(), v2.ColorJitter(0.4, 0.4, 0.4, 0)]
            if train
            else [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)]
        )
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        head = (
            [v2.RandomCrop(size, padding=2), v2.RandomHorizontalFlip()] if train else [v2.Resize(size, antialias=True)]
        )
        mean, std = SMALL_MEAN, SMALL_STD
    return v2.Compose([v2.ToImage(), *head, v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])


def pil_transform(preset: str, train: bool, size: int) -> Callable:
    """The preset's recipe as the reference builds it: classic transforms on PIL images."""
    from torchvision import transforms as T

    if preset == "imagenet":
        head = (
            [T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4, 0)]
            if train
            else [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]
        )
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        head = [T.RandomCrop(size, padding=2), T.RandomHorizontalFlip()] if train else [T.Resize(size)]
        mean, std = SMALL_MEAN, SMALL_STD
    return T.Compose([*head, T.ToTensor(), T.Normalize(mean, std)])


class PILImageList(ImageListDataset):
    """``ImageListDataset`` that hands PIL images to its transform, as the reference's dataset does."""

    def load(self, index: int) -> Any:
        return pil_load(self.root / self.paths[index])
