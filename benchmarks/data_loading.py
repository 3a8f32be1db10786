"""Data-loading throughput per core: the reference pipeline (PIL + classic transforms) vs. oltr's.

Writes ``results/benchmarks/data_loading.md``. Not a test. JPEGs of ImageNet-like sizes are generated
in a temporary folder; every pipeline reads them through ``ImageListDataset`` (the code path the
trainer uses) in one process with one torch thread, i.e. what one DataLoader worker does. Pipelines
run interleaved, round by round, so a busy machine slows all of them alike; the table reports the
median over rounds.

Usage: ``python benchmarks/data_loading.py [--images 96] [--rounds 7] [--out results/benchmarks/data_loading.md]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image

from oltr.data import ImageListDataset, build_transform, load_image, prepare_fashion_mnist_lt, read_list, write_list
from oltr.data.fashion_mnist_lt import default_source, fashion_mnist_lt_paths
from _baselines import PILImageList, pil_load, pil_transform, v2_transform  # benchmarks/ is on sys.path
from _machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
SIZES = [(500, 375), (500, 333), (375, 500), (500, 400), (640, 480), (400, 300)]  # typical ILSVRC shapes


def make_jpegs(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` photo-like JPEGs (smooth colour fields + texture noise, quality 90) and their list."""
    rng = np.random.default_rng(seed)
    rels = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        coarse = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)
        pixels = np.clip(smooth + rng.normal(0, 10, smooth.shape), 0, 255).astype(np.uint8)
        rel = f"train/c{i % 4}/img_{i:04d}.JPEG"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / rel, quality=90)
        rels.append(rel)
    return write_list(root / "list.txt", rels, np.arange(n) % 4)


def time_pass(run: Callable[[], int]) -> float:
    """Images per second of one pass."""
    start = time.perf_counter()
    n = run()
    return n / (time.perf_counter() - start)


def per_sample(ds: ImageListDataset) -> Callable[[], int]:
    def run() -> int:
        for i in range(len(ds)):
            ds[i]
        return len(ds)

    return run


def decode_only(root: Path, lst: Path, loader: str) -> Callable[[], int]:
    paths = [root / p for p in read_list(lst)[0]]
    load = pil_load if loader == "pil" else load_image

    def run() -> int:
        for path in paths:
            load(path)
        return len(paths)

    return run


def transform_only(root: Path, lst: Path, backend: str) -> Callable[[], int]:
    load = pil_load if backend == "pil" else load_image
    images = [load(root / p) for p in read_list(lst)[0]]
    transform = transform_of("imagenet", True, backend)

    def run() -> int:
        for image in images:
            transform(image)
        return len(images)

    return run


def transform_of(preset: str, train: bool, backend: str, size: int | None = None) -> Callable:
    """oltr's transform (``backend='tensor'``) or a baseline's (``'v2'``, ``'pil'``)."""
    if backend == "tensor":
        return build_transform(preset, train, size)
    baseline = v2_transform if backend == "v2" else pil_transform
    return baseline(preset, train, size or (224 if preset == "imagenet" else 28))


def batched(ds: ImageListDataset, batch: int = 128) -> Callable[[], int]:
    def run() -> int:
        for start in range(0, len(ds), batch):
            ds.__getitems__(list(range(start, min(start + batch, len(ds)))))
        return len(ds)

    return run


def measure(pipelines: dict[str, Callable[[], int]], rounds: int) -> dict[str, list[float]]:
    for run in pipelines.values():  # warm-up: imports, allocator, file cache
        run()
    rates: dict[str, list[float]] = {name: [] for name in pipelines}
    for _ in range(rounds):
        for name, run in pipelines.items():
            rates[name].append(time_pass(run))
    return rates


