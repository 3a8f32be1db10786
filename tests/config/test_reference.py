"""docs/configuration.md is generated from the dataclasses: it is current and lists every key with its meaning."""

from __future__ import annotations

import dataclasses
import typing

from oltr.config import RunConfig
from oltr.config.reference import DEFAULT_OUT, main, render
from oltr.losses import available


def _keys(cls, prefix=""):
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            if f.name != "loss":
                yield from _keys(tp, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}"


def test_committed_reference_is_current():
    # after adding or changing a config field: python -m oltr.config.reference
    assert main(["--check"]) == 0, f"{DEFAULT_OUT} is stale: run `python -m oltr.config.reference`"


def test_every_key_has_a_row_with_type_default_and_meaning():
    text = render()
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines() if line.startswith("| `")}
    for key in _keys(RunConfig):
        cells = [c.strip() for c in rows[key].strip("|").split("|")]
        assert len(cells) == 4 and all(cells), (key, cells)  # key, type, default, meaning: none empty
    assert "| `data.name` | str | **required** |" in text
    assert all(f"| `{name}` |" in text for name in available())
    assert "## Suite files" in text
