"""Manifest of the official split lists (facts only, never the lists) and list verification.

``data_lists/manifest.json`` records, per dataset and split, every accepted version of a list (file
name, layout, line count, byte size, sha256, class count, per-class count summary) plus the training
class counts. It is generated from ``shared/data_lists`` by ``build_manifest`` (``oltr data
manifest``); ``ImageNet_LT_train.txt`` is not available there, so its facts come from the TFDS
``imagenet_lt`` checksum and ``ImageNet_LT_train_class_counts.tsv`` (see
``shared/reference/data_lists_stats.md`` 1.1).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .lists import read_list, sha256_file
from .stats import SHOT_RULES, class_counts, imbalance_ratio, shot_groups

__all__ = [
    "MANIFEST_PATH",
    "ListCheck",
    "build_manifest",
    "dumps_manifest",
    "load_manifest",
    "train_counts_from_manifest",
    "verify_lists",
    "list_summary",
    "read_class_counts_tsv",
    "split_overlaps",
]

REPO_DATA_LISTS = Path(__file__).resolve().parents[2] / "data_lists"
MANIFEST_PATH = REPO_DATA_LISTS / "manifest.json"

# (dataset, split, layout, path relative to the dataset's folder)
OFFICIAL_FILES: dict[str, dict[str, Any]] = {
    "ImageNet_LT": {
        "num_classes": 1000,
        "open_subdir": "ImageNet_LT_open",
        "counts_tsv": "ImageNet_LT_train_class_counts.tsv",
        "files": [
            ("train", "default", "ImageNet_LT_train.txt"),
            ("val", "default", "ImageNet_LT_val.txt"),
            ("test", "default", "ImageNet_LT_test.txt"),
            ("test", "flat_val", "variants/flat_val/ImageNet_LT_test.txt"),
            ("open", "default", "ImageNet_LT_open.txt"),
        ],
    },
    "Places_LT": {
        "num_classes": 365,
        "open_subdir": "Places_LT_open",
        "counts_tsv": "Places_LT_train_class_counts.tsv",
        "files": [
            ("train", "default", "Places_LT_train.txt"),
            ("train", "easyformat", "variants/easyformat/Places_LT_train.txt"),
            ("val", "default", "Places_LT_val.txt"),
            ("val", "easyformat", "variants/easyformat/Places_LT_val.txt"),
            ("test", "default", "Places_LT_test.txt"),
            ("test", "easyformat", "variants/easyformat/Places_LT_test.txt"),
            ("open", "default", "Places_LT_open.txt"),
        ],
    },
}
GENERATED = {"FashionMNIST_LT": {"num_classes": 8, "open_subdir": ""}}

# Facts of lists that could not be retrieved (TFDS imagenet_lt checksums.tsv; every public copy's blob).
UNAVAILABLE = {
    ("ImageNet_LT", "train", "default"): {
        "lines": 115_846,
        "bytes": 4_658_674,
        "sha256": "efdbdad4f050237c310b2f354cf95a8b1d7c8d57a63c4ea4bb6bf2bcb012f37f",
        "git_blob": "a063f095fcd475db4cf8b0658c4b73955535bbf9",
        "note": "not redistributed here; download from the OLTR Google Drive folder",
    }
}


def read_class_counts_tsv(path: str | os.PathLike) -> np.ndarray:
    """Per-class train counts from a ``label<TAB>...<TAB>train_count`` file (shared/data_lists)."""
    table = pd.read_csv(path, sep="\t")
    if not {"label", "train_count"} <= set(table.columns):
        raise ValueError(f"{path}: expected columns 'label' and 'train_count', got {list(table.columns)}")
    labels = table["label"].to_numpy()
    if not np.array_equal(labels, np.arange(len(labels))):
        raise ValueError(f"{path}: labels must be 0..K-1 in order")
    return table["train_count"].to_numpy(dtype=np.int64)


def _count_summary(counts: np.ndarray) -> dict[str, Any]:
    return {
        "min": int(counts.min()),
        "max": int(counts.max()),
        "mean": round(float(counts.mean()), 3),
        "median": float(np.median(counts)),
    }


def list_summary(path: Path, num_classes: int | None = None) -> dict[str, Any]:
    """Manifest facts of one list file: lines, bytes, sha256, classes, per-class count summary."""
    _, labels = read_list(path, num_classes)
    entry: dict[str, Any] = {
        "lines": int(len(labels)),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    known = labels[labels >= 0]
    if known.size:
        counts = np.bincount(known)
        present = counts[counts > 0]
        entry["classes"] = int(present.size)
        entry["per_class"] = _count_summary(present)
    else:
        entry["classes"] = 0
    entry["open_samples"] = int((labels < 0).sum())
    return entry


def _train_facts(counts: np.ndarray) -> dict[str, Any]:
    return {
        "imbalance_ratio": imbalance_ratio(counts),
        "shot_groups": {
            rule: {g: int(len(ids)) for g, ids in shot_groups(counts, rule).items()} for rule in SHOT_RULES
        },
    }


def build_manifest(shared_lists_dir: str | os.PathLike, generated_dir: str | os.PathLike | None = None) -> dict:
    """Manifest of the official lists in ``shared_lists_dir`` plus the project's generated lists.

    Args:
        shared_lists_dir: ``shared/data_lists`` (one folder per dataset).
        generated_dir: the repository's ``data_lists`` (for ``FashionMNIST_LT/``); default the
            checkout's.

    Returns:
        The manifest as a JSON-ready dict.
    """
    shared = Path(shared_lists_dir)
    generated = Path(generated_dir) if generated_dir is not None else REPO_DATA_LISTS
    datasets: dict[str, Any] = {}
    for name, info in OFFICIAL_FILES.items():
        k = info["num_classes"]
        folder = shared / name
        train_counts = read_class_counts_tsv(folder / info["counts_tsv"])
        if len(train_counts) != k:
            raise ValueError(f"{folder / info['counts_tsv']}: {len(train_counts)} classes, expected {k}")
        splits: dict[str, list] = {}
        for split, layout, rel in info["files"]:
            entry: dict[str, Any] = {"file": Path(rel).name, "layout": layout, "path": rel}
            if (folder / rel).is_file():
                entry.update(list_summary(folder / rel, k))
            elif (name, split, layout) in UNAVAILABLE:
                entry.update(UNAVAILABLE[(name, split, layout)])
                entry.update({"classes": k, "per_class": _count_summary(train_counts), "open_samples": 0})
                entry["in_shared"] = False
            else:
                raise FileNotFoundError(f"official list missing from {folder}: {rel}")
            if split == "train":
                entry.update(_train_facts(train_counts))
            splits.setdefault(split, []).append(entry)
        datasets[name] = {
            "num_classes": k,
            "open_subdir": info["open_subdir"],
            "train_images": int(train_counts.sum()),
            "train_class_counts": train_counts.tolist(),
            "splits": splits,
        }
    for name, info in GENERATED.items():
        folder = generated / name
        if not folder.is_dir():
            continue
        k = info["num_classes"]
        splits = {}
        for split in ("train", "val", "test", "open"):
            rel = f"{name}_{split}.txt"
            entry = {"file": rel, "layout": "default", "path": rel, **list_summary(folder / rel, k)}
            splits[split] = [entry]
        _, train_labels = read_list(folder / f"{name}_train.txt", k)
        counts = class_counts(train_labels, k)
        splits["train"][0].update(_train_facts(counts))
        datasets[name] = {
            "num_classes": k,
            "open_subdir": info["open_subdir"],
            "generated": True,
            "train_images": int(counts.sum()),
            "train_class_counts": counts.tolist(),
            "splits": splits,
        }
    return {
        "format": 1,
        "about": "Facts about the split lists (never the lists). Official lists: shared/data_lists, "
        "see shared/reference/data_lists_stats.md; regenerate with 'oltr data manifest'.",
        "datasets": datasets,
    }


def dumps_manifest(manifest: dict) -> str:
    """JSON text of a manifest, with integer arrays (class counts) kept on one line."""
    text = json.dumps(manifest, indent=1)
    int_array = r"\[(?:\s*-?\d+,)*\s*-?\d+\s*\]"
    return re.sub(int_array, lambda m: "[" + " ".join(m.group(0)[1:-1].split()) + "]", text) + "\n"


def load_manifest(path: str | os.PathLike | None = None) -> dict:
    """Reads ``data_lists/manifest.json`` (or ``path``)."""
    path = Path(path) if path is not None else MANIFEST_PATH
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path} (generate it with 'oltr data manifest')")
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
        n_lines = sum(1 for _ in open(path, "rb"))
        expected = ", ".join(f"{v['layout']}: {v['lines']:,} lines sha256 {v['sha256'][:16]}" for v in versions)
        found_text = f"{n_lines:,} lines, sha256 {sha256_file(path)[:16]}"
        checks.append(ListCheck(split, path, "mismatch", message=f"{found_text}; expected {expected}"))
    return checks
