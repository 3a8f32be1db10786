"""Builders from a :class:`RunConfig`: datasets and loaders, the task, the optimizer and scheduler.

Split lists are ``<data.lists or data.root>/<data.name>_<split>.txt``; the open-set list's images
live under ``data.open_root`` (default ``data.root``).
"""

from __future__ import annotations

import fcntl
import logging
import random
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from oltr import losses  # attribute lookup: tests stand in for losses.build_loss
from oltr.config import RunConfig, loss_kwargs
from oltr.data import ClassAwareSampler, ImageListDataset, InstanceSampler, build_transform, class_counts, read_list
from oltr.data import checks
from oltr.data.checks import CheckedCollate, missing_classes_message
from oltr.data.registry import DATASETS, prepare_dataset
from oltr.engine.distributed import DistEnv, ShardSampler, barrier
from oltr.engine.tasks import Stage1Task, Stage2Task
from oltr.models import build_classifier, build_feature_model, feature_model_params, freeze

log = logging.getLogger("oltr.engine")

SPLITS = ("train", "val", "test", "open")


def list_path(cfg: RunConfig, split: str) -> Path:
    """The list file of ``split`` (train|val|test|open)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return Path(cfg.data.lists or cfg.data.root) / f"{cfg.data.name}_{split}.txt"


def prepare_data(cfg: RunConfig, env: DistEnv) -> None:
    """Run the dataset's preparation (``data.prepare``, a name of ``oltr.data.DATASETS``) once, on rank 0.

    The registered preparation is always called and decides alone: each returns at once when its folder
    already holds what it would write (its ``meta.json``). Concurrent runs of a grid (``oltr benchmark
    --jobs N``) share one data folder: an exclusive lock beside it makes the second process wait for the
    first one's preparation instead of reading a half-written folder.
    """
    if not cfg.data.prepare:
        return
    entry = DATASETS.get(cfg.data.prepare)  # unknown names: ValueError listing the registered ones
    if env.primary:
        with _preparation_lock(Path(cfg.data.root)):
            log.info("data.prepare=%s under %s (returns at once when prepared)", entry.name, cfg.data.root)
            prepare_dataset(entry.name, cfg.data.root, data_name=cfg.data.name, **cfg.data.prepare_args)
    barrier(env)
    if not list_path(cfg, "train").is_file():
        raise FileNotFoundError(f"data.prepare={cfg.data.prepare!r} did not produce {list_path(cfg, 'train')}")


@contextmanager
def _preparation_lock(root: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``<parent>/.<root name>.prepare.lock``, released when the process ends."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.prepare.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_dataset(cfg: RunConfig, split: str, *, train_transform: bool = False, num_classes: int | None = None):
    """``ImageListDataset`` of ``split`` with the train (augmenting) or eval transform of the preset."""
    path = list_path(cfg, split)
    if not path.is_file():
        hint = f" (data.prepare={cfg.data.prepare!r} creates it)" if cfg.data.prepare else ""
        raise FileNotFoundError(f"{split} list not found: {path}{hint}")

    root = cfg.data.open_root or cfg.data.root if split == "open" else cfg.data.root
    transform = build_transform(cfg.data.preset, train_transform and cfg.data.augment, cfg.data.image_size)
    paths, labels = read_list(path, None if split == "open" else num_classes)
    checks.check_not_empty(path, len(paths), split)
    if split == "open":
        same_root = Path(root).resolve() == Path(cfg.data.root).resolve()  # else equal names are other files
        known = checks.known_paths({s: list_path(cfg, s) for s in ("train", "val", "test")}) if same_root else {}
        checks.check_open_list(path, paths, labels, known)
    else:
        checks.check_known_labels(path, labels, split)
    return ImageListDataset(root, path, transform, num_classes=None if split == "open" else num_classes,
                            skip_bad=cfg.data.skip_bad, cache=cfg.data.cache)


def _worker_init(worker_id: int) -> None:
    # Each worker's torch seed comes from the loader's generator (seeded per epoch); derive the others from it.
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def per_rank_batch(batch_size: int, env: DistEnv) -> int:
    if batch_size % env.world_size:
        raise ValueError(f"batch size {batch_size} is not divisible by the {env.world_size} processes")
    return batch_size // env.world_size


@dataclass
class TrainData:
    """The training side of a run: dataset, sampler, loader, steps per epoch, class counts."""

    dataset: object
    sampler: object
    loader: torch.utils.data.DataLoader
    generator: torch.Generator
    steps: int
    num_classes: int
    class_counts: np.ndarray


def build_train_data(cfg: RunConfig, env: DistEnv) -> TrainData:
    """Train loader: instance or class-aware sampler sharded over ranks; ``floor(N / batch)`` steps per
    epoch for both samplers (the reference's rule)."""
    dataset = build_dataset(cfg, "train", train_transform=True, num_classes=cfg.data.num_classes)
    labels = np.asarray(dataset.labels)
    k = cfg.data.num_classes or int(labels.max()) + 1
    counts = class_counts(labels, k)
    report = missing_classes_message(dataset.list_file, counts, cfg.data.num_classes)
    if report:
        log.warning("%s", report)
    steps = len(dataset) // cfg.data.batch_size
    if steps < 1:
        raise ValueError(f"{len(dataset)} training images are fewer than one batch of {cfg.data.batch_size}")
    if cfg.data.sampler == "class_aware":
        sampler = ClassAwareSampler(labels, num_samples_cls=cfg.data.num_samples_cls,
                                    num_samples=steps * cfg.data.batch_size, seed=cfg.seed,
                                    num_replicas=env.world_size, rank=env.rank)
    else:
        sampler = InstanceSampler(len(dataset), seed=cfg.seed, num_replicas=env.world_size, rank=env.rank, shuffle=True,
                                  num_samples=steps * cfg.data.batch_size)
    generator = torch.Generator()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=per_rank_batch(cfg.data.batch_size, env), sampler=sampler,
        num_workers=cfg.data.num_workers, pin_memory=env.device.type == "cuda", drop_last=True,
        worker_init_fn=_worker_init, generator=generator, persistent_workers=False,
        collate_fn=CheckedCollate(dataset.paths, dataset.list_file),
    )
    return TrainData(dataset, sampler, loader, generator, steps, k, counts)


