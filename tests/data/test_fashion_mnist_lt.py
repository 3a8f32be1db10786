from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from oltr.data import (
    class_counts,
    fashion_mnist_lt_paths,
    imbalance_ratio,
    prepare_fashion_mnist_lt,
    read_list,
    sha256_file,
    shot_groups,
)
from oltr.data.fashion_mnist_lt import load_fashion_mnist, read_idx

COMMITTED = Path(__file__).resolve().parents[2] / "data_lists" / "FashionMNIST_LT"


def test_regenerated_lists_equal_the_committed_ones(fmnist_lt):
    sums = dict(line.split()[::-1] for line in (COMMITTED / "SHA256SUMS").read_text().splitlines())
    for split, path in fashion_mnist_lt_paths(fmnist_lt).items():
        assert path.read_bytes() == (COMMITTED / path.name).read_bytes(), split
        assert sha256_file(path) == sums[path.name]
    assert json.loads((fmnist_lt / "meta.json").read_text()) == json.loads((COMMITTED / "meta.json").read_text())


def test_long_tail_with_every_shot_group_populated(fmnist_lt):
    _, labels = read_list(fashion_mnist_lt_paths(fmnist_lt)["train"], num_classes=8)
    counts = class_counts(labels, 8)
    assert counts.tolist() == [1000, 502, 252, 126, 63, 32, 16, 8]
    assert imbalance_ratio(counts) >= 100
    for rule in ("strict", "oltr"):
        assert all(len(ids) > 0 for ids in shot_groups(counts, rule).values())


def test_val_test_balanced_disjoint_and_open_set_unseen(fmnist_lt, fashion_mnist_dir):
    lists = fashion_mnist_lt_paths(fmnist_lt)
    val_paths, val_labels = read_list(lists["val"], 8)
    test_paths, test_labels = read_list(lists["test"], 8)
    open_paths, open_labels = read_list(lists["open"], 8)
    train_paths, _ = read_list(lists["train"], 8)
    assert np.bincount(val_labels).tolist() == [20] * 8
    assert np.bincount(test_labels).tolist() == [100] * 8
    assert len(open_paths) == 200 and (open_labels == -1).all()
    assert not set(val_paths) & set(test_paths)
    assert not set(open_paths) & (set(val_paths) | set(test_paths))
    assert all(p.startswith("train/") for p in train_paths)
    assert all(p.startswith("test/") for p in val_paths + test_paths)
    # open images are official test images of the two held-out classes (bag, ankle boot)
    _, official = load_fashion_mnist(fashion_mnist_dir)["test"]
    ids = [int(p.rsplit("_", 1)[1].split(".")[0]) for p in open_paths]
    assert set(official[ids].tolist()) == {8, 9}
    assert np.bincount(official[ids]).tolist()[8:] == [100, 100]


def test_images_are_the_official_pixels(fmnist_lt, fashion_mnist_dir):
    from PIL import Image

    images, _ = load_fashion_mnist(fashion_mnist_dir)["train"]
    rel = read_list(fashion_mnist_lt_paths(fmnist_lt)["train"])[0][0]
    index = int(rel.rsplit("_", 1)[1].split(".")[0])
    assert np.array_equal(np.array(Image.open(fmnist_lt / rel)), images[index])


def test_prepare_is_an_idempotent_fast_no_op(fmnist_lt, fashion_mnist_dir):
    listing = fashion_mnist_lt_paths(fmnist_lt)["train"]
    before = os.stat(listing).st_mtime_ns
    start = time.perf_counter()
    prepare_fashion_mnist_lt(fmnist_lt, seed=0, source=fashion_mnist_dir)
    assert time.perf_counter() - start < 2.0
    assert os.stat(listing).st_mtime_ns == before


def test_other_seed_other_images(tmp_path, fashion_mnist_dir, fmnist_lt):
    out = prepare_fashion_mnist_lt(tmp_path / "s1", seed=1, source=fashion_mnist_dir)
    a = read_list(fashion_mnist_lt_paths(out)["train"])
    b = read_list(fashion_mnist_lt_paths(fmnist_lt)["train"])
    assert a[0] != b[0] and np.array_equal(np.bincount(a[1]), np.bincount(b[1]))


def test_missing_source_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        prepare_fashion_mnist_lt(tmp_path / "out", source=tmp_path / "empty")


def test_read_idx_rejects_other_files(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(bad)
