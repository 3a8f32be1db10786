"""Both stages on a CUDA device (marker ``gpu``: skipped, saying why, where no CUDA device is visible).

What only a GPU can check: bf16 / fp16 + GradScaler autocast and channels_last through the engine's
real training loop, and that a checkpoint evaluated on CUDA gives the logits the CPU gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_reference_configs import _fake_small

from oltr.config import load_config
from oltr.engine import evaluate_run, train

REPO = Path(__file__).resolve().parents[2]
K = 4


def _fake(root: Path) -> None:
    _fake_small(root, "ImageNet_LT", K)  # every split holds every class; 72 px PNGs


def _cfg(stage: int, root: Path, extra: list[str]):
    name = "stage_1.yaml" if stage == 1 else "stage_2_meta_embedding.yaml"
    return load_config(REPO / "configs/ImageNet_LT" / name,
                       [f"data.root={root}", f"data.lists={root}", f"data.open_root={root}", "model.weights=null",
                        "data.batch_size=4", "data.image_size=64", "epochs=1", "data.num_workers=0",
                        f"data.num_classes={K}", "optim.lr_features=0.001", "optim.lr_classifier=0.001",
                        *extra])


@pytest.mark.gpu
@pytest.mark.parametrize("amp", [None, "bf16", "fp16"])
def test_both_stages_train_and_evaluate_on_cuda(amp, tmp_path):
    _fake(tmp_path)
    extra = ["channels_last=true"] + ([f"amp={amp}"] if amp else [])
    s1 = train(_cfg(1, tmp_path, extra), tmp_path / "runs/stage_1_ce_seed0", progress=False, device="cuda")
    s2 = train(_cfg(2, tmp_path, extra + [f"init_from={s1}"]), tmp_path / "runs/stage_2_ce_seed0",
               progress=False, device="cuda")
    for run in (s1, s2):
        losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert losses and np.isfinite(losses).all()
        out = evaluate_run(run, split="test", progress=False, device="cuda")
        assert 0.0 <= out["closed_set"]["overall"] <= 1.0
        assert np.isfinite(np.load(run / "logits_test.npz")["logits"]).all()


@pytest.mark.gpu
def test_a_cpu_trained_checkpoint_gives_the_same_logits_on_cuda(tmp_path, no_tf32):
    _fake(tmp_path)
    s1 = train(_cfg(1, tmp_path, []), tmp_path / "runs/stage_1_ce_seed0", progress=False, device="cpu")
    s2 = train(_cfg(2, tmp_path, [f"init_from={s1}"]), tmp_path / "runs/stage_2_ce_seed0", progress=False,
               device="cpu")
    for run in (s1, s2):
        evaluate_run(run, split="test", progress=False, device="cpu", open_set=False)
        cpu = np.load(run / "logits_test.npz")["logits"]
        evaluate_run(run, split="test", progress=False, device="cuda", open_set=False)
        gpu = np.load(run / "logits_test.npz")["logits"]
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)
