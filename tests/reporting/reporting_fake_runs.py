"""Fabricated run directories, laid out as `oltr.engine.train` + `evaluate_run` write them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from oltr.evaluation import closed_set_metrics, open_set_metrics, to_jsonable

# Boundaries 100 and 20 present, so the two group rules differ.
TRAIN_COUNTS = np.array([900, 400, 150, 100, 60, 30, 20, 12, 6, 3])
SKILL = {"ce": 1.0, "focal": 1.4, "cfl": 1.8}  # how separable each fabricated loss's logits are


def fabricate_logits(loss: str, seed: int, *, per_class: int = 12, n_open: int = 30):
    rng = np.random.default_rng(1000 * seed + len(loss))
    k = len(TRAIN_COUNTS)
    labels = np.repeat(np.arange(k), per_class)
    signal = SKILL[loss] * (1.0 + np.log(TRAIN_COUNTS) / 3.0)[labels]
    logits = rng.normal(size=(labels.size, k)) + np.eye(k)[labels] * signal[:, None]
    open_logits = rng.normal(scale=0.7, size=(n_open, k))
    return logits.astype(np.float32), labels, open_logits.astype(np.float32)


def write_run(
    root: Path,
    *,
    dataset: str = "FashionMNIST_LT",
    stage: int = 1,
    loss: str = "ce",
    seed: int = 0,
    rule: str = "strict",
    open_set: bool = True,
    epochs: int = 4,
    loss_params: dict | None = None,
    save_logits: bool = True,
    complete: bool = True,
    config: dict | None = None,
) -> Path:
    """One evaluated run directory under ``root``."""
    run = root / f"{dataset}_s{stage}_{loss}_seed{seed}"
    run.mkdir(parents=True)
    config = {
        "name": run.name,
        "seed": seed,
        "stage": stage,
        "data": {"name": dataset},
        "loss": {"name": loss, **(loss_params or {})},
        **(config or {}),
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with open(run / "metrics.jsonl", "w") as fh:
        for epoch in range(epochs):
            cyclical = abs(1 - 2 * epoch / max(epochs - 1, 1)) if loss == "cfl" else None
            if seed % 2 == 0:  # as the engine writes it
                row = {"epoch": epoch, "stage": stage, "loss": 2.0 / (epoch + 1), "xi": cyclical,
                       "lr": {"backbone": 0.1}, "val_overall": 0.3 + 0.05 * epoch, "val_many": None}
            else:  # the minimal documented keys
                row = {"epoch": epoch, "train_loss": 2.0 / (epoch + 1) + 0.01, "val_top1": 0.32 + 0.05 * epoch, "lr": 0.1}
                if cyclical is not None:
                    row["xi"] = cyclical
            fh.write(json.dumps(row) + "\n")
    logits, labels, open_logits = fabricate_logits(loss, seed)
    closed = closed_set_metrics(logits, labels, TRAIN_COUNTS, rule=rule)
    opened = open_set_metrics(logits, labels, open_logits, TRAIN_COUNTS, threshold=0.1, rule=rule) if open_set else None
    record = {
        "split": "test", "checkpoint": str(run / "best.pt"), "config_hash": "abc123", "rule": rule,
        "threshold": 0.1, "fp_rule": "oltr", "closed_set": closed, "open_set": opened,
        "train_counts": TRAIN_COUNTS, "dataset": dataset, "loss": loss, "stage": stage, "seed": seed,
        "complete": complete, "epochs_done": epochs if complete else epochs - 1, "epochs": epochs,
    }
    (run / "eval_test.json").write_text(json.dumps(to_jsonable(record), allow_nan=False))
    if save_logits:
        arrays = {"logits": logits, "labels": labels}
        if open_set:
            arrays["open_logits"] = open_logits
        np.savez(run / "logits_test.npz", **arrays)
    return run
