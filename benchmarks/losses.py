"""Every loss's forward+backward as a share of one ResNet-10 training step at the ImageNet-LT recipe's shapes.

The project's loss speed target: each registered loss (both flavours where it takes ``flavour``) costs at most
1 % of a stage-1 training step. The step is the ImageNet-LT stage-1 recipe (``configs/ImageNet_LT/stage_1.yaml``:
ResNet-10, ImageNet stem, width 64, dot-product classifier, SGD with momentum and weight decay, batch 128 of
3x224x224, 1000 classes) with ``F.cross_entropy``; the loss is timed on that step's (128, 1000) logits. Both
figures are medians of timed calls in the same process, so the share is a ratio measured in one run.

Not a test: ``python benchmarks/losses.py [--device cpu|cuda] [--threads N] [--steps N] [--repeats N]`` writes
``results/benchmarks/losses.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from oltr.losses import available, build_loss, loss_info, loss_params
from oltr.models import DotProductClassifier, build_feature_model
from _machine import cpu_name  # benchmarks/ is on sys.path when a script runs

OUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "losses.md"
BATCH, CLASSES, SIZE = 128, 1000, 224  # ImageNet-LT stage 1 (configs/ImageNet_LT/stage_1.yaml)
TARGET = 0.01


def _median_seconds(fn: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_step(device: torch.device) -> Callable[[], None]:
    """One stage-1 step of the ImageNet-LT recipe on a fixed random batch."""
    torch.manual_seed(0)
    model = build_feature_model("resnet10", stem="imagenet", width=64).to(device)
    classifier = DotProductClassifier(model.feat_dim, CLASSES).to(device)
    params = [*model.parameters(), *classifier.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(BATCH, 3, SIZE, SIZE, device=device)
    y = torch.randint(CLASSES, (BATCH,), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits, _ = classifier(model(x)[0])
        F.cross_entropy(logits, y).backward()
        optimizer.step()

    return step


def build(name: str, **params) -> torch.nn.Module:
    """A registered loss with the recipe's arguments: a 1/k long tail of class counts, 30 epochs, mid-cycle."""
    if loss_info(name).meta.get("needs_class_counts"):
        params["class_counts"] = np.maximum(1, (1000 * np.arange(1, CLASSES + 1) ** -1.0)).astype(np.int64)
    if loss_info(name).meta.get("has_schedule"):
        params["epochs"] = 30
    loss = build_loss(name, **params)
    loss.set_epoch(3)  # 0 < xi < 1 for the cyclical losses: both terms are evaluated
    return loss


def cases() -> list[tuple[str, dict]]:
    """Every registered loss, plus the authors'-code flavour of those that take ``flavour``."""
    out = [(name, {}) for name in available()]
    return out + [(name, {"flavour": "reference"}) for name in available() if "flavour" in loss_params(name)]


def measure(device: torch.device, steps: int, repeats: int) -> tuple[float, list[dict]]:
    step_s = _median_seconds(training_step(device), device, warmup=1, repeats=steps)
    torch.manual_seed(0)
    logits = (torch.randn(BATCH, CLASSES, device=device) * 3).requires_grad_()
    targets = torch.randint(CLASSES, (BATCH,), device=device)
    rows = []
    for name, params in cases():
        loss = build(name, **params).to(device)

        def fwd_bwd() -> None:
            logits.grad = None
            loss(logits, targets).backward()

        seconds = _median_seconds(fwd_bwd, device, warmup=10, repeats=repeats)
        label = name + "".join(f" ({k}={v})" for k, v in params.items())
        rows.append({"loss": label, "ms": 1e3 * seconds, "share": seconds / step_s})
        print(f"{label:32s} {1e3 * seconds:8.3f} ms  {100 * seconds / step_s:7.4f} % of a step")
    return step_s, rows


def render(device: torch.device, threads: int, step_s: float, rows: list[dict], steps: int, repeats: int) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {threads} thread(s)"
    worst = max(rows, key=lambda r: r["share"])
    lines = [
        "# Loss cost as a share of a ResNet-10 training step (ImageNet-LT stage-1 shapes)",
        "",
        f"float32, {device.type} ({where}), torch {torch.__version__}. Step: ResNet-10 (ImageNet stem, width 64) +",
        f"dot-product classifier + cross-entropy + SGD, batch {BATCH} of 3x{SIZE}x{SIZE}, {CLASSES} classes: median of",
        f"{steps} steps = **{1e3 * step_s:.0f} ms**. Loss: forward+backward on that step's ({BATCH}, {CLASSES}) logits",
        f"(N(0, 3^2), class-index targets), median of {repeats} calls; cyclical losses at epoch 3 of 30, count-based",
        f"losses with a 1/k long tail. Generated by `python benchmarks/losses.py --device {device.type} --threads "
        f"{threads} --steps {steps} --repeats {repeats}`; load average when written: "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + " (a shared machine makes both figures noisy).",
        "",
        f"Target: every loss at most {100 * TARGET:g} % of a step. Largest share: {worst['loss']}, "
        f"{100 * worst['share']:.3f} % ({'met' if worst['share'] <= TARGET else 'NOT met'}).",
        "",
        "| loss | fwd+bwd ms | share of a step |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['loss']} | {r['ms']:.3f} | {100 * r['share']:.3f} % |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps (after one warm-up)")
    parser.add_argument("--repeats", type=int, default=100, help="timed loss calls per loss (after ten warm-up)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    step_s, rows = measure(device, args.steps, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(device, args.threads, step_s, rows, args.steps, args.repeats))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
