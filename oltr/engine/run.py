"""``train(cfg)``: one stage of one run, read top to bottom like a recipe.

distributed init -> run directory (fresh / resume / already complete) -> data -> task (stage-2
hand-off) -> optimizer + StepLR + scaler -> resume or centroid init -> DDP -> epochs (train, val,
checkpoint, metrics line) -> ``complete.json``.

Epochs are counted from 1 everywhere a user reads them (log, progress bars, ``metrics.jsonl``,
checkpoints' ``epoch`` = epochs completed, ``complete.json``). The run directory is locked
(:mod:`oltr.engine.lock`) for the whole run.

Run directory layout: ``config.yaml`` (resolved config), ``metrics.jsonl`` (one line per epoch),
``last.pt`` (every epoch, atomic), ``best.pt`` (best val top-1; the meta-embedding centroids are in
its classifier state), ``train.log``, ``complete.json`` (written last). With ``optim.ema_decay`` the
checkpoints' ``model`` is the weight EMA and ``last.pt`` adds ``train_model`` and ``ema_updates``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from oltr.config import RunConfig, config_hash, dump_config, load_config, to_dict
from oltr.engine import build
from oltr.engine.checkpoint import (COMPLETE, is_complete, load_checkpoint, save_atomic, seed_everything,
                                    write_json_atomic, writing)
from oltr.engine.distributed import DistEnv, barrier, broadcast_object, convert_sync_batchnorm, init_distributed
from oltr.engine.ema import build_ema
from oltr.engine.epoch_logs import EpochLogs
from oltr.engine.handoff import check_stage1, init_centroids_pass, init_from_stage1, resolve_init_from
from oltr.engine.lock import run_lock
from oltr.engine.loop import NonFiniteLogitsError, NonFiniteLossError, amp_tools, compute_logits, loss_scale_source, train_one_epoch
from oltr.engine.mixing import build_batch_mix
from oltr.engine.tasks import loss_xi
from oltr.evaluation import closed_set_metrics
from oltr.losses import loss_info

log = logging.getLogger("oltr.engine")


class RunDirError(RuntimeError):
    """The output directory holds another run, or a run that ``--resume`` would have to continue."""


def default_run_dir(cfg: RunConfig, root: str | os.PathLike = "runs") -> Path:
    """``runs/<data.name>/<name or stage_N>_<loss.name>_seed<seed>``."""
    return Path(root) / cfg.data.name / cfg.run_name


def _diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            keys.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return keys


def holds_user_files(run_dir: Path) -> bool:
    """True when ``run_dir`` holds files that a new run must not mix with: anything but hidden files and
    ``grid.log`` (the grid scheduler's per-run worker log, opened before the run or method starts)."""
    return run_dir.is_dir() and any(not p.name.startswith(".") and p.name != "grid.log" for p in run_dir.iterdir())


def run_dir_state(run_dir: Path, cfg: RunConfig, chash: str, resume: bool) -> str:
    """What training ``cfg`` (config hash ``chash``) in ``run_dir`` would do: 'fresh' | 'resume' | 'complete';
    raises RunDirError when the directory is not ours to use (another config, not a run, resume not allowed)."""
    cfg_file = run_dir / "config.yaml"
    if not cfg_file.is_file():
        if holds_user_files(run_dir):
            raise RunDirError(f"{run_dir} exists and is not an oltr run directory (no config.yaml); choose another --output")
        return "fresh"
    if not (run_dir / "last.pt").is_file() and not is_complete(run_dir):
        return "fresh"  # an earlier start failed before its first checkpoint: nothing of it to keep
    old = load_config(cfg_file, check_loss=False)
    old_hash = config_hash(old)
    if old_hash != chash:
        changes = "; ".join(_diff(to_dict(old), to_dict(cfg))[:8])
        raise RunDirError(f"{run_dir} holds a run with a different config (hash {old_hash[:12]} vs {chash[:12]}: "
                          f"{changes}); choose another --output")
    if is_complete(run_dir):
        if not resume:
            raise RunDirError(f"{run_dir} holds a finished run; pass --resume to accept it, or choose another --output")
        return "complete"
    if not resume:
        raise RunDirError(f"{run_dir} holds an unfinished run; pass --resume to continue it, or choose another --output")
    return "resume"


@contextlib.contextmanager
def _logging_to(run_dir: Path | None, env: DistEnv):
    """INFO messages of ``oltr.*`` to stdout and ``train.log`` on rank 0, warnings only elsewhere."""
    root = logging.getLogger("oltr")
    handlers: list[logging.Handler] = []
    old_level = root.level
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    if env.primary:
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(logging.Formatter("%(message)s"))
        handlers.append(stream)
        if run_dir is not None:
            file = logging.FileHandler(run_dir / "train.log")
            file.setFormatter(fmt)
            handlers.append(file)
        root.setLevel(logging.INFO)
    else:
        root.setLevel(logging.WARNING)
    for h in handlers:
        root.addHandler(h)
    try:
        yield
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()
        root.setLevel(old_level)


def _reseed_epoch(cfg: RunConfig, epoch: int, env: DistEnv, generator: torch.Generator) -> None:
    """Python, NumPy, torch, augmentation and worker seeds depend only on (seed, epoch, rank): the one resume
    mechanism (checkpoints hold no RNG state), exact by construction."""
    seed = (cfg.seed * 1_000_003 + epoch * 7919 + env.rank * 104_729) % 2**63
    seed_everything(seed)
    generator.manual_seed(seed)


def _configure_determinism(device: torch.device) -> None:
    # CPU kernels used here are deterministic for a fixed thread count (tested: same seed -> same
    # metrics). torch.use_deterministic_algorithms is NOT set: it swaps oneDNN convolutions for
    # reference kernels that are 5-10x slower on CPU. On CUDA, cuDNN autotuning wins over bitwise
    # reproducibility.
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _truncate_metrics(path: Path, epochs_done: int) -> None:
    """Keep the metric lines of the first ``epochs_done`` epochs (a kill may leave one more line)."""
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["epoch"] <= epochs_done]
    with writing(path):
        path.write_text("".join(ln + "\n" for ln in lines))


