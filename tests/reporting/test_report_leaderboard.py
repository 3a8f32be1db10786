"""Leaderboard table, rendering, write_leaderboard and the `oltr leaderboard` command end to end."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from reporting_fake_runs import write_run

from oltr.cli import main
from oltr.reporting import collect_runs, leaderboard_table, render, write_leaderboard

PNG = b"\x89PNG\r\n\x1a\n"


def test_seeds_aggregated_as_mean_and_std(runs_root):
    runs = collect_runs(runs_root)
    table = leaderboard_table(runs)
    assert not table["published"].any()  # no published rows for Fashion-MNIST-LT
    assert list(table["loss"]) == ["ce", "cfl", "focal"] and set(table["method"]) == {"Plain"}  # stage-1 runs
    focal = table.set_index("loss").loc["focal"]
    values = runs.loc[runs["loss"] == "focal", "closed_medium"] * 100
    assert focal["n_seeds"] == 2 and focal["seeds"] == "0 1"
    assert focal["closed_medium"] == pytest.approx(values.mean())
    assert focal["closed_medium_std"] == pytest.approx(values.std(ddof=1))
    assert focal["open_f_measure"] == pytest.approx(runs.loc[runs["loss"] == "focal", "open_f_measure"].mean())
    assert np.isnan(table.set_index("loss").loc["cfl", "closed_few_std"])  # one seed: no std


def test_published_rows_for_present_datasets(tmp_path):
    write_run(tmp_path, dataset="ImageNet_LT", stage=2, loss="cfl")
    table = leaderboard_table(collect_runs(tmp_path))
    assert set(table["dataset"]) == {"ImageNet_LT"}
    pub = table[table["published"]]
    assert len(pub) >= 5 and not table.iloc[-1]["published"]  # published rows first, ours last
    cfl = pub.set_index("method").loc["OLTR + CFL"]
    assert cfl["closed_few"] == 23.3 and cfl["open_f_measure"] == 0.445
    assert leaderboard_table(collect_runs(tmp_path), published=False)["published"].sum() == 0


def test_runs_of_different_configs_are_separate_rows_labelled_by_what_differs(tmp_path):
    # gamma 2 is focal's default: written out or omitted it is one experiment (seeds 0 and 1 aggregate)
    write_run(tmp_path, loss="focal", seed=0, loss_params={"gamma": 2})
    write_run(tmp_path, loss="focal", seed=1)
    write_run(tmp_path, loss="focal", seed=2, loss_params={"gamma": 3})
    write_run(tmp_path, loss="ce", seed=0, config={"epochs": 30})
    write_run(tmp_path, loss="ce", seed=1, config={"epochs": 10})
    table = leaderboard_table(collect_runs(tmp_path)).set_index("loss")
    assert sorted(table.index) == ["ce (epochs=10)", "ce (epochs=30)", "focal (loss.gamma=2)", "focal (loss.gamma=3)"]
    assert table.loc["focal (loss.gamma=2)", "seeds"] == "0 1" and table.loc["focal (loss.gamma=3)", "n_seeds"] == 1
    assert table.loc["ce (epochs=10)", "n_seeds"] == 1


def test_unfinished_runs_are_left_out_unless_asked(tmp_path):
    write_run(tmp_path, loss="ce", seed=0)
    write_run(tmp_path, loss="ce", seed=1, complete=False)
    with pytest.warns(UserWarning, match=r"1 unfinished run\(s\) left out .*seed1"):
        runs = collect_runs(tmp_path)
    assert list(runs["seed"]) == [0]
    assert leaderboard_table(collect_runs(tmp_path, include_unfinished=True)).iloc[0]["n_seeds"] == 2


def test_render_markdown(runs_root):
    text = render(leaderboard_table(collect_runs(runs_root)), "md")
    lines = text.splitlines()
    assert lines[0].startswith("| Dataset | Stage | Method | Loss | Backbone | Seeds | Closed Many |")
    assert "Open F-measure" in lines[0] and "Open AUROC" in lines[0] and "Closed ECE" in lines[0]
    assert len({line.count("|") for line in lines[:5]}) == 1  # header, rule, 3 rows: same column count
    assert " ± " in lines[2] and "Our runs: shot groups many > 100" in text


def test_render_markdown_published_footnote():
    text = render(leaderboard_table(None), "md")
    places = [line for line in text.splitlines() if line.startswith("| Places_LT | 2 | OLTR [")][0]
    cells = [c.strip() for c in places.strip("|").split("|")]
    assert cells[3:5] == ["–", "ResNet-152"]  # published rows: no loss of ours, the paper's backbone
    assert cells[9:11] == ["35.9", "–"]  # overall shown, group mean empty
    assert "not the mean of the three groups" in text and "(published)" in places


def test_render_latex(runs_root):
    write_run(runs_root, dataset="ImageNet_LT", stage=2, loss="cfl")
    text = render(leaderboard_table(collect_runs(runs_root)), "latex")
    assert r"\begin{tabular}" in text and r"\end{tabular}" in text and r"\toprule" in text
    assert r"\multicolumn{6}{c}{Closed set}" in text and r"\multicolumn{5}{c}{Open set}" in text
    assert r"ImageNet\_LT" in text and "FashionMNIST_LT" not in text
    assert r"$\pm$" in text and r"\textsuperscript{" in text
    body = text[text.index(r"\midrule"): text.index(r"\bottomrule")]
    rows = [line for line in body.splitlines() if line.endswith(r"\\")]
    assert len({row.count(" & ") for row in rows}) == 1


def test_render_csv_and_html(runs_root):
    table = leaderboard_table(collect_runs(runs_root))
    back = pd.read_csv(io.StringIO(render(table, "csv")))
    assert list(back["loss"]) == ["ce", "cfl", "focal"]
    np.testing.assert_allclose(back["closed_overall"], table["closed_overall"], rtol=1e-5)
    html = render(table, "html")
    assert html.startswith("<table") and "Closed set" in html and "±" in html
    with pytest.raises(ValueError, match="fmt"):
        render(table, "docx")


def test_write_leaderboard(runs_root, tmp_path):
    paths = write_leaderboard([runs_root], tmp_path / "out", formats=("md", "latex", "csv", "html"))
    assert {"md", "latex", "csv", "html", "runs", "per_class_accuracy", "shot_bars", "xi_schedules", "training_curves"} <= set(paths)
    for key in ("per_class_accuracy", "shot_bars", "xi_schedules", "training_curves"):
        assert paths[key].read_bytes()[:8] == PNG
    assert paths["latex"].suffix == ".tex"
    assert len(pd.read_csv(paths["runs"])) == 5


def test_cli_end_to_end(runs_root, tmp_path, capsys):
    out = tmp_path / "report" / "board.md"
    assert main(["leaderboard", str(runs_root), "--out", str(out), "--rule", "oltr"]) == 0
    assert out.read_text().startswith("| Dataset |")
    assert "many >= 100" in out.read_text()
    for name in ("per_class_accuracy", "shot_bars", "xi_schedules", "training_curves"):
        assert (out.parent / f"board_{name}.png").read_bytes()[:8] == PNG
    capsys.readouterr()
    assert main(["leaderboard", str(runs_root), "--format", "latex", "--no-published"]) == 0
    assert r"\begin{tabular}" in capsys.readouterr().out
    assert main(["leaderboard", str(tmp_path / "nothing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_plots_with_nothing_to_show(runs_root, tmp_path):
    from oltr.reporting import plots

    runs = collect_runs(runs_root)
    no_cyclical = runs[runs["loss"] != "cfl"]
    assert plots.plot_xi_schedules(no_cyclical, tmp_path / "e.png") is None and not (tmp_path / "e.png").exists()
    curves = plots._canonical_curves(pd.DataFrame({"epoch": [0, 1], "loss": [2.0, 1.0], "val_overall": [0.1, 0.2]}))
    assert curves["train_loss"].tolist() == [2.0, 1.0] and curves["val_top1"].tolist() == [0.1, 0.2]


def test_leaderboard_alias_checks_rule(runs_root):
    from oltr.reporting import leaderboard

    runs = collect_runs(runs_root, rule="strict")
    assert len(leaderboard(runs, rule="strict", published=False)) == 3
    with pytest.raises(ValueError, match="collect_runs"):
        leaderboard(runs, rule="oltr")


def test_the_footnote_names_the_open_set_score_behind_the_threshold_and_the_ood_metrics(tmp_path):
    """A run re-scored with `oltr eval --score energy` (with and without a threshold on it) is not
    described as thresholded on the max softmax."""
    import json

    root = tmp_path / "runs"
    run = write_run(root, loss="ce", seed=0)
    text = render(leaderboard_table(collect_runs(root)), "md")
    assert "rejection below max softmax 0.1," in text and "AUROC, AUPR" not in text
    ev = json.loads((run / "eval_test.json").read_text())
    ev.update(score={"name": "energy", "params": {}}, threshold_selection={"method": "config", "value": 0.1, "score": "msp"})
    (run / "eval_test.json").write_text(json.dumps(ev))
    text = render(leaderboard_table(collect_runs(root)), "md")
    assert "rejection below max softmax 0.1," in text and "AUROC, AUPR, FPR95 and OSCR from the energy" in text
    ev.update(threshold=-2.5, threshold_selection={"method": "given", "value": -2.5, "score": "energy"})
    (run / "eval_test.json").write_text(json.dumps(ev))
    text = render(leaderboard_table(collect_runs(root)), "md")
    assert "rejection below energy -2.5," in text and "max softmax" not in text
