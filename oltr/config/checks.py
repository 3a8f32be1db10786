"""Load-time value checks: everything that can fail before training fails when the config loads.

:func:`check_values` checks ranges and choices of the typed fields (called by ``from_dict`` for every
config and override); :func:`check_schedule` walks a built loss through every epoch of the stage
(called by ``validate_loss``), so a schedule that would refuse epoch 30 of a 60-epoch stage is an
error at second zero, naming ``loss.epochs``, instead of after 30 epochs of compute.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from oltr.config.schema import RunConfig
from oltr.models.freezing import FREEZABLE_PARTS

# dotted key -> (low, high, low_open, high_open); None = unbounded
_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "open_threshold": (0.0, 1.0, False, False),
    "optim.lr_features": (0.0, None, False, False),
    "optim.lr_classifier": (0.0, None, False, False),
    "optim.momentum": (0.0, 1.0, False, True),
    "optim.weight_decay": (0.0, None, False, False),
    "optim.gamma": (0.0, None, True, False),
    "centroids.weight": (0.0, None, False, False),
    "centroids.lr": (0.0, None, False, False),
    "model.width": (1, None, False, False),
    "model.fc_add_dim": (1, None, False, False),
    "data.mixup_alpha": (0.0, None, False, False),
    "data.cutmix_alpha": (0.0, None, False, False),
}
_OPTIONAL_POSITIVE = ("data.eval_batch_size", "data.image_size")


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def check_values(cfg: RunConfig, fail: Callable[[str, str], Exception]) -> None:
    """Raise ``fail(key, message)`` for the first value out of its range or choice set."""
    for key, (low, high, low_open, high_open) in _RANGES.items():
        value = _get(cfg, key)
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
            hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
            raise fail(key, f"must be in {lo}, {hi}, got {value!r}")
    for key in _OPTIONAL_POSITIVE:
        value = _get(cfg, key)
        if value is not None and value < 1:
            raise fail(key, f"must be >= 1 or null, got {value}")
    decay = cfg.optim.ema_decay
    if decay is not None and not (math.isfinite(decay) and 0 < decay < 1):
        raise fail("optim.ema_decay", f"must be in (0, 1) or null (off), got {decay!r}")
    if cfg.stage == 2:  # the centroid loss needs one hard label per image; mixed targets have none
        for key in ("data.mixup_alpha", "data.cutmix_alpha"):
            if _get(cfg, key) > 0:
                raise fail(key, f"mixup / cutmix are for stage 1 only (the stage-2 centroid loss needs hard "
                                f"labels), got {_get(cfg, key)!r}: set it to 0")
    if cfg.data.num_classes is not None and cfg.data.num_classes < 2:
        raise fail("data.num_classes", f"must be >= 2 or null, got {cfg.data.num_classes}")

    for i, part in enumerate(cfg.model.freeze):
        if part not in FREEZABLE_PARTS:
            raise fail(f"model.freeze[{i}]", f"unknown part {part!r}; parts: {', '.join(FREEZABLE_PARTS)}")


def check_schedule(cfg: RunConfig, criterion: Any, fail: Callable[[str, str], Exception]) -> None:
    """Call ``criterion.set_epoch`` for every epoch of the stage, as the trainer will; a refusal is an error
    naming ``loss.epochs`` (the schedule's length) and the stage's ``epochs``."""
    if not hasattr(criterion, "set_epoch"):
        return
    for epoch in range(cfg.epochs):
        try:
            criterion.set_epoch(epoch)
        except ValueError as e:
            params = cfg.loss.params
            span = f"loss.epochs={params['epochs']}" if "epochs" in params else "the loss's epochs"
            schedule = params.get("schedule")
            hint = ("" if schedule == "oltr_fork" else
                    "; set loss.epochs to at least the stage's epochs, or loss.schedule=oltr_fork to run the "
                    "CFL fork's schedule past its end")
            raise fail("loss.epochs", f"the stage trains epochs={cfg.epochs} but {span} refuses 0-based epoch "
                                      f"{epoch}: {e}{hint}") from None
    criterion.set_epoch(0)
