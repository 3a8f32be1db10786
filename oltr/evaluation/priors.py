"""Accuracy under shifted test class priors (test-agnostic long-tail evaluation) and prior correction.

Following SADE (Zhang et al., NeurIPS 2022), classes are ranked by training count, ``r_c = 0`` for the
most frequent (ties broken by class id). A *forward* long-tailed test prior of imbalance ``rho`` is

.. math:: \\pi_c \\propto \\rho^{-r_c / (K - 1)}

(the test set has the training set's head, ``rho`` times more samples of the most frequent class than
of the rarest); *backward* reverses the ranks (``r_c -> K - 1 - r_c``); ``rho = 1`` is uniform. The
expected accuracy under ``pi`` re-weights each test sample of class ``c`` by ``pi_c / q_c``, with ``q``
the test set's own class frequencies: ``acc_pi = (1 / N) sum_i pi_{y_i} / q_{y_i} [y_hat_i = y_i]``
``= sum_c pi_c acc_c``; when ``pi = q`` (uniform on a balanced test set) this is exactly the overall
accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oltr.evaluation._validation import check_counts, check_labels
from oltr.evaluation.logits import as_logits, block_rows

#: The imbalance ratios of SADE's test-agnostic protocol.
IMBALANCES = (2, 5, 10, 25, 50)


def shifted_prior(train_counts: Any, imbalance: float, direction: str = "forward") -> np.ndarray:
    """The test prior ``pi`` (K,) of the module docstring (sums to 1)."""
    counts = check_counts(train_counts)
    if direction not in ("forward", "backward"):
        raise ValueError(f"Expected `direction` to be 'forward' or 'backward', but got {direction!r}")
    if not imbalance >= 1:
        raise ValueError(f"Expected `imbalance` >= 1, but got {imbalance!r}")
    k = counts.shape[0]
    rank = np.empty(k, dtype=np.float64)
    rank[np.lexsort((np.arange(k), -counts))] = np.arange(k)
    if direction == "backward":
        rank = (k - 1) - rank
    w = float(imbalance) ** (-rank / max(k - 1, 1))
    return w / w.sum()


def prior_accuracy(preds: Any, labels: Any, prior: Any) -> float:
    """``sum_c pi_c acc_c`` computed as the re-weighted sample mean of the module docstring."""
    y = np.asarray(labels)
    p = np.asarray(prior, dtype=np.float64)
    n_c = np.bincount(y, minlength=p.shape[0])
    if np.any((p > 0) & (n_c == 0)):
        raise ValueError("the prior gives weight to a class without test samples")
    q = n_c / y.size
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(n_c > 0, p / np.where(n_c > 0, q, 1.0), 0.0)
    hits = np.bincount(y, weights=(np.asarray(preds) == y), minlength=p.shape[0])
    return float((ratio * hits).sum() / y.size)


def prior_corrected_predictions(logits: np.ndarray, train_counts: np.ndarray, test_prior: np.ndarray) -> np.ndarray:
    """``argmax_c z_c + log pi_test(c) - log pi_train(c)`` (post-hoc prior correction).

    ``test_prior`` (K,) gives predictions (N,); several priors (P, K) give (P, N), computed block by
    block of rows so that all priors reuse a block while it is in cache.
    """
    counts = np.asarray(train_counts, dtype=np.float64)
    if np.any(counts <= 0):
        raise ValueError("prior correction needs every class to have training images (log of 0)")
    priors = np.atleast_2d(test_prior)
    shift = (np.log(priors) - np.log(counts / counts.sum())[None, :]).astype(logits.dtype)
    step = block_rows(logits.shape[1])
    out = np.empty((priors.shape[0], logits.shape[0]), dtype=np.int64)
    buf = np.empty((min(step, logits.shape[0]), logits.shape[1]), dtype=logits.dtype)
    for start in range(0, logits.shape[0], step):  # blocks of rows, not samples
        block = logits[start : start + step]
        tmp = buf[: block.shape[0]]
        for p, s in enumerate(shift):  # a few priors, each over the cached block
            np.add(block, s, out=tmp)
            out[p, start : start + block.shape[0]] = tmp.argmax(axis=1)
    return out[0] if np.ndim(test_prior) == 1 else out


def shifted_prior_accuracies(logits: Any, labels: Any, train_counts: Any, *,
                             imbalances: tuple[float, ...] = IMBALANCES, correct: bool = True) -> dict[str, float]:
    """Accuracy under forward / uniform / backward test priors, and with post-hoc prior correction.

    Keys ``forward_<rho>``, ``uniform``, ``backward_<rho>``, and with ``correct=True`` the same keys
    prefixed ``corrected_`` (predictions from the prior-corrected logits, evaluated under that prior).
    """
    z = as_logits(logits, "logits")
    y = check_labels(labels, "labels", num_samples=z.shape[0], num_classes=z.shape[1])
    counts = check_counts(train_counts, num_classes=z.shape[1])
    pred = z.stats().pred
    priors = {"uniform": np.full(z.shape[1], 1.0 / z.shape[1])}
    for rho in imbalances:
        priors[f"forward_{rho:g}"] = shifted_prior(counts, rho, "forward")
        priors[f"backward_{rho:g}"] = shifted_prior(counts, rho, "backward")
    order = [f"forward_{r:g}" for r in sorted(imbalances, reverse=True)] + ["uniform"] + \
            [f"backward_{r:g}" for r in sorted(imbalances)]
    out = {name: prior_accuracy(pred, y, priors[name]) for name in order}
    if correct:
        corrected = prior_corrected_predictions(z.values, counts, np.stack([priors[n] for n in order]))
        for name, p in zip(order, corrected):
            out[f"corrected_{name}"] = prior_accuracy(p, y, priors[name])
    return out
