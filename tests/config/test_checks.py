"""Load-time checks: what would fail during training fails when the config loads, naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oltr.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
FMNIST_2 = REPO / "configs/FashionMNIST_LT/stage_2_meta_embedding.yaml"  # 4 epochs
IMAGENET_2 = REPO / "configs/ImageNet_LT/stage_2_meta_embedding.yaml"  # 60 epochs


def test_schedule_shorter_than_the_stage_fails_at_load_naming_loss_epochs():
    # The run that died after 30 of 60 epochs with "epoch must be in [0, 30)".
    with pytest.raises(ConfigError, match=r"loss\.epochs: the stage trains epochs=60 but loss\.epochs=30 .* epoch 30"):
        load_config(IMAGENET_2, ["loss.name=cfl", "loss.epochs=30"])
    with pytest.raises(ConfigError, match=r"loss\.epochs"):
        load_config(FMNIST_2, ["loss.name=casl", "loss.epochs=3", "loss.schedule=paper"])
    load_config(FMNIST_2, ["loss.name=casl", "loss.epochs=12"])  # a longer schedule is not an error


def test_fork_schedule_runs_past_its_end_but_not_into_its_zero_division():
    cfg = load_config(IMAGENET_2, ["loss.name=casl", "loss.epochs=30", "loss.schedule=oltr_fork"])
    assert cfg.loss.params["schedule"] == "oltr_fork"
    with pytest.raises(ConfigError, match=r"loss\.epochs: .*factor=1.*divides by zero"):
        load_config(IMAGENET_2, ["loss.name=casl", "loss.epochs=30", "loss.schedule=oltr_fork", "loss.factor=1"])


@pytest.mark.parametrize("override,key", [
    ("fp_rule=oltr2020", "fp_rule"),
    ("open_threshold=1.5", "open_threshold"),
    ("open_threshold=-0.1", "open_threshold"),
    ("model.attention_init=zeros", "model.attention_init"),
    ("optim.momentum=1.0", "optim.momentum"),
    ("optim.lr_features=-0.1", "optim.lr_features"),
    ("centroids.weight=-1", "centroids.weight"),
    ("model.freeze=[backbone, trunk]", "model.freeze[1]"),
    ("loss.gamma_hc=-1", "loss"),
])
def test_bad_values_fail_at_load_naming_the_key(override, key):
    overrides = ["loss.name=casl", override] if override.startswith("loss.") else [override]
    with pytest.raises(ConfigError, match=re.escape(f": {key}: ")):
        load_config(FMNIST_2, overrides)


def test_valid_choices_load():
    cfg = load_config(FMNIST_2, ["fp_rule=oltr2019", "open_threshold=1", "model.attention_init=reference"])
    assert (cfg.fp_rule, cfg.open_threshold, cfg.model.attention_init) == ("oltr2019", 1.0, "reference")
