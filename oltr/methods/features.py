"""Feature export: the feature model's output on a split, computed once per run and reused.

``features_<split>.npz`` in the run directory holds ``features`` (N, D) float32, ``labels`` (N,)
int64 (-1 for the open set), the ``config_hash`` of the run and the ``epoch`` of the ``best.pt`` it
came from, so a stale file (the run retrained since) is refused instead of silently used. The val
and test files also carry ``open_features`` (the open set's) when the dataset has an open list: the
layout :mod:`oltr.evaluation.features` reads for the knn / Mahalanobis open-set scores. Training
features use the eval transform and the model in eval mode (as the centroid initialisation does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from oltr.atomic import atomic_path
from oltr.config import config_hash, load_config
from oltr.data import class_counts, read_list
from oltr.engine import build
from oltr.engine.checkpoint import load_checkpoint
from oltr.engine.distributed import init_distributed
from oltr.engine.loop import amp_tools, compute_logits

FEATURE_SPLITS = ("train", "val", "test", "open")


class FeaturesError(FileNotFoundError):
    """A features file is missing, or does not belong to the run's current checkpoint."""


class _FeatureHead(nn.Module):
    """Presents a task's direct feature as ``{"logits": feature}`` so ``compute_logits`` gathers it."""

    def __init__(self, task: nn.Module) -> None:
        super().__init__()
        self.task = task

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        feature, _ = self.task.feature_model(images)
        return {"logits": feature}


def features_path(run_dir: str | os.PathLike, split: str) -> Path:
    if split not in FEATURE_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(FEATURE_SPLITS)}")
    return Path(run_dir) / f"features_{split}.npz"


def export_features(run_dir: str | os.PathLike, splits: Iterable[str] = FEATURE_SPLITS, *, overwrite: bool = False,
                    progress: bool = False, device: str | None = None) -> dict[str, Path]:
    """Write ``features_<split>.npz`` of ``run_dir/best.pt`` for each split (one network pass each).

    Existing files of the same checkpoint are kept unless ``overwrite``. The open split is skipped
    when the dataset has no open list. Returns ``{split: path}`` of the files present afterwards.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(run_dir / "config.yaml", check_loss=False)
    chash = config_hash(cfg)
    ckpt = load_checkpoint(run_dir / "best.pt")
    todo = [s for s in splits if overwrite or not _is_current(features_path(run_dir, s), chash, ckpt.get("epoch"))]
    if "open" in todo and not build.list_path(cfg, "open").is_file():
        todo.remove("open")
    out = {s: features_path(run_dir, s) for s in splits if features_path(run_dir, s).is_file() and s not in todo}
    if not todo:
        return out
    env = init_distributed(device)
    _, train_labels = read_list(build.list_path(cfg, "train"), cfg.data.num_classes)
    k = cfg.data.num_classes or int(train_labels.max()) + 1
    task = build.build_task(cfg, k, class_counts(train_labels, k)).to(env.device)
    build.load_split_state(task, ckpt["model"])
    head = _FeatureHead(task)
    autocast, _ = amp_tools(cfg.amp, env.device)
    has_open = build.list_path(cfg, "open").is_file()
    if has_open and "open" not in todo and any(s in todo for s in ("val", "test")):
        todo.insert(0, "open")  # val / test files embed the open features: compute (or re-read) them first
    open_feats = None
    for split in sorted(todo, key=lambda s: s != "open"):
        dataset = build.build_dataset(cfg, split, num_classes=None if split == "open" else k)
        feats, labels = compute_logits(head, build.eval_loader(cfg, dataset, env), len(dataset), env.device, env,
                                       autocast=autocast, channels_last=cfg.channels_last, progress=progress,
                                       desc=f"features {split}")
        if split == "open":
            open_feats = feats
        path = features_path(run_dir, split)
        extra = {"open_features": open_feats} if split in ("val", "test") and open_feats is not None else {}
        if env.primary:
            with atomic_path(path) as tmp:
                np.savez(tmp, features=feats, labels=labels, config_hash=chash, epoch=ckpt.get("epoch", -1), **extra)
        out[split] = path
    return out


def _is_current(path: Path, chash: str, epoch) -> bool:
    if not path.is_file():
        return False
    with np.load(path) as z:
        return str(z["config_hash"]) == chash and int(z["epoch"]) == int(epoch if epoch is not None else -1)


def load_features(run_dir: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, D), labels (N,))`` of ``features_<split>.npz``; raises :class:`FeaturesError`
    naming the file when it is missing or was written for another config / checkpoint."""
    run_dir = Path(run_dir)
    path = features_path(run_dir, split)
    if not path.is_file():
        raise FeaturesError(f"{path} not found: export it with `oltr eval --run {run_dir} --split {split} "
                            "--save-features` (or let `oltr method` compute it)")
    cfg = load_config(run_dir / "config.yaml", check_loss=False)
    epoch = load_checkpoint(run_dir / "best.pt").get("epoch") if (run_dir / "best.pt").is_file() else None
    if not _is_current(path, config_hash(cfg), epoch):
        raise FeaturesError(f"{path} was written for another config or checkpoint of {run_dir}; "
                            "re-export it (oltr eval --save-features)")
    with np.load(path) as z:
        return z["features"], z["labels"]
