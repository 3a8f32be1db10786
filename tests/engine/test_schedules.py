"""optim.schedule (step / cosine), linear warm-up and the linear learning-rate scaling rule."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _engine_helpers import tiny_cfg, tiny_dict, write_cfg  # noqa: E402

from oltr.config import ConfigError, load_config  # noqa: E402
from oltr.engine import build  # noqa: E402


def _lrs(cfg, epochs):
    task = build.build_task(cfg, 4, None)
    optimizer, scheduler = build.build_optimizer(cfg, task)
    out = []
    for _ in range(epochs):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_cosine_with_linear_warmup_follows_the_formula(tmp_path):
    cfg = tiny_cfg(tmp_path, 1, **{"epochs": 6, "optim.schedule": "cosine", "optim.warmup_epochs": 2,
                                   "optim.warmup_factor": 0.1, "optim.lr_features": 0.4})
    lrs = _lrs(cfg, 6)
    # warm-up: 0.1 * lr, then (0.1 + 0.9 * 1/2) * lr; cosine over the remaining 4 epochs: lr/2 (1 + cos(pi t / 4))
    expected = [0.04, 0.4 * 0.55] + [0.2 * (1 + math.cos(math.pi * t / 4)) for t in range(4)]
    assert lrs == pytest.approx(expected, rel=1e-6)


def test_step_schedule_is_unchanged_by_default(tmp_path):
    cfg = tiny_cfg(tmp_path, 1, **{"epochs": 4, "optim.step_size": 2, "optim.gamma": 0.1, "optim.lr_features": 0.05})
    assert _lrs(cfg, 4) == pytest.approx([0.05, 0.05, 0.005, 0.005])


def test_linear_scaling_rule_writes_the_effective_lr(tmp_path):
    raw = tiny_dict(tmp_path, 1, **{"data.batch_size": 64, "optim.base_batch_size": 256, "optim.lr_features": 0.2,
                                    "optim.lr_classifier": 0.2})
    cfg = load_config(write_cfg(tmp_path / "c.yaml", raw), check_loss=False)
    assert cfg.optim.lr_features == pytest.approx(0.05) and cfg.optim.base_batch_size is None
    from oltr.config import config_hash, dump_config

    dump_config(cfg, tmp_path / "stored.yaml")  # what a run directory keeps: loading it again changes nothing
    again = load_config(tmp_path / "stored.yaml", check_loss=False)
    assert again.optim.lr_features == pytest.approx(0.05) and config_hash(again) == config_hash(cfg)


@pytest.mark.parametrize("key,value,match", [("optim.warmup_epochs", 2, r"warmup_epochs.*\[0, epochs=2\)"),
                                             ("optim.warmup_factor", 0.0, "warmup_factor"),
                                             ("optim.base_batch_size", 0, "base_batch_size"),
                                             ("optim.schedule", "poly", "schedule")])
def test_bad_schedule_keys_name_the_key(tmp_path, key, value, match):
    raw = tiny_dict(tmp_path, 1, **{key: value})
    with pytest.raises(ConfigError, match=match):
        load_config(write_cfg(tmp_path / "bad.yaml", raw), check_loss=False)
