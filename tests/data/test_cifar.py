"""CIFAR python archives and the CIFAR-LT / 4k preparations, on synthetic archives in the real format."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from oltr.data import read_list
from oltr.data.cifar import load_cifar, prepare_cifar_4k, prepare_cifar_lt
from oltr.data.registry import DATASETS, prepare_dataset
from oltr.data.subsets import cfl_sampler, lt_class_counts

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cifar_archives import archive_labels, write_cifar  # noqa: E402


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root, 10, n_train=600, n_test=50)
    write_cifar(root, 100, n_train=700, n_test=100, seed=1, bytes_keys=False)
    return root


def test_load_reads_both_layouts_in_archive_order(archives):
    c10 = load_cifar(10, archives, check_sizes=False)
    images, labels = c10["train"]
    assert images.shape == (600, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, archive_labels(archives / "cifar-10-batches-py"))
    assert images[123, 5, 7].tolist() == [123, 123, 123]  # batch 1..5 concatenated in order
    c100 = load_cifar(100, archives / "cifar-100-python", check_sizes=False)  # the folder itself works too
    assert c100["test"][0].shape == (100, 32, 32, 3) and c100["train"][1].max() < 100


def test_channel_planes_become_rgb(tmp_path):
    folder = write_cifar(tmp_path, 100, n_train=2, n_test=1)
    d = pickle.loads((folder / "train").read_bytes())
    d[b"data"][0, :1024], d[b"data"][0, 1024:2048], d[b"data"][0, 2048:] = 10, 20, 30
    (folder / "train").write_bytes(pickle.dumps(d))
    assert load_cifar(100, tmp_path, check_sizes=False)["train"][0][0, 31, 0].tolist() == [10, 20, 30]


def test_errors_name_what_is_wrong(tmp_path, monkeypatch):
    monkeypatch.delenv("OLTR_CIFAR", raising=False)
    with pytest.raises(FileNotFoundError, match="set OLTR_CIFAR"):
        load_cifar(10)
    with pytest.raises(FileNotFoundError, match="no cifar-10-batches-py/ in"):
        load_cifar(10, tmp_path)
    folder = write_cifar(tmp_path, 10, n_train=50, n_test=10)
    with pytest.raises(ValueError, match="600 images, expected 50000|50 images, expected 50000"):
        load_cifar(10, tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="missing archive file .*data_batch_3"):
        load_cifar(10, tmp_path, check_sizes=False)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.update({b"data": d[b"data"][:, :100]}), r"shape \(10, 100\).*expected \(N, 3072\) uint8"),
    (lambda d: d.update({b"labels": [0] * 9}), "9 labels for 10 images"),
    (lambda d: d.update({b"labels": [0] * 9 + [10]}), "label 10 of image 9 outside 0..9"),
    (lambda d: d.pop(b"labels"), "no 'labels' entry"),
])
def test_bad_batches(tmp_path, damage, message):
    folder = write_cifar(tmp_path, 10, n_train=50, n_test=10)
    d = pickle.loads((folder / "test_batch").read_bytes())
    damage(d)
    (folder / "test_batch").write_bytes(pickle.dumps(d))
    with pytest.raises(ValueError, match=message) as err:
        load_cifar(10, tmp_path, check_sizes=False)
    assert "test_batch" in str(err.value)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="test_batch: not a CIFAR python batch"):
        load_cifar(10, tmp_path, check_sizes=False)


def test_cifar10_lt_lists(archives, tmp_path):
    out = prepare_cifar_lt(tmp_path / "lt", name="C10LT", imb_factor=5, selection="first", val_per_class=3,
                           source=archives, check_sizes=False)
    labels = archive_labels(archives / "cifar-10-batches-py")
    n_max = np.bincount(labels).max()
    paths, train = read_list(out / "C10LT_train.txt")
    assert np.bincount(train, minlength=10).tolist() == lt_class_counts(n_max, 10, 5).tolist()
    idx = np.array([int(Path(p).stem) for p in paths])
    np.testing.assert_array_equal(labels[idx], train)  # every image keeps its archive label
    for c in range(10):  # 'first': the first n_c images of the class in archive order
        assert idx[train == c].tolist() == np.flatnonzero(labels == c)[: (train == c).sum()].tolist()
    vpaths, val = read_list(out / "C10LT_val.txt")
    assert all(p.startswith("test/") for p in vpaths) and np.bincount(val).tolist() == [3] * 10
    _, test = read_list(out / "C10LT_test.txt")
    assert test.size == 50
    opaths, opened = read_list(out / "C10LT_open.txt")
    assert opened.size == 100 and (opened == -1).all() and opaths[0].startswith("open/cifar100_")
    img = np.asarray(Image.open(out / paths[5]))
    assert img.shape == (32, 32, 3) and (img == idx[5] % 251).all()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["key"]["imb_factor"] == 5
    # same arguments: a no-op; other arguments in the same folder: refused, nothing is mixed
    assert prepare_cifar_lt(out, name="C10LT", imb_factor=5, selection="first", val_per_class=3,
                            source=archives, check_sizes=False) == out
    with pytest.raises(ValueError, match="holds another prepared dataset"):
        prepare_cifar_lt(out, name="C10LT", imb_factor=10, selection="first", val_per_class=3, source=archives,
                         check_sizes=False)


def test_open_set_needs_the_other_archive_or_a_list(tmp_path):
    root = tmp_path / "only10"
    write_cifar(root, 10, n_train=600, n_test=20)
    with pytest.raises(FileNotFoundError, match="open set is the CIFAR-100 test set; set data.prepare_args.open_set"):
        prepare_cifar_lt(tmp_path / "a", name="X", imb_factor=2, source=root, check_sizes=False, val_per_class=2)
    out = prepare_cifar_lt(tmp_path / "b", name="X", imb_factor=2, source=root, check_sizes=False, val_per_class=2,
                           open_set="none")
    assert not (out / "X_open.txt").exists()
    user = tmp_path / "my_open.txt"
    user.write_text("svhn/1.png 3\nsvhn/2.png -1\n")
    out = prepare_cifar_lt(tmp_path / "c", name="X", imb_factor=2, source=root, check_sizes=False, val_per_class=2,
                           open_set=str(user))
    assert read_list(out / "X_open.txt") == (["svhn/1.png", "svhn/2.png"], pytest.approx(np.array([-1, -1])))
    with pytest.raises(FileNotFoundError, match="open_set list not found"):
        prepare_cifar_lt(tmp_path / "d", name="X", source=root, open_set=str(tmp_path / "nope.txt"))


def test_cifar100_lt_ldam_selection_through_the_registry(archives, tmp_path):
    out = prepare_dataset("cifar100_lt", tmp_path / "c100", data_name="C100LT", imb_factor=2, val_per_class=1,
                          source=str(archives), check_sizes=False)
    _, train = read_list(out / "C100LT_train.txt")
    labels = archive_labels(archives / "cifar-100-python")
    assert np.bincount(train, minlength=100).tolist() == lt_class_counts(np.bincount(labels).max(), 100, 2).tolist()
    assert DATASETS.get("cifar100_lt").meta["num_classes"] == 100


def test_cifar10_4k_uses_the_published_sampler(tmp_path):
    from oltr.data.subsets import subset_4k

    labels = np.arange(6000) % 10
    assert subset_4k(labels, "6_2", sampler="c10").tolist() == sorted(cfl_sampler("c10", "6_2").tolist())
    small = tmp_path / "small"
    write_cifar(small, 10, n_train=5000, n_test=20)
    with pytest.raises(ValueError, match="index 5860 is beyond the training set of 5000"):
        prepare_cifar_4k(tmp_path / "4k_small", name="CIFAR10_4k_6_2", protocol="6_2", source=small,
                         check_sizes=False)
    with pytest.raises(ValueError, match="unknown protocol"):
        prepare_cifar_4k(tmp_path / "x", name="CIFAR10_4k_7_1", protocol="7_1", source=small)


def test_registry_refuses_a_list_prefix_it_does_not_write(tmp_path):
    with pytest.raises(ValueError, match="not written by dataset 'cifar10_4k'"):
        prepare_dataset("cifar10_4k", tmp_path, data_name="CIFAR10_4k_7_1")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10lt'.*Did you mean 'cifar10_lt'"):
        prepare_dataset("cifar10lt", tmp_path)
