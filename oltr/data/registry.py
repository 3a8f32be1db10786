"""Dataset registry: each benchmark the project can prepare (or check) by name, with its facts.

``data.prepare: <name>`` in a config (or ``oltr data prepare <name>``) calls the entry's builder as
``builder(out_dir, name=<data.name>, **data.prepare_args)``; it writes the lists
``<data.name>_{train,val,test[,open]}.txt`` and their images under ``out_dir`` and returns at once when
they are already there. Metadata on each entry:

- ``num_classes``: known classes;
- ``data_names``: the list prefixes (``data.name``) it writes; ``None`` = whatever ``name`` says;
- ``open_set``: where its open-set images come from (``None``: no open set);
- ``source``: what the user must have on disk (nothing is downloaded).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from oltr.registry import Registry

from .cifar import prepare_cifar_4k, prepare_cifar_lt
from .fashion_mnist_4k import prepare_fashion_mnist_4k
from .fashion_mnist_lt import prepare_fashion_mnist_lt
from .subsets import CFL_PROTOCOLS

__all__ = ["DATASETS", "prepare_dataset"]

DATASETS: Registry = Registry("dataset")


def prepare_dataset(name: str, out_dir: str | os.PathLike, *, data_name: str | None = None, **args: Any) -> Path:
    """Prepare the registered dataset ``name`` under ``out_dir`` (list prefix ``data_name``)."""
    entry = DATASETS.get(name)
    names = entry.meta.get("data_names")
    if data_name is None:
        if names is None or len(names) != 1:
            raise ValueError(f"dataset {name!r}: give the list prefix (data.name); one of {names}" if names
                             else f"dataset {name!r}: give the list prefix (data.name)")
        data_name = names[0]
    if names is not None and data_name not in names:
        raise ValueError(f"data.name {data_name!r} is not written by dataset {name!r}; it writes {', '.join(names)}")
    return Path(entry.builder(Path(out_dir), name=data_name, **args))


@DATASETS.register("fashion_mnist_lt", num_classes=8, data_names=["FashionMNIST_LT"],
                   open_set="the 2 held-out Fashion-MNIST classes (Bag, Ankle boot)",
                   source="Debian's dataset-fashion-mnist (or $OLTR_FASHION_MNIST)")
def _fashion_mnist_lt(out_dir: Path, *, name: str, seed: int = 0, source: str | None = None) -> Path:
    """Fashion-MNIST-LT: 8 classes, 1000..8 training images (imbalance 125) + 2 open classes."""
    return prepare_fashion_mnist_lt(out_dir, seed=seed, source=source)


@DATASETS.register("fashion_mnist_4k", num_classes=10, data_names=[f"FashionMNIST_4k_{p}" for p in CFL_PROTOCOLS],
                   open_set=None, source="Debian's dataset-fashion-mnist (or $OLTR_FASHION_MNIST)")
def _fashion_mnist_4k(out_dir: Path, *, name: str, source: str | None = None) -> Path:
    """Fashion-MNIST with the CFL paper's three 4,000-image protocols (balanced, 5/3, 6/2)."""
    return prepare_fashion_mnist_4k(out_dir, source=source)


def _register_cifar(k: int) -> None:
    other = 100 if k == 10 else 10

    @DATASETS.register(f"cifar{k}_lt", num_classes=k, data_names=None,
                       args=("imb_factor", "profile", "selection", "seed", "val_per_class", "open_set", "source",
                             "check_sizes"),
                       open_set=f"the CIFAR-{other} test set (or a user list, or none)",
                       source=f"cifar-{k}-python archive folder in $OLTR_CIFAR")
    def _lt(out_dir: Path, *, name: str, **args: Any) -> Path:
        return prepare_cifar_lt(out_dir, name=name, num_classes=k, **args)

    _lt.__doc__ = f"CIFAR-{k}-LT: exponential (or step) long tail, imbalance factor 100 / 50 / 10."

    @DATASETS.register(f"cifar{k}_4k", num_classes=k, data_names=[f"CIFAR{k}_4k_{p}" for p in CFL_PROTOCOLS],
                       args=("val_per_class", "source", "check_sizes"),
                       open_set=None, source=f"cifar-{k}-python archive folder in $OLTR_CIFAR")
    def _4k(out_dir: Path, *, name: str, **args: Any) -> Path:
        protocol = name.removeprefix(f"CIFAR{k}_4k_")
        return prepare_cifar_4k(out_dir, name=name, num_classes=k, protocol=protocol, **args)

    _4k.__doc__ = f"CIFAR-{k} with the CFL paper's 4,000-image protocols (first 4,000; published 5/3, 6/2 samplers)."


for _k in (10, 100):
    _register_cifar(_k)


@DATASETS.register("inaturalist2018", num_classes=8142, data_names=["iNaturalist18"], open_set=None,
                   source="the iNaturalist 2018 images and the Decoupling repository's lists (user-supplied)",
                   counts={"train": 437_513, "val": 24_426})
def _inaturalist(out_dir: Path, *, name: str) -> Path:
    """iNaturalist 2018 (8,142 classes): nothing to prepare, the lists are the user's."""
    raise ValueError("iNaturalist 2018 is not prepared by oltr: put the Decoupling repository's "
                     "iNaturalist18_{train,val}.txt lists in data.lists and the images under data.root, "
                     "and check them with 'oltr data verify --dataset iNaturalist18'")
