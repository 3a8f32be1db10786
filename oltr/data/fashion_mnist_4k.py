"""Fashion-MNIST-4k: the CFL paper's three 4,000-image protocols (its Table 2) applied to Fashion-MNIST.

All 10 classes are known; from the official training split (IDX order):

- ``balanced``: the first 4,000 images (whatever their classes; about 400 each), as the paper took
  the first 4,000 CIFAR images;
- ``5_3``: the first 490, 470, ..., 310 images of classes 0..9 (4,000 in all);
- ``6_2``: the first 580, 540, ..., 220 images of classes 0..9 (how the paper built its CIFAR-10
  samplers: "we take the first 490 examples of the first class ...").

Val: the last 100 training images of each class (never in any protocol's training set). Test: the
official 10,000-image test split. No open set (Table 2 has none). The three protocols share one
folder of PNGs; their lists are ``FashionMNIST_4k_<protocol>_{train,val,test}.txt``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .export import ListSpec, export_lists, is_prepared
from .fashion_mnist_lt import FASHION_MNIST_CLASSES, load_fashion_mnist
from .subsets import CFL_PROTOCOLS, subset_4k, unused_per_class

__all__ = ["FASHION_MNIST_4K_NAMES", "prepare_fashion_mnist_4k"]

#: List prefix (``data.name``) of each protocol.
FASHION_MNIST_4K_NAMES = {p: f"FashionMNIST_4k_{p}" for p in CFL_PROTOCOLS}
VAL_PER_CLASS = 100


def prepare_fashion_mnist_4k(out_dir: str | os.PathLike, source: str | os.PathLike | None = None) -> Path:
    """Writes the three protocols' lists (and the images they use) under ``out_dir``; a no-op when done."""
    out_dir = Path(out_dir)
    key = {"dataset": "fashion_mnist_4k", "protocols": list(CFL_PROTOCOLS), "val_per_class": VAL_PER_CLASS,
           "version": 1}
    if is_prepared(out_dir, key):
        return out_dir
    splits = load_fashion_mnist(source)
    images, labels = splits["train"]
    test_images, test_labels = splits["test"]
    chosen = {p: subset_4k(labels, p) for p in CFL_PROTOCOLS}
    val = unused_per_class(labels, np.unique(np.concatenate(list(chosen.values()))), VAL_PER_CLASS, 10)

    def spec(split: str, imgs: np.ndarray, lbls: np.ndarray, idx: np.ndarray) -> ListSpec:
        return ListSpec(imgs[idx], lbls[idx], [f"{split}/{FASHION_MNIST_CLASSES[lbls[i]]}/{int(i):05d}.png" for i in idx])

    test = spec("test", test_images, test_labels, np.arange(len(test_labels)))
    lists: dict[str, ListSpec] = {}
    for protocol, name in FASHION_MNIST_4K_NAMES.items():
        lists[f"{name}_train.txt"] = spec("train", images, labels, chosen[protocol])
        lists[f"{name}_val.txt"] = spec("train", images, labels, val)
        lists[f"{name}_test.txt"] = test
    return export_lists(out_dir, lists, key, extra={"num_classes": 10, "class_names": list(FASHION_MNIST_CLASSES)})
