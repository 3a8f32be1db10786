"""Concurrent runs of a grid (``oltr benchmark --jobs N``) share one data folder: the preparation must
run once, and no run may read the folder while another one is still writing it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from oltr.config import RunConfig
from oltr.engine import build
from oltr.engine.distributed import DistEnv


def test_concurrent_preparations_run_once_and_wait_for_each_other(tmp_path, monkeypatch):
    calls: list[float] = []

    def slow_prepare(name, root, *, data_name, **args):
        if (Path(root) / f"{data_name}_train.txt").is_file():  # like every registered preparation: done -> no-op
            return Path(root)
        calls.append(time.perf_counter())
        time.sleep(0.5)  # long enough that an unlocked second caller would start its own preparation
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / f"{data_name}_train.txt").write_text("a.png 0\n")
        return Path(root)

    monkeypatch.setattr(build, "prepare_dataset", slow_prepare)
    cfg = RunConfig()
    cfg.data.root, cfg.data.name, cfg.data.prepare = str(tmp_path / "FM"), "FashionMNIST_LT", "fashion_mnist_lt"
    seen: list[bool] = []

    def run() -> None:
        build.prepare_data(cfg, DistEnv())
        seen.append(build.list_path(cfg, "train").is_file())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and seen == [True, True]


def test_the_registered_preparation_decides_even_when_the_lists_exist(tmp_path, monkeypatch):
    """No dataset is special-cased by name: the registry's preparation is called (it returns at once when
    its folder is complete), so a Fashion-MNIST-LT folder of another seed is rebuilt, not silently used."""
    seen: list[tuple] = []
    monkeypatch.setattr(build, "prepare_dataset", lambda name, root, *, data_name, **args: seen.append((name, args)))
    cfg = RunConfig()
    cfg.data.root, cfg.data.name, cfg.data.prepare = str(tmp_path / "FM"), "FashionMNIST_LT", "fashion_mnist_lt"
    cfg.data.prepare_args = {"seed": 1}
    (tmp_path / "FM").mkdir()
    build.list_path(cfg, "train").write_text("a.png 0\n")
    build.prepare_data(cfg, DistEnv())
    assert seen == [("fashion_mnist_lt", {"seed": 1})]
