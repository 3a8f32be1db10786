"""Stage 1 -> stage 2 hand-off: find and verify the stage-1 run, load its weights, initialise centroids.

The authors' stage 2 loaded whatever file sat at a hard-coded path, leniently (the CFL code thus
picked up a CE-trained stage 1). Here:

- ``init_from`` names the stage-1 run directory; by default it is the sibling run
  ``<run_dir>/../stage_1_<loss.name>_seed<seed>`` (same dataset, loss and seed);
- the stage-1 run must be complete; its resolved ``config.yaml`` must agree on the dataset and the
  model (name, stem, width) always, and on the loss (name + parameters) and seed when ``init_from``
  was defaulted (an explicit ``init_from`` only warns about those);
- the stage-1 ``best.pt`` feature-model weights load strictly, only ``model.new_keys`` may start fresh;
  the meta-embedding hallucinator starts from the stage-1 dot classifier;
- centroids: one pass over the train list with the eval transform, model in eval mode, no grad,
  ``oltr.models.init_centroids`` (class-mean direct features, summed over ranks).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from oltr.config import RunConfig, load_config
from oltr.engine.checkpoint import is_complete, load_checkpoint
from oltr.engine.distributed import DistEnv
from oltr.models import init_centroids, load_weights

log = logging.getLogger("oltr.engine")

STAGE1_NAME = "stage_1"


class StageHandoffError(RuntimeError):
    """The stage-1 run a stage-2 run starts from is missing, unfinished or does not match."""


def resolve_init_from(cfg: RunConfig, run_dir: Path) -> tuple[Path, bool]:
    """``(stage-1 run dir, explicit?)``."""
    if cfg.init_from:
        return Path(cfg.init_from), True
    return Path(run_dir).resolve().parent / f"{STAGE1_NAME}_{cfg.loss.name}_seed{cfg.seed}", False


def check_stage1(cfg: RunConfig, stage1_dir: Path, explicit: bool) -> RunConfig:
    """Verify the stage-1 run; return its config. Raises :class:`StageHandoffError`."""
    how = "init_from" if explicit else "default init_from (set init_from to choose another run)"
    if not (stage1_dir / "config.yaml").is_file():
        raise StageHandoffError(f"stage-1 run not found: {stage1_dir} ({how}); train stage 1 first")
    if not is_complete(stage1_dir):
        raise StageHandoffError(f"stage-1 run {stage1_dir} is not finished (no complete.json / best.pt); "
                                "resume it with --resume first")
    s1 = load_config(stage1_dir / "config.yaml", check_loss=False)
    if s1.stage != 1:
        raise StageHandoffError(f"{stage1_dir} is a stage-{s1.stage} run, not stage 1")
    always = {"data.name": (s1.data.name, cfg.data.name), "model.name": (s1.model.name, cfg.model.name),
              "model.stem": (s1.model.stem, cfg.model.stem), "model.width": (s1.model.width, cfg.model.width)}
    bad = {k: v for k, v in always.items() if v[0] != v[1]}
    if bad:
        raise StageHandoffError(f"stage-1 run {stage1_dir} does not match this config: "
                                + "; ".join(f"{k}: stage 1 {a!r} vs stage 2 {b!r}" for k, (a, b) in bad.items()))
    soft = {"loss": ({"name": s1.loss.name, **s1.loss.params}, {"name": cfg.loss.name, **cfg.loss.params}),
            "seed": (s1.seed, cfg.seed)}
    bad = {k: v for k, v in soft.items() if v[0] != v[1]}
    if bad:
        text = "; ".join(f"{k}: stage 1 {a!r} vs stage 2 {b!r}" for k, (a, b) in bad.items())
        if not explicit:
            raise StageHandoffError(f"stage-1 run {stage1_dir} was trained differently: {text} "
                                    "(set init_from explicitly to start from it anyway)")
        log.warning("stage-1 run %s differs from this config: %s (explicit init_from, continuing)", stage1_dir, text)
    return s1


def init_from_stage1(task, cfg: RunConfig, stage1_dir: Path) -> dict:
    """Load stage-1 ``best.pt`` into a stage-2 task; return a summary for the log."""
    ckpt = load_checkpoint(stage1_dir / "best.pt", required=("model",),
                           advice="train that stage-1 run again, or set init_from to another stage-1 run")
    report = load_weights(task.feature_model, ckpt["model"]["feature_model"], new_keys=tuple(cfg.model.new_keys))
    task.classifier.init_hallucinator_from(ckpt["model"]["classifier"])
    return {"stage1": str(stage1_dir), "stage1_epoch": ckpt.get("epoch"), "stage1_best": ckpt.get("best_metric"),
            "loaded": len(report.loaded), "fresh": len(report.fresh)}


@torch.no_grad()
def init_centroids_pass(task, loader, device: torch.device, num_classes: int, *, autocast, channels_last: bool,
                        progress: bool = True) -> torch.Tensor:
    """Class-mean direct features of the train list under the current feature model (eval mode)."""
    was = task.training
    task.eval()

    def features():
        for images, labels, _ in tqdm(loader, desc="centroids", leave=False, dynamic_ncols=True, disable=not progress):
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast():
                feature, _ = task.feature_model(images)
            yield feature.float(), labels.to(device)

    with warnings.catch_warnings(record=True) as caught:  # e.g. classes without images: a log line, not a raw warning
        warnings.simplefilter("always")
        centroids = init_centroids(features(), num_classes, task.feature_model.feat_dim, device=device)
    for w in caught:
        log.warning("centroids: %s", w.message)
    task.train(was)
    task.classifier.set_centroids(centroids.to(task.classifier.centroids.device))
    return centroids
