"""The loop: ``train_one_epoch`` and ``compute_logits`` as plain functions, one code path.

Optional features are null objects (as timm does): ``autocast`` is ``contextlib.nullcontext`` unless
``--amp`` is set, and the scaler is :class:`NoScaler` unless fp16 asks for a real ``GradScaler``.
Per-step values stay on the device; the host syncs every ``log_every`` steps (progress bar and the
non-finite loss check) and once at the end of the epoch.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from oltr.engine.distributed import DistEnv, all_reduce_max, all_reduce_sum, gather_by_index


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the attributes ``epoch`` and ``step`` are 0-based, the
    message counts from 1 like the log and ``metrics.jsonl``."""

    def __init__(self, epoch: int, step: int, detail: str = "") -> None:
        self.epoch, self.step = epoch, step
        super().__init__(f"non-finite loss in epoch {epoch + 1}, step {step + 1}{detail}")


class NonFiniteLogitsError(NonFiniteLossError):
    """The training loss stayed finite but the model's validation logits are NaN/inf: it diverged
    (weights or running statistics overflowed) in epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int, count: int) -> None:
        self.epoch, self.step = epoch, -1
        FloatingPointError.__init__(self, f"{count} validation logits are NaN/inf after epoch {epoch + 1}: the training"
                                          " diverged")


class NoScaler:
    """Null GradScaler: ``scale`` is the identity, ``step`` steps, ``update`` does nothing."""

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return loss

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()

    def update(self) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def amp_tools(amp: str | None, device: torch.device) -> tuple[Callable[[], contextlib.AbstractContextManager], object]:
    """``(autocast, scaler)`` for ``amp`` in ``None | 'bf16' | 'fp16'``.

    fp16 needs a GradScaler and is refused on CPU (CPU autocast supports bf16).
    """
    if amp is None:
        return contextlib.nullcontext, NoScaler()
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"amp must be null, 'bf16' or 'fp16', got {amp!r}")
    if amp == "fp16" and device.type == "cpu":
        raise ValueError("amp: fp16 needs a CUDA device (GradScaler); on CPU use --amp bf16")
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    autocast = functools.partial(torch.autocast, device_type=device.type, dtype=dtype)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else NoScaler()
    return autocast, scaler


def loss_scale_source(scaler: object) -> Callable[[], torch.Tensor | float] | None:
    """A callable returning the scaler's current loss scale without a host sync (``None`` without scaling).

    Gradients that ignore the upstream gradient (the reference centroid update) must be multiplied by it,
    or the scaler's unscale step divides them by a scale they never received.
    """
    if not isinstance(scaler, torch.amp.GradScaler) or not scaler.is_enabled():
        return None

    def current() -> torch.Tensor | float:
        # GradScaler's own sync-free read of the scale tensor; None only before its first scale() call.
        scale = scaler._get_scale_async()
        return scaler.get_scale() if scale is None else scale

    return current


def _to_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device, channels_last: bool):
    images = images.to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(device, non_blocking=True)


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Iterable,
    steps: int,
    device: torch.device,
    epoch: int,
    env: DistEnv,
    *,
    autocast=contextlib.nullcontext,
    scaler=None,
    channels_last: bool = False,
    log_every: int = 20,
    progress: bool = True,
    criterion: nn.Module | None = None,
    batch_mix: Callable | None = None,
    after_step: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Train ``steps`` steps; return the mean of every ``loss*`` output over the epoch (all ranks).

    ``criterion``: when given and built with ``per_iteration=True``, its schedule follows the fractional
    epoch ``epoch + step / steps`` (the engine sets the integer epoch before calling).
    ``batch_mix``: ``(images, labels) -> (images, (B, K) targets)`` applied to every training batch on the
    device (mixup / cutmix, :mod:`oltr.engine.mixing`). ``after_step``: called after every optimizer step
    (the weight EMA, :mod:`oltr.engine.ema`).

    Raises:
        NonFiniteLossError: at the first sync point after a NaN/inf loss, naming its step.
    """
    scaler = scaler or NoScaler()
    model.train()
    sums: dict[str, torch.Tensor] = {}
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    bar = tqdm(total=steps, desc=f"epoch {epoch + 1}", leave=False, dynamic_ncols=True, disable=not (progress and env.primary))
    per_iteration = criterion is not None and getattr(criterion, "per_iteration", False)
    step = -1
    for step, (images, labels, _) in zip(range(steps), loader):
        images, labels = _to_device(images, labels, device, channels_last)
        if batch_mix is not None:
            images, labels = batch_mix(images, labels)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
        if per_iteration:
            criterion.set_epoch(epoch + step / steps)
        with autocast():
            out = model(images, labels)
        loss = out["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if after_step is not None:
            after_step()

        with torch.no_grad():
            for key, value in out.items():
                if key.startswith("loss"):
                    v = value.detach().float()
                    sums[key] = sums[key] + v if key in sums else v.clone()
            bad = ~torch.isfinite(loss.detach())
            first_bad = torch.where(bad & (first_bad < 0), torch.full_like(first_bad, step), first_bad)
        if (step + 1) % log_every == 0 or step + 1 == steps:
            _check_finite(first_bad, epoch, env)
            bar.set_postfix(loss=f"{sums['loss'].item() / (step + 1):.4f}", refresh=False)
        bar.update(1)
    bar.close()
    if step + 1 < steps:
        raise RuntimeError(f"the training loader ran dry after {step + 1} of {steps} steps (epoch {epoch + 1})")
    _check_finite(first_bad, epoch, env)
    keys = sorted(sums)
    stacked = all_reduce_sum(torch.stack([sums[k] for k in keys]), env) / (steps * env.world_size)
    return dict(zip(keys, stacked.tolist()))


def _check_finite(first_bad: torch.Tensor, epoch: int, env: DistEnv) -> None:
    # MAX over ranks so that every rank stops together (a rank that is fine must not hang in DDP).
    flag = all_reduce_max(first_bad.clone(), env) if env.distributed else first_bad
    step = int(flag.item())
    if step >= 0:
        raise NonFiniteLossError(epoch, step)


@torch.inference_mode()
def compute_logits(
    model: nn.Module,
    loader: Iterable,
    total: int,
    device: torch.device,
    env: DistEnv,
    *,
    autocast=contextlib.nullcontext,
    channels_last: bool = False,
    progress: bool = True,
    desc: str = "eval",
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of a whole split, ``(total, K)`` float32 and ``(total,)`` int64, in dataset
    order on every rank (exact gather by sample index)."""
    was_training = model.training
    model.eval()
    logits, labels, indices = [], [], []
    n_batches = len(loader) if hasattr(loader, "__len__") else None
    for images, y, idx in tqdm(loader, total=n_batches, desc=desc, leave=False, dynamic_ncols=True,
                               disable=not (progress and env.primary)):
        images, y = _to_device(images, y, device, channels_last)
        with autocast():
            out = model(images)
        logits.append(out["logits"].float())
        labels.append(y)
        indices.append(torch.as_tensor(idx, device=device))
    model.train(was_training)
    if logits:
        lg, lb, ix = torch.cat(logits), torch.cat(labels), torch.cat(indices)
    else:  # an empty shard (more ranks than samples)
        k = getattr(model, "num_classes", 0)
        lg = torch.zeros((0, k), device=device)
        lb = torch.zeros((0,), dtype=torch.int64, device=device)
        ix = torch.zeros((0,), dtype=torch.int64, device=device)
    both = torch.cat([lg, lb.to(lg.dtype)[:, None]], dim=1)  # one gather for logits and labels
    gathered = gather_by_index(ix, both, total, env)
    return gathered[:, :-1].astype(np.float32), gathered[:, -1].astype(np.int64)
