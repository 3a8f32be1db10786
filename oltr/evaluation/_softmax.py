"""Row-wise maximum softmax probability and prediction, vectorised and numerically stable."""

from __future__ import annotations

import numpy as np

#: Rows per block: the temporary stays small (a few MB, cache-friendly) instead of a copy of the logits.
BLOCK_ROWS = 1024


def max_softmax(logits: np.ndarray, *, block_rows: int = BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, prediction)`` of ``softmax(logits)`` per row.

    .. math:: \\hat y_i = \\arg\\max_k z_{ik}, \\quad
              p_i = \\max_k \\operatorname{softmax}(z_i)_k = 1 / \\sum_k e^{z_{ik} - z_{i\\hat y_i}}

    Computed in the logits' precision (float32 stays float32, as in the reference), block by block so
    that no probability matrix of the full size is ever allocated.
    """
    n, k = logits.shape
    pred = np.empty(n, dtype=np.int64)
    conf = np.empty(n, dtype=logits.dtype)
    buf = np.empty((min(block_rows, n), k), dtype=logits.dtype)
    for start in range(0, n, block_rows):  # loop over blocks of rows, not samples
        block = logits[start : start + block_rows]
        rows = block.shape[0]
        tmp = buf[:rows]
        p = np.argmax(block, axis=1)
        pred[start : start + rows] = p
        np.subtract(block, block[np.arange(rows), p][:, None], out=tmp)
        np.exp(tmp, out=tmp)
        conf[start : start + rows] = 1.0 / tmp.sum(axis=1)
    return conf, pred
