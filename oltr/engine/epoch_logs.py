"""Per-epoch logs people already read, written beside ``metrics.jsonl`` on rank 0.

- ``summary.csv``: one row per epoch, the ``metrics.jsonl`` record flattened with ``/`` (timm's
  ``summary.csv`` habit: ``lr/features``, ``time/epoch_s``). It is rewritten from ``metrics.jsonl``
  after every epoch, so a resumed run (whose metric lines were truncated to the checkpoint) never
  keeps rows of epochs it redid.
- TensorBoard event files under ``tensorboard/`` when the ``tensorboard`` package is installed
  (``pip install oltr[tensorboard]``): every numeric field of the record as a scalar, step = epoch. A
  resumed run purges the events written after its checkpoint (``purge_step``). Without the package the
  run trains as usual and says once that TensorBoard logging is off.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger("oltr.engine")

SUMMARY_CSV = "summary.csv"
TENSORBOARD_DIR = "tensorboard"
_said_off = False


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'lr': {'features': 0.1}}`` -> ``{'lr/features': 0.1}`` (nested dicts joined with ``/``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The record's finite numeric fields as TensorBoard scalars (``epoch`` is the step, not a scalar)."""
    return {k: float(v) for k, v in flatten(record).items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def write_summary_csv(run_dir: Path) -> Path:
    """Rewrite ``summary.csv`` from ``metrics.jsonl`` (columns in first-seen order)."""
    run_dir = Path(run_dir)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    rows = [flatten(json.loads(line)) for line in lines if line.strip()]
    path = run_dir / SUMMARY_CSV
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter  # lazy: optional extra (`tensorboard`)
    except ImportError:  # torch's wrapper raises ImportError when the tensorboard package is missing
        return None
    return SummaryWriter


class EpochLogs:
    """``summary.csv`` + TensorBoard for one run directory; ``write(record)`` after each metrics line.

    ``start_epoch``: epochs already done (records count epochs from 1, the step is ``record['epoch']``),
    so a resumed run purges the events of epochs after it.
    """

    def __init__(self, run_dir: str | Path, start_epoch: int = 0, tensorboard: bool = True) -> None:
        global _said_off
        self.run_dir = Path(run_dir)
        self.writer = None
        writer_cls = _summary_writer_class() if tensorboard else None
        if writer_cls is not None:
            self.writer = writer_cls(log_dir=str(self.run_dir / TENSORBOARD_DIR),
                                     purge_step=start_epoch + 1 if start_epoch > 0 else None)
        elif tensorboard and not _said_off:
            _said_off = True
            log.info("TensorBoard logging is off (the tensorboard package is not installed: "
                     "pip install 'oltr[tensorboard]'); metrics.jsonl and summary.csv are written as usual")

    def write(self, record: dict[str, Any]) -> None:
        write_summary_csv(self.run_dir)
        if self.writer is not None:
            for tag, value in scalars(record).items():
                self.writer.add_scalar(tag, value, global_step=int(record["epoch"]))
            self.writer.flush()  # a killed run keeps every epoch it logged

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
