"""Speed of the model code: stage-1 vs stage-2 training steps, and centroid initialisation.

Not a test: it prints and writes ``results/benchmarks/models.md``.

1. Training step (forward + backward + optimizer step, median of timed steps after warm-up) at the same input size:
   stage 1 = ResNet-10 + dot-product classifier + cross-entropy; stage 2 = ResNet-10 + modulated attention +
   ``fc_add`` + meta-embedding classifier + cross-entropy + 0.01 * discriminative centroid loss (reference
   gradient mode) with the separate centroid optimizer.
2. Centroid initialisation over pre-computed features: ``init_centroids`` (one ``index_add_`` per batch) vs a
   per-sample Python loop like the reference's ``centroids_cal`` (the baseline).

Usage: ``python benchmarks/models.py [--device cpu|cuda] [--threads N] [--quick] [--out FILE]``
(default output ``results/benchmarks/models.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from oltr.models import (
    DotProductClassifier,
    MetaEmbeddingClassifier,
    build_feature_model,
    disc_centroids_loss,
    init_centroids,
)

ROOT = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _interleaved_medians(
    fns: list[Callable[[], None]], device: torch.device, warmup: int, repeats: int
) -> list[float]:
    """Median seconds per call of each function, timing them in turns so that they share the machine's load."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def _stage_step(stage: int, setting: dict, device: torch.device) -> Callable[[], None]:
    torch.manual_seed(0)
    fm = build_feature_model(
        "resnet10", stem=setting["stem"], width=setting["width"], use_attention=stage == 2, use_fc_add=stage == 2
    ).to(device)
    k, b, s = setting["classes"], setting["batch"], setting["size"]
    classifier: nn.Module
    if stage == 1:
        classifier = DotProductClassifier(fm.feat_dim, k).to(device)
    else:
        classifier = MetaEmbeddingClassifier(fm.feat_dim, k).to(device)
        classifier.set_centroids(torch.randn(k, fm.feat_dim, device=device))
    memory = getattr(classifier, "centroids", None)
    params = [p for p in [*fm.parameters(), *classifier.parameters()] if p is not memory]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    centroid_opt = (
        torch.optim.SGD([classifier.centroids], lr=0.01, momentum=0.9, weight_decay=5e-4) if stage == 2 else None
    )
    x = torch.randn(b, 3, s, s, device=device)
    y = torch.randint(0, k, (b,), device=device)
    fm.train()
    classifier.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        feature, _ = fm(x)
        logits, _ = classifier(feature)
        loss = nn.functional.cross_entropy(logits, y)
        if centroid_opt is not None:
            centroid_opt.zero_grad(set_to_none=True)
            loss = loss + 0.01 * disc_centroids_loss(feature, y, classifier.centroids, grad_mode="reference")
        loss.backward()
        optimizer.step()
        if centroid_opt is not None:
            centroid_opt.step()

    return step


