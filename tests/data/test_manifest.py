from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np

from oltr.data.manifest import MANIFEST_PATH, load_manifest, train_counts_from_manifest, verify_lists

TOOL = Path(__file__).resolve().parents[2] / "tools" / "build_manifest.py"


def _tool():
    """tools/build_manifest.py as a module (a maintainer script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("build_manifest", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_manifest_is_up_to_date(data_lists_dir, tmp_path, capsys):
    # The maintainer tool regenerates the committed file byte for byte, and --check tells a stale one apart.
    tool, out = _tool(), tmp_path / "manifest.json"
    assert tool.main(["--shared", str(data_lists_dir), "--out", str(out)]) == 0
    assert out.read_text() == MANIFEST_PATH.read_text()
    out.write_text(out.read_text().replace("115846", "115847"))
    assert tool.main(["--shared", str(data_lists_dir), "--out", str(out), "--check"]) == 1
    assert "is stale" in capsys.readouterr().err


def test_manifest_facts():
    m = load_manifest()["datasets"]
    imagenet, places = m["ImageNet_LT"], m["Places_LT"]
    assert imagenet["num_classes"] == 1000 and imagenet["train_images"] == 115_846
    train = imagenet["splits"]["train"][0]
    assert train["lines"] == 115_846 and train["sha256"].startswith("efdbdad4f050237c")
    assert train["shot_groups"]["strict"] == {"many": 385, "medium": 479, "few": 136}
    assert train["shot_groups"]["oltr"] == {"many": 391, "medium": 463, "few": 146}
    lines = {s: [v["lines"] for v in imagenet["splits"][s]] for s in ("val", "test", "open")}
    assert lines == {"val": [20_000], "test": [50_000, 50_000], "open": [18_000]}
    assert places["num_classes"] == 365 and places["train_images"] == 62_500
    ptrain = places["splits"]["train"]
    assert [v["layout"] for v in ptrain] == ["default", "easyformat"] and ptrain[0]["per_class"]["max"] == 4980
    assert ptrain[0]["shot_groups"]["strict"] == {"many": 131, "medium": 163, "few": 71}
    assert ptrain[0]["shot_groups"]["oltr"] == {"many": 132, "medium": 156, "few": 77}
    assert [places["splits"][s][0]["lines"] for s in ("val", "test", "open")] == [7_300, 36_500, 6_600]
    assert train_counts_from_manifest("ImageNet_LT").sum() == 115_846
    assert m["FashionMNIST_LT"]["train_class_counts"] == [1000, 502, 252, 126, 63, 32, 16, 8]


def test_verify_official_lists(data_lists_dir):
    checks = {c.split: c for c in verify_lists("Places_LT", data_lists_dir)}
    assert all(c.ok for c in checks.values()) and checks["train"].layout == "default"
    easy = {c.split: c for c in verify_lists("Places_LT", data_lists_dir / "Places_LT/variants/easyformat")}
    assert easy["train"].ok and easy["train"].layout == "easyformat" and easy["open"].status == "missing"
    imagenet = {c.split: c for c in verify_lists("ImageNet_LT", data_lists_dir)}
    assert imagenet["train"].status == "missing" and "OLTR Google Drive" in imagenet["train"].message
    assert imagenet["val"].ok and imagenet["test"].ok and imagenet["open"].ok


def test_verify_detects_a_modified_list(data_lists_dir, tmp_path):
    shutil.copy(data_lists_dir / "ImageNet_LT/ImageNet_LT_val.txt", tmp_path)
    with open(tmp_path / "ImageNet_LT_val.txt", "a") as f:
        f.write("train/n01440764/extra.JPEG 0\n")
    val = {c.split: c for c in verify_lists("ImageNet_LT", tmp_path)}["val"]
    assert val.status == "mismatch" and "20,001 lines" in val.message and "20,000 lines" in val.message
    assert np.all([c.status == "missing" for c in verify_lists("ImageNet_LT", tmp_path) if c.split != "val"])


def test_official_splits_are_disjoint(data_lists_dir):
    from oltr.data import read_list
    from oltr.data.manifest import split_overlaps

    places = {s: read_list(data_lists_dir / f"Places_LT/Places_LT_{s}.txt")[0] for s in ("train", "val", "test")}
    assert all(not shared for shared in split_overlaps(places).values())
    assert split_overlaps({"train": ["x/1.jpg", "x/2.jpg"], "val": ["x/2.jpg"]}) == {("train", "val"): ["x/2.jpg"]}
