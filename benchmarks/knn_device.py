"""The ``knn`` open-set score at ImageNet-LT size on a CUDA device, against the same code on the CPU.

115,846 x 512 training features (the ImageNet-LT training set through a 512-d ResNet-10), 68,000
queries (50,000 test + 18,000 open), k = 50, float32 normal random features (the cost does not depend
on the values). The device scores all 68,000 queries (median of 3 after a warm-up); the CPU scores the
first ``--cpu-queries`` of them once, in the same run, and the per-query rate is extrapolated to 68,000
(said so in the table). Both must agree on the common queries. Without CUDA it prints a message and
exits 0 (nothing measured, nothing written).

    python benchmarks/knn_device.py [--cpu-queries 2048] [--out results/benchmarks/knn_gpu.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402

from oltr.evaluation.scores import knn  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-queries", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/knn_gpu.md")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("knn_device: no CUDA device available; nothing measured, nothing written.")
        return 0
    rng = np.random.default_rng(0)
    train = rng.standard_normal((115_846, 512), dtype=np.float32)
    queries = rng.standard_normal((68_000, 512), dtype=np.float32)

    def on_gpu() -> tuple[np.ndarray, float]:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = knn(queries, train, k=50, device="cuda")  # includes the host -> device copies
        torch.cuda.synchronize()
        return out, time.perf_counter() - t0

    on_gpu()  # warm-up: CUDA context, cuBLAS handles
    runs = [on_gpu() for _ in range(3)]
    gpu_scores, gpu_s = runs[0][0], statistics.median(t for _, t in runs)
    t0 = time.perf_counter()
    cpu_scores = knn(queries[: args.cpu_queries], train, k=50, device="cpu")
    cpu_s = time.perf_counter() - t0
    cpu_full = cpu_s / args.cpu_queries * queries.shape[0]
    diff = float(np.max(np.abs(cpu_scores - gpu_scores[: args.cpu_queries])))
    tf32 = torch.backends.cuda.matmul.allow_tf32
    props = torch.cuda.get_device_properties(0)
    lines = [
        "# KNN open-set score on a GPU (ImageNet-LT size)",
        "",
        f"`python benchmarks/knn_device.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        "`oltr.evaluation.scores.knn(features, train_features, k=50, device=...)`: 115,846 x 512 training"
        " features, 68,000 queries (ImageNet-LT test + open set), float32, host arrays in and out.",
        "",
        f"- device: {torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__},"
        f" CUDA {torch.version.cuda}; TF32 matmul {'on' if tf32 else 'off (PyTorch default: full fp32)'}",
        f"- host: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads",
        "",
        "| where | queries scored | wall (s) | for all 68,000 queries (s) |",
        "|---|---:|---:|---:|",
        f"| GPU (median of 3 after a warm-up) | 68,000 | {gpu_s:.2f} | {gpu_s:.2f} |",
        f"| CPU, same run | {args.cpu_queries:,} | {cpu_s:.2f} | {cpu_full:.1f} (extrapolated) |",
        "",
        f"GPU / CPU speed-up: **{cpu_full / gpu_s:.0f}x**; target for all 68,000 queries: under 10 s."
        f" Largest difference between the two on the common queries: {diff:.1e}.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
