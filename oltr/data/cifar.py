"""CIFAR-10/100 from the standard python archives, and the CIFAR benchmarks built from them:
CIFAR-10-LT / CIFAR-100-LT (Cao et al. 2019) and the CFL paper's 4,000-image protocols.

Nothing is downloaded: ``source`` (default ``$OLTR_CIFAR``) is a folder holding ``cifar-10-batches-py/``
and/or ``cifar-100-python/`` as extracted from the official tarballs (or one of those folders itself).
Images keep the archives' order (data_batch_1..5, then test_batch; ``train`` / ``test`` for CIFAR-100),
the order torchvision presents and the published samplers index.

A prepared benchmark is an image-list dataset (:mod:`oltr.data.export`): PNGs ``train/<index>.png``,
``test/<index>.png`` and ``open/<other>_<index>.png`` under ``out_dir``, lists ``<name>_<split>.txt``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .export import ListSpec, export_lists, is_prepared
from .lists import OPEN_LABEL, read_list, write_list
from .subsets import CFL_PROTOCOLS, lt_class_counts, select_per_class, subset_4k, unused_per_class

__all__ = ["CIFAR_FOLDERS", "cifar_source", "load_cifar", "prepare_cifar_4k", "prepare_cifar_lt"]

#: Archive folder, training files, test files and label key of each CIFAR.
CIFAR_FOLDERS: dict[int, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    10: ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "labels"),
    100: ("cifar-100-python", ("train",), ("test",), "fine_labels"),
}
_SIZES = {"train": 50_000, "test": 10_000}


def cifar_source(source: str | os.PathLike | None = None) -> Path:
    """``source`` or ``$OLTR_CIFAR`` (a folder holding the extracted archives)."""
    if source is not None:
        return Path(source)
    if "OLTR_CIFAR" not in os.environ:
        raise FileNotFoundError(
            "CIFAR archives: no source given; set OLTR_CIFAR (or data.prepare_args.source / --source) to the "
            "folder holding cifar-10-batches-py/ and/or cifar-100-python/ (the extracted python archives)")
    return Path(os.environ["OLTR_CIFAR"])


def _archive_dir(source: Path, num_classes: int) -> Path:
    folder = CIFAR_FOLDERS[num_classes][0]
    for cand in (source / folder, source):
        if cand.name == folder and cand.is_dir() or (cand / CIFAR_FOLDERS[num_classes][1][0]).is_file():
            return cand
    raise FileNotFoundError(
        f"CIFAR-{num_classes}: no {folder}/ in {source} (extract cifar-{num_classes}-python.tar.gz there, "
        "or point OLTR_CIFAR / --source at the folder holding it)")


def _read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-{num_classes}: missing archive file {path}")
    try:
        with open(path, "rb") as f:
            raw: dict[Any, Any] = pickle.load(f, encoding="latin1")
    except Exception as err:  # a truncated or foreign file: say which one
        raise ValueError(f"{path}: not a CIFAR python batch ({type(err).__name__}: {err})") from None
    raw = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
    for key in ("data", label_key):
        if key not in raw:
            raise ValueError(f"{path}: no {key!r} entry (keys: {sorted(raw)}); is this a CIFAR-{num_classes} batch?")
    data, labels = np.asarray(raw["data"]), np.asarray(raw[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: 'data' has shape {data.shape} ({data.dtype}); expected (N, 3072) uint8")
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: {labels.size} labels for {data.shape[0]} images")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{path}: label {int(labels[i])} of image {i} outside 0..{num_classes - 1}")
    # rows are 1024 red, 1024 green, 1024 blue values: (N, 3, 32, 32) -> (N, 32, 32, 3)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def load_cifar(num_classes: int, source: str | os.PathLike | None = None, *,
               check_sizes: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{'train': (images (50000, 32, 32, 3) uint8, labels), 'test': (10000 ...)}`` in archive order.

    Raises ``FileNotFoundError`` naming the missing folder or file, ``ValueError`` naming the file
    for a wrong shape, a missing key or a label out of range (and, with ``check_sizes``, a split whose
    size is not the official one).
    """
    if num_classes not in CIFAR_FOLDERS:
        raise ValueError(f"CIFAR has 10 or 100 classes, not {num_classes}")
    folder = _archive_dir(cifar_source(source), num_classes)
    _, train_files, test_files, key = CIFAR_FOLDERS[num_classes]
    out = {}
    for split, files in (("train", train_files), ("test", test_files)):
        parts = [_read_batch(folder / name, key, num_classes) for name in files]
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if check_sizes and len(labels) != _SIZES[split]:
            raise ValueError(f"CIFAR-{num_classes} {split} in {folder}: {len(labels)} images, expected {_SIZES[split]}")
        out[split] = (images, labels)
    return out


def _rel(split: str, idx: np.ndarray, prefix: str = "") -> list[str]:
    return [f"{split}/{prefix}{int(i):05d}.png" for i in idx]


def _open_lists(num_classes: int, open_set: str | None, source: str | os.PathLike | None,
                check_sizes: bool) -> ListSpec | None:
    """The open-set list: the other CIFAR's test set (``other_cifar``), none, or a user list file."""
    if open_set in (None, "none"):
        return None
    if open_set == "other_cifar":
        other = 100 if num_classes == 10 else 10
        try:
            images, _ = load_cifar(other, source, check_sizes=check_sizes)["test"]
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err} (the CIFAR-{num_classes} open set is the CIFAR-{other} test set; "
                                    "set data.prepare_args.open_set to none or to a list file)") from None
        idx = np.arange(len(images))
        return ListSpec(images, np.full(len(images), OPEN_LABEL, dtype=np.int64), _rel("open", idx, f"cifar{other}_"))
    raise ValueError(f"open_set {open_set!r}: expected 'other_cifar', 'none' or a list file")