def _per_sample_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int, batch: int) -> torch.Tensor:
    """Baseline: the reference's loop, one in-place add per sample into the centroid table."""
    sums = torch.zeros(num_classes, features.shape[1], device=features.device)
    counts = [0] * num_classes
    for start in range(0, len(features), batch):
        f, y = features[start : start + batch], labels[start : start + batch]
        for i in range(len(y)):
            label = int(y[i])
            sums[label] += f[i]
            counts[label] += 1
    return sums / torch.tensor(counts, device=features.device, dtype=sums.dtype).clamp_min(1).unsqueeze(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a smaller centroid set")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch CPU threads (default: torch's). 1 gives stable ratios on a shared machine, where busy-waiting "
        "OpenMP threads of an oversubscribed CPU make multi-threaded timings erratic",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "models.md")
    args = parser.parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    if "--out" in given:  # the output path is not part of how the numbers were made
        del given[given.index("--out") : given.index("--out") + 2]
    command = " ".join(["python benchmarks/models.py", *(a for a in given if not a.startswith("--out="))])
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    warmup, repeats = (1, 3) if args.quick else (2, 5)
    load_start = os.getloadavg()[0]

    settings = [
        dict(name="Fashion-MNIST-LT demo", stem="small", width=16, size=28, batch=128, classes=10),
        dict(name="ImageNet-LT shape", stem="imagenet", width=64, size=224, batch=16, classes=1000),
    ]
    step_rows = []
    for setting in settings:
        t1, t2 = _interleaved_medians(
            [_stage_step(1, setting, device), _stage_step(2, setting, device)], device, warmup, repeats
        )
        step_rows.append((setting, t1, t2))
        print(f"{setting['name']}: stage 1 {t1 * 1e3:.1f} ms, stage 2 {t2 * 1e3:.1f} ms ({t2 / t1:.2f}x)")

    # ImageNet-LT: 115,846 training images, 1,000 classes, 512-d features; the demo: 10 classes, 128-d.
    centroid_cases = [("ImageNet-LT", 115_846, 1000, 512), ("Fashion-MNIST-LT-like", 12_000, 10, 128)]
    if args.quick:
        centroid_cases = [("ImageNet-LT (subset)", 20_000, 1000, 512), ("Fashion-MNIST-LT-like", 12_000, 10, 128)]
    centroid_rows = []
    for name, n, k, d in centroid_cases:
        generator = torch.Generator().manual_seed(0)
        features = torch.randn(n, d, generator=generator).to(device)
        labels = torch.randint(0, k, (n,), generator=generator).to(device)
        batches = [(features[i : i + 128], labels[i : i + 128]) for i in range(0, n, 128)]
        results: dict[str, torch.Tensor] = {}

        def fast() -> None:
            results["fast"] = init_centroids(batches, k, d)

        def loop() -> None:
            results["loop"] = _per_sample_means(features, labels, k, 128)

        t_fast, t_loop = _interleaved_medians([fast, loop], device, 1, 1 if args.quick else 3)
        error = (results["fast"] - results["loop"]).abs().max().item()
        centroid_rows.append((name, n, k, d, t_fast, t_loop, error))
        print(f"centroids {name}: index_add_ {t_fast * 1e3:.1f} ms, per-sample loop {t_loop * 1e3:.1f} ms")

    if device.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        where = f"cpu ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    lines = [
        "# Model benchmarks",
        "",
        f"Written by `{command}`. Device: {where}; torch {torch.__version__}; Python {platform.python_version()}. "
        f"Training steps: median of {repeats} timed steps after {warmup} warm-up steps, stage 1 and stage 2 timed "
        f"in turns; centroid passes: median of {1 if args.quick else 3} passes after one warm-up pass, timed in "
        f"turns. Load average at the start: {load_start:.1f}, at the end: {os.getloadavg()[0]:.1f} (other jobs "
        "share the machine; compare rows of one run, not runs).",
        "",
        "## Training step: stage 1 vs stage 2 (ResNet-10, same input)",
        "",
        "Stage 1: ResNet-10 + linear classifier + CE. Stage 2: + modulated attention + fc_add + meta-embedding "
        "classifier + 0.01 * discriminative centroid loss (reference gradient mode) + centroid optimizer.",
        "",
        "| setting | input | batch | classes | stage 1 (ms/step) | stage 2 (ms/step) | stage 2 / stage 1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting, t1, t2 in step_rows:
        lines.append(
            f"| {setting['name']} (width {setting['width']}, {setting['stem']} stem) "
            f"| {setting['size']}x{setting['size']} | {setting['batch']} | {setting['classes']} "
            f"| {t1 * 1e3:.1f} | {t2 * 1e3:.1f} | {t2 / t1:.2f}x |"
        )
    lines += [
        "",
        "## Centroid initialisation (features already extracted, batches of 128)",
        "",
        "Baseline: a per-sample Python loop adding each feature into its class row, like the reference's "
        "`centroids_cal`. Ours: `init_centroids` (one `index_add_` per batch, float64 sums). Max |difference| of the "
        "resulting means is reported as a sanity check.",
        "",
        "| case | samples | classes | dim | index_add_ (ms) | per-sample loop (ms) | speed-up | max abs diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, n, k, d, t_fast, t_loop, error in centroid_rows:
        lines.append(
            f"| {name} | {n:,} | {k} | {d} | {t_fast * 1e3:.1f} | {t_loop * 1e3:.0f} | {t_loop / t_fast:.0f}x "
            f"| {error:.1e} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
