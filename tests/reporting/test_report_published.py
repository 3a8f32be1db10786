"""Published rows: every number sourced, the CFL 'Average' column mapped correctly."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from oltr.reporting import load_published, read_published
from oltr.reporting.published import PUBLISHED_FILE


def test_every_number_has_a_source():
    data = read_published()  # validates
    assert {"cfl_t3", "cfl_t4", "oltr_t3"} <= set(data["sources"])
    df = load_published()
    assert df["published"].all() and (df["source"].str.len() > 0).all()
    assert all(len(c) >= 1 for c in df["citations"])


def test_cfl_tables_complete():
    df = load_published()
    for dataset, table in (("ImageNet_LT", "CFL Tab. 3"), ("Places_LT", "CFL Tab. 4")):
        rows = df[(df["dataset"] == dataset) & df["source"].str.contains(table, regex=False)]
        assert {"OLTR", "OLTR + FL", "OLTR + ASL", "OLTR + CFL", "OLTR + CASL"} == set(rows["method"])
        assert rows[["closed_many", "closed_medium", "closed_few", "open_many", "open_medium", "open_few", "open_f_measure"]].notna().all().all()


def test_group_mean_column_is_the_plain_mean():
    df = load_published()
    has = df["closed_group_mean"].notna()
    plain = df[["closed_many", "closed_medium", "closed_few"]].mean(axis=1)
    np.testing.assert_allclose(df.loc[has, "closed_group_mean"], plain[has], atol=0.1)


def test_places_oltr_average_is_overall_with_footnote():
    row = load_published(datasets=["Places_LT"]).set_index("method").loc["OLTR"]
    assert row["closed_overall"] == 35.9 and np.isnan(row["closed_group_mean"])
    assert any("overall accuracy" in n for n in row["notes"])


def test_number_without_source_is_rejected(tmp_path):
    data = yaml.safe_load(PUBLISHED_FILE.read_text())
    del data["rows"][1]["source"]
    data["rows"][1]["sources"] = {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="has no source"):
        read_published(bad)
    data["rows"][1]["source"] = "nowhere"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="unknown source"):
        read_published(bad)


def test_filter_by_dataset():
    assert set(load_published(datasets=["ImageNet_LT"])["dataset"]) == {"ImageNet_LT"}


def test_every_quoted_number_appears_in_its_quote():
    """Rows added with issue 13 carry the table row they were read from; each number must be in it."""
    import re

    rows = [r for r in read_published()["rows"] if "quote" in r]
    assert {r["method"] for r in rows} >= {"Joint (CE)", "NCM", "cRT", "τ-norm", "LWS"}
    for row in rows:
        printed = re.findall(r"(?<![\d.])\d+\.\d+(?![\d])", row["quote"])
        for section in ("closed", "open"):
            for value in (row.get(section) or {}).values():
                assert f"{value:.1f}" in printed, (row["method"], value, row["quote"])


def test_a_number_missing_from_its_quote_is_rejected(tmp_path):
    data = yaml.safe_load(PUBLISHED_FILE.read_text())
    row = next(r for r in data["rows"] if r.get("method") == "cRT")
    row["closed"]["few"] = 72.4  # not in "| cRT | 61.8 | 46.2 | 27.4 | 49.6 |"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ValueError, match=r"closed.few = 72.4 does not appear in its quote"):
        read_published(bad)
