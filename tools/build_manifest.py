"""Maintainer tool: regenerate ``data_lists/manifest.json`` from the official split lists.

The manifest holds facts only (line counts, sizes, sha256, class-count summaries, shot groups), never the lists.
The official lists and their per-class count tables (``<dataset>_train_class_counts.tsv``) are third-party
files kept outside the repository; the ImageNet-LT train list is not available among them, so its facts come
from the TFDS ``imagenet_lt`` checksum (``UNAVAILABLE`` below) and the published per-class counts.

    python tools/build_manifest.py --shared ../shared/data_lists            # rewrite data_lists/manifest.json
    python tools/build_manifest.py --shared ../shared/data_lists --check    # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from oltr.data import class_counts, imbalance_ratio, read_list, shot_groups
from oltr.data.lists import sha256_file
from oltr.data.manifest import MANIFEST_PATH, read_class_counts_tsv
from oltr.data.stats import SHOT_RULES

REPO = Path(__file__).resolve().parents[1]

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
        shared_lists_dir: the official lists, one folder per dataset.
        generated_dir: the repository's ``data_lists`` (for ``FashionMNIST_LT/``); default the
            checkout's.

    Returns:
        The manifest as a JSON-ready dict.
    """
    shared = Path(shared_lists_dir)
    generated = Path(generated_dir) if generated_dir is not None else REPO / "data_lists"
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
        "about": "Facts about the split lists (never the lists); regenerate with 'python tools/build_manifest.py "
        "--shared <folder of the official lists>'.",
        "datasets": datasets,
    }


def dumps_manifest(manifest: dict) -> str:
    """JSON text of a manifest, with integer arrays (class counts) kept on one line."""
    text = json.dumps(manifest, indent=1)
    int_array = r"\[(?:\s*-?\d+,)*\s*-?\d+\s*\]"
    return re.sub(int_array, lambda m: "[" + " ".join(m.group(0)[1:-1].split()) + "]", text) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data_lists",
                        help="folder of the official lists, one sub-folder per dataset")
    parser.add_argument("--out", type=Path, default=MANIFEST_PATH)
    parser.add_argument("--check", action="store_true", help="only compare with the existing file (exit 1 if stale)")
    args = parser.parse_args(argv)
    try:
        manifest = build_manifest(args.shared)
    except (FileNotFoundError, ValueError) as err:
        print(f"build_manifest: {err}", file=sys.stderr)
        return 1
    text = dumps_manifest(manifest)
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale; run 'python tools/build_manifest.py --shared {args.shared}'", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out} ({', '.join(manifest['datasets'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