def table(rates: dict[str, list[float]], baseline: str) -> list[str]:
    base = rates[baseline]
    lines = ["| pipeline | images/s (median) | min - max | speed-up vs. reference (median of per-round ratios) |",
             "|---|---:|---:|---:|"]  # fmt: skip
    for name, r in rates.items():
        ratio = statistics.median(a / b for a, b in zip(r, base))
        lines.append(f"| {name} | {statistics.median(r):,.0f} | {min(r):,.0f} - {max(r):,.0f} | {ratio:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96, help="JPEGs per pass")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median reported)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "data_loading.md")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # one DataLoader worker = one core
    torch.manual_seed(0)
    load_before = os.getloadavg()
    sections: list[str] = []

    def section(title: str, pipelines: dict[str, Callable[[], int]]) -> dict[str, list[float]]:
        rates = measure(pipelines, args.rounds)
        sections.extend([f"### {title}", "", *table(rates, next(iter(rates))), ""])
        return rates

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lst = make_jpegs(root, args.images)

        def ds(train: bool, backend: str, loader: str = "tensor", **kw) -> ImageListDataset:
            dataset = PILImageList if loader == "pil" else ImageListDataset
            return dataset(root, lst, transform_of("imagenet", train, backend, **kw))

        ref_train = "reference: PIL decode + RandomResizedCrop, flip, ColorJitter, ToTensor, Normalize"
        train = section("Training transform at 224 (ImageNet-LT / Places-LT recipe)", {
            ref_train: per_sample(ds(True, "pil", "pil")),
            "decode_image + transforms.v2 on uint8 tensors": per_sample(ds(True, "v2")),
            "**oltr**: decode_image + uint8 crop/resize (channels-last) + float jitter/normalise":
                per_sample(ds(True, "tensor")),
        })  # fmt: skip
        section("Where the time goes (training transform; decode only, then transform on decoded images)", {
            ref_train: per_sample(ds(True, "pil", "pil")),
            "decode only, PIL `open().convert('RGB')`": decode_only(root, lst, "pil"),
            "decode only, `torchvision.io.decode_image`": decode_only(root, lst, "tensor"),
            "transform only, reference (PIL images in memory)": transform_only(root, lst, "pil"),
            "transform only, oltr (uint8 tensors in memory)": transform_only(root, lst, "tensor"),
        })  # fmt: skip
        section("Evaluation transform (Resize 256, CenterCrop 224)", {
            "reference: PIL decode + Resize(256) + CenterCrop(224) + ToTensor + Normalize":
                per_sample(ds(False, "pil", "pil")),
            "decode_image + transforms.v2": per_sample(ds(False, "v2")),
            "**oltr**: decode_image + uint8 resize + crop + normalise": per_sample(ds(False, "tensor")),
        })  # fmt: skip

        try:
            fm_root = prepare_fashion_mnist_lt(root / "fmnist_lt", seed=0, source=default_source())
        except FileNotFoundError as err:
            print(f"skipping Fashion-MNIST-LT: {err}", file=sys.stderr)
        else:
            train_list = fashion_mnist_lt_paths(fm_root)["train"]

            def small(backend: str = "tensor", loader: str = "tensor", **kw) -> ImageListDataset:
                dataset = PILImageList if loader == "pil" else ImageListDataset
                return dataset(fm_root, train_list, transform_of("small", True, backend), **kw)

            section("Fashion-MNIST-LT training transform (28x28, 1,999 images)", {
                "PIL decode + RandomCrop(28, padding=2) + flip + ToTensor + Normalize, per sample":
                    per_sample(small("pil", loader="pil")),
                "cache=True (uint8 in memory) + oltr SmallTrain, per sample (`ds[i]`)": per_sample(small(cache=True)),
                "**oltr**: cache=True + SmallTrain on whole batches (`__getitems__`, batch 128)":
                    batched(small(cache=True)),
            })  # fmt: skip

    ref, ours = list(train.values())[0], list(train.values())[-1]
    speedup = statistics.median(a / b for a, b in zip(ours, ref))
    verdict = "met" if speedup >= 1.5 else "NOT met"
    busy = load_before[0] > 0.5 * (os.cpu_count() or 1)
    noisy = " (other jobs were running: absolute numbers are noisy; ratios are per round)" if busy else ""
    summary = [
        "### Summary",
        "",
        f"Training pipeline at 224: oltr runs **{speedup:.2f}x** the reference pipeline per core "
        f"(target >= 1.5x: {verdict}). Decoding is libjpeg-turbo in both (torchvision's is a little faster); "
        "the gain is in the transform: crop + antialiased resize on uint8 channels-last, then colour jitter and "
        "normalisation as a few in-place float ops (clipping skipped where a factor <= 1 cannot leave [0, 255]). "
        "For Fashion-MNIST-LT, `cache=True` plus batched `SmallTrain` removes decoding and per-sample overhead.",
        "",
    ]
    header = [
        "# Data loading throughput (images per second, one core)",
        "",
        f"Command: `python benchmarks/data_loading.py --images {args.images} --rounds {args.rounds}`. "
        f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, load average before the run "
        f"{load_before[0]:.1f}{noisy}. "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, Pillow {PIL.__version__}, "
        f"Python {platform.python_version()}; `torch.set_num_threads(1)`.",
        "",
        f"{args.images} synthetic photo-like JPEGs (quality 90; sizes {', '.join(f'{w}x{h}' for w, h in SIZES)}, the "
        "common ILSVRC shapes) read through `ImageListDataset` (decode + transform, as one DataLoader worker). "
        "Pipelines alternate within each round.",
        "",
    ]
    text = "\n".join(header + summary + sections)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
