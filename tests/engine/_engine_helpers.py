"""Helpers of the engine tests: a tiny long-tailed PNG dataset with OLTR lists, tiny configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from oltr.config import RunConfig, from_dict, resolve_paths

TRAIN_COUNTS = (48, 24, 12, 6)  # 90 images, 4 known classes
SIZE = 16


def _write_split(root: Path, name: str, split: str, labels: list[int], rng: np.random.Generator) -> None:
    from PIL import Image

    lines = []
    for i, label in enumerate(labels):
        rel = f"{split}/{i:04d}.png"
        (root / split).mkdir(parents=True, exist_ok=True)
        # class-dependent mean brightness per channel, so a tiny network can learn something
        base = np.array([60, 120, 180, 240][label] if label >= 0 else 150, dtype=np.float64)
        pixels = np.clip(rng.normal(base, 40, size=(SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        if label >= 0:
            pixels[: SIZE // 2, :, label % 3] = 255 - pixels[: SIZE // 2, :, label % 3]
        Image.fromarray(pixels).save(root / rel)
        lines.append(f"{rel} {label}")
    (root / f"{name}_{split}.txt").write_text("\n".join(lines) + "\n")


def make_tiny_dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    train = [c for c, n in enumerate(TRAIN_COUNTS) for _ in range(n)]
    _write_split(root, "Tiny_LT", "train", train, rng)
    _write_split(root, "Tiny_LT", "val", [c for c in range(4) for _ in range(5)], rng)
    _write_split(root, "Tiny_LT", "test", [c for c in range(4) for _ in range(6)], rng)
    _write_split(root, "Tiny_LT", "open", [-1] * 10, rng)
    return root


def tiny_dict(root: Path, stage: int = 1, **overrides) -> dict:
    """Raw (YAML-layout) config of a tiny run; ``overrides`` are dotted keys."""
    raw = {
        "name": f"stage_{stage}" if stage == 1 else "stage_2_meta_embedding",
        "stage": stage, "seed": 0, "epochs": 2,
        "data": {"name": "Tiny_LT", "root": str(root), "num_classes": 4, "preset": "small", "batch_size": 16,
                 "eval_batch_size": 32, "num_workers": 0, "cache": True,
                 "sampler": "instance" if stage == 1 else "class_aware"},
        "model": {"name": "resnet10", "stem": "small", "width": 4,
                  "classifier": "dot" if stage == 1 else "meta_embedding"},
        "loss": {"name": "ce"},
        "optim": {"lr_features": 0.05, "lr_classifier": 0.05, "step_size": 1},
    }
    if stage == 2:
        raw["model"].update(use_attention=True, use_fc_add=True, fc_add_dim=32, new_keys=["attention.", "fc_add."])
        raw["optim"].update(lr_features=0.01, lr_classifier=0.05)
    for key, value in overrides.items():
        node = raw
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return raw


def tiny_cfg(root: Path, stage: int = 1, **overrides) -> RunConfig:
    return resolve_paths(from_dict(tiny_dict(root, stage, **overrides), "<tiny>"))


def write_cfg(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def read_metrics(run_dir: Path, drop_time: bool = True) -> list[dict]:
    import json

    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line]
    if drop_time:
        for row in rows:
            row.pop("time")
    return rows
