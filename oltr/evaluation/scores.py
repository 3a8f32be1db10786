"""Open-set scores: one number per sample, higher = more likely a known class.

Chosen by name from the :data:`SCORES` registry (``oltr eval --score NAME``), computed from the saved
logits, or from features for ``knn`` and ``mahalanobis`` (see :mod:`oltr.evaluation.features` for the
file format they read).

==============  ==========================================================================  ===========
name            score of a sample with logits ``z`` (``K`` classes) / feature ``x``          parameters
==============  ==========================================================================  ===========
``msp``         ``max_k softmax(z)_k`` (Hendrycks & Gimpel 2017; the OLTR threshold score)   --
``temp_msp``    ``max_k softmax(z / T)_k`` (temperature-scaled MSP, ODIN without noise)     ``temperature`` (1000)
``max_logit``   ``max_k z_k`` (Hendrycks et al. 2022)                                         --
``energy``      ``T log sum_k exp(z_k / T)`` (negative free energy, Liu et al. 2020)          ``temperature`` (1)
``knn``         ``-|| x/|x| - t_(k)/|t_(k)| ||``, ``t_(k)`` the k-th nearest normalised      ``k`` (50)
                training feature (Sun et al. 2022)
``mahalanobis`` ``-min_c (x - mu_c)^T S^-1 (x - mu_c)``, class means ``mu_c`` and one tied    ``eps`` (1e-6)
                covariance ``S`` fitted on training features (Lee et al. 2018, no noise)
==============  ==========================================================================  ===========
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from oltr.evaluation._validation import check_labels, check_logits
from oltr.evaluation.logits import as_logits, max_softmax
from oltr.registry import Registry

#: Open-set scores by name; metadata ``needs_features`` (reads features instead of logits).
SCORES: Registry = Registry("open-set score")


def _positive(value: Any, name: str) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"Expected `{name}` to be a positive finite number, but got {value!r}")
    return v


@SCORES.register("msp", needs_features=False)
def msp(logits: Any) -> np.ndarray:
    """Maximum softmax probability ``max_k softmax(z)_k``."""
    return max_softmax(as_logits(logits, allow_empty=True))[0].astype(np.float64)


@SCORES.register("temp_msp", needs_features=False)
def temp_msp(logits: Any, temperature: float = 1000.0) -> np.ndarray:
    """Temperature-scaled maximum softmax ``max_k softmax(z / T)_k``."""
    t = _positive(temperature, "temperature")
    z = as_logits(logits, allow_empty=True)
    # max_k softmax(z / T)_k = 1 / sum_k exp((z_k - max z) / T)
    return 1.0 / z.scaled_sum_exp(1.0 / t).astype(np.float64)


@SCORES.register("max_logit", needs_features=False)
def max_logit(logits: Any) -> np.ndarray:
    """Maximum logit ``max_k z_k``."""
    return as_logits(logits, allow_empty=True).stats().max.astype(np.float64)


@SCORES.register("energy", needs_features=False)
def energy(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Negative free energy ``T log sum_k exp(z_k / T)`` (shifts by ``c`` when every logit does)."""
    t = _positive(temperature, "temperature")
    z = as_logits(logits, allow_empty=True)
    # T logsumexp(z / T) = max z + T log sum_k exp((z_k - max z) / T)
    return z.stats().max.astype(np.float64) + t * np.log(z.scaled_sum_exp(1.0 / t).astype(np.float64))


def _check_features(x: Any, name: str, dim: int | None = None) -> np.ndarray:
    arr = check_logits(x, name, allow_empty=True)  # same checks: 2-D, floating, finite
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"Expected `{name}` to have D = {dim} columns (as the training features), "
                         f"but got shape {tuple(arr.shape)}")
    return arr


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


@SCORES.register("knn", needs_features=True)
def knn(features: Any, train_features: Any, k: int = 50, *, device: str = "cpu",
        block_rows: int = 4096) -> np.ndarray:
    """``-d_k``: negative Euclidean distance to the k-th nearest L2-normalised training feature.

    For unit vectors ``||a - b||^2 = 2 - 2 a.b``, so the k-th nearest neighbour is the k-th largest
    cosine similarity; computed as blocks of ``features @ train^T`` with ``torch.topk`` (float32).
    """
    train = _check_features(train_features, "train_features")
    x = _check_features(features, "features", train.shape[1])
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= train.shape[0]:
        raise ValueError(f"Expected `k` to be an integer in [1, {train.shape[0]}] (training features), but got {k!r}")
    t = _normalise(torch.as_tensor(train, dtype=torch.float32, device=device))
    out = np.empty(x.shape[0], dtype=np.float64)
    with torch.no_grad():
        for start in range(0, x.shape[0], block_rows):  # blocks of queries, not samples
            q = _normalise(torch.as_tensor(x[start : start + block_rows], dtype=torch.float32, device=device))
            sim_k = torch.topk(q @ t.T, int(k), dim=1, sorted=True).values[:, -1]
            out[start : start + q.shape[0]] = -torch.sqrt((2.0 - 2.0 * sim_k).clamp_min(0.0)).double().cpu().numpy()
    return out


