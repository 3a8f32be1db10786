"""Stage-1 training throughput on a CUDA device: ResNet-10 at 224x224, 1000 classes, batch 128.

Variants: fp32; bf16 autocast + channels_last; the same under ``torch.compile`` (``--no-compile``
skips it). Each variant runs the engine's own step (``Stage1Task`` + ``train_one_epoch`` with the
engine's autocast/scaler null objects) on synthetic batches already on the device, so the figure is
model throughput, not data loading. Without CUDA the script prints a message and exits 0 (it never
writes a result it did not measure).

    python benchmarks/gpu_throughput.py [--steps 50] [--out results/benchmarks/gpu.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


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


def measure(amp: str | None, channels_last: bool, compile_: bool, *, batch: int, steps: int, warmup: int,
            size: int, classes: int) -> float:
    from oltr.engine.distributed import DistEnv
    from oltr.engine.loop import amp_tools, train_one_epoch
    from oltr.engine.tasks import Stage1Task
    from oltr.losses import build_loss
    from oltr.models import DotProductClassifier, build_feature_model

    device = torch.device("cuda")
    env = DistEnv(device=device)
    torch.manual_seed(0)
    feature_model = build_feature_model("resnet10", stem="imagenet", width=64)
    task = Stage1Task(feature_model, DotProductClassifier(feature_model.feat_dim, classes), build_loss("ce")).to(device)
    if channels_last:
        task = task.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(task.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model = torch.compile(task) if compile_ else task
    autocast, scaler = amp_tools(amp, device)
    kw = dict(autocast=autocast, scaler=scaler, channels_last=channels_last, log_every=steps, progress=False)
    train_one_epoch(model, optimizer, _SyntheticLoader(batch, size, classes, device, warmup), warmup, device, 0, env, **kw)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    train_one_epoch(model, optimizer, _SyntheticLoader(batch, size, classes, device, steps), steps, device, 1, env, **kw)
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out", default=str(REPO / "results/benchmarks/gpu.md"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_throughput: no CUDA device available; nothing measured, nothing written.")
        return 0
    torch.backends.cudnn.benchmark = True
    variants = [("fp32", None, False, False), ("bf16 + channels_last", "bf16", True, False)]
    if not args.no_compile:
        variants.append(("bf16 + channels_last + compile", "bf16", True, True))
    rows = []
    for name, amp, cl, comp in variants:
        ips = measure(amp, cl, comp, batch=args.batch, steps=args.steps, warmup=args.warmup, size=args.size,
                      classes=1000)
        rows.append((name, ips))
        print(f"{name}: {ips:.0f} images/s")
    base = rows[0][1]
    props = torch.cuda.get_device_properties(0)
    lines = [
        "# Stage-1 training throughput on GPU",
        "",
        f"`benchmarks/gpu_throughput.py`: ResNet-10 (imagenet stem, width 64) + dot classifier, 1000 classes,"
        f" {args.size}x{args.size}, batch {args.batch}, CE, SGD; engine step (`train_one_epoch`) on synthetic"
        f" device-resident batches; {args.steps} timed steps after {args.warmup} warm-up steps.",
        "",
        f"- device: {torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__},"
        f" CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}",
        "",
        "| variant | images/s | vs fp32 |",
        "|---|---|---|",
        *[f"| {name} | {ips:.0f} | {ips / base:.2f}x |" for name, ips in rows],
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
