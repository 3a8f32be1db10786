"""torchrun / DistributedDataParallel helpers: process-group setup, exact gathers, synced BatchNorm.

A run launched by ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) joins a
process group: nccl on CUDA, gloo on CPU. Without those variables everything here degrades to the
single-process case, so the training loop has one code path.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: ``rank`` of ``world_size``, ``local_rank`` on its node, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def primary(self) -> bool:
        """Rank 0: the only process that writes files and shows progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistEnv:
    """Join the torchrun process group if the environment asks for one (idempotent).

    ``device``: ``cuda``/``cpu``/None (auto: CUDA when available). Under torchrun on CUDA each process
    uses ``cuda:<LOCAL_RANK>``.
    """
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if want.startswith("cuda"):
        dev = torch.device("cuda", local if world > 1 else (torch.device(want).index or 0))
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30),
                                device_id=dev if dev.type == "cuda" else None)
    if dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=dev)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum over ranks (in place and returned); identity in a single process."""
    if env.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def broadcast_object(obj, env: DistEnv, src: int = 0):
    """Rank ``src``'s Python object on every rank."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_by_index(indices: torch.Tensor, values: torch.Tensor, total: int, env: DistEnv) -> np.ndarray:
    """Exact gather: every rank's rows of ``values`` placed at ``indices`` in a ``(total, ...)`` array.

    Shards may have different lengths and may repeat samples (sampler padding); rows are placed by
    dataset index, so duplicates collapse and the result equals a single-process pass. Every rank
    receives the full array. Raises if a dataset index was never produced.
    """
    indices = indices.reshape(-1).to(torch.int64)
    if env.distributed:
        n = torch.tensor([indices.numel()], device=values.device)
        sizes = [torch.zeros_like(n) for _ in range(env.world_size)]
        dist.all_gather(sizes, n)
        longest = int(max(s.item() for s in sizes))
        pad = longest - indices.numel()
        idx = torch.cat([indices.to(values.device), indices.new_full((pad,), -1).to(values.device)])
        val = torch.cat([values, values.new_zeros((pad, *values.shape[1:]))])
        all_idx = [torch.empty_like(idx) for _ in range(env.world_size)]
        all_val = [torch.empty_like(val) for _ in range(env.world_size)]
        dist.all_gather(all_idx, idx)
        dist.all_gather(all_val, val)
        indices = torch.cat(all_idx)
        values = torch.cat(all_val)
        keep = indices >= 0
        indices, values = indices[keep], values[keep]
    out = np.zeros((total, *values.shape[1:]), dtype=values.cpu().numpy().dtype)
    seen = np.zeros(total, dtype=bool)
    idx_np = indices.cpu().numpy()
    out[idx_np] = values.cpu().numpy()
    seen[idx_np] = True
    if not seen.all():
        raise RuntimeError(f"gather_by_index: {int((~seen).sum())} of {total} samples missing from every rank")
    return out


class ShardSampler(torch.utils.data.Sampler[int]):
    """Evaluation sharding without padding: rank ``r`` reads dataset indices ``r, r + W, r + 2W, ...``."""

    def __init__(self, num_items: int, env: DistEnv) -> None:
        self.num_items, self.rank, self.world = num_items, env.rank, env.world_size

    def __iter__(self):
        return iter(range(self.rank, self.num_items, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_items, self.world))


# ------------------------------------------------------------------------------- synced BatchNorm


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are computed over the global batch (all ranks), on CPU.

    ``nn.SyncBatchNorm`` only runs on accelerators; this one all-reduces ``(sum, sum of squares,
    count)`` with the differentiable ``torch.distributed.nn`` all-reduce, so gloo runs on CPU get the
    same normalisation (and gradients) as one process seeing the whole batch.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
        stats = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp_min(1), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``nn.SyncBatchNorm`` on accelerators, :class:`CpuSyncBatchNorm` on CPU (parameters, buffers and
    train/eval mode are carried over)."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        new = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                new.weight = module.weight
                new.bias = module.bias
        new.running_mean = module.running_mean
        new.running_var = module.running_var
        new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, device))
    return module