def fit_mahalanobis(train_features: Any, train_labels: Any, *, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Class means ``mu`` (C, D) and the whitening matrix ``W`` (D, D) with ``W^T W = S^-1``.

    ``S = 1/N sum_i (x_i - mu_{y_i})(x_i - mu_{y_i})^T + eps * mean(diag) * I`` (the tied covariance;
    the ridge keeps it invertible when ``N < D`` or features are collinear). Classes without training
    features are left out of the means.
    """
    x = _check_features(train_features, "train_features").astype(np.float64)
    n_cls = int(np.max(train_labels)) + 1 if np.size(train_labels) else 0
    y = check_labels(train_labels, "train_labels", num_samples=x.shape[0], num_classes=max(n_cls, 1))
    if x.shape[0] < 2:
        raise ValueError("Expected at least 2 training features to fit the Mahalanobis score")
    counts = np.bincount(y, minlength=n_cls)
    sums = _index_sum(x, y, n_cls)
    present = counts > 0
    mu = sums[present] / counts[present, None]
    full_mu = np.zeros_like(sums)
    full_mu[present] = mu
    centred = x - full_mu[y]
    cov = centred.T @ centred / x.shape[0]
    cov += eps * max(float(np.trace(cov)) / cov.shape[0], 1e-12) * np.eye(cov.shape[0])
    chol = np.linalg.cholesky(cov)  # S = L L^T  ->  S^-1 = L^-T L^-1, W = L^-1
    w = np.linalg.solve(chol, np.eye(cov.shape[0]))
    return mu, w


def _index_sum(x: np.ndarray, y: np.ndarray, n_cls: int) -> np.ndarray:
    out = torch.zeros(n_cls, x.shape[1], dtype=torch.float64)
    out.index_add_(0, torch.from_numpy(y), torch.from_numpy(x))
    return out.numpy()


@SCORES.register("mahalanobis", needs_features=True)
def mahalanobis(features: Any, train_features: Any, train_labels: Any, eps: float = 1e-6) -> np.ndarray:
    """``-min_c (x - mu_c)^T S^-1 (x - mu_c)`` with the tied covariance of :func:`fit_mahalanobis`."""
    mu, w = fit_mahalanobis(train_features, train_labels, eps=eps)
    x = _check_features(features, "features", w.shape[0]).astype(np.float64)
    xw, mw = x @ w.T, mu @ w.T  # whitened: distances become Euclidean
    d2 = (xw * xw).sum(1)[:, None] - 2.0 * xw @ mw.T + (mw * mw).sum(1)[None, :]
    return -np.maximum(d2.min(axis=1), 0.0) if x.shape[0] else np.zeros(0)


def available_scores() -> list[str]:
    """Registered score names."""
    return SCORES.names()


def check_score(name: str, params: dict[str, Any] | None = None) -> Any:
    """The registry entry of ``name``; unknown names or parameters raise ``ValueError`` naming them
    (called before any work, so that a typo fails at once)."""
    entry = SCORES.get(name)
    accepted = set(inspect.signature(entry.builder).parameters)
    unknown = sorted(set(params or {}) - accepted)
    if unknown:
        raise ValueError(f"score {name!r} takes no parameter(s) {unknown}; it takes {sorted(accepted)}")
    return entry


def open_set_score(logits: Any, name: str = "msp", **params: Any) -> np.ndarray:
    """Scores of shape ``(N,)`` (float64, higher = known) for the score ``name`` of :data:`SCORES`.

    Logit scores take ``logits`` (N, K); feature scores take ``logits=None`` (ignored) and
    ``features=`` (N, D) plus ``train_features=`` (and ``train_labels=`` for ``mahalanobis``).
    Unknown names or parameters raise ``ValueError`` naming them.

    Example:
        >>> import numpy as np
        >>> open_set_score(np.array([[2.0, 0.0], [0.0, 0.0]]), "max_logit").tolist()
        [2.0, 0.0]
    """
    entry = check_score(name, params)
    if entry.meta.get("needs_features"):
        if params.get("features") is None or params.get("train_features") is None:
            raise ValueError(f"score {name!r} needs `features` and `train_features` (features_<split>.npz and "
                             f"features_train.npz, see oltr.evaluation.features)")
        return SCORES.build(name, **params)
    if logits is None:
        raise ValueError(f"score {name!r} needs logits")
    return SCORES.build(name, logits=logits, **params)
