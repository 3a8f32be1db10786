"""Logits wrapped once, with their per-row softmax statistics computed in one pass and kept.

Every metric and logit score reads the same few per-row numbers: the prediction, the top logit, the
softmax normaliser, and with labels the true-class logit and its rank. Computed one function at a
time, each of them is a pass over the (N, K) array (~0.1-0.3 s at ImageNet-LT size). Wrapping the
logits in :class:`Logits` and handing the wrapper to every function makes it one pass in all:

    >>> import numpy as np
    >>> from oltr.evaluation import Logits, evaluate_logits, open_set_score, probabilistic_metrics
    >>> z = Logits(np.array([[2.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), labels=[0, 1, 2])
    >>> evaluate_logits(z, [0, 1, 2], [500, 50, 5])["closed_set"]["overall"], open_set_score(z, "max_logit").tolist()
    (0.6666666666666666, [2.0, 3.0, 1.0])
    >>> probabilistic_metrics(z, [0, 1, 2])["top5"]
    1.0

Plain arrays keep working everywhere (they are wrapped per call). The wrapper holds a read-only view:
modifying the original array while the wrapper is in use makes its cached statistics stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from oltr.evaluation._validation import CheckedLogits, check_labels, check_logits

#: Elements per block (256 KB of float32): the block and its temporary stay in a 2 MB L2 cache, so the
#: subtract / exp / sum chain reads the logits from memory once (64 rows at K = 1000).
BLOCK_ELEMENTS = 64 * 1024


def block_rows(num_classes: int) -> int:
    """Rows per block for ``num_classes`` columns (at least 1)."""
    return max(1, BLOCK_ELEMENTS // max(int(num_classes), 1))


@dataclass(frozen=True)
class RowStats:
    """Per-row statistics of logits ``z`` (N, K), in the logits' precision.

    ``pred_i = argmax_k z_ik``; ``max_i = z_{i pred_i}``; ``sum_exp_i = sum_k exp(z_ik - max_i)`` (>= 1,
    so ``max_k softmax(z_i)_k = 1 / sum_exp_i`` and ``logsumexp(z_i) = max_i + log sum_exp_i``).
    With labels ``y``: ``true_i = z_{i y_i}``, ``n_above_i = #{k: z_ik > z_{i y_i}}`` and
    ``sum_sq_i = sum_k exp(2 (z_ik - max_i))`` (so ``sum_k softmax(z_i)_k^2 = sum_sq_i / sum_exp_i^2``).
    """

    pred: np.ndarray
    max: np.ndarray
    sum_exp: np.ndarray
    true: np.ndarray | None = None
    n_above: np.ndarray | None = None
    sum_sq: np.ndarray | None = None


def row_stats(z: np.ndarray, labels: np.ndarray | None = None) -> RowStats:
    """:class:`RowStats` of a validated (N, K) array, block by block (no (N, K) temporary)."""
    n, k = z.shape
    step = block_rows(k)
    pred = np.empty(n, dtype=np.int64)
    top = np.empty(n, dtype=z.dtype)
    sum_exp = np.empty(n, dtype=z.dtype)
    with_labels = labels is not None
    if with_labels:
        true = np.empty(n, dtype=z.dtype)
        n_above = np.empty(n, dtype=np.int32)
        sum_sq = np.empty(n, dtype=z.dtype)
        above_buf = np.empty((min(step, n), k), dtype=bool)
    buf = np.empty((min(step, n), k), dtype=z.dtype)
    for start in range(0, n, step):  # blocks of rows, not samples
        block = z[start : start + step]
        rows = np.arange(block.shape[0])
        sl = slice(start, start + block.shape[0])
        p = np.argmax(block, axis=1)
        m = block[rows, p]
        pred[sl], top[sl] = p, m
        if with_labels:
            t = block[rows, labels[sl]]
            true[sl] = t
            above = above_buf[: block.shape[0]]
            np.greater(block, t[:, None], out=above)
            # a bool array summed as bytes: the count without an int64 conversion of the block
            n_above[sl] = above.view(np.uint8).sum(axis=1, dtype=np.int32)
        e = buf[: block.shape[0]]
        np.subtract(block, m[:, None], out=e)
        np.exp(e, out=e)
        sum_exp[sl] = e.sum(axis=1)
        if with_labels:
            sum_sq[sl] = np.einsum("ij,ij->i", e, e)
    if with_labels:
        return RowStats(pred, top, sum_exp, true, n_above, sum_sq)
    return RowStats(pred, top, sum_exp)


def scaled_sum_exp(z: np.ndarray, top: np.ndarray, scale: float) -> np.ndarray:
    """``sum_k exp(scale (z_ik - top_i))`` per row (``top`` the row maxima), block by block."""
    n, k = z.shape
    step = block_rows(k)
    out = np.empty(n, dtype=z.dtype)
    buf = np.empty((min(step, n), k), dtype=z.dtype)
    for start in range(0, n, step):  # blocks of rows, not samples
        block = z[start : start + step]
        e = buf[: block.shape[0]]
        np.subtract(block, top[start : start + block.shape[0], None], out=e)
        e *= scale
        np.exp(e, out=e)
        out[start : start + block.shape[0]] = e.sum(axis=1)
    return out


class Logits(CheckedLogits):
    """Validated logits ``(N, K)`` (optionally with their labels) and their cached :class:`RowStats`.

    ``Logits(z)`` checks ``z`` once (2-D, floating, finite; as :func:`check_logits`); the statistics
    are computed on first use, in one pass (with the label statistics too when ``labels`` are given),
    and reused by every function the wrapper is passed to. Tempered normalisers
    (:meth:`scaled_sum_exp`) are kept per temperature.
    """

    def __init__(self, values: Any, labels: Any | None = None, *, name: str = "logits", allow_empty: bool = True):
        checked = check_logits(values, name, allow_empty=allow_empty).view()
        checked.flags.writeable = False  # the cached statistics describe these values
        super().__init__(checked)
        self.labels = None if labels is None else check_labels(
            labels, "labels", num_samples=checked.shape[0], num_classes=checked.shape[1])
        self._stats: RowStats | None = None
        self._scaled: dict[float, np.ndarray] = {}

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def __len__(self) -> int:
        return self.values.shape[0]

    def __repr__(self) -> str:
        return f"Logits(shape={self.shape}, dtype={self.values.dtype}, labels={self.labels is not None})"

    def stats(self) -> RowStats:
        """The :class:`RowStats` of the logits (label statistics included when labels were given)."""
        if self._stats is None:
            self._stats = row_stats(self.values, self.labels)
        return self._stats

    def label_stats(self, labels: np.ndarray) -> RowStats:
        """Row statistics with the label statistics of ``labels``: cached when they are this wrapper's
        labels, else computed in a fresh pass."""
        if self.labels is not None and (labels is self.labels or np.array_equal(labels, self.labels)):
            return self.stats()
        return row_stats(self.values, labels)

    def scaled_sum_exp(self, scale: float) -> np.ndarray:
        """``sum_k exp(scale (z_ik - max_i))`` per row (``scale = 1 / T``), kept per scale."""
        if scale == 1.0:
            return self.stats().sum_exp
        if scale not in self._scaled:
            self._scaled[scale] = scaled_sum_exp(self.values, self.stats().max, scale)
        return self._scaled[scale]


def as_logits(x: Any, name: str = "logits", *, num_classes: int | None = None,
              allow_empty: bool = False) -> Logits:
    """``x`` itself when it is a :class:`Logits` (shape checked), else ``Logits(x)`` (validated)."""
    if not isinstance(x, Logits):
        x = Logits(x, name=name, allow_empty=allow_empty)
    check_logits(x, name, num_classes=num_classes, allow_empty=allow_empty)  # shape checks only
    return x


def max_softmax(logits: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, prediction)`` of ``softmax(logits)`` per row.

    .. math:: \\hat y_i = \\arg\\max_k z_{ik}, \\quad
              p_i = \\max_k \\operatorname{softmax}(z_i)_k = 1 / \\sum_k e^{z_{ik} - z_{i\\hat y_i}}

    Computed in the logits' precision (float32 stays float32, as in the reference).
    """
    s = as_logits(logits, allow_empty=True).stats()
    return 1.0 / s.sum_exp, s.pred
