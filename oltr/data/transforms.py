"""Image transforms: the reference recipe, on uint8 tensors.

``imagenet`` preset (ImageNet-LT, Places-LT), as in the OLTR reference:

- train: RandomResizedCrop(224) (scale 0.08-1, ratio 3/4-4/3), horizontal flip, ColorJitter
  (brightness, contrast, saturation 0.4, hue 0), ImageNet normalisation;
- eval: Resize(256) on the short side, CenterCrop(224), normalisation.

``small`` preset (28x28 data such as Fashion-MNIST-LT): train = random crop with zero padding 2 +
horizontal flip, eval = nothing; both then normalise with mean = std = 0.5. No resizing to 224.

Images are uint8 ``(C, H, W)`` tensors (``torchvision.io.decode_image``): crop + antialiased resize on uint8
channels-last (PyTorch's vectorised uint8 kernel), then jitter and normalisation as a few in-place float ops.
The small preset also accepts batches ``(B, C, H, W)`` and draws a crop and flip per sample (see
``ImageListDataset.__getitems__``). ``benchmarks/data_loading.py`` measures this against the reference's PIL
pipeline and ``torchvision.transforms.v2`` (results/benchmarks/data_loading.md).
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable, Iterator, Literal, NamedTuple

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SMALL_MEAN",
    "SMALL_STD",
    "build_transform",
    "ImageNetTrain",
    "ImageNetEval",
    "SmallTrain",
    "SmallEval",
    "to_uint8_tensor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SMALL_MEAN = (0.5, 0.5, 0.5)
SMALL_STD = (0.5, 0.5, 0.5)
# CIFAR training-set channel statistics (the usual CIFAR-LT recipe: crop with padding 4, flip)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL's "L" conversion and torchvision

Preset = Literal["imagenet", "small", "cifar"]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Runs the enclosed tensor ops with one intra-op thread, then restores the setting.

    A transform is a chain of small tensor ops; split over OpenMP threads they spend more time
    waking and spinning than computing, badly so on a busy 2-core machine (measured 20x slower for
    a 128-image Fashion-MNIST batch). DataLoader workers already run with one thread; this covers
    loading in the main process (``num_workers=0``).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _one_thread(call: Callable) -> Callable:
    """Decorates a transform's ``__call__`` with :func:`single_thread`."""

    @functools.wraps(call)
    def wrapper(self: Any, image: Any) -> torch.Tensor:
        with single_thread():
            return call(self, image)

    return wrapper


def to_uint8_tensor(image: Any) -> torch.Tensor:
    """A PIL image or uint8 tensor as a uint8 ``(..., 3, H, W)`` RGB tensor (grey is repeated)."""
    if isinstance(image, Image.Image):
        image = pil_to_tensor(image.convert("RGB"))
    if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8:
        raise TypeError(f"expected a PIL image or a uint8 tensor, got {type(image).__name__}")
    if image.shape[-3] == 1:
        image = image.expand(*image.shape[:-3], 3, *image.shape[-2:])
    return image


class _Normalize:
    """uint8 or [0, 255] float ``(..., C, H, W)`` -> ``(x / 255 - mean) / std``, in place for floats."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.scale = [1.0 / (255.0 * s) for s in std]
        self.shift = [m / s for m, s in zip(mean, std)]
        self.scale_t = torch.tensor(self.scale, dtype=torch.float32).view(-1, 1, 1)
        self.shift_t = torch.tensor(self.shift, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() if x.dtype == torch.uint8 else x
        if x.dim() == 3 and x.is_contiguous():
            # scalar ops on contiguous planes beat a broadcast over (C, 1, 1)
            for c in range(x.shape[0]):
                x[c].mul_(self.scale[c]).sub_(self.shift[c])
            return x
        return x.mul_(self.scale_t).sub_(self.shift_t)


def _to_float_chw(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., C, H, W)`` of any layout -> a new contiguous float32 tensor (one fused copy)."""
    return torch.empty(x.shape, dtype=torch.float32).copy_(x)


