"""End-to-end tests of ``oltr benchmark`` on a tiny Fashion-MNIST-LT grid (real images, one epoch per stage)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import oltr.benchmark as bench
from oltr.cli import main as cli_main
from oltr.data import prepare_fashion_mnist_lt
from oltr.data.fashion_mnist_lt import FashionMNISTLTSpec

REPO = Path(__file__).resolve().parents[2]

# A few hundred real images: 8 known classes falling from 120 to 8 training images.
TINY = FashionMNISTLTSpec(max_count=120, min_count=8, val_per_class=4, test_per_class=10, open_per_class=10)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, fashion_mnist_dir) -> Path:
    return prepare_fashion_mnist_lt(tmp_path_factory.mktemp("fmnist_tiny"), seed=0, source=fashion_mnist_dir,
                                    spec=TINY)


def _suite(tmp_path: Path, data_root: Path) -> Path:
    suite = yaml.safe_load((REPO / "configs" / "suites" / "fashion_mnist_lt.yaml").read_text())
    suite.update(stage_1=str(REPO / suite["stage_1"]), stage_2=str(REPO / suite["stage_2"]),
                 data_root=str(data_root), seeds=[0], methods=["plain", "oltr"])
    path = tmp_path / "tiny_suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


# The suite's data is prepared above with the tiny spec; the configs' own prepare step would rebuild it.
TINY_OVERRIDES = ["epochs=1", "data.prepare=null", "data.batch_size=32", "data.eval_batch_size=64"]


def test_tiny_grid_end_to_end(tmp_path, tiny_data):
    out, runs = tmp_path / "results", tmp_path / "runs"
    suite_file = _suite(tmp_path, tiny_data)
    raw = yaml.safe_load(suite_file.read_text())
    raw["methods"] = ["plain", "oltr", {"name": "crt", "batch_size": 32, "epochs": 2}, "tau_norm"]
    suite_file.write_text(yaml.safe_dump(raw))
    argv = ["benchmark", "--suite", str(suite_file), "--losses", "ce,cfl", "--seeds", "0",
            "--out", str(out), "--runs-dir", str(runs)]
    for item in TINY_OVERRIDES:
        argv += ["--set", item]
    assert cli_main(argv) == 0

    for stage in (1, 2):
        for loss in ("ce", "cfl"):
            run = runs / f"stage_{stage}_{loss}_seed0"
            for name in ("config.yaml", "metrics.jsonl", "last.pt", "best.pt", "eval_test.json", "logits_test.npz"):
                assert (run / name).is_file(), run / name
            result = json.loads((run / "eval_test.json").read_text())
            assert result["stage"] == stage and result["loss"] == loss and result["open_set"] is not None
            # Stage 2 starts from the stage-1 run of the same loss and seed.
            if stage == 2:
                cfg = yaml.safe_load((run / "config.yaml").read_text())
                assert Path(cfg["init_from"]).name == f"stage_1_{loss}_seed0"
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", "grid.json",
                 "per_class_accuracy.png", "shot_bars.png", "xi_schedules.png", "training_curves.png"):
        assert (out / name).is_file(), name

    for method in ("crt", "tau_norm"):  # methods read the stage-1 run of the same loss and seed
        for loss in ("ce", "cfl"):
            info = json.loads((runs / f"{method}_{loss}_seed0" / "method.json").read_text())
            assert Path(info["stage1"]).name == f"stage_1_{loss}_seed0" and info["method"] == method
    assert json.loads((runs / "crt_ce_seed0" / "method.json").read_text())["params"]["batch_size"] == 32

    table = pd.read_csv(out / "leaderboard.csv")
    ours = table[~table["published"].astype(bool)] if "published" in table else table
    rows = {(int(s), m, lo) for s, m, lo in zip(ours["stage"], ours["method"], ours["loss"])}
    assert rows == {(st, m, lo) for st, m in ((1, "Plain"), (2, "OLTR"), (2, "cRT"), (2, "τ-norm"))
                    for lo in ("ce", "cfl")}
    assert set(ours["backbone"]) == {"ResNet-10 (width 16)"}
    md = (out / "leaderboard.md").read_text()
    assert md.count("| FashionMNIST_LT |") == 8
    grid = json.loads((out / "grid.json").read_text())
    assert grid["losses"]["cfl"]["name"] == "cfl" and grid["seeds"] == [0] and len(grid["runs"]) == 8


def test_interrupted_grid_resumes_without_redoing_finished_runs(tmp_path, tiny_data, monkeypatch):
    suite = bench.load_suite(str(_suite(tmp_path, tiny_data)))
    kwargs = dict(losses=["ce"], seeds=[0], out_dir=tmp_path / "results", runs_dir=tmp_path / "runs",
                  overrides=TINY_OVERRIDES, plots=False, log=lambda msg: None)
    real_train = bench._train_in_process

    def crash_in_stage_2(config, overrides, run_dir, *args):
        if Path(run_dir).name.startswith("stage_2"):
            raise KeyboardInterrupt("simulated interruption")
        real_train(config, overrides, run_dir, *args)

    monkeypatch.setattr(bench, "_train_in_process", crash_in_stage_2)
    with pytest.raises(KeyboardInterrupt):
        bench.run_benchmark(suite, **kwargs)
    stage1 = tmp_path / "runs" / "stage_1_ce_seed0"
    assert (stage1 / "eval_test.json").is_file()
    assert not (tmp_path / "runs" / "stage_2_ce_seed0" / "best.pt").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in stage1.iterdir()}

    trained: list[str] = []

    def record(config, overrides, run_dir, *args):
        trained.append(Path(run_dir).name)
        real_train(config, overrides, run_dir, *args)

    monkeypatch.setattr(bench, "_train_in_process", record)
    messages: list[str] = []
    bench.run_benchmark(suite, **{**kwargs, "log": messages.append})
    assert trained == ["stage_2_ce_seed0"]
    assert any("stage 1 | ce | seed 0: complete, skipped" in m for m in messages)
    assert {p.name: p.stat().st_mtime_ns for p in stage1.iterdir() if p.name in stamps} == stamps
    assert (tmp_path / "results" / "leaderboard.md").is_file()


def test_unknown_suite_and_preset_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="available: .*fashion_mnist_lt"):
        bench.load_suite("no_such_suite")
    suite = bench.load_suite("fashion_mnist_lt")
    with pytest.raises(ValueError, match="no loss preset.*presets"):
        bench.plan_grid(suite, ["ce", "nope"], [0], tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: X\nstage_1: a\nstage_2: b\nlosses: {ce: {name: ce}}\ntypo: 1\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown key\(s\) \['typo'\]"):
        bench.load_suite(str(bad))


def test_method_cells_depend_on_their_stage1_run_and_bad_methods_fail_at_load(tmp_path):
    suite = bench.load_suite("fashion_mnist_lt")
    assert [m["name"] for m in suite.methods] == ["plain", "oltr", "crt", "tau_norm", "lws", "ncm", "logit_adjust"]
    grid = bench.plan_grid(suite, ["ce"], [0, 1], tmp_path)
    assert len(grid) == 2 * 7
    for cell in grid:
        stage1 = tmp_path / f"stage_1_ce_seed{cell.seed}"
        assert cell.depends_on == (() if cell.method == "plain" else (stage1,))
        assert grid.index(next(c for c in grid if c.run_dir == stage1)) <= grid.index(cell)
    for methods, match in ((["plain", "crtt"], r"methods\[1\]: unknown method 'crtt'; available: plain, oltr, crt"),
                           ([{"name": "ncm", "nrom": "l2"}], r"methods\[0\] \(ncm\): unknown parameter\(s\) \['nrom'\]"),
                           (["ncm", "ncm"], r"methods\[1\]: method .ncm. listed twice"), ([], "'methods' must be a non-empty list")):
        bad = tmp_path / "bad_methods.yaml"
        bad.write_text(yaml.safe_dump({"dataset": "X", "stage_1": "a", "stage_2": "b", "losses": {"ce": {"name": "ce"}},
                                       "methods": methods}))
        with pytest.raises(ValueError, match="bad_methods.yaml: " + match):
            bench.load_suite(str(bad))
    plain_only = bench.Suite("s", "X", Path("a"), Path("b"), {"ce": {"name": "ce"}}, methods=[{"name": "ncm"}])
    cells = bench.plan_grid(plain_only, ["ce"], [0], tmp_path)
    assert [c.method for c in cells] == ["plain", "ncm"]
    assert bench.reported_runs(plain_only, cells) == [tmp_path / "ncm_ce_seed0"]  # stage 1 trained, not reported


def test_every_shipped_suite_loads_and_names_existing_configs():
    from oltr.losses import available

    for name in bench.available_suites():
        suite = bench.load_suite(name)
        assert suite.stage_1.is_file() and (suite.stage_2 is None or suite.stage_2.is_file())
        if suite.sweeps:  # a sweep suite's presets are its grid points
            assert set(suite.losses) == set(suite.sweeps)
        else:
            bases = {p.split("@")[0] for p in suite.losses}
            assert {"ce", "focal", "asl", "cfl", "casl"} <= bases
        assert all(preset["name"] in available() for preset in suite.losses.values())


@pytest.mark.slow
@pytest.mark.ddp
def test_grid_through_torchrun_two_processes(tmp_path, tiny_data):
    """With --nproc-per-node 2 every training run goes through torchrun (gloo on CPU) with the cell's config."""
    suite = bench.load_suite(str(_suite(tmp_path, tiny_data)))
    bench.run_benchmark(suite, losses=["cfl"], seeds=[0], out_dir=tmp_path / "results", runs_dir=tmp_path / "runs",
                        overrides=TINY_OVERRIDES, nproc_per_node=2, plots=False, log=lambda msg: None)
    for stage in (1, 2):
        run = tmp_path / "runs" / f"stage_{stage}_cfl_seed0"
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["loss"]["name"] == "cfl" and cfg["loss"]["gamma_hc"] == 3 and cfg["epochs"] == 1
        assert "2 process(es)" in (run / "train.log").read_text()
        assert json.loads((run / "eval_test.json").read_text())["loss"] == "cfl"


