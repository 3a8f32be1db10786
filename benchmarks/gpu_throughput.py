"""Training throughput on a CUDA device: stage-1 and stage-2 steps, and the data pipeline against them.

ImageNet-LT configs (ResNet-10 from scratch, 1000 classes, 224x224, batch 128): the stage-1 task
(dot classifier, CE) and the stage-2 task (modulated attention + meta-embedding classifier + centroid
loss) built by the engine from ``configs/ImageNet_LT/*.yaml``, stepped by the engine's own
``train_one_epoch`` on synthetic device-resident batches (model throughput, not data loading), in
these variants: fp32; bf16 autocast; fp16 autocast + GradScaler; bf16 + channels_last; the latter
under ``torch.compile`` (``--no-compile`` skips it). The data pipeline is the engine's ImageNet train
transform over generated JPEG files (256x256) in a DataLoader with the config's workers, pinned and
copied to the device: its images/s next to the step's images/s says whether training would be
data-bound. Without CUDA the script prints a message and exits 0 (it never writes a result it did not
measure); ``--cpu-dry-run`` runs every code path for two steps on CPU and writes nothing.

    python benchmarks/gpu_throughput.py [--steps 50] [--workers 8] [--out results/benchmarks/gpu.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIGS = {1: REPO / "configs/ImageNet_LT/stage_1.yaml", 2: REPO / "configs/ImageNet_LT/stage_2_meta_embedding.yaml"}
# name, amp, channels_last, compile
VARIANTS = [("fp32", None, False, False), ("bf16", "bf16", False, False), ("fp16 + GradScaler", "fp16", False, False),
            ("bf16 + channels_last", "bf16", True, False), ("bf16 + channels_last + compile", "bf16", True, True)]


class _SyntheticLoader:
    """Yields the same device-resident batch ``steps`` times (images, labels, indices)."""

    def __init__(self, batch: int, size: int, classes: int, device: torch.device, steps: int) -> None:
        g = torch.Generator(device="cpu").manual_seed(0)
        self.images = torch.randn(batch, 3, size, size, generator=g).to(device)
        self.labels = torch.randint(0, classes, (batch,), generator=g).to(device)
        self.index = torch.arange(batch, device=device)
        self.steps = steps

    def __iter__(self):
        for _ in range(self.steps):
            yield self.images, self.labels, self.index


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure_step(stage: int, amp: str | None, channels_last: bool, compile_: bool, *, device: torch.device,
                 batch: int, steps: int, warmup: int, size: int, classes: int = 1000) -> float:
    """Images/s of the engine's training step for the stage's ImageNet-LT task."""
    import numpy as np

    from oltr.config import load_config
    from oltr.engine import build
    from oltr.engine.distributed import DistEnv
    from oltr.engine.loop import amp_tools, train_one_epoch

    cfg = load_config(CONFIGS[stage], [f"data.batch_size={batch}", "data.root=/nonexistent"], check_loss=False)
    env = DistEnv(device=device)
    torch.manual_seed(0)
    task = build.build_task(cfg, classes, np.full(classes, 20)).to(device)
    if channels_last:
        task = task.to(memory_format=torch.channels_last)
    optimizer, _ = build.build_optimizer(cfg, task)
    model = torch.compile(task) if compile_ else task
    autocast, scaler = amp_tools(amp, device)
    kw = dict(autocast=autocast, scaler=scaler, channels_last=channels_last, log_every=steps, progress=False)
    train_one_epoch(model, optimizer, _SyntheticLoader(batch, size, classes, device, warmup), warmup, device, 0, env, **kw)
    _sync(device)
    t0 = time.perf_counter()
    train_one_epoch(model, optimizer, _SyntheticLoader(batch, size, classes, device, steps), steps, device, 1, env, **kw)
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def measure_data(*, device: torch.device, batch: int, workers: int, images: int, steps: int) -> float:
    """Images/s of generated JPEGs through the ImageNet train transform, a DataLoader and the copy to device."""
    import numpy as np
    from PIL import Image

    from oltr.data import ImageListDataset, build_transform

    with tempfile.TemporaryDirectory(prefix="oltr-gpu-data-") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        lines = []
        for i in range(images):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(root / f"{i}.jpg", quality=90)
            lines.append(f"{i}.jpg {i % 10}")
        (root / "list.txt").write_text("\n".join(lines) + "\n")
        dataset = ImageListDataset(root, root / "list.txt", transform=build_transform("imagenet", train=True))
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                             pin_memory=device.type == "cuda", drop_last=True,
                                             persistent_workers=workers > 0)
        seen, t0, done = 0, None, 0
        while done < steps + 1:
            for x, _, _ in loader:
                x = x.to(device, non_blocking=True)
                _sync(device)
                if t0 is None:  # the first batch pays the worker start-up
                    t0 = time.perf_counter()
                else:
                    seen += x.shape[0]
                done += 1
                if done >= steps + 1:
                    break
        return seen / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=8, help="DataLoader workers (the ImageNet-LT configs use 8)")
    parser.add_argument("--data-images", type=int, default=1024, help="generated JPEGs for the data pipeline")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--cpu-dry-run", action="store_true", help="every path for 2 steps on CPU; writes nothing")
    parser.add_argument("--out", default=str(REPO / "results/benchmarks/gpu.md"))
    args = parser.parse_args()
    if args.cpu_dry_run:
        device = torch.device("cpu")
        args.batch, args.steps, args.warmup, args.size, args.data_images, args.workers = 4, 2, 1, 64, 16, 0
        variants = [v for v in VARIANTS if v[1] != "fp16" and not v[3]]  # fp16 needs CUDA; compile is slow on CPU
    elif not torch.cuda.is_available():
        print("gpu_throughput: no CUDA device available; nothing measured, nothing written.")
        return 0
    else:
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        variants = [v for v in VARIANTS if not (v[3] and args.no_compile)]

    rows = []
    for stage in (1, 2):
        for name, amp, cl, comp in variants:
            ips = measure_step(stage, amp, cl, comp, device=device, batch=args.batch, steps=args.steps,
                               warmup=args.warmup, size=args.size)
            rows.append((stage, name, ips))
            print(f"stage {stage} {name}: {ips:.0f} images/s", flush=True)
    data_ips = measure_data(device=device, batch=args.batch, workers=args.workers, images=args.data_images,
                            steps=args.steps if not args.cpu_dry_run else 2)
    print(f"data pipeline ({args.workers} workers): {data_ips:.0f} images/s", flush=True)
    if args.cpu_dry_run:
        print("gpu_throughput: CPU dry run done; nothing written.")
        return 0

    import os

    from _machine import cpu_name

    props = torch.cuda.get_device_properties(0)
    base = {stage: next(ips for s, n, ips in rows if s == stage and n == "fp32") for stage in (1, 2)}
    best = {stage: max(ips for s, _, ips in rows if s == stage) for stage in (1, 2)}
    lines = [
        "# Training throughput on GPU",
        "",
        f"`python benchmarks/gpu_throughput.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"ImageNet-LT configs, ResNet-10 (imagenet stem, width 64), 1000 classes, {args.size}x{args.size}, batch"
        f" {args.batch}, CE; the engine's step (`train_one_epoch`) on synthetic device-resident batches,"
        f" {args.steps} timed steps after {args.warmup} warm-up steps. Stage 2 adds modulated attention, the"
        " meta-embedding classifier and the centroid loss.",
        "",
        f"- device: {torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__},"
        f" CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; host {cpu_name()}, {os.cpu_count()} cores",
        "",
        "| stage | variant | images/s | vs fp32 |",
        "|---|---|---|---|",
        *[f"| {s} | {name} | {ips:.0f} | {ips / base[s]:.2f}x |" for s, name, ips in rows],
        "",
        f"Data pipeline (ImageNet train transform on generated 256x256 JPEGs, {args.workers} DataLoader workers,"
        f" pinned, copied to the device): **{data_ips:.0f} images/s**, "
        f"{data_ips / best[1]:.2f}x the fastest stage-1 step and {data_ips / best[2]:.2f}x the fastest stage-2 step"
        " (below 1x: training at that setting waits for data; more workers or a faster decoder would help).",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
