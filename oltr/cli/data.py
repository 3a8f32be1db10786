"""``oltr data``: verify official lists, print list statistics, prepare Fashion-MNIST-LT.

Examples::

    oltr data prepare fashion_mnist_lt --out data/FashionMNIST_LT --seed 0
    oltr data verify --dataset Places_LT --lists /data/lists --root /data/places365 --sample 1000
    oltr data stats /data/lists/Places_LT/Places_LT_train.txt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from oltr.cli._progress import add_progress_option, progress_enabled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="split lists: verify, statistics, prepare Fashion-MNIST-LT",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.set_defaults(func=lambda args: p.error("choose a data command"))
    cmds = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")

    v = cmds.add_parser("verify", help="check lists (against the manifest for the bundled datasets) and images")
    v.add_argument("--dataset", required=True,
                   help="ImageNet_LT, Places_LT, FashionMNIST_LT, or your own dataset's name (lists <name>_<split>.txt)")
    v.add_argument("--lists", required=True, type=Path, help="folder holding the split lists")
    v.add_argument("--root", type=Path, help="dataset root the list paths are relative to (omit: no image check)")
    v.add_argument("--open-root", type=Path, help="root of the open-set images (default: ROOT/<dataset>_open)")
    v.add_argument("--sample", type=int, metavar="N", help="check N random images per list instead of all")
    v.add_argument("--seed", type=int, default=0, help="seed of --sample")
    v.add_argument("--manifest", type=Path, help="manifest file (default: data_lists/manifest.json)")
    add_progress_option(v)
    v.set_defaults(func=run_verify)

    s = cmds.add_parser("stats", help="class statistics and shot groups of a list")
    s.add_argument("list", type=Path, help="split list, or a class-count .tsv (label, train_count)")
    s.add_argument("--num-classes", type=int, help="declared number of classes (default: max label + 1)")
    s.add_argument("--rule", choices=("strict", "oltr", "both"), default="both", help="shot-group rule")
    s.set_defaults(func=run_stats)

    from oltr.data.registry import DATASETS

    r = cmds.add_parser("prepare", help="build a registered dataset from files you have (fashion_mnist_lt, cifar10_lt, ...)")
    r.add_argument("name", choices=DATASETS.names(), help="registered dataset")
    r.add_argument("--out", type=Path, default=None, help="output folder (default: data/<list prefix>)")
    r.add_argument("--data-name", default=None, help="list prefix (data.name), e.g. CIFAR10_LT_IF50")
    r.add_argument("--arg", dest="prepare_args", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="preparation arguments (data.prepare_args), e.g. imb_factor=50 profile=step")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--source", type=Path, help="folder with the source files (Fashion-MNIST IDX files, default "
                   "Debian's; CIFAR: the folder holding cifar-10-batches-py/, default $OLTR_CIFAR)")
    r.add_argument("--download", action="store_true", help="download Fashion-MNIST if absent (needs network)")
    r.add_argument("--force", action="store_true", help="rebuild even if complete")
    r.set_defaults(func=run_prepare)


def _print_stats(counts: np.ndarray, rules: tuple[str, ...], title: str) -> None:
    from oltr.data import imbalance_ratio, stats_table

    k = len(counts)
    spread = f"per class min {counts.min()} / median {np.median(counts):g} / max {counts.max()}"
    print(f"{title}: {k} classes, {int(counts.sum()):,} images, {spread}, imbalance ratio {imbalance_ratio(counts):g}")
    print(stats_table(counts, rules).to_string(index=False))


def run_stats(args: argparse.Namespace) -> int:
    from oltr.data import class_counts, read_list
    from oltr.data.manifest import read_class_counts_tsv

    rules = ("strict", "oltr") if args.rule == "both" else (args.rule,)
    if args.list.suffix == ".tsv":
        counts = read_class_counts_tsv(args.list)
        _print_stats(counts, rules, args.list.name)
        return 0
    from oltr.data import ListFormatError

    try:
        paths, labels = read_list(args.list, args.num_classes)
    except (FileNotFoundError, ListFormatError) as err:  # the message names the file and line
        print(f"oltr data stats: {err}", file=sys.stderr)
        return 1
    n_open = int((labels < 0).sum())
    print(f"{args.list}: {len(paths):,} lines, {n_open:,} open-set (-1)")
    known = labels[labels >= 0]
    if known.size:
        k = args.num_classes or int(known.max()) + 1
        _print_stats(class_counts(labels, k), rules, args.list.name)
    return 0


def _check_images(root: Path, rels: list[str], sample: int | None, seed: int, desc: str,
                  progress: bool = True) -> list[str]:
    import os

    from tqdm import tqdm

    if sample is not None and sample < len(rels):
        pick = np.sort(np.random.default_rng(seed).choice(len(rels), size=sample, replace=False))
        rels = [rels[i] for i in pick]
    missing = []
    for rel in tqdm(rels, desc=desc, unit="img", leave=False, file=sys.stderr, mininterval=0.5, disable=not progress):
        if not os.path.isfile(os.path.join(root, rel)):
            missing.append(rel)
    return missing


def run_verify(args: argparse.Namespace) -> int:
    from oltr.data import class_counts, read_list
    from oltr.data.manifest import load_manifest, split_overlaps, train_counts_from_manifest, verify_lists

    manifest = load_manifest(args.manifest)
    entry = manifest["datasets"].get(args.dataset)
    if entry is None and _registered_counts(args.dataset) is not None:  # iNaturalist: published list sizes
        return _verify_counts(args)
    if entry is None:  # a user's own dataset: the lists' own consistency, no published checksums
        return _verify_user_lists(args, sorted(manifest["datasets"]))
    checks = verify_lists(args.dataset, args.lists, manifest)
    ok = True
    print(f"{args.dataset}: lists in {args.lists}")
    for c in checks:
        where = f" ({c.path}, layout {c.layout})" if c.path and c.layout else (f" ({c.path})" if c.path else "")
        print(f"  {c.split:<5} {c.status.upper():<8} {c.message}{where}")
        ok &= c.ok

    # Known-class splits share one image root and must not share images (ImageNet-LT's train and val
    # lists both come from the ILSVRC train folder; only a user-supplied train list can be checked).
    found = {c.split: read_list(c.path)[0] for c in checks if c.path is not None and c.split != "open"}
    for (a, b), shared in split_overlaps(found).items():
        status = "OK" if not shared else f"{len(shared):,} SHARED (first: {shared[0]})"
        print(f"  {a} & {b} disjoint: {status}")
        ok &= not shared

    if args.root is not None:
        open_root = args.open_root or (args.root / entry["open_subdir"] if entry["open_subdir"] else args.root)
        for c in checks:
            if c.path is None:
                continue
            rels, _ = read_list(c.path)
            root = open_root if c.split == "open" else args.root
            start = time.perf_counter()
            missing = _check_images(root, rels, args.sample, args.seed, f"{c.split} images",
                                     progress_enabled(args.progress))
            n = min(len(rels), args.sample) if args.sample else len(rels)
            status = "OK" if not missing else f"{len(missing):,} MISSING (first: {root / missing[0]})"
            print(f"  {c.split:<5} images: {n:,} checked under {root} in {time.perf_counter() - start:.1f}s: {status}")
            ok &= not missing
    else:
        print("  images: not checked (no --root)")

    train = next((c for c in checks if c.split == "train" and c.path is not None), None)
    if train is not None:
        _, labels = read_list(train.path, entry["num_classes"])
        counts, source = class_counts(labels, entry["num_classes"]), train.path.name
    else:
        counts, source = train_counts_from_manifest(args.dataset, manifest), "train class counts in the manifest"
    print()
    _print_stats(counts, ("strict", "oltr"), f"{args.dataset} train ({source})")
    return 0 if ok else 1


def _verify_user_lists(args: argparse.Namespace, known: list[str]) -> int:
    from oltr.data import class_counts, read_list
    from oltr.data.checks import missing_classes_message, verify_user_lists
    from oltr.data.manifest import split_overlaps

    checks = verify_user_lists(args.dataset, args.lists)
    print(f"{args.dataset}: lists {args.lists}/{args.dataset}_<split>.txt (not in the manifest of "
          f"{', '.join(known)}: no published checksums to compare)")
    ok = True
    for split, path, problem in checks:
        status = "MISSING" if path is None and problem else ("ABSENT" if path is None else
                                                              ("BAD" if problem else "OK"))
        print(f"  {split:<5} {status:<8} {problem or (path or '')}")
        ok &= not problem
    lists = {split: path for split, path, problem in checks if path is not None and not problem}
    known_paths = {s: read_list(p)[0] for s, p in lists.items() if s != "open"}
    for (a, b), shared in split_overlaps(known_paths).items():
        print(f"  {a} & {b} disjoint: " + ("OK" if not shared else f"{len(shared):,} SHARED (first: {shared[0]})"))
        ok &= not shared
    if args.root is not None:
        for split, path in lists.items():
            rels, _ = read_list(path)
            root = (args.open_root or args.root) if split == "open" else args.root
            missing = _check_images(root, rels, args.sample, args.seed, f"{split} images",
                                      progress_enabled(args.progress))
            status = "OK" if not missing else f"{len(missing):,} MISSING (first: {root / missing[0]})"
            print(f"  {split:<5} images under {root}: {status}")
            ok &= not missing
    if "train" in lists:
        _, labels = read_list(lists["train"])
        counts = class_counts(labels, int(labels.max()) + 1)
        report = missing_classes_message(lists["train"], counts, None)
        if report:
            print(f"  {report}")
            ok = False
        print()
        _print_stats(counts, ("strict", "oltr"), f"{args.dataset} train ({lists['train'].name})")
    return 0 if ok else 1


def run_prepare(args: argparse.Namespace) -> int:
    from oltr.data import prepare_fashion_mnist_lt

    if args.name != "fashion_mnist_lt":
        return _run_prepare_registered(args)
    args.out = args.out or Path("data/FashionMNIST_LT")

    start = time.perf_counter()
    try:
        out = prepare_fashion_mnist_lt(
            args.out, seed=args.seed, source=args.source, download=args.download, force=args.force
        )
    except FileNotFoundError as err:
        print(f"oltr data prepare: {err}", file=sys.stderr)
        return 1
    meta = json.loads((out / "meta.json").read_text())
    print(f"Fashion-MNIST-LT (seed {meta['seed']}) in {out} ({time.perf_counter() - start:.1f}s)")
    for split, info in meta["lists"].items():
        print(f"  {info['file']:<28} {info['lines']:>5} images  sha256 {info['sha256'][:16]}")
    print(f"  classes: {', '.join(meta['class_names'])}; open set: {', '.join(meta['held_out_classes'])}")
    return 0


def _run_prepare_registered(args: argparse.Namespace) -> int:
    import yaml

    from oltr.data.registry import DATASETS, prepare_dataset

    entry = DATASETS.get(args.name)
    names = entry.meta.get("data_names")
    data_name = args.data_name or (names[0] if names else None)
    if data_name is None:
        print(f"oltr data prepare: {args.name} needs --data-name (the list prefix, e.g. CIFAR10_LT_IF100)", file=sys.stderr)
        return 2
    kwargs = {}
    for item in args.prepare_args:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"oltr data prepare: --arg {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        kwargs[key] = yaml.safe_load(value)
    if args.source is not None:
        kwargs["source"] = str(args.source)
    out = args.out or Path("data") / data_name
    start = time.perf_counter()
    try:
        prepare_dataset(args.name, out, data_name=data_name, **kwargs)
    except (FileNotFoundError, ValueError, TypeError) as err:
        print(f"oltr data prepare: {err}", file=sys.stderr)
        return 1
    meta = json.loads((out / "meta.json").read_text())
    print(f"{args.name} in {out} ({time.perf_counter() - start:.1f}s)")
    for info in meta["lists"].values():
        counts = info["class_counts"]
        spread = f"; per class {max(counts)}..{min(counts)}" if counts else ""
        print(f"  {info['file']:<36} {info['lines']:>6} images{spread}  sha256 {info['sha256'][:16]}")
    return 0


def _registered_counts(data_name: str) -> tuple[dict[str, int], int] | None:
    """Expected list lengths and class count of a registered dataset without a manifest entry (iNaturalist)."""
    from oltr.data.registry import DATASETS

    for name in DATASETS.names():
        meta = DATASETS.get(name).meta
        if meta.get("counts") and data_name in (meta.get("data_names") or ()):
            return meta["counts"], meta["num_classes"]
    return None


def _verify_counts(args: argparse.Namespace) -> int:
    """Check user-supplied lists against the published sizes: lines per split, classes, images on disk."""
    from oltr.data import ListFormatError, class_counts, read_list

    counts, num_classes = _registered_counts(args.dataset)
    ok = True
    print(f"{args.dataset}: lists in {args.lists}")
    train_labels = None
    for split, expected in counts.items():
        path = args.lists / f"{args.dataset}_{split}.txt"
        try:
            rels, labels = read_list(path, num_classes)
        except (FileNotFoundError, ListFormatError) as err:
            print(f"  {split:<5} FAIL     {err}")
            ok = False
            continue
        good = len(rels) == expected
        print(f"  {split:<5} {'OK' if good else 'FAIL':<8} {len(rels):,} lines (expected {expected:,}), "
              f"{len(np.unique(labels)):,} classes ({path})")
        ok &= good
        if split == "train":
            train_labels = labels
            if len(np.unique(labels)) != num_classes:
                print(f"  train    FAIL     {len(np.unique(labels)):,} classes present, expected {num_classes:,}")
                ok = False
        if args.root is not None:
            missing = _check_images(args.root, rels, args.sample, args.seed, f"{split} images")
            status = "OK" if not missing else f"{len(missing):,} MISSING (first: {args.root / missing[0]})"
            print(f"  {split:<5} images: {status}")
            ok &= not missing
    if train_labels is not None:
        print()
        _print_stats(class_counts(train_labels, num_classes), ("strict", "oltr"), f"{args.dataset} train")
    return 0 if ok else 1
