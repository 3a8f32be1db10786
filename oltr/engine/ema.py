"""An exponential moving average of the task's weights (``torch.optim.swa_utils``), ``optim.ema_decay``.

``ema_t = d ema_{t-1} + (1 - d) w_t`` after every optimizer step, starting from the weights the
training starts from (``ema_0 = w_0``), over parameters and buffers (BatchNorm statistics) as
torchvision's reference does (``use_buffers=True``). Validation, ``best.pt`` and ``last.pt``'s
``model`` hold the averaged weights; ``last.pt`` also keeps the trained weights (``train_model``) and the
number of updates (``ema_updates``) so that a resume continues both exactly.
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def build_ema(task: nn.Module, decay: float) -> AveragedModel:
    """An :class:`AveragedModel` copy of ``task`` holding ``ema_0 = w_0`` (one update already counted)."""
    ema = AveragedModel(task, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.update_parameters(task)  # n_averaged 0 -> copies w_0; every later call averages
    return ema
