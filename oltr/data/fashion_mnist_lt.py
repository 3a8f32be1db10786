"""Fashion-MNIST-LT: the bundled, offline long-tailed + open-set benchmark.

Built deterministically from Fashion-MNIST (Debian package ``dataset-fashion-mnist``, IDX files in
``/usr/share/datasets/fashion-mnist``) and laid out like ImageNet-LT, so the whole pipeline runs
through the same list + image-folder code path:

- ``train``: 8 known classes from the official train split, counts falling off exponentially from
  1000 to 8 (imbalance 125): 1000, 502, 252, 126, 63, 32, 16, 8 -> many / medium / few =
  4 / 2 / 2 classes under both the ``strict`` and ``oltr`` rules (no class sits on a boundary).
  Label ``k`` is the ``k``-th most frequent class (the CIFAR-LT convention).
- ``val`` (20 per class) and ``test`` (100 per class): balanced, disjoint, from the official test split.
- ``open``: 100 test-split images of each of the 2 held-out classes (Bag, Ankle boot), label ``-1``:
  classes never seen in training, like ImageNet-LT's open set.

Images are 28x28 greyscale PNGs under ``<out>/{train,test}/<class>/`` and ``<out>/open/``; lists
``FashionMNIST_LT_{train,val,test,open}.txt`` and ``meta.json`` sit in ``<out>``. The seed picks the
images; re-running with the same seed is a no-op.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.datasets import FashionMNIST

from oltr.atomic import write_text_atomic
from .lists import OPEN_LABEL, read_list, sha256_file, write_list

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FashionMNISTLTSpec",
    "default_source",
    "fashion_mnist_lt_paths",
    "load_fashion_mnist",
    "prepare_fashion_mnist_lt",
    "read_idx",
]

FASHION_MNIST_CLASSES = (
    "t-shirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)  # fmt: skip
SPLITS = ("train", "val", "test", "open")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_HOW_TO_GET = (
    "Fashion-MNIST not found in {where}. Install Debian's package: "
    "'sudo apt-get install dataset-fashion-mnist' (files in /usr/share/datasets/fashion-mnist), "
    "or pass a folder holding train-images-idx3-ubyte[.gz] etc. (--source / OLTR_FASHION_MNIST), "
    "or, with network access, download=True (oltr data prepare fashion_mnist_lt --download)."
)


@dataclass(frozen=True)
class FashionMNISTLTSpec:
    """Shape of the benchmark; part of ``meta.json``, so a change triggers a rebuild."""

    max_count: int = 1000
    min_count: int = 8
    held_out: tuple[int, ...] = (8, 9)
    val_per_class: int = 20
    test_per_class: int = 100
    open_per_class: int = 100
    version: int = 1

    @property
    def known(self) -> tuple[int, ...]:
        """Original Fashion-MNIST ids of the known classes, in label order."""
        return tuple(c for c in range(10) if c not in self.held_out)

    def train_counts(self) -> np.ndarray:
        """Exponential profile ``max * (min / max) ** (k / (K - 1))``, rounded."""
        k = len(self.known)
        frac = np.arange(k) / (k - 1)
        return np.round(self.max_count * (self.min_count / self.max_count) ** frac).astype(np.int64)


def default_source() -> Path:
    """``$OLTR_FASHION_MNIST`` or Debian's folder."""
    return Path(os.environ.get("OLTR_FASHION_MNIST", DEBIAN_DIR))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (optionally ``.gz``) into a numpy array of its declared shape and type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{data[2]:02x}")
    ndim = data[3]
    shape = tuple(int(x) for x in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {arr.size} values for declared shape {shape}")
    return arr.reshape(shape).astype(arr.dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_fashion_mnist(source: str | os.PathLike | None = None, download: bool = False) -> dict[str, tuple]:
    """Official splits as ``{'train': (images (N, 28, 28) uint8, labels (N,)), 'test': ...}``.

    Args:
        source: folder with the four IDX files (``.gz`` or not); default ``default_source()``.
        download: when the files are absent, fetch them with
            ``torchvision.datasets.FashionMNIST(download=True)`` into ``source`` (needs a network).

    Raises:
        FileNotFoundError: the files are absent and ``download`` is false; says how to get them.
    """
    folder = Path(source) if source is not None else default_source()
    found = {split: [_find(folder, stem) for stem in stems] for split, stems in _FILES.items()}
    if not all(p for pair in found.values() for p in pair):
        raw = folder / "FashionMNIST" / "raw"  # torchvision's layout
        found_raw = {split: [_find(raw, stem) for stem in stems] for split, stems in _FILES.items()}
        if all(p for pair in found_raw.values() for p in pair):
            found = found_raw
        elif download:
            for train in (True, False):
                FashionMNIST(str(folder), train=train, download=True)
            return load_fashion_mnist(folder, download=False)
        else:
            raise FileNotFoundError(_HOW_TO_GET.format(where=folder))
    out = {}
    for split, (img_path, lbl_path) in found.items():
        images, labels = read_idx(img_path), read_idx(lbl_path).astype(np.int64)
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise ValueError(f"{img_path}: unexpected shape {images.shape} for {labels.shape[0]} labels")
        out[split] = (images, labels)
    return out


def fashion_mnist_lt_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """List file of every split: ``{'train': <out>/FashionMNIST_LT_train.txt, ...}``; root = ``out_dir``."""
    out_dir = Path(out_dir)
    return {split: out_dir / f"FashionMNIST_LT_{split}.txt" for split in SPLITS}


def _select(
    rng: np.random.Generator, labels: np.ndarray, cls: int, n: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """``n`` distinct indices of class ``cls``, drawn without replacement (outside ``exclude``)."""
    pool = np.flatnonzero(labels == cls)
    if exclude is not None:
        pool = np.setdiff1d(pool, exclude, assume_unique=True)
    if n > pool.size:
        raise ValueError(f"class {cls}: {n} images requested, {pool.size} available")
    return rng.choice(pool, size=n, replace=False)


def _plan(splits: dict[str, tuple], spec: FashionMNISTLTSpec, seed: int) -> dict[str, list[tuple[str, int, int]]]:
    """Per split, rows ``(source split, source index, label)`` in list order."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20_240_901]))
    train_labels = splits["train"][1]
    test_labels = splits["test"][1]
    plan: dict[str, list[tuple[str, int, int]]] = {s: [] for s in SPLITS}
    for label, (cls, n) in enumerate(zip(spec.known, spec.train_counts())):
        plan["train"] += [("train", int(i), label) for i in _select(rng, train_labels, cls, int(n))]
        val = _select(rng, test_labels, cls, spec.val_per_class)
        test = _select(rng, test_labels, cls, spec.test_per_class, exclude=np.sort(val))
        plan["val"] += [("test", int(i), label) for i in val]
        plan["test"] += [("test", int(i), label) for i in test]
    for cls in spec.held_out:
        plan["open"] += [("test", int(i), OPEN_LABEL) for i in _select(rng, test_labels, cls, spec.open_per_class)]
    rng.shuffle(plan["open"])
    return plan


def _rel_path(split: str, source: str, index: int, cls: int) -> str:
    name = f"fmnist_{source}_{index:05d}.png"
    if split == "open":
        return f"open/{name}"
    return f"{source}/{FASHION_MNIST_CLASSES[cls]}/{name}"


def _is_complete(out_dir: Path, meta_expected: dict) -> bool:
    meta_path = out_dir / "meta.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError:
        return False
    if meta.get("seed") != meta_expected["seed"] or meta.get("spec") != meta_expected["spec"]:
        return False
    lists = fashion_mnist_lt_paths(out_dir)
    for split, path in lists.items():
        if not path.is_file() or sha256_file(path) != meta["lists"][split]["sha256"]:
            return False
    return all(
        (out_dir / rel).is_file() for split in SPLITS for rel in read_list(lists[split])[0]
    )


def prepare_fashion_mnist_lt(
    out_dir: str | os.PathLike,
    seed: int = 0,
    source: str | os.PathLike | None = None,
    *,
    spec: FashionMNISTLTSpec = FashionMNISTLTSpec(),
    download: bool = False,
    force: bool = False,
) -> Path:
    """Builds Fashion-MNIST-LT under ``out_dir`` (images, four lists, ``meta.json``).

    Args:
        out_dir: output folder; it becomes the dataset root of every list.
        seed: selects the images (the class profile is fixed by ``spec``).
        source: folder with the Fashion-MNIST IDX files; default Debian's folder.
        spec: counts and held-out classes.
        download: allow ``torchvision`` to download Fashion-MNIST when the files are absent.
        force: rebuild even if ``out_dir`` already holds this seed's complete dataset.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        FileNotFoundError: Fashion-MNIST is absent (the message says how to get it).
    """
    out_dir = Path(out_dir)
    expected = {"seed": int(seed), "spec": json.loads(json.dumps(asdict(spec)))}
    if not force and _is_complete(out_dir, expected):
        return out_dir
    splits = load_fashion_mnist(source, download=download)
    plan = _plan(splits, spec, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Write into a fresh folder next to out_dir, then move the pieces in: a crash leaves no
    # half-written dataset that looks complete (meta.json is written last).
    (out_dir / "meta.json").unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        written: dict[str, Path] = {}
        for split, rows in plan.items():
            rels, labels = [], []
            for source_split, index, label in rows:
                images, orig = splits[source_split]
                rel = _rel_path(split, source_split, index, int(orig[index]))
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[index]).save(target, optimize=False)
                rels.append(rel)
                labels.append(label)
            written[split] = write_list(staging / f"FashionMNIST_LT_{split}.txt", rels, labels)
        for sub in ("train", "test", "open"):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
            os.replace(staging / sub, out_dir / sub)
        lists = fashion_mnist_lt_paths(out_dir)
        for split in SPLITS:
            os.replace(written[split], lists[split])
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    counts = {split: np.bincount([r[2] for r in rows if r[2] >= 0], minlength=len(spec.known)).tolist()
              for split, rows in plan.items()}  # fmt: skip
    meta = {
        **expected,
        "num_classes": len(spec.known),
        "class_names": [FASHION_MNIST_CLASSES[c] for c in spec.known],
        "held_out_classes": [FASHION_MNIST_CLASSES[c] for c in spec.held_out],
        "source_class_ids": list(spec.known),
        "lists": {
            split: {"file": lists[split].name, "lines": len(plan[split]), "sha256": sha256_file(lists[split]),
                    "class_counts": counts[split]}
            for split in SPLITS
        },  # fmt: skip
    }
    write_text_atomic(out_dir / "meta.json", json.dumps(meta, indent=2) + "\n")
    return out_dir
