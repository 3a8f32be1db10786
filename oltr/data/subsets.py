"""Which training images a protocol keeps: long-tailed class profiles, per-class selection, and the
CFL paper's 4,000-image protocols (Smith 2022, Section 4.3 and Table 2).

- Long tail (CIFAR-LT, Cao et al. 2019): ``n_i = floor(n_max * (1 / IF) ** (i / (K - 1)))`` for class
  ``i`` (``exp``), or ``n_max`` for the first ``K // 2`` classes and ``floor(n_max / IF)`` for the rest
  (``step``).
- 4,000 images: ``balanced`` = the first 4,000 training images (whatever their classes); ``5_3`` and
  ``6_2`` = per-class counts falling linearly from 490 to 310 and from 580 to 220 (CIFAR-10), taken as
  the first images of each class. For CIFAR the exact index lists published with the paper's code are
  shipped in ``oltr/data/cfl_samplers/`` and used as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "CFL_PROTOCOLS",
    "SAMPLER_DIR",
    "cfl_sampler",
    "lt_class_counts",
    "protocol_4k_counts",
    "select_per_class",
    "subset_4k",
    "unused_per_class",
]

SAMPLER_DIR = Path(__file__).with_name("cfl_samplers")
#: The three protocols of the CFL paper's Table 2.
CFL_PROTOCOLS = ("balanced", "5_3", "6_2")
_LINEAR_10 = {"5_3": (490, 20), "6_2": (580, 40)}  # start, step per class (CIFAR-10, Section 4.3)


def lt_class_counts(n_max: int, num_classes: int, imb_factor: float, profile: str = "exp") -> np.ndarray:
    """Training images per class of a long-tailed profile (class 0 largest).

    >>> lt_class_counts(5000, 10, 100).tolist()
    [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    """
    if imb_factor < 1:
        raise ValueError(f"imb_factor must be >= 1 (n_max / n_min), got {imb_factor}")
    if profile == "exp":
        # the CIFAR-LT reference computes n_max * (1/IF) ** (i/(K-1)) in float64 and truncates
        counts = [int(n_max * (1.0 / imb_factor) ** (i / (num_classes - 1.0))) for i in range(num_classes)]
    elif profile == "step":
        half = num_classes // 2
        counts = [n_max] * half + [int(n_max / imb_factor)] * (num_classes - half)
    else:
        raise ValueError(f"unknown long-tail profile {profile!r}; expected 'exp' or 'step'")
    return np.asarray(counts, dtype=np.int64)


def select_per_class(labels: np.ndarray, counts: np.ndarray, selection: str = "first", seed: int = 0) -> np.ndarray:
    """Indices of ``counts[c]`` images of every class ``c``, in ascending index order.

    ``first`` keeps the first images of each class in ``labels`` order; ``ldam`` draws them as the
    LDAM-DRW code does (``np.random.seed(seed)``, then per class in label order a shuffle of that
    class's indices, keeping the first ``n_c``), which gives the same subset as its CIFAR-LT datasets.
    """
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed) if selection == "ldam" else None
    if selection not in ("first", "ldam"):
        raise ValueError(f"unknown selection {selection!r}; expected 'first' or 'ldam'")
    chosen = []
    for cls, n in enumerate(np.asarray(counts)):
        pool = np.flatnonzero(labels == cls)
        if n > pool.size:
            raise ValueError(f"class {cls}: {int(n)} images requested, {pool.size} available")
        if rng is not None:
            rng.shuffle(pool)
        chosen.append(pool[: int(n)])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def unused_per_class(labels: np.ndarray, used: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """The last ``per_class`` images of every class outside ``used`` (a validation split drawn from
    training images a protocol does not train on)."""
    labels = np.asarray(labels)
    free = np.ones(labels.size, dtype=bool)
    free[np.asarray(used, dtype=np.int64)] = False
    out = []
    for cls in range(num_classes):
        pool = np.flatnonzero(free & (labels == cls))
        if pool.size < per_class:
            raise ValueError(f"class {cls}: {per_class} validation images requested, {pool.size} unused")
        out.append(pool[-per_class:])
    return np.sort(np.concatenate(out))


def protocol_4k_counts(protocol: str, num_classes: int = 10) -> np.ndarray:
    """Per-class counts of the ``5_3`` / ``6_2`` protocols for 10 classes (490..310, 580..220; 4,000 in all)."""
    if protocol not in _LINEAR_10:
        raise ValueError(f"protocol {protocol!r} has no per-class profile; expected one of {list(_LINEAR_10)}")
    if num_classes != 10:
        raise ValueError(f"the linear {protocol} profile is defined for 10 classes, not {num_classes}; "
                         "CIFAR-100 uses the published sampler (cfl_sampler)")
    start, step = _LINEAR_10[protocol]
    return start - step * np.arange(10, dtype=np.int64)


def cfl_sampler(dataset: str, protocol: str, num_train: int | None = None) -> np.ndarray:
    """The published CFL index list (``c10`` / ``c100``, ``5_3`` / ``6_2``) as int64 positions in the
    training archive order. Indices beyond ``num_train`` (a smaller training set) are an error."""
    path = SAMPLER_DIR / f"{dataset}_sampler{protocol}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no CFL sampler {path.name} in {SAMPLER_DIR} (datasets c10, c100; protocols 5_3, 6_2)")
    idx = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=1)
    if num_train is not None and idx.size and int(idx.max()) >= num_train:
        raise ValueError(f"{path.name}: index {int(idx.max())} is beyond the training set of {num_train} images")
    if np.unique(idx).size != idx.size:
        raise ValueError(f"{path.name}: repeated indices")
    return idx


def subset_4k(labels: np.ndarray, protocol: str, *, sampler: str | None = None, num_classes: int = 10) -> np.ndarray:
    """Training indices of a 4,000-image protocol: the first 4,000 (``balanced``), the published sampler
    ``sampler`` (``c10`` / ``c100``) when given, else the first images of each class (``5_3``, ``6_2``)."""
    labels = np.asarray(labels)
    if protocol not in CFL_PROTOCOLS:
        raise ValueError(f"unknown 4k protocol {protocol!r}; expected one of {list(CFL_PROTOCOLS)}")
    if protocol == "balanced":
        if labels.size < 4000:
            raise ValueError(f"the balanced protocol needs 4,000 training images, the set has {labels.size}")
        return np.arange(4000, dtype=np.int64)
    if sampler is not None:
        return np.sort(cfl_sampler(sampler, protocol, num_train=labels.size))
    return select_per_class(labels, protocol_4k_counts(protocol, num_classes), "first")
