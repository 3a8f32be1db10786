"""Training-free re-balancing of a trained linear classifier: tau-normalisation and logit adjustment.

- tau-normalisation (Kang et al., ICLR 2020): ``w_j <- w_j / ||w_j||^tau``; tau = 0 keeps the
  classifier, tau = 1 gives unit-norm rows, so head classes (large norms) lose their advantage.
- post-hoc logit adjustment (Menon et al., ICLR 2021): ``z_j <- z_j - tau log pi_j`` with ``pi`` the
  training label prior; tau = 1 is the Bayes-optimal correction for the balanced error.

tau is chosen on the validation split only (:func:`select_tau`), never on test.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

#: Decoupling's sweep: tau in 0, 0.1, ..., 2.0 (21 values).
TAU_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(21))


def tau_normalize(weight: torch.Tensor, tau: float, eps: float = 1e-12) -> torch.Tensor:
    """``weight (K, D) / ||weight_k||_2 ** tau`` row-wise; tau = 0 returns the weights unchanged."""
    if weight.dim() != 2:
        raise ValueError(f"tau_normalize expects a (num_classes, feat_dim) weight, got shape {tuple(weight.shape)}")
    if tau == 0:
        return weight.clone()
    norms = weight.norm(dim=1, keepdim=True).clamp_min(eps)
    return weight / norms.pow(tau)


def log_prior(class_counts: np.ndarray | Sequence[int]) -> np.ndarray:
    """``log(n_j / sum n)``; a class without training images is an error (its log prior is -inf)."""
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or (counts <= 0).any():
        raise ValueError("class_counts must be a 1-D array of positive training counts "
                         f"(got {counts.tolist() if counts.size <= 20 else counts.shape})")
    return np.log(counts / counts.sum())


def logit_adjust(logits: np.ndarray | torch.Tensor, class_counts: np.ndarray | Sequence[int],
                 tau: float = 1.0) -> np.ndarray | torch.Tensor:
    """``logits (N, K) - tau * log(prior)`` (same type and dtype as ``logits``); tau = 0 is the identity."""
    prior = log_prior(class_counts)
    if logits.shape[-1] != prior.shape[0]:
        raise ValueError(f"logits have {logits.shape[-1]} classes but class_counts has {prior.shape[0]}")
    if tau == 0:
        return logits
    if isinstance(logits, torch.Tensor):
        return logits - tau * torch.as_tensor(prior, dtype=logits.dtype, device=logits.device)
    return logits - (tau * prior).astype(logits.dtype)  # the (K,) shift in the logits' dtype: no float64 copy


def select_tau(val_logits_at: Callable[[float], np.ndarray | torch.Tensor], val_labels: np.ndarray,
               taus: Sequence[float] = TAU_GRID) -> tuple[float, dict[float, float]]:
    """The tau of ``taus`` with the best validation top-1 accuracy (the first one on ties).

    Args:
        val_logits_at: ``tau -> (N_val, K)`` validation logits (numpy or torch) of the method at that tau.
        val_labels: ``(N_val,)`` validation labels.
        taus: the grid (Decoupling's 0..2 in steps of 0.1 by default).

    Returns:
        ``(best_tau, {tau: val_accuracy})``.
    """
    taus = [float(t) for t in taus]
    if not taus:
        raise ValueError("the tau grid is empty: give at least one tau value (e.g. 0, 0.1, ..., 2)")
    labels = np.asarray(val_labels)
    if labels.size == 0:
        raise ValueError("no validation samples to choose tau on")
    scores = {t: float((_argmax(val_logits_at(t)) == labels).mean()) for t in taus}
    best = max(taus, key=lambda t: (scores[t], -taus.index(t)))
    return best, scores


def _argmax(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """Row-wise argmax (torch's is multi-threaded; numpy's is not)."""
    if isinstance(logits, torch.Tensor):
        return logits.argmax(1).cpu().numpy()
    return np.asarray(logits).argmax(1)
