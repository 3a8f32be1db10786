"""Image-list datasets: a root folder plus a split list (ImageNet-LT, Places-LT, Fashion-MNIST-LT, ...).

Images are decoded with ``torchvision.io.decode_image`` to uint8 RGB tensors (falling back to PIL for
formats libjpeg cannot read, e.g. CMYK JPEGs). Bad samples are errors naming the file, unless ``skip_bad=True``:
then missing files are dropped up front and undecodable ones replaced at load time, and the number
skipped is logged and kept in ``.skipped`` (never silent).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.v2.functional import pil_to_tensor

from .lists import read_list
from .stats import class_counts
from .transforms import SmallEval, SmallTrain, single_thread

__all__ = ["ImageListDataset", "ImageLoadError", "load_image", "find_missing"]

log = logging.getLogger(__name__)

_BATCHED = (SmallTrain, SmallEval)  # transforms that accept (B, C, H, W)


class ImageLoadError(OSError):
    """An image that is missing or cannot be decoded; the message names the file."""


def _decode_tensor(path: Path) -> torch.Tensor:
    try:
        return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except RuntimeError:
        # libjpeg/libpng could not read it (CMYK JPEG, PNG named .JPEG, ...): let PIL try.
        return pil_to_tensor(_decode_pil(path))


def _decode_pil(path: Path) -> Image.Image:
    with open(path, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Decodes one image as a uint8 RGB ``(3, H, W)`` tensor.

    Raises:
        ImageLoadError: the file is missing or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"image not found: {path}")
    try:
        return _decode_tensor(path)
    except Exception as err:  # any decoder failure becomes one error type naming the file
        raise ImageLoadError(f"cannot decode image {path}: {err}") from err


def find_missing(root: str | os.PathLike, paths: Iterable[str]) -> list[str]:
    """Relative paths under ``root`` that are not regular files."""
    root = os.fspath(root)
    return [p for p in paths if not os.path.isfile(os.path.join(root, p))]


class ImageListDataset(Dataset):
    """Images listed in an OLTR split list, relative to ``root``.

    Args:
        root: dataset root; list paths are joined onto it.
        list_file: split list (``read_list`` format). A relative path that does not exist is also
            looked up under ``root``.
        transform: image -> tensor callable (``build_transform``); ``None`` returns the uint8 tensor.
        num_classes: declared number of known classes (checked while parsing).
        skip_bad: drop missing images (and replace undecodable ones) instead of raising; the count
            is logged as a warning and kept in ``skipped``.
        cache: decode every image once into memory as uint8 (small datasets such as
            Fashion-MNIST-LT). Same-sized images are stacked into one tensor so that batched
            transforms run once per batch (``__getitems__``).

    Attributes:
        root: the root folder.
        paths: relative image paths (after skipping).
        labels: ``int64`` labels, ``-1`` for open-set samples.
        skipped: number of samples skipped because their image was missing or undecodable.
        bad_files: those samples' relative paths.

    Example:
        ``ds = ImageListDataset("data/FashionMNIST_LT", "FashionMNIST_LT_train.txt",
        build_transform("small", True), cache=True)``; ``image, label, index = ds[0]``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        list_file: str | os.PathLike,
        transform: Callable | None = None,
        num_classes: int | None = None,
        skip_bad: bool = False,
        cache: bool = False,
    ) -> None:
        self.root = Path(root)
        list_file = Path(list_file)
        if not list_file.is_absolute() and not list_file.exists() and (self.root / list_file).exists():
            list_file = self.root / list_file
        self.list_file = list_file
        self.transform = transform
        self.num_classes = num_classes
        self.skip_bad = skip_bad
        paths, labels = read_list(list_file, num_classes)
        self.paths: list[str] = paths
        self.labels: np.ndarray = labels
        self.skipped = 0
        self.bad_files: list[str] = []
        self._cache: torch.Tensor | list[torch.Tensor] | None = None

        if skip_bad:
            self._drop(find_missing(self.root, self.paths), "missing")
        if cache:
            self._fill_cache()

    # -- bookkeeping --------------------------------------------------------------------------
    def _drop(self, bad: Sequence[str], why: str) -> None:
        if not bad:
            return
        bad_set = set(bad)
        keep = np.fromiter((p not in bad_set for p in self.paths), dtype=bool, count=len(self.paths))
        self.paths = [p for p, k in zip(self.paths, keep) if k]
        self.labels = self.labels[keep]
        self.skipped += len(bad)
        self.bad_files.extend(bad)
        log.warning(
            "%s: skipped %d of %d samples with %s images (first: %s)",
            self.list_file, len(bad), len(bad) + len(self.paths), why, os.path.join(self.root, bad[0]),
        )

    def _fill_cache(self) -> None:
        images: list[torch.Tensor] = []
        bad: list[str] = []
        for rel in self.paths:
            try:
                images.append(load_image(self.root / rel))
            except ImageLoadError:
                if not self.skip_bad:
                    raise
                bad.append(rel)
        self._drop(bad, "undecodable")
        shapes = {tuple(im.shape) for im in images}
        self._cache = torch.stack(images) if len(shapes) == 1 else images

    @property
    def cached(self) -> bool:
        """Whether images are held in memory."""
        return self._cache is not None

    def class_counts(self) -> np.ndarray:
        """Samples per known class (requires ``num_classes`` or infers ``max(label) + 1``)."""
        k = self.num_classes if self.num_classes is not None else int(self.labels.max(initial=-1)) + 1
        return class_counts(self.labels, k)

    # -- access -------------------------------------------------------------------------------
    def load(self, index: int) -> Any:
        """The undecorated image of sample ``index`` (uint8 ``(3, H, W)`` tensor)."""
        if self._cache is not None:
            return self._cache[index]
        return load_image(self.root / self.paths[index])

    def _load_or_replace(self, index: int) -> tuple[Any, int]:
        """Loads ``index``; with ``skip_bad`` an undecodable image is replaced by the next good one."""
        for attempt in range(len(self.paths)):
            i = (index + attempt) % len(self.paths)
            try:
                return self.load(i), i
            except ImageLoadError as err:
                if not self.skip_bad:
                    raise
                self.skipped += 1
                self.bad_files.append(self.paths[i])
                log.warning("%s (replaced by the next sample; %d skipped so far in this process)", err, self.skipped)
        raise ImageLoadError(f"no decodable image in {self.list_file}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        image, index = self._load_or_replace(int(index))
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index]), index

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int, int]]:
        """Batched access used by ``DataLoader``: one transform call per batch when cached."""
        if isinstance(self._cache, torch.Tensor) and isinstance(self.transform, _BATCHED):
            with single_thread():
                idx = torch.as_tensor(indices, dtype=torch.long)
                images = self.transform(self._cache[idx])
                labels = self.labels[idx.numpy()].tolist()
                return list(zip(images.unbind(0), labels, idx.tolist()))
        return [self[i] for i in indices]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, list={self.list_file.name!r}, n={len(self)}, "
            f"cached={self.cached}, skipped={self.skipped}, transform={self.transform!r})"
        )
