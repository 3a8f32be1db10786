from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oltr.data import ListFormatError, read_list, write_list


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "split.txt"
    path.write_bytes(text.encode())
    return path


def test_reads_paths_and_labels(tmp_path):
    paths, labels = read_list(_write(tmp_path, "a/1.jpg 0\nb/2.jpg 2\nopen.jpg -1\n"), num_classes=3)
    assert paths == ["a/1.jpg", "b/2.jpg", "open.jpg"]
    assert labels.dtype == np.int64 and labels.tolist() == [0, 2, -1]


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ("a 0\nb\n", 2, "expected '<path> <label>'"),
        ("a 0\nb 1 2\n", 2, "got 3 fields"),
        # every line with 3 fields: pandas would take the paths as an index and shift the columns
        ("a 0 1\nb 1 2\n", 1, "got 3 fields"),
        ("a 0\n\nb 1\n", 2, "got 0 fields"),
        ("a 0\nb one\n", 2, "not an integer"),
        ("a 0\nb 1.0\n", 2, "not an integer"),
        ("a 0\nb 1\na 1\n", 3, "duplicate path (first seen on line 1)"),
        ("a 0\nb 3\n", 2, "outside -1..2"),
        ("a -2\n", 1, "outside -1..2"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, text, line, reason):
    path = _write(tmp_path, text)
    with pytest.raises(ListFormatError) as info:
        read_list(path, num_classes=3)
    assert info.value.line == line
    assert f"{path}:{line}:" in str(info.value)
    assert reason in str(info.value)


def test_range_only_checked_when_declared(tmp_path):
    _, labels = read_list(_write(tmp_path, "a 7\n"))
    assert labels.tolist() == [7]


def test_tolerates_crlf_tabs_and_missing_final_newline(tmp_path):
    assert read_list(_write(tmp_path, "a 0\r\nb 1\r\n"))[0] == ["a", "b"]
    assert read_list(_write(tmp_path, "a\t0\nb  1"))[1].tolist() == [0, 1]


def test_invalid_utf8_and_missing_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a 0\n\xff\xfe 1\n")
    with pytest.raises(ListFormatError, match=r"bad.txt:2: not valid UTF-8"):
        read_list(path)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_list(tmp_path / "nope.txt")


def test_empty_list(tmp_path):
    paths, labels = read_list(_write(tmp_path, ""))
    assert paths == [] and labels.shape == (0,)


def test_write_read_round_trip(tmp_path):
    path = write_list(tmp_path / "sub" / "l.txt", ["x/a.png", "y.png"], np.array([3, -1]))
    assert path.read_bytes() == b"x/a.png 3\ny.png -1\n"
    assert read_list(path, 4)[1].tolist() == [3, -1]


@pytest.mark.parametrize(
    "rel, k, lines, first",
    [
        ("ImageNet_LT/ImageNet_LT_val.txt", 1000, 20_000, "train/n01440764/"),
        ("ImageNet_LT/ImageNet_LT_test.txt", 1000, 50_000, "val/n01440764/"),
        ("ImageNet_LT/variants/flat_val/ImageNet_LT_test.txt", 1000, 50_000, "val/ILSVRC2012_val_"),
        ("ImageNet_LT/ImageNet_LT_open.txt", 1000, 18_000, "ILSVRC2010_val_"),
        ("Places_LT/Places_LT_train.txt", 365, 62_500, "data_256/a/airfield/"),
        ("Places_LT/Places_LT_val.txt", 365, 7_300, "data_256/"),
        ("Places_LT/Places_LT_test.txt", 365, 36_500, "val_256/"),
        ("Places_LT/Places_LT_open.txt", 365, 6_600, ""),
        ("Places_LT/variants/easyformat/Places_LT_train.txt", 365, 62_500, "train/airfield/"),
    ],
)
def test_official_lists(data_lists_dir, rel, k, lines, first):
    paths, labels = read_list(data_lists_dir / rel, num_classes=k)
    assert len(paths) == lines == len(labels)
    assert paths[0].startswith(first)
    if "open" in rel:
        assert (labels == -1).all()
    else:
        assert labels.min() == 0 and labels.max() == k - 1
        assert (np.diff(labels) >= 0).all()  # grouped by label ascending


def test_places_layouts_are_the_same_split(data_lists_dir):
    oltr_paths, oltr_labels = read_list(data_lists_dir / "Places_LT/Places_LT_val.txt")
    easy_paths, easy_labels = read_list(data_lists_dir / "Places_LT/variants/easyformat/Places_LT_val.txt")
    assert np.array_equal(oltr_labels, easy_labels)
    assert [p.rsplit("/", 1)[1] for p in oltr_paths] == [p.rsplit("/", 1)[1] for p in easy_paths]
