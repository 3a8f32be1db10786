"""The ImageNet-LT / Places-LT configs load and build their data pipeline and models (fake images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from oltr.config import load_config
from oltr.engine import build

REPO = Path(__file__).resolve().parents[2]


def _write_fake(root: Path, name: str, splits: dict[str, list[int]], shape: tuple[int, int], ext: str) -> None:
    """Random images and OLTR-style lists ``<name>_<split>.txt`` (``relative/path label``) under ``root``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, labels in splits.items():
        lines = []
        for i, label in enumerate(labels):
            rel = f"{split}/img_{i}.{ext}"
            (root / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(root / rel)
            lines.append(f"{rel} {label}")
        (root / f"{name}_{split}.txt").write_text("\n".join(lines) + "\n")


def _fake_dataset(root: Path, name: str, num_classes: int) -> None:
    _write_fake(root, name, {"train": [0, num_classes - 1], "val": [1, 2], "test": [3, 4], "open": [-1, -1]},
                (256, 300), "jpg")


@pytest.mark.slow
@pytest.mark.parametrize("config", ["ImageNet_LT/stage_1.yaml", "ImageNet_LT/stage_2_meta_embedding.yaml",
                                    "Places_LT/stage_1.yaml", "Places_LT/stage_2_meta_embedding.yaml"])
def test_reference_config_builds_and_runs_forward(config, tmp_path):
    name = config.split("/")[0]
    k = 1000 if name == "ImageNet_LT" else 365
    _fake_dataset(tmp_path, name, k)
    cfg = load_config(REPO / "configs" / config, [f"data.root={tmp_path}", f"data.lists={tmp_path}",
                                                   f"data.open_root={tmp_path}", "model.weights=null"])
    assert cfg.data.num_classes == k and cfg.data.batch_size == 128
    ds = build.build_dataset(cfg, "train", train_transform=True, num_classes=k)
    images = torch.stack([ds[i][0] for i in range(len(ds))])
    assert images.shape == (2, 3, 224, 224)
    task = build.build_task(cfg, k, np.array([5] * k))
    if cfg.stage == 2:
        task.classifier.set_centroids(torch.randn(k, task.feature_model.feat_dim))
    out = task(images, torch.tensor([0, k - 1]))
    assert out["logits"].shape == (2, k) and torch.isfinite(out["loss"])
    optimizer, _ = build.build_optimizer(cfg, task)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["features"] == cfg.optim.lr_features and lrs["classifier"] == cfg.optim.lr_classifier
    if cfg.stage == 2:
        assert lrs["centroids"] == 0.01
    if "Places_LT/stage_2" in config:  # frozen backbone: only attention + fc_add train in the feature model
        trainable = {n.split(".")[0] for n, p in task.feature_model.named_parameters() if p.requires_grad}
        assert trainable == {"attention", "fc_add"}
    open_ds = build.build_dataset(cfg, "open")
    assert list(open_ds.labels) == [-1, -1]


def _fake_small(root: Path, name: str, k: int = 4) -> None:
    """Every split holds every class (the evaluation's prior-shifted accuracies need test samples of each)."""
    _write_fake(root, name, {"train": [c for c in range(k) for _ in range(2)], "val": list(range(k)),
                             "test": list(range(k)), "open": [-1, -1]}, (72, 72), "png")


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["imagenet_lt_decoupling", "places_lt_decoupling"])
def test_decoupling_recipes_train_and_every_listed_method_runs_on_fake_images(suite, tmp_path):
    """Smoke test of the Decoupling recipes on fake images (4 classes, 64 px, batch 2, so the lrs scale
    linearly): the joint config trains one epoch, then every method the suite lists runs on it with
    the suite's parameters."""
    from oltr.benchmark import load_suite
    from oltr.engine import evaluate_run, train
    from oltr.methods import apply_method

    s = load_suite(suite)
    _fake_small(tmp_path, s.dataset)
    cfg = load_config(s.stage_1, [f"data.root={tmp_path}", f"data.lists={tmp_path}", f"data.open_root={tmp_path}",
                                  "model.weights=null", "data.batch_size=2", "data.image_size=64", "epochs=1",
                                  "data.num_workers=0", "data.num_classes=4"])
    base = 512 if s.dataset == "ImageNet_LT" else 256
    assert cfg.optim.schedule == "cosine" and cfg.optim.base_batch_size is None
    assert cfg.optim.lr_classifier == pytest.approx((0.2 if base == 512 else 0.1) * 2 / base)
    assert cfg.model.name == ("resnext50_32x4d" if s.dataset == "ImageNet_LT" else "resnet152")
    run = train(cfg, tmp_path / "runs" / "stage_1_ce_seed0", progress=False, device="cpu")
    evaluate_run(run, split="test", progress=False, device="cpu")
    for spec in s.methods:
        if spec["name"] != "plain":
            params = {k_: v for k_, v in spec.items() if k_ != "name"}
            out = apply_method(spec["name"], run, tmp_path / "runs" / spec["name"], device="cpu", **params)
            assert (out / "eval_test.json").is_file()