def _prepare(out_dir: Path, name: str, key: dict, data: dict, train_idx: np.ndarray, val_per_class: int,
             num_classes: int, open_spec: ListSpec | None, open_list: Path | None, val_from_test: bool = False) -> Path:
    if is_prepared(out_dir, key):
        return out_dir
    images, labels = data["train"]
    test_images, test_labels = data["test"]
    if val_from_test:  # the head class uses all its training images: val = the first test images per class
        val_idx = select_per_class(test_labels, np.full(num_classes, val_per_class), "first")
        val = ListSpec(test_images[val_idx], test_labels[val_idx], _rel("test", val_idx))
    else:
        val_idx = unused_per_class(labels, train_idx, val_per_class, num_classes)
        val = ListSpec(images[val_idx], labels[val_idx], _rel("train", val_idx))
    lists = {
        f"{name}_train.txt": ListSpec(images[train_idx], labels[train_idx], _rel("train", train_idx)),
        f"{name}_val.txt": val,
        f"{name}_test.txt": ListSpec(test_images, test_labels, _rel("test", np.arange(len(test_labels)))),
    }
    if open_spec is not None:
        lists[f"{name}_open.txt"] = open_spec
    export_lists(out_dir, lists, key, extra={"num_classes": num_classes})
    if open_list is not None:  # a user's open-set list: copied under the benchmark's name, labels forced to -1

        paths, _ = read_list(open_list)
        write_list(out_dir / f"{name}_open.txt", paths, np.full(len(paths), OPEN_LABEL))
    return out_dir


def _resolve_open(open_set: str | None) -> tuple[str | None, Path | None]:
    if open_set in (None, "none", "other_cifar"):
        return open_set, None
    path = Path(open_set)
    if not path.is_file():
        raise FileNotFoundError(f"open_set list not found: {path} (or use 'other_cifar' / 'none')")
    read_list(path)  # format errors name the file and line now, not at evaluation
    return None, path


def prepare_cifar_lt(out_dir: str | os.PathLike, *, name: str, num_classes: int = 10, imb_factor: float = 100,
                     profile: str = "exp", selection: str = "ldam", seed: int = 0, val_per_class: int = 20,
                     open_set: str | None = "other_cifar", source: str | os.PathLike | None = None,
                     check_sizes: bool = True) -> Path:
    """CIFAR-{10,100}-LT under ``out_dir``: lists ``<name>_{train,val,test,open}.txt``.

    Train: ``lt_class_counts(n_max, K, imb_factor, profile)`` images per class (CIFAR-10,
    IF 100: 5000 ... 50, 12,406 images; CIFAR-100: 10,847), chosen by ``selection`` (``ldam``: the
    LDAM-DRW code's seeded shuffle, ``first``: the first images of each class in archive order).
    Val: the first ``val_per_class`` test images of each class (the head class trains on all its
    images, so no training image is left over; the CIFAR-LT literature selects on the test set, and
    this keeps the selection to a small part of it). Test: the complete, balanced official test set.
    Open: the other CIFAR's test set (``other_cifar``), ``none``, or a user list file (paths relative
    to ``data.open_root``).
    """
    out_dir = Path(out_dir)
    open_mode, open_list = _resolve_open(open_set)
    key = {"dataset": f"cifar{num_classes}_lt", "name": name, "imb_factor": imb_factor, "profile": profile,
           "selection": selection, "seed": seed, "val_per_class": val_per_class, "open_set": str(open_set)}
    if is_prepared(out_dir, key):
        return out_dir
    data = load_cifar(num_classes, source, check_sizes=check_sizes)
    labels = data["train"][1]
    n_max = int(np.bincount(labels, minlength=num_classes).max())
    counts = lt_class_counts(n_max, num_classes, imb_factor, profile)
    train_idx = select_per_class(labels, counts, selection, seed)
    open_spec = _open_lists(num_classes, open_mode, source, check_sizes)
    return _prepare(out_dir, name, key, data, train_idx, val_per_class, num_classes, open_spec, open_list,
                    val_from_test=True)


def prepare_cifar_4k(out_dir: str | os.PathLike, *, name: str, num_classes: int = 10, protocol: str = "balanced",
                     val_per_class: int | None = None, source: str | os.PathLike | None = None,
                     check_sizes: bool = True) -> Path:
    """A CFL 4,000-image protocol of CIFAR-{10,100} (``balanced`` = first 4,000; ``5_3`` / ``6_2`` = the
    published samplers), test = the official test set, val = unused training images, no open set."""
    if protocol not in CFL_PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {list(CFL_PROTOCOLS)}")
    val_per_class = val_per_class or (100 if num_classes == 10 else 10)
    key = {"dataset": f"cifar{num_classes}_4k", "name": name, "protocol": protocol, "val_per_class": val_per_class}
    out_dir = Path(out_dir)
    if is_prepared(out_dir, key):
        return out_dir
    data = load_cifar(num_classes, source, check_sizes=check_sizes)
    train_idx = subset_4k(data["train"][1], protocol, sampler=f"c{num_classes}" if protocol != "balanced" else None)
    return _prepare(out_dir, name, key, data, train_idx, val_per_class, num_classes, None, None)
