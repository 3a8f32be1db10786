"""``evaluate_run``: score a finished run's ``best.pt`` on a split, once, and keep the logits.

Writes ``logits_<split>.npz`` (``logits``, ``labels``, and ``open_logits`` when open-set, stamped
with the config hash and the lists' checksums, :mod:`oltr.engine.logits`) so that thresholds and shot
rules can be re-scored without the model (``from_logits=True``), and ``eval_<split>.json`` with the
metrics, the rules, the threshold, the checkpoint, the config hash and whether the run was finished
(``complete``; an unfinished run is scored, said so, and left out of leaderboards by default).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path

from oltr.atomic import write_text_atomic
from oltr.config import config_hash, load_config
from oltr.data import class_counts, read_list, sha256_file
from oltr.engine import build
from oltr.engine.checkpoint import is_complete, load_checkpoint, writing
from oltr.engine.distributed import init_distributed
from oltr.engine.lock import run_lock
from oltr.engine.logits import load_logits, save_logits
from oltr.engine.loop import amp_tools, compute_logits
from oltr.engine.scoring import apply_scoring
from oltr.evaluation import Logits, evaluate_logits, to_jsonable
from oltr.evaluation.features import features_path
from oltr.evaluation.scores import check_score

log = logging.getLogger("oltr.engine")


def evaluate_run(run_dir: str | os.PathLike, split: str = "test", open_set: bool = True, threshold: float | None = None,
                 rule: str | None = None, from_logits: bool = False, *, fp_rule: str | None = None,
                 progress: bool = True, device: str | None = None, score: str = "msp",
                 score_params: dict | None = None, threshold_from: str | None = None, tpr: float = 0.95,
                 sweep: bool = False) -> dict:
    """Evaluate ``run_dir/best.pt`` on ``split`` (val|test) and write ``eval_<split>.json``.

    Args:
        run_dir: a finished (or at least once checkpointed) training run.
        split: ``val`` or ``test``.
        open_set: also score the open-set list (skipped with a warning when the dataset has none).
        threshold: open-set threshold on the max softmax (default: the run's ``open_threshold``).
        rule: shot-group rule (default: the run's ``eval_rule``).
        from_logits: re-score ``logits_<split>.npz`` instead of running the model.
        fp_rule: open-set false-positive rule (default: the run's ``fp_rule``).
        score, score_params: open-set score of :data:`oltr.evaluation.SCORES` (default ``msp``).
        threshold_from: ``"val"`` chooses the threshold on the validation known samples (the one
            accepting ``tpr`` of them; ``logits_val.npz`` is computed first when missing).
        sweep: also write the threshold sweep (``sweep_<split>_<score>.csv/.png``) and
            ``reliability_<split>.png``. See :func:`oltr.engine.scoring.apply_scoring`.

    Returns:
        The dict written to ``eval_<split>.json``.
    """
    run_dir = Path(run_dir)
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    cfg_file = run_dir / "config.yaml"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(cfg_file, check_loss=False)
    rule = rule or cfg.eval_rule
    fp_rule = fp_rule or cfg.fp_rule

    if check_score(score, score_params).meta.get("needs_features"):  # fail before any network work
        for needed in ("train", split):
            if not features_path(run_dir, needed).is_file():
                raise FileNotFoundError(f"score {score!r} needs {features_path(run_dir, needed)}: run "
                                        f"`oltr eval --save-features` on the {needed} split first")
    threshold_given = threshold is not None
    threshold = cfg.open_threshold if threshold is None else threshold
    if threshold_from == "val" and split != "val" and not (run_dir / "logits_val.npz").is_file() and not from_logits:
        evaluate_run(run_dir, "val", open_set=False, rule=rule, fp_rule=fp_rule, progress=progress, device=device)
    env = init_distributed(device)
    chash = config_hash(cfg)
    complete = is_complete(run_dir)
    epochs_done = _epochs_done(run_dir)
    if not complete:
        log.warning("%s is unfinished (%d of %d epochs): scoring its best.pt so far; leaderboards leave it out "
                    "unless asked (--include-unfinished)", run_dir, epochs_done, cfg.epochs)
    with run_lock(run_dir) if env.primary else contextlib.nullcontext():  # not while a training writes it
        result = _evaluate(run_dir, cfg, chash, env, split, open_set, threshold, threshold_given, rule, fp_rule,
                           from_logits, progress, score, score_params, threshold_from, tpr, sweep)
        result.update(complete=complete, epochs_done=epochs_done, epochs=cfg.epochs)
        result = to_jsonable(result)
        if env.primary:
            out = run_dir / f"eval_{split}.json"
            with writing(out):
                write_text_atomic(out, json.dumps(result, indent=2, allow_nan=False) + "\n")
    return result


def _epochs_done(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.is_file() else 0


def _evaluate(run_dir, cfg, chash, env, split, open_set, threshold, threshold_given, rule, fp_rule, from_logits,
              progress, score, score_params, threshold_from, tpr, sweep) -> dict:
    _, train_labels = read_list(build.list_path(cfg, "train"), cfg.data.num_classes)
    k = cfg.data.num_classes or int(train_labels.max()) + 1
    train_counts = class_counts(train_labels, k)

    ckpt_path = run_dir / "best.pt"
    npz_path = run_dir / f"logits_{split}.npz"
    list_sha = sha256_file(build.list_path(cfg, split)) if build.list_path(cfg, split).is_file() else None
    open_list = build.list_path(cfg, "open")
    open_sha = sha256_file(open_list) if open_set and open_list.is_file() else None
    if from_logits:
        z = load_logits(npz_path, config_hash=chash, list_sha256=list_sha, open_list_sha256=open_sha)
        logits, labels, open_logits = z["logits"], z["labels"], z.get("open_logits")
        if open_set and open_logits is None:
            raise ValueError(f"{npz_path} holds no open_logits: evaluate with --open (without --from-logits) first")
    else:
        ckpt = load_checkpoint(ckpt_path, required=("model",),
                               advice="train the run again (oltr train --resume cannot repair best.pt)")
        task = build.build_task(cfg, k, train_counts).to(env.device)
        build.load_split_state(task, ckpt["model"])
        autocast, _ = amp_tools(cfg.amp, env.device)
        kw = dict(autocast=autocast, channels_last=cfg.channels_last, progress=progress)
        known = build.build_dataset(cfg, split, num_classes=k)
        logits, labels = compute_logits(task, build.eval_loader(cfg, known, env), len(known), env.device, env,
                                        desc=split, **kw)
        open_logits = None
        if open_set:
            if build.list_path(cfg, "open").is_file():
                opened = build.build_dataset(cfg, "open")
                open_logits, _ = compute_logits(task, build.eval_loader(cfg, opened, env), len(opened), env.device,
                                                env, desc="open", **kw)
            else:
                log.warning("no open-set list at %s: open-set metrics skipped", build.list_path(cfg, "open"))
        if env.primary:
            arrays = {"logits": logits, "labels": labels}
            if open_logits is not None:
                arrays["open_logits"] = open_logits
            save_logits(npz_path, arrays, config_hash=chash, list_sha256=list_sha,
                        open_list_sha256=open_sha if open_logits is not None else None)

    # Wrapped once: the per-row softmax statistics that every metric and score reads come from one pass.
    logits = Logits(logits, labels)
    if open_logits is not None:
        open_logits = Logits(open_logits, name="open_logits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty shot groups: NaN -> null in the JSON
        metrics = evaluate_logits(logits, labels, train_counts, open_logits=open_logits if open_set else None,
                                  threshold=threshold if score == "msp" else cfg.open_threshold, rule=rule,
                                  fp_rule=fp_rule)  # a threshold on another score is applied in apply_scoring

        metrics = apply_scoring(run_dir, split, metrics, logits, labels, open_logits if open_set else None,
                                train_counts, score=score, score_params=score_params, threshold=threshold,
                                threshold_given=threshold_given, threshold_from=threshold_from, tpr=tpr,
                                sweep=sweep, rule=rule, fp_rule=fp_rule)
        threshold = metrics["threshold_selection"]["value"]
    return {
        "split": split, "checkpoint": str(ckpt_path.resolve()), "config_hash": chash, "rule": rule,
        "threshold": threshold, "fp_rule": fp_rule,
        **metrics, "train_counts": train_counts,
        "dataset": cfg.data.name, "loss": cfg.loss.name, "stage": cfg.stage, "seed": cfg.seed,
    }
