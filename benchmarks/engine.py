"""Engine overhead: time per stage-1 step of ``oltr.engine.train_one_epoch`` vs a bare hand-written loop.

Both loops train the same model (the Fashion-MNIST-LT stage-1 config: ResNet-10, small stem, width 16)
on the same DataLoader (cached images, batched augmentation) with the same SGD param groups; the bare
loop is forward, loss, backward, step and nothing else. Epochs of the two loops alternate (A B A B ...)
so that load changes on a shared machine hit both alike; the figure is the median epoch time per step.
The engine must stay within 5% of the bare loop.

    python benchmarks/engine.py [--epochs 8] [--out results/benchmarks/engine.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oltr.config import load_config  # noqa: E402
from oltr.engine import build  # noqa: E402
from oltr.engine.distributed import DistEnv  # noqa: E402
from oltr.engine.loop import train_one_epoch  # noqa: E402


def bare_epoch(feature_model, classifier, criterion, optimizer, loader, steps: int) -> None:
    feature_model.train()
    classifier.train()
    for _, (images, labels, _) in zip(range(steps), loader):
        feature, _ = feature_model(images)
        logits, _ = classifier(feature)
        loss = criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs/FashionMNIST_LT/stage_1.yaml"))
    parser.add_argument("--epochs", type=int, default=8, help="timed epochs per loop (after one warm-up each)")
    parser.add_argument("--out", default=str(REPO / "results/benchmarks/engine.md"))
    args = parser.parse_args()

    cfg = load_config(args.config)
    env = DistEnv()
    build.prepare_data(cfg, env)
    data = build.build_train_data(cfg, env)
    torch.manual_seed(0)
    task = build.build_task(cfg, data.num_classes, data.class_counts)
    optimizer, _ = build.build_optimizer(cfg, task)
    steps = data.steps

    def run_engine(epoch: int) -> None:
        data.sampler.set_epoch(epoch)
        train_one_epoch(task, optimizer, data.loader, steps, env.device, epoch, env, log_every=cfg.log_every,
                        progress=False, criterion=task.criterion)

    def run_bare(epoch: int) -> None:
        data.sampler.set_epoch(epoch)
        bare_epoch(task.feature_model, task.classifier, task.criterion, optimizer, data.loader, steps)

    times: dict[str, list[float]] = {"bare": [], "engine": []}
    run_bare(0)
    run_engine(0)  # warm-up
    for epoch in range(1, args.epochs + 1):
        for name, fn in (("bare", run_bare), ("engine", run_engine)) if epoch % 2 else (("engine", run_engine),
                                                                                         ("bare", run_bare)):
            t0 = time.perf_counter()
            fn(epoch)
            times[name].append((time.perf_counter() - t0) / steps)

    bare = statistics.median(times["bare"])
    engine = statistics.median(times["engine"])
    ratio = engine / bare
    verdict = "PASS" if ratio < 1.05 else "FAIL"
    lines = [
        "# Engine overhead (stage-1 step)",
        "",
        "`benchmarks/engine.py`: `oltr.engine.train_one_epoch` against a bare loop (forward, loss, backward,",
        "step) on the same model, DataLoader and optimizer in the same process; epochs alternate between the",
        "two loops, figures are medians over the timed epochs (data loading included in both).",
        "",
        f"- config: `{Path(args.config).relative_to(REPO) if Path(args.config).is_relative_to(REPO) else args.config}`"
        f" (ResNet-10 `{cfg.model.stem}` stem, width {cfg.model.width}, batch {cfg.data.batch_size},"
        f" {steps} steps/epoch, loss `{cfg.loss.name}`)",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__},"
        f" {torch.get_num_threads()} threads (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})",
        f"- timed epochs per loop: {args.epochs} (+1 warm-up)",
        "",
        "| loop | ms / step (median) | min | max |",
        "|---|---|---|---|",
        f"| bare | {1e3 * bare:.2f} | {1e3 * min(times['bare']):.2f} | {1e3 * max(times['bare']):.2f} |",
        f"| engine | {1e3 * engine:.2f} | {1e3 * min(times['engine']):.2f} | {1e3 * max(times['engine']):.2f} |",
        "",
        f"**Engine / bare = {ratio:.3f} (overhead {100 * (ratio - 1):+.1f}%; budget < 5%: {verdict})**",
        "",
        "Medians are used because the machine may be shared: a load spike shows up in the max column only.",
        "",
        "What the engine adds per step: the task dict, fp32 cast of the logits for the loss, on-device",
        "accumulation of the loss components and of the first non-finite step (no host sync), the null",
        "autocast/scaler objects, and one host sync every `log_every` steps for the progress bar.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if ratio < 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
