"""Seeded, resumable, DDP-sharded samplers: instance-balanced (stage 1) and class-aware (stage 2).

Both samplers build one *global* index stream per epoch from ``(seed, epoch)`` only, so a resumed run
replays it exactly. Under DistributedDataParallel rank ``r`` of ``W`` takes ``stream[r::W]`` (the
``DistributedSampler`` convention): the ranks' shards are disjoint, cover the stream, and local batch
``k`` of every rank together hold exactly the elements of global batch ``k`` of a single process with
batch ``W x`` the local batch.

Epoch length follows the reference: floor(N / batch) steps whatever the sampler
(``epoch_num_samples``); the engine passes that as ``num_samples``.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["InstanceSampler", "ClassAwareSampler", "steps_per_epoch", "epoch_num_samples"]


def steps_per_epoch(num_items: int, batch_size: int) -> int:
    """The reference's epoch length: ``floor(num_items / batch_size)`` steps.

    Example:
        >>> steps_per_epoch(115_846, 128)
        905
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return num_items // batch_size


def epoch_num_samples(num_items: int, batch_size: int) -> int:
    """Samples drawn per epoch under the reference rule: ``floor(N / B) * B``."""
    return steps_per_epoch(num_items, batch_size) * batch_size


class _ShardedEpochSampler(Sampler[int]):
    """Common part: (seed, epoch) -> global stream -> strided shard of this rank."""

    kind = "base"

    def __init__(self, seed: int, num_replicas: int, rank: int) -> None:
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0

    @property
    def total_size(self) -> int:
        """Length of the global stream (all ranks together)."""
        raise NotImplementedError

    def global_indices(self, epoch: int | None = None) -> np.ndarray:
        """The global stream of ``epoch`` (default: the current one), shape ``(total_size,)``."""
        raise NotImplementedError

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch whose stream ``__iter__`` yields."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to replay the stream: kind, seed and epoch."""
        return {"kind": self.kind, "seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``seed`` and ``epoch`` saved by ``state_dict``."""
        if state.get("kind", self.kind) != self.kind:
            raise ValueError(f"state of a {state['kind']!r} sampler given to a {self.kind!r} sampler")
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_indices()[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.total_size // self.num_replicas


class InstanceSampler(_ShardedEpochSampler):
    """Instance-balanced sampling: a seeded permutation per epoch (stage 1, evaluation).

    Args:
        num_items: dataset size ``N``.
        seed: run seed.
        num_replicas: DDP world size.
        rank: this process's rank.
        shuffle: permute (training) or keep the list order (evaluation).
        num_samples: global samples per epoch; default ``N``. More than ``N`` chains permutations.
        drop_last: truncate the stream to a multiple of ``num_replicas``; otherwise it is padded by
            wrapping around (duplicates are recognisable by the index ``ImageListDataset`` returns).

    Example:
        >>> s = InstanceSampler(10, seed=0, num_replicas=2, rank=1, shuffle=False)
        >>> list(s)
        [1, 3, 5, 7, 9]
    """

    kind = "instance"

    def __init__(
        self,
        num_items: int,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        *,
        num_samples: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(seed, num_replicas, rank)
        if num_items <= 0:
            raise ValueError(f"num_items must be positive, got {num_items}")
        self.num_items = int(num_items)
        self.shuffle = shuffle
        self.num_samples = int(num_samples) if num_samples is not None else self.num_items
        self.drop_last = drop_last

    @property
    def total_size(self) -> int:
        w = self.num_replicas
        return (self.num_samples // w) * w if self.drop_last else math.ceil(self.num_samples / w) * w

    def global_indices(self, epoch: int | None = None) -> np.ndarray:
        epoch = self.epoch if epoch is None else epoch
        n, m = self.num_items, self.num_samples
        if self.shuffle:
            rng = self._rng(epoch)
            rounds = math.ceil(m / n)
            stream = rng.permuted(np.tile(np.arange(n, dtype=np.int64), (rounds, 1)), axis=1).ravel()[:m]
        else:
            stream = np.arange(m, dtype=np.int64) % n
        return np.resize(stream, self.total_size)


class ClassAwareSampler(_ShardedEpochSampler):
    """Class-aware sampling of OLTR stage 2.

    A class cycle visits the classes in a random order, reshuffled after every full pass; each visit
    takes ``num_samples_cls`` consecutive indices from that class's own cycle over its samples,
    reshuffled whenever exhausted (tiny classes repeat). Within an epoch every class is therefore
    visited ``floor(V / K)`` or ``ceil(V / K)`` times for ``V`` visits over ``K`` classes. Unlike the
    reference (unseeded Python ``random``, state carried across epochs), the cycles restart each
    epoch from ``(seed, epoch)``. Open-set labels (``-1``) and classes without samples are ignored.

    Args:
        labels: training labels, shape ``(N,)``.
        num_samples_cls: consecutive draws per class visit (4 in the reference).
        num_samples: global samples per epoch; default the reference's nominal
            ``max_class_count x K``. The engine passes ``epoch_num_samples(N, batch)``.
        seed: run seed.
        num_replicas: DDP world size.
        rank: this process's rank.

    Example:
        >>> s = ClassAwareSampler([0, 0, 0, 1], num_samples_cls=2, num_samples=8)
        >>> np.bincount(np.asarray(s.global_indices()) // 3)  # two visits per class
        array([4, 4])
    """

    kind = "class_aware"

    def __init__(
        self,
        labels: np.ndarray,
        num_samples_cls: int = 4,
        num_samples: int | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(seed, num_replicas, rank)
        if num_samples_cls < 1:
            raise ValueError(f"num_samples_cls must be >= 1, got {num_samples_cls}")
        labels = np.asarray(labels, dtype=np.int64)
        known = np.flatnonzero(labels >= 0)
        if known.size == 0:
            raise ValueError("ClassAwareSampler needs at least one labelled (>= 0) sample")
        order = known[np.argsort(labels[known], kind="stable")]
        self.classes, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
        self._members = np.split(order, starts[1:])
        self.num_samples_cls = int(num_samples_cls)
        nominal = int(counts.max()) * len(self.classes)
        self.num_samples = int(num_samples) if num_samples is not None else nominal
        if self.num_samples <= 0:
            raise ValueError(f"num_samples must be positive, got {self.num_samples}")

    @property
    def num_classes(self) -> int:
        """Number of classes in the cycle (labels with at least one sample)."""
        return len(self.classes)

    @property
    def total_size(self) -> int:
        return math.ceil(self.num_samples / self.num_replicas) * self.num_replicas

    def visit_classes(self, epoch: int | None = None) -> np.ndarray:
        """Class id of every visit of the epoch, in order (the class cycle)."""
        return self.classes[self._visits(self._rng(self.epoch if epoch is None else epoch))]

    def _visits(self, rng: np.random.Generator) -> np.ndarray:
        n_visits = math.ceil(self.total_size / self.num_samples_cls)
        passes = math.ceil(n_visits / self.num_classes)
        return rng.permuted(np.tile(np.arange(self.num_classes), (passes, 1)), axis=1).ravel()[:n_visits]

    def global_indices(self, epoch: int | None = None) -> np.ndarray:
        epoch = self.epoch if epoch is None else epoch
        rng = self._rng(epoch)
        visits = self._visits(rng)  # positions into self.classes
        draws = np.empty((len(visits), self.num_samples_cls), dtype=np.int64)
        per_class_visits = np.bincount(visits, minlength=self.num_classes)
        by_class = np.split(np.argsort(visits, kind="stable"), np.cumsum(per_class_visits)[:-1])
        for c, where in enumerate(by_class):  # one vectorised cycle per class
            if where.size == 0:
                continue
            members = self._members[c]
            need = where.size * self.num_samples_cls
            rounds = math.ceil(need / len(members))
            cycle = rng.permuted(np.tile(members, (rounds, 1)), axis=1).ravel()[:need]
            draws[where] = cycle.reshape(-1, self.num_samples_cls)
        return draws.ravel()[: self.total_size]