def _val_metrics(logits: np.ndarray, labels: np.ndarray, train_counts: np.ndarray, rule: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty shot groups on tiny data: NaN, reported as null
        m = closed_set_metrics(logits, labels, train_counts, rule=rule)
    return {f"val_{k}": (None if not np.isfinite(m[k]) else round(float(m[k]), 6))
            for k in ("overall", "many", "medium", "few", "group_mean")}


def train(cfg: RunConfig, output_dir: str | os.PathLike | None = None, resume: bool = False, *,
          progress: bool = True, stop_after_epoch: int | None = None, device: str | None = None) -> Path:
    """Train one stage; return the run directory.

    Args:
        cfg: the resolved run config (:func:`oltr.config.load_config`).
        output_dir: run directory (default :func:`default_run_dir`).
        resume: continue a partial run from ``last.pt``; return at once if the run is complete; start
            when the directory is absent. Without it an existing run directory is an error.
        progress: tqdm bars on rank 0.
        stop_after_epoch: test hook, stop (as if killed) after this 0-based epoch's checkpoint.
        device: ``cpu``/``cuda`` (default: CUDA if available).

    Raises:
        RunDirError, StageHandoffError, NonFiniteLossError (after logging; ``last.pt`` keeps the last
        good epoch).
    """
    env = init_distributed(device)
    run_dir = Path(output_dir) if output_dir is not None else default_run_dir(cfg)
    chash = config_hash(cfg)
    with contextlib.ExitStack() as stack:
        state = None
        if env.primary:
            try:  # the lock first: a second process must not even read a half-written config.yaml
                stack.enter_context(run_lock(run_dir))
                state = run_dir_state(run_dir, cfg, chash, resume)
            except (RunDirError, OSError, RuntimeError) as e:
                state = e
        state = broadcast_object(state, env)  # every rank raises together instead of hanging
        if isinstance(state, Exception):
            raise state
        if state == "complete":
            return run_dir
        if env.primary:  # temp files of a write a kill interrupted (we hold the lock: no one else is writing)
            for tmp in [*run_dir.glob(".*.tmp"), *run_dir.glob(".*.tmp.npz")]:
                tmp.unlink(missing_ok=True)
        if env.primary and state == "fresh":
            for stale in ("metrics.jsonl", "train.log", "last.pt", "best.pt", COMPLETE, "summary.csv"):
                (run_dir / stale).unlink(missing_ok=True)
            shutil.rmtree(run_dir / "tensorboard", ignore_errors=True)
            with writing(run_dir / "config.yaml"):
                dump_config(_provenance(cfg, run_dir), run_dir / "config.yaml")
        barrier(env)
        with _logging_to(run_dir, env):
            try:
                _train(cfg, run_dir, chash, state == "resume", env, progress, stop_after_epoch)
            except NonFiniteLossError as e:
                last = run_dir / "last.pt"
                kept = (f"the last good checkpoint is {last}" if last.is_file() else
                        "no checkpoint was written (it happened in the first epoch): lower the learning rate "
                        "and start again")
                log.error("%s; stopping: %s", e, kept)
                e.args = (f"{e.args[0]}; {kept}",)
                raise
    return run_dir


def _provenance(cfg: RunConfig, run_dir: Path) -> RunConfig:
    """The config as written to ``config.yaml``: stage 2 names the stage-1 run it actually loads."""
    if cfg.stage == 2 and not cfg.init_from:
        stage1_dir, _ = resolve_init_from(cfg, run_dir)
        return dataclasses.replace(cfg, init_from=str(stage1_dir))
    return cfg


def _train(cfg: RunConfig, run_dir: Path, chash: str, resume: bool, env: DistEnv, progress: bool,
           stop_after_epoch: int | None) -> None:
    device = env.device
    _configure_determinism(device)
    autocast, scaler = amp_tools(cfg.amp, device)
    log.info("run %s: stage %d, %s, loss %s, seed %d, %d process(es) on %s%s", run_dir, cfg.stage, cfg.data.name,
             cfg.loss.name, cfg.seed, env.world_size, device, " (resuming)" if resume else "")

    build.prepare_data(cfg, env)
    data = build.build_train_data(cfg, env)
    val_set = build.build_dataset(cfg, "val", num_classes=data.num_classes)
    val_loader = build.eval_loader(cfg, val_set, env)

    seed_everything(cfg.seed)  # model initialisation depends on the seed only
    task = build.build_task(cfg, data.num_classes, data.class_counts).to(device)
    if cfg.channels_last:
        task = task.to(memory_format=torch.channels_last)
    optimizer, scheduler = build.build_optimizer(cfg, task)
    if hasattr(task, "loss_scale"):  # the reference centroid gradient follows the fp16 loss scale
        task.loss_scale = loss_scale_source(scaler)

    start_epoch, best, best_epoch = 0, -1.0, -1
    use_ema = cfg.optim.ema_decay is not None
    if resume:
        last = run_dir / "last.pt"
        ckpt = load_checkpoint(last, required=("model", "optimizer", "scheduler", "epoch", "config_hash"),
                               advice=f"delete {last} to restart this run from epoch 1 "
                               "(with --resume), or restore the file")
        if ckpt["config_hash"] != chash:
            raise RunDirError(f"{last} was written by another config (or by an oltr version that counted epochs "
                              "from 0 and hashed configs without the loss defaults): it cannot be resumed; start "
                              "the run afresh with another --output")
        if use_ema and "train_model" not in ckpt:
            raise RunDirError(f"{last} holds no train_model (the trained weights beside the EMA): it cannot be "
                              "resumed; start the run afresh with another --output")
        build.load_split_state(task, ckpt["train_model"] if use_ema else ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        # No RNG or sampler state to restore: every epoch reseeds all of them from (seed, epoch, rank)
        # (_reseed_epoch, sampler.set_epoch). Older checkpoints still carry "rng"/"sampler"; they are ignored.
        start_epoch, best, best_epoch = ckpt["epoch"], ckpt["best_metric"], ckpt["best_epoch"]
        log.info("resumed from %s after epoch %d (best val top-1 %.4f at epoch %d)", run_dir / "last.pt",
                 ckpt["epoch"], best, best_epoch)
        if env.primary:
            _truncate_metrics(run_dir / "metrics.jsonl", start_epoch)
    elif cfg.stage == 2:
        stage1_dir, explicit = resolve_init_from(cfg, run_dir)
        check_stage1(cfg, stage1_dir, explicit)
        info = init_from_stage1(task, cfg, stage1_dir)
        log.info("stage 2 starts from %(stage1)s (epoch %(stage1_epoch)s, val top-1 %(stage1_best)s): "
                 "%(loaded)d tensors loaded, %(fresh)d fresh", info)
        if cfg.centroids.init:
            plain = build.build_dataset(cfg, "train", train_transform=False, num_classes=data.num_classes)
            t0 = time.perf_counter()
            init_centroids_pass(task, build.eval_loader(cfg, plain, env), device, data.num_classes,
                                autocast=autocast, channels_last=cfg.channels_last, progress=progress and env.primary)
            log.info("centroids initialised from %d training images in %.1fs", len(plain), time.perf_counter() - t0)

    # The EMA starts from the weights training starts from (after the stage-2 hand-off); on resume it
    # continues from last.pt, whose "model" holds it.
    ema = build_ema(task, cfg.optim.ema_decay) if use_ema else None
    if ema is not None and resume:
        build.load_split_state(ema.module, ckpt["model"])
        ema.n_averaged.fill_(ckpt["ema_updates"])
    evaluated = ema.module if ema is not None else task  # what validation and the checkpoints' "model" see
    batch_mix = build_batch_mix(cfg.data.mixup_alpha, cfg.data.cutmix_alpha, data.num_classes)

    model = task
    if env.distributed:
        model = convert_sync_batchnorm(task, device)
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    if cfg.compile:
        model = torch.compile(model)
    criterion = task.criterion
    # Only scheduled losses have a meaningful xi (focal/asl expose xi = 0 as the degenerate case).
    scheduled = bool(loss_info(cfg.loss.name).meta.get("has_schedule"))
    epoch_logs = EpochLogs(run_dir, start_epoch) if env.primary else None  # summary.csv + TensorBoard

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        _reseed_epoch(cfg, epoch, env, data.generator)
        data.sampler.set_epoch(epoch)
        if hasattr(criterion, "set_epoch"):
            criterion.set_epoch(epoch)
        xi = loss_xi(criterion) if scheduled else None
        lrs = {g.get("name", str(i)): g["lr"] for i, g in enumerate(optimizer.param_groups)}
        losses = train_one_epoch(model, optimizer, data.loader, data.steps, device, epoch, env, autocast=autocast,
                                 scaler=scaler, channels_last=cfg.channels_last, log_every=cfg.log_every,
                                 progress=progress, criterion=criterion, batch_mix=batch_mix,
                                 after_step=(lambda: ema.update_parameters(task)) if ema is not None else None)
        t_train = time.perf_counter() - t0
        logits, labels = compute_logits(evaluated, val_loader, len(val_set), device, env, autocast=autocast,
                                        channels_last=cfg.channels_last, progress=progress, desc="val")
        if not np.isfinite(logits).all():
            raise NonFiniteLogitsError(epoch, int((~np.isfinite(logits)).sum()))
        val = _val_metrics(logits, labels, data.class_counts, cfg.eval_rule)
        scheduler.step()
        top1 = val["val_overall"] if val["val_overall"] is not None else 0.0
        improved = top1 > best
        if improved:
            best, best_epoch = top1, epoch + 1
        t_epoch = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "stage": cfg.stage, **{k: round(v, 6) for k, v in losses.items()},
                  "xi": xi, "lr": lrs, **val, "best_overall": best, "best_epoch": best_epoch,
                  "time": {"train_s": round(t_train, 3), "val_s": round(t_epoch - t_train, 3),
                           "epoch_s": round(t_epoch, 3),
                           "images_per_s": round(data.steps * cfg.data.batch_size / t_train, 1)}}
        if env.primary:
            model_state = build.split_state(evaluated)
            model_state["criterion"] = task.criterion.state_dict()  # the loss's state is not averaged
            ckpt = {"model": model_state, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(), "epoch": epoch + 1, "best_metric": best, "best_epoch": best_epoch,
                    "config_hash": chash,
                    "config": to_dict(cfg), "stage": cfg.stage}
            if ema is not None:
                ckpt.update(train_model=build.split_state(task), ema_updates=int(ema.n_averaged))
            with writing(run_dir / "metrics.jsonl"), (run_dir / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")
            epoch_logs.write(record)
            if improved:
                save_atomic({"model": model_state, "epoch": epoch + 1, "best_metric": best, "config_hash": chash,
                             "config": to_dict(cfg), "stage": cfg.stage}, run_dir / "best.pt")
            save_atomic(ckpt, run_dir / "last.pt")
        barrier(env)
        xi_text = f" xi {xi:.3f}" if xi is not None else ""
        parts = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        log.info("epoch %d/%d %s%s | val top-1 %.4f (best %.4f @%d) | lr %s | %.1fs (%.0f img/s)", epoch + 1,
                 cfg.epochs, parts, xi_text, top1, best, best_epoch, "/".join(f"{v:.3g}" for v in lrs.values()),
                 t_epoch, record["time"]["images_per_s"])
        if stop_after_epoch is not None and epoch >= stop_after_epoch and epoch + 1 < cfg.epochs:
            log.info("stopping after epoch %d (stop_after_epoch)", epoch + 1)
            if epoch_logs is not None:
                epoch_logs.close()
            return
    if epoch_logs is not None:
        epoch_logs.close()
    if env.primary:
        write_json_atomic({"epochs": cfg.epochs, "best_overall": best, "best_epoch": best_epoch,
                           "config_hash": chash}, run_dir / COMPLETE)
    barrier(env)
