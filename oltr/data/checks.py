"""Checks of a dataset's lists made when the data loads, not mid-epoch.

- known splits (train / val / test) hold labels ``0..K-1`` only: ``-1`` means "unknown" and belongs
  to the open list; the open list holds ``-1`` only and no image of the known splits;
- no split list is empty (an empty validation list used to fail only after a whole epoch);
- every class ``0..K-1`` has training images (else it is reported: it cannot be learned);
- a batch of images of different sizes is reported with the first offending image and the option
  that fixes it (``data.image_size``), instead of a tensor-shape traceback from ``torch.stack``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch.utils.data import default_collate

from oltr.data.lists import OPEN_LABEL, ListFormatError, read_list


class DataCheckError(ValueError):
    """A dataset that cannot be trained or evaluated as given; the message names the list and the fix."""


def check_not_empty(path: str | os.PathLike, n: int, split: str) -> None:
    if n == 0:
        raise DataCheckError(f"{path}: the {split} list is empty (no images); point data.root / data.lists at a "
                             f"folder whose {split} list has lines")


def check_known_labels(path: str | os.PathLike, labels: np.ndarray, split: str) -> None:
    """Refuse ``-1`` in a known-class split, naming the first line (lists have no blank lines)."""
    bad = np.flatnonzero(labels < 0)
    if bad.size:
        raise ListFormatError(path, int(bad[0]) + 1, f"label {OPEN_LABEL} (open set) in the {split} list: -1 is "
                              f"only allowed in the open list ({bad.size:,} such lines)")


def check_open_list(path: str | os.PathLike, paths: Sequence[str], labels: np.ndarray,
                    known: dict[str, Sequence[str]]) -> None:
    """The open list holds label -1 only and none of the images of the known splits ``known``."""
    bad = np.flatnonzero(labels != OPEN_LABEL)
    if bad.size:
        raise ListFormatError(path, int(bad[0]) + 1, f"label {labels[bad[0]]} in the open list: open-set samples "
                              f"are labelled -1 ({bad.size:,} lines are not)")
    for split, known_paths in known.items():
        shared = sorted(set(paths).intersection(known_paths))
        if shared:
            line = list(paths).index(shared[0]) + 1
            raise ListFormatError(path, line, f"{len(shared):,} image(s) of the open list are also in the {split} "
                                  f"list (first: {shared[0]}); open-set images must be of unseen classes")


def missing_classes_message(path: str | os.PathLike, counts: np.ndarray, declared: int | None) -> str | None:
    """A one-line report when some class ``0..K-1`` has no training image, else ``None``."""
    empty = np.flatnonzero(counts == 0)
    if not empty.size:
        return None
    shown = ", ".join(map(str, empty[:10])) + (" ..." if empty.size > 10 else "")
    source = f"data.num_classes = {declared}" if declared is not None else f"{len(counts)} classes"
    return (f"{path}: {empty.size} of {len(counts)} classes have no training image ({shown}; {source}): they "
            "cannot be learned; fix the list or data.num_classes")


class CheckedCollate:
    """``default_collate`` that names the images when a batch mixes image sizes."""

    def __init__(self, paths: Sequence[str], list_file: str | os.PathLike) -> None:
        self.paths, self.list_file = paths, str(list_file)

    def __call__(self, batch: list[tuple[Any, ...]]) -> Any:
        try:
            return default_collate(batch)
        except RuntimeError:
            shapes = [tuple(item[0].shape) for item in batch]
            odd = next((i for i, s in enumerate(shapes) if s != shapes[0]), None)
            if odd is None:
                raise
            first, other = self.paths[batch[0][2]], self.paths[batch[odd][2]]
            raise DataCheckError(
                f"{self.list_file}: images of different sizes: {other} gives {_hw(shapes[odd])} but {first} "
                f"gives {_hw(shapes[0])}; set data.image_size (e.g. {shapes[0][-1]}) so that every image is resized "
                "to one size") from None


def _hw(shape: tuple[int, ...]) -> str:
    return f"{shape[-2]}x{shape[-1]} px" if len(shape) >= 2 else str(shape)


def known_paths(lists: dict[str, Path]) -> dict[str, list[str]]:
    """Relative paths of the known splits whose list files exist."""
    return {split: read_list(p)[0] for split, p in lists.items() if Path(p).is_file()}


def verify_user_lists(name: str, lists_dir: str | os.PathLike) -> list[tuple[str, Path | None, str]]:
    """Check the lists ``<lists_dir>/<name>_<split>.txt`` of a dataset the manifest does not know.

    Returns one ``(split, path or None, problem or "")`` per split: format (via ``read_list``), no ``-1``
    in known splits, open list all ``-1`` and disjoint from the known splits, train/val not empty.
    A train list is required; val/test/open are optional.
    """
    lists_dir = Path(lists_dir)
    out: list[tuple[str, Path | None, str]] = []
    found: dict[str, tuple[list[str], np.ndarray]] = {}
    for split in ("train", "val", "test", "open"):
        path = lists_dir / f"{name}_{split}.txt"
        if not path.is_file():
            out.append((split, None, "missing (required)" if split == "train" else ""))
            continue
        try:
            paths, labels = read_list(path)
            check_not_empty(path, len(paths), split)
            if split == "open":
                check_open_list(path, paths, labels, {s: p for s, (p, _) in found.items()})
            else:
                check_known_labels(path, labels, split)
            found[split] = (paths, labels)
            out.append((split, path, ""))
        except (ListFormatError, DataCheckError) as err:
            out.append((split, path, str(err)))
    return out
