from __future__ import annotations

import shutil

from oltr.cli import main


def test_stats_of_a_list(data_lists_dir, capsys):
    assert main(["data", "stats", str(data_lists_dir / "Places_LT/Places_LT_train.txt")]) == 0
    out = capsys.readouterr().out
    assert "62,500 lines" in out and "365 classes" in out and "imbalance ratio 996" in out
    assert "strict   many      131" in out and "oltr    few       77" in out


def test_stats_of_class_count_file(data_lists_dir, capsys):
    assert main(["data", "stats", str(data_lists_dir / "ImageNet_LT/ImageNet_LT_train_class_counts.tsv")]) == 0
    out = capsys.readouterr().out
    assert "1000 classes, 115,846 images" in out and "strict medium      479" in out


def test_verify_official_lists_without_images(data_lists_dir, capsys):
    assert main(["data", "verify", "--dataset", "Places_LT", "--lists", str(data_lists_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count(" OK ") == 4 and "images: not checked" in out and "strict   many      131" in out
    assert "train & val disjoint: OK" in out and "val & test disjoint: OK" in out
    # ImageNet-LT: the train list is not distributed -> reported, stats from the manifest's counts
    assert main(["data", "verify", "--dataset", "ImageNet_LT", "--lists", str(data_lists_dir)]) == 1
    out = capsys.readouterr().out
    assert "train MISSING" in out and "train class counts in the manifest" in out and "strict   many      385" in out


def test_verify_checks_images(fmnist_lt, tmp_path, capsys):
    args = ["data", "verify", "--dataset", "FashionMNIST_LT", "--lists", str(fmnist_lt), "--root", str(fmnist_lt)]
    assert main(args) == 0
    assert "train images: 1,999 checked" in capsys.readouterr().out
    assert main([*args, "--sample", "10"]) == 0
    assert "train images: 10 checked" in capsys.readouterr().out
    copy = tmp_path / "copy"
    shutil.copytree(fmnist_lt, copy)
    victim = next((copy / "train" / "shirt").iterdir())
    victim.unlink()
    assert main(["data", "verify", "--dataset", "FashionMNIST_LT", "--lists", str(copy), "--root", str(copy)]) == 1
    assert f"1 MISSING (first: {victim})" in capsys.readouterr().out


def test_verify_reports_images_shared_between_splits(fmnist_lt, tmp_path, capsys):
    copy = tmp_path / "lists"
    shutil.copytree(fmnist_lt, copy, ignore=shutil.ignore_patterns("train", "test", "open"))
    val = (copy / "FashionMNIST_LT_val.txt").read_text().splitlines()
    test = copy / "FashionMNIST_LT_test.txt"
    test.write_text(test.read_text() + val[0] + "\n")
    assert main(["data", "verify", "--dataset", "FashionMNIST_LT", "--lists", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "test  MISMATCH" in out and f"val & test disjoint: 1 SHARED (first: {val[0].split()[0]})" in out


def test_prepare(tmp_path, fashion_mnist_dir, capsys):
    out = tmp_path / "fm"
    args = ["data", "prepare", "fashion_mnist_lt", "--out", str(out), "--seed", "0", "--source", str(fashion_mnist_dir)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "FashionMNIST_LT_train.txt     1999 images" in text and (out / "meta.json").is_file()
    assert main(["data", "prepare", "fashion_mnist_lt", "--out", str(tmp_path / "x"), "--source", str(tmp_path)]) == 1
    assert "dataset-fashion-mnist" in capsys.readouterr().err


def test_stats_of_a_malformed_list_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "X_train.txt"
    bad.write_text("a.png 0\nb.png one\n")
    assert main(["data", "stats", str(bad)]) == 1
    assert f"{bad}:2: label 'one' is not an integer" in capsys.readouterr().err