def eval_loader(cfg: RunConfig, dataset, env: DistEnv) -> torch.utils.data.DataLoader:
    """Sharded, unshuffled loader (rank r reads r, r+W, ...); results are gathered by sample index."""
    batch = per_rank_batch(cfg.data.eval_batch_size or cfg.data.batch_size, env)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, sampler=ShardSampler(len(dataset), env), num_workers=cfg.data.num_workers,
        pin_memory=env.device.type == "cuda", worker_init_fn=_worker_init,
        collate_fn=CheckedCollate(dataset.paths, dataset.list_file),
    )


def build_task(cfg: RunConfig, num_classes: int, class_counts: np.ndarray | None) -> Stage1Task:
    """Feature model, classifier and criterion of the config's stage (fresh weights except
    ``model.weights``; the stage-2 hand-off is :func:`oltr.engine.handoff.init_from_stage1`)."""
    m = cfg.model
    # Each backbone gets the model options its builder takes (stem/width are ResNet options).
    options = {k: getattr(m, k) for k in feature_model_params(m.name) if hasattr(m, k)}
    feature_model = build_feature_model(m.name, weights=m.weights, new_keys=tuple(m.new_keys) if m.weights else (),
                                        **options)
    classifier = build_classifier(m.classifier, feature_model.feat_dim, num_classes)
    criterion = losses.build_loss(cfg.loss.name, **loss_kwargs(cfg, class_counts))
    if cfg.stage == 1:
        task = Stage1Task(feature_model, classifier, criterion)
    else:
        task = Stage2Task(feature_model, classifier, criterion, cfg.centroids.weight, cfg.centroids.grad_mode)
    if m.freeze:
        freeze(task.feature_model, m.freeze, bn_eval=m.frozen_bn_eval)
    return task


def build_optimizer(cfg: RunConfig, task: Stage1Task) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with groups ``features`` / ``classifier`` / ``centroids`` (stage 2) and a per-epoch schedule:
    StepLR (``optim.schedule: step``) or cosine to 0 (``cosine``), after ``optim.warmup_epochs`` of
    linear warm-up (torch's LinearLR + SequentialLR)."""
    o = cfg.optim
    centroids = getattr(task.classifier, "centroids", None)
    clf = [p for p in task.classifier.parameters() if p.requires_grad and p is not centroids]
    groups = [
        {"name": "features", "params": [p for p in task.feature_model.parameters() if p.requires_grad],
         "lr": o.lr_features},
        {"name": "classifier", "params": clf, "lr": o.lr_classifier},
    ]
    if cfg.stage == 2 and centroids is not None:
        groups.append({"name": "centroids", "params": [centroids], "lr": cfg.centroids.lr})
    groups = [g for g in groups if g["params"]]
    optimizer = torch.optim.SGD(groups, lr=o.lr_features, momentum=o.momentum, weight_decay=o.weight_decay)
    return optimizer, _schedule(cfg, optimizer)


def _schedule(cfg: RunConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    o, sched = cfg.optim, torch.optim.lr_scheduler
    if o.schedule == "step":
        main: sched.LRScheduler = sched.StepLR(optimizer, step_size=o.step_size, gamma=o.gamma)
    else:
        main = sched.CosineAnnealingLR(optimizer, T_max=cfg.epochs - o.warmup_epochs, eta_min=0.0)
    if not o.warmup_epochs:
        return main
    warmup = sched.LinearLR(optimizer, start_factor=o.warmup_factor, end_factor=1.0, total_iters=o.warmup_epochs)
    return sched.SequentialLR(optimizer, [warmup, main], milestones=[o.warmup_epochs])


def split_state(task: nn.Module) -> dict[str, dict]:
    """The task's state as ``{"feature_model", "classifier", "criterion"}`` state dicts."""
    return {name: getattr(task, name).state_dict() for name in ("feature_model", "classifier", "criterion")}


def load_split_state(task: nn.Module, state: dict) -> None:
    for name in ("feature_model", "classifier", "criterion"):
        getattr(task, name).load_state_dict(state[name], strict=True)
