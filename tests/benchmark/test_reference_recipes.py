"""``--flavour reference`` of the ImageNet-LT / Places-LT suites is, by construction, the CFL fork's recipes.

The expected values are written here from the fork's configs (lnsmith54/CFL @ 3362650,
``OLTR/config/<DS>/stage_1_cfl.py`` / ``stage_2_cfl_meta_embedding.py``), its ``main.py`` command-line defaults
and its schedule formula at its 1-based epochs, not from oltr.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import oltr.benchmark as bench
from oltr.config import load_config, loss_kwargs
from oltr.losses import build_loss

# (gamma_pos, gamma_neg, gamma_hc, loss epochs, factor) of the fork's config files, per stage
FORK_FILES = {
    "imagenet_lt": {1: (0, 4, 2, 30, 4), 2: (0, 4, 2, 30, 4)},
    "places_lt": {1: (1, 4, 2, 30, 2), 2: (0, 4, 2, 30, 2)},
}
FORK_CLI = (0, 4, 2, 30, 2)  # main.py's defaults overwrite the files' gammas and factor unless flags are given
STAGE_EPOCHS = {"imagenet_lt": {1: 30, 2: 60}, "places_lt": {1: 30, 2: 30}}


def fork_xi(e: int, epochs: int, factor: float) -> float:
    """The fork's OLTR schedule at its 1-based epoch e (no factor-1 branch)."""
    if factor * e < epochs:
        return 1 - factor * e / (epochs - 1)
    return (factor * e / (epochs - 1) - 1) / (factor - 1)


def _cell_config(suite, label: str, stage: int, flavour: str | None, tmp_path: Path):
    cell = bench.GridRun(stage, label, 0, tmp_path / f"stage_{stage}")
    overrides = bench._overrides(suite, cell, tmp_path / "stage_1", None, None, flavour, ())
    return load_config(suite.stage_1 if stage == 1 else suite.stage_2, overrides)


@pytest.mark.parametrize("suite_name", ["imagenet_lt", "places_lt"])
@pytest.mark.parametrize("label", ["casl", "casl_cli"])
@pytest.mark.parametrize("stage", [1, 2])
def test_reference_flavour_runs_the_forks_recipe(suite_name, label, stage, tmp_path):
    suite = bench.load_suite(suite_name)
    cfg = _cell_config(suite, label, stage, "reference", tmp_path)
    gamma_pos, gamma_neg, gamma_hc, epochs, factor = FORK_FILES[suite_name][stage] if label == "casl" else FORK_CLI
    assert cfg.epochs == STAGE_EPOCHS[suite_name][stage]
    loss = build_loss(cfg.loss.name, **loss_kwargs(cfg))
    assert (loss.gamma_pos, loss.gamma_neg, loss.gamma_hc, loss.epochs, loss.factor) == (
        gamma_pos, gamma_neg, gamma_hc, epochs, factor)
    assert loss.label_smoothing == 0.1  # the fork's hard-coded eps
    xi = []
    for epoch in range(cfg.epochs):  # the trainer's 0-based epochs
        loss.set_epoch(epoch)
        xi.append(loss.xi())
    assert xi == [fork_xi(e, epochs, factor) for e in range(1, cfg.epochs + 1)]
    if stage == 2:
        assert cfg.model.attention_init == "reference"


def test_the_forks_published_extremes(tmp_path):
    suite = bench.load_suite("imagenet_lt")
    ends = {}
    for label in ("casl", "casl_cli"):
        for stage in (1, 2):
            cfg = _cell_config(suite, label, stage, "reference", tmp_path)
            loss = build_loss(cfg.loss.name, **loss_kwargs(cfg))
            loss.set_epoch(cfg.epochs - 1)
            ends[label, stage] = round(loss.xi(), 3)
    assert ends == {("casl", 1): 1.046, ("casl", 2): 2.425, ("casl_cli", 1): 1.069, ("casl_cli", 2): 3.138}


def test_paper_flavour_keeps_eq8_on_the_stages_epochs(tmp_path):
    suite = bench.load_suite("imagenet_lt")
    cfg = _cell_config(suite, "casl", 2, "paper", tmp_path)
    loss = build_loss(cfg.loss.name, **loss_kwargs(cfg))
    assert loss.epochs == cfg.epochs == 60 and loss.schedule == "paper"
    assert cfg.model.attention_init == "reference"  # the ImageNet-LT / Places-LT configs start it as the reference
    factor = suite.losses["casl"]["factor"]
    for epoch in range(60):
        loss.set_epoch(epoch)
        r = factor * epoch / 60
        assert loss.xi() == pytest.approx(1 - r if r <= 1 else (r - 1) / (factor - 1))


def test_reference_only_presets_need_the_reference_flavour(tmp_path):
    suite = bench.load_suite("places_lt")
    with pytest.raises(ValueError, match="casl_cli, cfl_cli: with --flavour reference only"):
        bench.plan_grid(suite, ["casl_cli"], [0], tmp_path)
    assert len(bench.plan_grid(suite, ["casl_cli"], [0], tmp_path, flavour="reference")) == 2
