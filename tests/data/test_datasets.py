from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from oltr.data import (
    ClassAwareSampler,
    ImageListDataset,
    ImageLoadError,
    build_transform,
    fashion_mnist_lt_paths,
    load_image,
)


def test_reads_images_as_rgb_uint8(image_folder):
    root, lst = image_folder
    ds = ImageListDataset(root, lst)
    image, label, index = ds[3]
    assert image.dtype == torch.uint8 and image.shape == (3, 30, 40)
    assert (label, index) == (1, 3)
    assert ds.labels.dtype == np.int64 and len(ds) == 6 and ds.skipped == 0
    assert ds.root == root and ds.paths[0] == "cls0/img0.jpg"


def test_decoding_matches_pil(image_folder):
    from PIL import Image

    root, lst = image_folder
    a = ImageListDataset(root, lst)[0][0]
    b = torch.from_numpy(np.array(Image.open(root / "cls0/img0.jpg").convert("RGB"))).permute(2, 0, 1)
    assert (a.int() - b.int()).abs().max() <= 2  # libjpeg-turbo via torchvision vs. PIL: same decoder


def test_list_file_relative_to_root_and_transform(image_folder):
    root, _ = image_folder
    ds = ImageListDataset(root, "list.txt", transform=build_transform("imagenet", train=False, image_size=16))
    assert ds[0][0].shape == (3, 16, 16) and ds[0][0].dtype == torch.float32


def test_missing_image_is_an_error_naming_the_file(image_folder):
    root, lst = image_folder
    (root / "cls1/img3.jpg").unlink()
    ds = ImageListDataset(root, lst)
    with pytest.raises(ImageLoadError, match=r"cls1/img3\.jpg"):
        ds[3]


def test_undecodable_image_is_an_error_naming_the_file(image_folder):
    root, lst = image_folder
    (root / "cls0/img2.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(ImageLoadError, match=r"cannot decode image .*cls0/img2\.jpg"):
        ImageListDataset(root, lst)[2]
    with pytest.raises(ImageLoadError, match=r"img2\.jpg"):
        ImageListDataset(root, lst, cache=True)


def test_skip_bad_drops_missing_and_reports_the_count(image_folder, caplog):
    root, lst = image_folder
    (root / "cls1/img3.jpg").unlink()
    (root / "cls0/img4.jpg").unlink()
    with caplog.at_level(logging.WARNING, logger="oltr.data.datasets"):
        ds = ImageListDataset(root, lst, skip_bad=True)
    assert ds.skipped == 2 and len(ds) == 4 and sorted(ds.bad_files) == ["cls0/img4.jpg", "cls1/img3.jpg"]
    assert "skipped 2 of 6 samples with missing images" in caplog.text
    assert ds.labels.tolist() == [0, 1, 0, 1]
    assert [ds[i][2] for i in range(4)] == [0, 1, 2, 3]


def test_skip_bad_replaces_undecodable_at_load_time(image_folder, caplog):
    root, lst = image_folder
    (root / "cls0/img2.jpg").write_bytes(b"garbage")
    ds = ImageListDataset(root, lst, skip_bad=True)
    with caplog.at_level(logging.WARNING, logger="oltr.data.datasets"):
        image, label, index = ds[2]
    assert index == 3 and label == 1 and ds.skipped == 1
    assert "img2.jpg" in caplog.text
    cached = ImageListDataset(root, lst, skip_bad=True, cache=True)  # cached: dropped up front
    assert cached.skipped == 1 and len(cached) == 5


def test_load_image_errors(tmp_path):
    with pytest.raises(ImageLoadError, match="image not found"):
        load_image(tmp_path / "x.png")


def test_cache_and_batched_getitems(fmnist_lt):
    lists = fashion_mnist_lt_paths(fmnist_lt)
    ds = ImageListDataset(fmnist_lt, lists["train"], build_transform("small", train=True), num_classes=8, cache=True)
    assert ds.cached and len(ds) == 1999
    batch = ds.__getitems__([0, 5, 1998])
    assert [b[0].shape for b in batch] == [(3, 28, 28)] * 3
    assert [b[2] for b in batch] == [0, 5, 1998] and [b[1] for b in batch] == ds.labels[[0, 5, 1998]].tolist()
    loader = DataLoader(ds, batch_size=64, sampler=ClassAwareSampler(ds.labels, num_samples=1984, seed=0))
    images, labels, index = next(iter(loader))
    assert images.shape == (64, 3, 28, 28) and images.dtype == torch.float32
    assert torch.equal(labels, torch.as_tensor(ds.labels[index.numpy()]))
    assert -1.01 <= images.min() and images.max() <= 1.01


def test_fashion_mnist_lt_open_set_through_the_same_code_path(fmnist_lt):
    lists = fashion_mnist_lt_paths(fmnist_lt)
    ds = ImageListDataset(fmnist_lt, lists["open"], build_transform("small", train=False), num_classes=8)
    image, label, _ = ds[0]
    assert image.shape == (3, 28, 28) and label == -1
    assert torch.equal(image[0], image[1])  # grey images converted to RGB


@pytest.mark.parametrize(
    "rel",
    [
        "ImageNet_LT/ImageNet_LT_val.txt",
        "ImageNet_LT/ImageNet_LT_test.txt",
        "ImageNet_LT/variants/flat_val/ImageNet_LT_test.txt",
        "ImageNet_LT/ImageNet_LT_open.txt",
        "Places_LT/Places_LT_train.txt",
        "Places_LT/variants/easyformat/Places_LT_train.txt",
        "Places_LT/Places_LT_test.txt",
        "Places_LT/Places_LT_open.txt",
    ],
)
def test_official_path_layouts(data_lists_dir, tmp_path, rel):
    """A root laid out as each official list expects (first lines only, tiny stand-in JPEGs)."""
    from PIL import Image

    head = (data_lists_dir / rel).read_text().splitlines()[:3]
    for line in head:
        path = tmp_path / line.split()[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (260, 300), (10, 20, 30)).save(path, "JPEG")
    (tmp_path / "list.txt").write_text("\n".join(head) + "\n")
    num_classes = 1000 if rel.startswith("ImageNet") else 365
    ds = ImageListDataset(tmp_path, "list.txt", build_transform("imagenet", train=False), num_classes=num_classes)
    image, label, _ = ds[2]
    assert image.shape == (3, 224, 224) and label == int(head[2].split()[1])
