"""Synthetic CIFAR python archives in the real format (pickled dicts with ``data`` (N, 3072) uint8 and
``labels`` / ``fine_labels``, latin1 byte keys as the official files), for the loader tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar(root: Path, num_classes: int = 10, n_train: int = 600, n_test: int = 100, *, seed: int = 0,
                bytes_keys: bool = True) -> Path:
    """Writes ``cifar-10-batches-py`` (5 train batches + test_batch) or ``cifar-100-python`` (train, test)
    under ``root``. Each batch holds every class equally often (as the real archives) in a shuffled
    order, so that archive order matters; image ``i`` has every pixel equal to ``i % 251`` so tests can tell images apart."""
    rng = np.random.default_rng(seed)
    key = "labels" if num_classes == 10 else "fine_labels"

    def batch(n: int, offset: int) -> dict:
        labels = rng.permutation(np.arange(n) % num_classes).tolist()  # balanced, as the real archives
        data = ((np.arange(offset, offset + n) % 251).astype(np.uint8)[:, None] * np.ones((1, 3072), np.uint8))
        d = {"data": data, key: labels, "filenames": [f"img{i}.png" for i in range(offset, offset + n)]}
        return {k.encode(): v for k, v in d.items()} if bytes_keys else d

    if num_classes == 10:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        per = n_train // 5
        for b in range(5):
            (folder / f"data_batch_{b + 1}").write_bytes(pickle.dumps(batch(per, b * per)))
        (folder / "test_batch").write_bytes(pickle.dumps(batch(n_test, 0)))
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "train").write_bytes(pickle.dumps(batch(n_train, 0)))
        (folder / "test").write_bytes(pickle.dumps(batch(n_test, 0)))
    return folder


def archive_labels(folder: Path, split: str = "train") -> np.ndarray:
    """Labels of a written archive in archive order (read back independently of oltr)."""
    files = ([f"data_batch_{b}" for b in range(1, 6)] if folder.name.startswith("cifar-10-") else ["train"]) \
        if split == "train" else (["test_batch"] if folder.name.startswith("cifar-10-") else ["test"])
    out = []
    for name in files:
        d = pickle.loads((folder / name).read_bytes())
        d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
        out += d.get("labels", d.get("fine_labels"))
    return np.asarray(out)