def test_finished_run_of_another_config_is_refused_not_silently_reused(tmp_path, tiny_data, monkeypatch):
    """Re-running the grid with other settings (--set, --flavour) must not report the old runs under them."""
    from oltr.engine import RunDirError

    suite = bench.load_suite(str(_suite(tmp_path, tiny_data)))
    kwargs = dict(losses=["cfl"], seeds=[0], out_dir=tmp_path / "results", runs_dir=tmp_path / "runs",
                  overrides=TINY_OVERRIDES, plots=False, log=lambda msg: None)
    bench.run_benchmark(suite, **kwargs)

    trained: list[str] = []
    monkeypatch.setattr(bench, "_train_in_process", lambda config, overrides, run_dir, *a: trained.append(run_dir))
    messages: list[str] = []
    bench.run_benchmark(suite, **{**kwargs, "log": messages.append})  # same config: skipped
    assert trained == [] and sum("complete, skipped" in m for m in messages) == 2

    for change in (dict(flavour="reference"), dict(overrides=[*TINY_OVERRIDES, "optim.lr_features=0.05"])):
        with pytest.raises(RunDirError, match=r"stage_1_cfl_seed0 holds a run with a different config.*--runs-dir"):
            bench.run_benchmark(suite, **{**kwargs, **change})
    assert trained == []
