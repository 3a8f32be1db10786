"""Writing in-memory image arrays as an image-list dataset: PNG files, ``<prefix>_<split>.txt`` lists
and ``meta.json``, so every prepared dataset goes through the engine's one list + image-folder path.

A dataset folder is complete when ``meta.json`` exists, records the same ``key`` (the preparation's
parameters) and every list still has its recorded sha256; ``meta.json`` is written last, so a crash
never leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image

from oltr.atomic import atomic_path, write_text_atomic
from .lists import sha256_file, write_list

__all__ = ["ListSpec", "export_lists", "is_prepared"]


@dataclass(frozen=True)
class ListSpec:
    """One list to write: ``images[i]`` saved as ``rel_paths[i]`` with label ``labels[i]``."""

    images: np.ndarray  # (N, H, W) or (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64, -1 = open set
    rel_paths: list[str]


def is_prepared(out_dir: str | os.PathLike, key: Mapping[str, Any]) -> bool:
    """True when ``out_dir/meta.json`` records ``key`` and every recorded list is unchanged.

    Raises ``ValueError`` when the folder holds another preparation (other parameters): two
    benchmarks never share a folder silently.
    """
    meta_path = Path(out_dir) / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if meta.get("key") != json.loads(json.dumps(dict(key))):
        raise ValueError(f"{out_dir} holds another prepared dataset ({meta.get('key')}), not {dict(key)}: "
                         "give this one its own data.root (or remove the folder)")
    return all((Path(out_dir) / info["file"]).is_file() and sha256_file(Path(out_dir) / info["file"]) == info["sha256"]
               for info in meta.get("lists", {}).values())


def export_lists(out_dir: str | os.PathLike, lists: Mapping[str, ListSpec], key: Mapping[str, Any],
                 extra: Mapping[str, Any] | None = None) -> Path:
    """Write each list's images (once per path: lists may share images) and list file, then ``meta.json``.

    ``lists`` maps a list file name (``CIFAR10_LT_train.txt``) to its :class:`ListSpec`; ``key`` is
    what makes the folder reusable (:func:`is_prepared`); ``extra`` is stored beside it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meta.json").unlink(missing_ok=True)
    written: set[str] = set()
    info: dict[str, Any] = {}
    for file_name, spec in lists.items():
        if not (len(spec.images) == len(spec.labels) == len(spec.rel_paths)):
            raise ValueError(f"{file_name}: {len(spec.images)} images, {len(spec.labels)} labels, "
                             f"{len(spec.rel_paths)} paths")
        for image, rel in zip(spec.images, spec.rel_paths):
            if rel in written:
                continue
            target = out_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG", optimize=False)
            written.add(rel)
        path = write_list(out_dir / file_name, spec.rel_paths, np.asarray(spec.labels, dtype=np.int64))
        known = spec.labels[spec.labels >= 0]
        info[file_name] = {"file": file_name, "lines": len(spec.labels), "sha256": sha256_file(path),
                           "class_counts": np.bincount(known).tolist() if known.size else []}
    meta = {"key": json.loads(json.dumps(dict(key))), **(dict(extra) if extra else {}), "lists": info}
    write_text_atomic(out_dir / "meta.json", json.dumps(meta, indent=2) + "\n")
    return out_dir
