"""Fixtures of the data tests: a prepared Fashion-MNIST-LT and tiny image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from oltr.data import prepare_fashion_mnist_lt


@pytest.fixture(scope="session")
def fmnist_lt(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_dir: Path) -> Path:
    """Fashion-MNIST-LT (seed 0) prepared once per session."""
    return prepare_fashion_mnist_lt(tmp_path_factory.mktemp("fmnist_lt"), seed=0, source=fashion_mnist_dir)


def make_images(root: Path, n: int = 6, size: tuple[int, int] = (40, 30), fmt: str = "JPEG") -> list[str]:
    """Writes ``n`` random RGB images ``cls<k>/img<i>.<ext>`` under ``root``; returns relative paths."""
    rng = np.random.default_rng(0)
    ext = "jpg" if fmt == "JPEG" else fmt.lower()
    rels = []
    for i in range(n):
        rel = f"cls{i % 2}/img{i}.{ext}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(root / rel, fmt)
        rels.append(rel)
    return rels


@pytest.fixture()
def image_folder(tmp_path: Path) -> tuple[Path, Path]:
    """(root, list file) with six 40x30 JPEGs over two classes."""
    rels = make_images(tmp_path)
    lst = tmp_path / "list.txt"
    lst.write_text("".join(f"{r} {i % 2}\n" for i, r in enumerate(rels)))
    return tmp_path, lst
