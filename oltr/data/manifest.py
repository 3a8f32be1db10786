"""Manifest of the official split lists (facts only, never the lists) and list verification.

``data_lists/manifest.json`` records, per dataset and split, every accepted version of a list (file
name, layout, line count, byte size, sha256, class count, per-class count summary) plus the training
class counts. Maintainers regenerate it from the official lists with ``tools/build_manifest.py``; the
ImageNet-LT train list is not redistributed, so its facts come from the TFDS ``imagenet_lt`` checksum and
the published per-class counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from oltr.resources import MANIFEST_PATH

from .lists import sha256_file

__all__ = [
    "MANIFEST_PATH",
    "ListCheck",
    "load_manifest",
    "train_counts_from_manifest",
    "verify_lists",
    "read_class_counts_tsv",
    "split_overlaps",
]


def read_class_counts_tsv(path: str | os.PathLike) -> np.ndarray:
    """Per-class train counts from a ``label<TAB>...<TAB>train_count`` file (the official lists' ``.tsv``)."""
    table = pd.read_csv(path, sep="\t")
    if not {"label", "train_count"} <= set(table.columns):
        raise ValueError(f"{path}: expected columns 'label' and 'train_count', got {list(table.columns)}")
    labels = table["label"].to_numpy()
    if not np.array_equal(labels, np.arange(len(labels))):
        raise ValueError(f"{path}: labels must be 0..K-1 in order")
    return table["train_count"].to_numpy(dtype=np.int64)


def load_manifest(path: str | os.PathLike | None = None) -> dict:
    """Reads ``data_lists/manifest.json`` (or ``path``)."""
    path = Path(path) if path is not None else MANIFEST_PATH
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path} (regenerate it with tools/build_manifest.py)")
    return json.loads(path.read_text())


def _dataset_entry(manifest: dict, dataset: str) -> dict:
    try:
        return manifest["datasets"][dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; manifest has {', '.join(manifest['datasets'])}") from None


def train_counts_from_manifest(dataset: str, manifest: dict | None = None) -> np.ndarray:
    """Training class counts recorded in the manifest (e.g. ImageNet-LT without its train list)."""
    entry = _dataset_entry(manifest or load_manifest(), dataset)
    return np.asarray(entry["train_class_counts"], dtype=np.int64)


def split_overlaps(paths_by_split: dict[str, list[str]]) -> dict[tuple[str, str], list[str]]:
    """Paths shared by two splits (they must be disjoint), for every pair of splits given.

    Example:
        >>> split_overlaps({"train": ["a", "b"], "val": ["b"], "test": ["c"]})
        {('train', 'val'): ['b'], ('train', 'test'): [], ('val', 'test'): []}
    """
    names = list(paths_by_split)
    sets = {name: set(paths) for name, paths in paths_by_split.items()}
    return {
        (a, b): sorted(sets[a] & sets[b]) for i, a in enumerate(names) for b in names[i + 1 :]
    }


@dataclass(frozen=True)
class ListCheck:
    """Outcome of checking one split's list against the manifest.

    ``status`` is ``'ok'`` (sha256 of an accepted version), ``'missing'`` or ``'mismatch'``.
    """

    split: str
    path: Path | None
    status: str
    layout: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def verify_lists(dataset: str, lists_dir: str | os.PathLike, manifest: dict | None = None) -> list[ListCheck]:
    """Checks every split list of ``dataset`` found in ``lists_dir`` against the manifest.

    A list is looked for as ``<lists_dir>/<file>``, ``<lists_dir>/<dataset>/<file>`` and at the
    layout variant's path; it passes if its sha256 equals one accepted version.

    Args:
        dataset: ``'ImageNet_LT'``, ``'Places_LT'`` or ``'FashionMNIST_LT'``.
        lists_dir: folder holding the lists.
        manifest: default ``load_manifest()``.

    Returns:
        One ``ListCheck`` per split, in manifest order.
    """
    entry = _dataset_entry(manifest or load_manifest(), dataset)
    lists_dir = Path(lists_dir)
    checks = []
    for split, versions in entry["splits"].items():
        candidates: list[Path] = []
        for v in versions:
            for folder in (lists_dir, lists_dir / dataset):
                for c in (folder / v["path"], folder / v["file"]):
                    if c.is_file() and c not in candidates:
                        candidates.append(c)
        if not candidates:
            hint = next((v.get("note", "") for v in versions if "note" in v), "")
            msg = f"{versions[0]['file']} not found in {lists_dir}" + (f" ({hint})" if hint else "")
            checks.append(ListCheck(split, None, "missing", message=msg))
            continue
        by_sha = {v["sha256"]: v for v in versions}
        found = None
        for c in candidates:
            digest = sha256_file(c)
            if digest in by_sha:
                found = (c, by_sha[digest])
                break
        if found is not None:
            path, v = found
            checks.append(ListCheck(split, path, "ok", v["layout"], f"{v['lines']:,} lines, sha256 {v['sha256'][:16]}"))
            continue
        path = candidates[0]
        with open(path, "rb") as f:
            n_lines = sum(1 for _ in f)
        expected = ", ".join(f"{v['layout']}: {v['lines']:,} lines sha256 {v['sha256'][:16]}" for v in versions)
        found_text = f"{n_lines:,} lines, sha256 {sha256_file(path)[:16]}"
        checks.append(ListCheck(split, path, "mismatch", message=f"{found_text}; expected {expected}"))
    return checks