def _random_resized_crop_box(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float]
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop covering ``scale`` of the area with aspect in ``ratio``.

    Up to ten tries, then a central crop with the aspect clamped to ``ratio`` (the documented
    behaviour of ``RandomResizedCrop``). Uses the torch RNG so DataLoader worker seeding applies.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    draws = torch.rand(10, 2).tolist()
    for u_area, u_ratio in draws:
        target = area * (scale[0] + (scale[1] - scale[0]) * u_area)
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u_ratio)
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,)))
            left = int(torch.randint(0, width - w + 1, (1,)))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class TrainParams(NamedTuple):
    """One draw of :class:`ImageNetTrain`: crop ``box`` (top, left, h, w), ``flip``, jitter ``factors``
    (brightness, contrast, saturation) and the ``order`` their adjustments run in (empty: no jitter)."""

    box: tuple[int, int, int, int]
    flip: bool
    factors: tuple[float, float, float]
    order: tuple[int, ...]


def _resize_uint8(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 ``(3, H, W)`` tensor (channels-last fast path)."""
    x = x.unsqueeze(0).contiguous(memory_format=torch.channels_last)
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)[0]


class ImageNetTrain:
    """RandomResizedCrop + flip + ColorJitter + normalise on a uint8 ``(3, H, W)`` tensor.

    Jitter factors are drawn uniformly from ``[1 - j, 1 + j]`` and the three adjustments are applied
    in a random order, each followed by clipping, as ``ColorJitter`` does; contrast blends with the
    mean grey level, saturation with the per-pixel grey level. Works on the [0, 255] float scale so
    normalisation is one multiply-subtract at the end.
    """

    def __init__(
        self,
        size: int = 224,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        jitter: float = 0.4,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        self.size, self.scale, self.ratio, self.jitter = size, scale, ratio, jitter
        self.normalize = _Normalize(mean, std)
        self.gray = torch.tensor(_GRAY, dtype=torch.float32).view(1, 3)

    def sample(self, height: int, width: int) -> TrainParams:
        """Draws one augmentation for an image of ``height`` x ``width`` (torch RNG, fixed draw order)."""
        box = _random_resized_crop_box(height, width, self.scale, self.ratio)
        flip = bool(torch.rand(()) < 0.5)
        if self.jitter == 0:
            return TrainParams(box, flip, (1.0, 1.0, 1.0), ())
        j = self.jitter
        factors = tuple((1 - j + 2 * j * torch.rand(3)).tolist())
        return TrainParams(box, flip, factors, tuple(torch.randperm(3).tolist()))

    def apply(self, img: torch.Tensor, params: TrainParams) -> torch.Tensor:
        """The augmentation ``params`` on a uint8 ``(3, H, W)`` tensor, then normalisation."""
        top, left, h, w = params.box
        x = _resize_uint8(img[:, top : top + h, left : left + w], (self.size, self.size))
        if params.flip:
            x = x.flip(-1)
        x = _to_float_chw(x)
        planes = x.view(3, -1)
        for op in params.order:
            f = params.factors[op]
            if op == 0:  # brightness: blend with black
                x.mul_(f)
            elif op == 1:  # contrast: blend with the mean grey level
                m = float(self.gray @ planes.mean(1))
                x.mul_(f).add_((1 - f) * m)
            else:  # saturation: blend with the grey image
                g = (self.gray @ planes).view(1, *x.shape[1:])
                torch.lerp(g.expand_as(x), x, f, out=x)
            # A factor <= 1 blends between two images in [0, 255] (black, the mean grey, the grey
            # image), so the result stays in range and clipping would be a no-op.
            if f > 1:
                x.clamp_(0.0, 255.0)
        return self.normalize(x)

    @_one_thread
    def __call__(self, image: Any) -> torch.Tensor:
        img = to_uint8_tensor(image)
        return self.apply(img, self.sample(img.shape[-2], img.shape[-1]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, scale={self.scale}, jitter={self.jitter})"


class ImageNetEval:
    """Resize the short side to ``resize`` then CenterCrop ``size`` and normalise."""

    def __init__(
        self,
        size: int = 224,
        resize: int = 256,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        self.size, self.resize = size, resize
        self.normalize = _Normalize(mean, std)

    @_one_thread
    def __call__(self, image: Any) -> torch.Tensor:
        img = to_uint8_tensor(image)
        h, w = img.shape[-2:]
        # Short side -> resize, long side truncated as torchvision's Resize(int) does.
        if h <= w:
            new = (self.resize, int(self.resize * w / h))
        else:
            new = (int(self.resize * h / w), self.resize)
        x = _resize_uint8(img, new) if new != (h, w) else img
        top = int(round((new[0] - self.size) / 2.0))
        left = int(round((new[1] - self.size) / 2.0))
        if top < 0 or left < 0:
            raise ValueError(f"image {tuple(img.shape)} smaller than the crop {self.size}")
        return self.normalize(_to_float_chw(x[:, top : top + self.size, left : left + self.size]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(resize={self.resize}, size={self.size})"


class SmallTrain:
    """Random crop with zero padding + horizontal flip + normalise, per sample, batched.

    Accepts ``(C, H, W)`` or ``(B, C, H, W)`` uint8 (or a PIL image); each sample of a batch gets its
    own crop offset and flip, done as one gather.
    """

    def __init__(
        self,
        size: int | None = None,
        padding: int = 2,
        flip: bool = True,
        mean: tuple[float, ...] = SMALL_MEAN,
        std: tuple[float, ...] = SMALL_STD,
    ) -> None:
        self.size, self.padding, self.flip = size, padding, flip
        self.normalize = _Normalize(mean, std)

    @_one_thread
    def __call__(self, image: Any) -> torch.Tensor:
        x = to_uint8_tensor(image)
        single = x.dim() == 3
        if single:
            x = x.unsqueeze(0)
        b, _, h, w = x.shape
        sh, sw = (self.size, self.size) if self.size else (h, w)
        p = self.padding
        if p:
            x = F.pad(x, (p, p, p, p))
        top = torch.randint(0, x.shape[-2] - sh + 1, (b, 1))
        left = torch.randint(0, x.shape[-1] - sw + 1, (b, 1))
        rows = top + torch.arange(sh)
        ar = torch.arange(sw)
        if self.flip:
            flipped = torch.rand(b, 1) < 0.5
            ar = torch.where(flipped, sw - 1 - ar, ar)
        cols = left + ar
        out = x[torch.arange(b)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
        out = self.normalize(_to_float_chw(out.permute(0, 3, 1, 2)))
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding}, flip={self.flip})"


class SmallEval:
    """Normalise (and resize when ``size`` differs from the image); batched like ``SmallTrain``."""

    def __init__(
        self, size: int | None = None, mean: tuple[float, ...] = SMALL_MEAN, std: tuple[float, ...] = SMALL_STD
    ) -> None:
        self.size = size
        self.normalize = _Normalize(mean, std)

    @_one_thread
    def __call__(self, image: Any) -> torch.Tensor:
        x = to_uint8_tensor(image)
        if self.size and tuple(x.shape[-2:]) != (self.size, self.size):
            single = x.dim() == 3
            y = x.unsqueeze(0) if single else x
            y = F.interpolate(y.float(), size=(self.size, self.size), mode="bilinear", antialias=True)
            x = y[0] if single else y
        return self.normalize(x).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


def build_transform(preset: Preset, train: bool, image_size: int | None = None) -> Callable:
    """The train or eval transform of a preset.

    Args:
        preset: ``'imagenet'`` (224 crops, reference recipe) or ``'small'`` (28x28 data).
        train: training augmentation if true, evaluation transform otherwise.
        image_size: output side; default 224 (``imagenet``) or the input size (``small``; 28 for
            Fashion-MNIST). The ``imagenet`` eval resize keeps the reference's 256/224 proportion.

    Returns:
        A callable image -> float tensor ``(3, S, S)``.

    Example:
        >>> t = build_transform("small", train=True)
        >>> t(torch.zeros(3, 28, 28, dtype=torch.uint8)).shape
        torch.Size([3, 28, 28])
    """
    if preset not in ("imagenet", "small", "cifar"):
        raise ValueError(f"unknown transform preset {preset!r}; expected 'imagenet', 'small' or 'cifar'")
    if preset == "cifar":  # 32x32 CIFAR: random crop with padding 4 + flip, CIFAR normalisation
        return (SmallTrain(image_size, padding=4, mean=CIFAR_MEAN, std=CIFAR_STD) if train
                else SmallEval(image_size, mean=CIFAR_MEAN, std=CIFAR_STD))
    if preset == "imagenet":
        size = image_size or 224
        return ImageNetTrain(size) if train else ImageNetEval(size, round(size * 256 / 224))
    return SmallTrain(image_size) if train else SmallEval(image_size)
