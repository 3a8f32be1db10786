"""Suites with sweeps, protocols and no stage 2: expansion into presets, validation, and tiny end-to-end
grids of the new suites (CIFAR-10-LT and CIFAR-100-LT from synthetic archives, a CFL sweep and a
protocol suite on real Fashion-MNIST-LT images, iNaturalist-style lists)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

import oltr.benchmark as bench
from oltr.cli import main as cli_main
from oltr.config import load_config
from oltr.data import prepare_fashion_mnist_lt, read_list
from oltr.data.fashion_mnist_lt import FashionMNISTLTSpec
from oltr.suite_grid import expand_protocols, expand_sweeps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cifar_archives import write_cifar  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TINY = FashionMNISTLTSpec(max_count=60, min_count=6, val_per_class=3, test_per_class=8, open_per_class=8)
FAST = ["epochs=1", "data.batch_size=32", "data.eval_batch_size=128", "data.num_workers=0"]


def test_sweep_expands_into_named_presets():
    presets, info = expand_sweeps({"cfl": {"base": {"name": "cfl", "gamma": 2},
                                           "grid": {"loss.gamma_hc": [1, 2], "factor": [4, 8]}}}, "s.yaml")
    assert list(presets) == ["cfl[gamma_hc=1,factor=4]", "cfl[gamma_hc=1,factor=8]", "cfl[gamma_hc=2,factor=4]",
                             "cfl[gamma_hc=2,factor=8]"]
    assert presets["cfl[gamma_hc=2,factor=8]"] == {"name": "cfl", "gamma": 2, "gamma_hc": 2, "factor": 8}
    assert info["cfl[gamma_hc=1,factor=8]"] == {"sweep": "cfl", "params": {"gamma_hc": 1, "factor": 8}}


@pytest.mark.parametrize("sweeps, message", [
    ({"cfl": {"grid": {"gamma_hc": 3}}}, "non-empty list"),
    ({"cfl": {"grid": {"optim.lr": [1]}}}, "not a loss parameter"),
    ({"cfl": {"base": {"gamma": 2}, "grid": {"gamma_hc": [1]}}}, "with a 'name'"),
    ({"cfl": {"grid": {"gamma_hc": [1]}, "extra": 1}}, "expected keys"),
])
def test_bad_sweeps_name_the_file_and_key(sweeps, message):
    with pytest.raises(ValueError, match=f"s.yaml: sweeps.cfl.*{message}"):
        expand_sweeps(sweeps, "s.yaml")


def test_protocols_expand_with_their_overrides_and_loss_parameters():
    losses = {"ce": {"name": "ce"}, "cfl": {"name": "cfl", "gamma_hc": 3}}
    presets, overrides, info = expand_protocols(
        {"a": {"set": {"optim.weight_decay": 5.0e-5}, "losses": {"cfl": {"gamma_hc": 2}}}, "b": None}, losses, "p.yaml")
    assert list(presets) == ["ce@a", "cfl@a", "ce@b", "cfl@b"]
    assert presets["cfl@a"]["gamma_hc"] == 2 and presets["cfl@b"]["gamma_hc"] == 3
    assert overrides["ce@a"] == ["optim.weight_decay=5.0e-05"] and overrides["ce@b"] == []
    assert info["cfl@b"] == {"loss": "cfl", "protocol": "b"}
    with pytest.raises(ValueError, match=r"p.yaml: protocols.a.losses: no loss preset \['asl'\]"):
        expand_protocols({"a": {"losses": {"asl": {"gamma_neg": 1}}}}, losses, "p.yaml")


def test_the_shipped_4k_suites_carry_table_5():
    suite = bench.load_suite("cifar100_4k")
    assert suite.stage_2 is None and len(suite.losses) == 15 and suite.seeds == [0, 1, 2, 3]
    cells = bench.plan_grid(suite, list(suite.losses), suite.seeds, Path("runs"))
    assert len(cells) == 60 and {c.stage for c in cells} == {1}
    cfg = load_config(suite.stage_1, bench._overrides(suite, cells[13], Path("x"), None, None, None, []))
    assert cells[13].loss == "cfl@6_2" and cfg.data.name == "CIFAR100_4k_6_2"
    assert (cfg.optim.lr_features, cfg.optim.weight_decay, cfg.loss.params["gamma_hc"]) == (0.4, 2e-5, 2)
    assert cfg.data.batch_size == 64 and cfg.model.name == "resnet32"


def test_every_cell_of_every_new_suite_is_a_valid_config():
    for name in ("cifar10_lt", "cifar100_lt", "cifar10_4k", "cifar100_4k", "fashion_mnist_4k",
                 "fashion_mnist_lt_sweep", "inaturalist2018"):
        suite = bench.load_suite(name)
        cells = bench.plan_grid(suite, list(suite.losses), suite.seeds[:1], Path("runs"))
        for cell in cells[:2] + cells[-2:]:
            config = suite.stage_1 if cell.stage == 1 else suite.stage_2
            load_config(config, bench._overrides(suite, cell, Path("s1"), None, None, None, []))


def _write_suite(tmp_path: Path, base: str, **changes) -> Path:
    suite = yaml.safe_load((REPO / "configs" / "suites" / f"{base}.yaml").read_text())
    for key in ("stage_1", "stage_2"):
        if suite.get(key):
            suite[key] = str(REPO / suite[key])
    suite.update(changes)
    path = tmp_path / f"{base}_tiny.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def _run(suite: Path, tmp_path: Path, losses: str, overrides: list[str]) -> tuple[Path, Path]:
    out, runs = tmp_path / "results", tmp_path / "runs"
    argv = ["benchmark", "--suite", str(suite), "--losses", losses, "--out", str(out), "--runs-dir", str(runs),
            "--no-plots"]
    for item in overrides:
        argv += ["--set", item]
    assert cli_main(argv) == 0
    return out, runs


@pytest.mark.slow
@pytest.mark.parametrize("k", [10, 100])
def test_cifar_lt_suite_end_to_end(tmp_path, monkeypatch, k):
    archives = tmp_path / "archives"
    write_cifar(archives, 10, n_train=300, n_test=40)
    write_cifar(archives, 100, n_train=400, n_test=100, seed=1)
    monkeypatch.setenv("OLTR_CIFAR", str(archives))
    monkeypatch.setenv("OLTR_DATA", str(tmp_path / "data"))
    # CIFAR-100: stage 1 only, to keep the test short (stage 2 runs the same code as CIFAR-10's)
    suite = _write_suite(tmp_path, f"cifar{k}_lt", seeds=[0], **({"stage_2": None} if k == 100 else {}))
    overrides = FAST + ["model.width=4", "model.fc_add_dim=16",  # stage 2: fc_add keeps the stage-1 feature width
                        "data.prepare_args={imb_factor: 2, check_sizes: false, val_per_class: 1}"]
    out, runs = _run(suite, tmp_path, "cfl", overrides)
    ev = json.loads((runs / f"stage_{2 if k == 10 else 1}_cfl_seed0" / "eval_test.json").read_text())
    assert ev["dataset"] == f"CIFAR{k}_LT_IF100" and ev["open_set"] is not None
    _, train = read_list(tmp_path / "data" / f"CIFAR{k}_LT_IF100" / f"CIFAR{k}_LT_IF100_train.txt")
    assert train.size == sum(np.bincount(train))
    table = pd.read_csv(out / "leaderboard.csv")
    rows = set(zip(table["stage"], table["method"], table["loss"]))
    assert (1, "Plain", "cfl") in rows
    assert ((2, "OLTR", "cfl") in rows) == (k == 10)


@pytest.fixture(scope="module")
def tiny_fmnist(tmp_path_factory, fashion_mnist_dir) -> Path:
    return prepare_fashion_mnist_lt(tmp_path_factory.mktemp("fm"), seed=0, source=fashion_mnist_dir, spec=TINY)


@pytest.mark.slow
def test_sweep_suite_end_to_end(tmp_path, tiny_fmnist):
    suite = _write_suite(tmp_path, "fashion_mnist_lt_sweep", seeds=[0, 1], data_root=str(tiny_fmnist),
                         sweeps={"cfl": {"base": {"name": "cfl", "gamma": 2},
                                         "grid": {"loss.gamma_hc": [1, 3], "loss.factor": [4]}}})
    # one point of the two (both seeds) through the CLI: --losses splits outside the brackets only
    out, runs = _run(suite, tmp_path, "cfl[gamma_hc=3,factor=4]", FAST + ["data.prepare=null", "model.width=4"])
    assert sorted(p.name for p in runs.iterdir()) == [f"stage_1_cfl[gamma_hc=3,factor=4]_seed{s}" for s in (0, 1)]
    table = pd.read_csv(out / "sweep_cfl.csv")
    assert table[["gamma_hc", "factor", "n_seeds"]].values.tolist() == [[3, 4, 2]]
    # the table is the mean and sample std of the runs' own test accuracies
    accs = {}
    for run in runs.iterdir():
        ev = json.loads((run / "eval_test.json").read_text())
        accs.setdefault(json.loads(json.dumps(yaml.safe_load((run / "config.yaml").read_text())["loss"]["gamma_hc"])),
                        []).append(ev["closed_set"]["overall"] * 100)
    for _, row in table.iterrows():
        vals = accs[int(row["gamma_hc"])]
        assert row["mean"] == pytest.approx(np.mean(vals), abs=1e-4)
        assert row["std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-4)
    assert "| gamma_hc \\ factor | factor = 4 |" in (out / "sweep.md").read_text()
    assert not (out / "leaderboard.md").exists()
    # --report-only over the whole sweep: trains nothing, reports the finished point, lists the missing one
    assert cli_main(["benchmark", "--suite", str(suite), "--out", str(tmp_path / "partial"), "--runs-dir", str(runs),
                     "--report-only", "--no-plots", "--set", *FAST, "data.prepare=null", "model.width=4"]) == 0
    grid = json.loads((tmp_path / "partial" / "grid.json").read_text())
    assert sorted(Path(p).name for p in grid["missing_runs"]) == [f"stage_1_cfl[gamma_hc=1,factor=4]_seed{s}"
                                                                 for s in (0, 1)]
    assert pd.read_csv(tmp_path / "partial" / "sweep_cfl.csv")["gamma_hc"].tolist() == [3]
    assert sorted(p.name for p in runs.iterdir())[0].startswith("stage_1_cfl[gamma_hc=3")


@pytest.mark.slow
def test_protocol_suite_end_to_end(tmp_path, tiny_fmnist):
    suite = _write_suite(tmp_path, "fashion_mnist_lt", stage_2=None, methods=["plain"], seeds=[0], data_root=str(tiny_fmnist),
                         losses={"ce": {"name": "ce"}, "cfl": {"name": "cfl", "gamma_hc": 3, "factor": 4}},
                         protocols={"slow": {"set": {"optim.lr_features": 0.01}},
                                    "fast": {"set": {"optim.lr_features": 0.2}, "losses": {"cfl": {"gamma_hc": 2}}}})
    out, runs = _run(suite, tmp_path, "ce@slow,cfl@fast", FAST + ["data.prepare=null", "model.width=4"])
    cfg = yaml.safe_load((runs / "stage_1_cfl@fast_seed0" / "config.yaml").read_text())
    assert cfg["optim"]["lr_features"] == 0.2 and cfg["loss"]["gamma_hc"] == 2
    assert not (runs / "stage_2_cfl@fast_seed0").exists()
    table = (out / "protocols.md").read_text()
    acc = json.loads((runs / "stage_1_ce@slow_seed0" / "eval_test.json").read_text())["closed_set"]["overall"]
    assert f"| CE | {acc * 100:.2f} | – | 1 |" in table


@pytest.mark.slow
def test_inaturalist_suite_end_to_end(tmp_path):
    """The Decoupling repository's list format (``train_val2018/<kingdom>/<id>/<file>.jpg <label>``)."""
    rng = np.random.default_rng(0)
    lists = tmp_path / "lists"
    lists.mkdir()
    for split, n in (("train", 24), ("val", 6), ("test", 6)):
        rows = []
        for i in range(n):
            label = i % 3
            rel = f"train_val2018/Plantae/{label}/{split}{i}.jpg"
            (tmp_path / "img" / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "img" / rel)
            rows.append(f"{rel} {label}")
        (lists / f"iNaturalist18_{split}.txt").write_text("\n".join(rows) + "\n")
    suite = _write_suite(tmp_path, "inaturalist2018", seeds=[0])
    overrides = FAST + ["data.num_classes=3", "model.name=resnet10", "model.width=4", "data.image_size=32",
                        "data.batch_size=8"]
    argv_extra = ["--data-root", str(tmp_path / "img"), "--lists", str(lists)]
    out, runs = tmp_path / "results", tmp_path / "runs"
    argv = ["benchmark", "--suite", str(suite), "--losses", "ce", "--out", str(out), "--runs-dir", str(runs),
            "--no-plots", *argv_extra]
    for item in overrides:
        argv += ["--set", item]
    assert cli_main(argv) == 0
    ev = json.loads((runs / "stage_1_ce_seed0" / "eval_test.json").read_text())
    assert ev["dataset"] == "iNaturalist18" and ev["open_set"] is None


def test_inaturalist_verify_checks_the_published_counts(tmp_path, capsys):
    (tmp_path / "iNaturalist18_train.txt").write_text("a/1.jpg 0\na/2.jpg 8141\n")
    assert cli_main(["data", "verify", "--dataset", "iNaturalist18", "--lists", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "2 lines (expected 437,513)" in out and "iNaturalist18_val.txt" in out
