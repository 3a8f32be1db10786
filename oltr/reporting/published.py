"""Published results (``published.yaml``) as leaderboard rows, each number with its source."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

PUBLISHED_FILE = Path(__file__).with_name("published.yaml")

#: Metrics a published row may give, per section, as ``<section>_<metric>`` leaderboard columns.
PUBLISHED_METRICS = {
    "closed": ("many", "medium", "few", "overall", "group_mean"),
    "open": ("many", "medium", "few", "f_measure"),
}


def read_published(path: str | Path | None = None) -> dict[str, Any]:
    """The raw, validated content of the published-results file.

    Checks that every number has a source (the row's ``source`` or a ``sources`` entry keyed by
    ``section.metric``), that sources and footnotes referred to exist, that metric names are known, and
    that every number of a row with a ``quote`` (the sentence or table row it comes from) appears in it.
    """
    path = Path(path) if path is not None else PUBLISHED_FILE
    data = yaml.safe_load(path.read_text())
    sources, footnotes = data.get("sources", {}), data.get("footnotes", {})
    for i, row in enumerate(data.get("rows", [])):
        where = f"{path}: rows[{i}] ({row.get('dataset')}, {row.get('method')})"
        for key in ("dataset", "stage", "method"):
            if key not in row:
                raise ValueError(f"{where}: missing key {key!r}")
        overrides = row.get("sources", {})
        for section, metrics in PUBLISHED_METRICS.items():
            for metric, value in (row.get(section) or {}).items():
                if metric not in metrics:
                    raise ValueError(f"{where}: unknown metric {section}.{metric}; expected one of {list(metrics)}")
                src = overrides.get(f"{section}.{metric}", row.get("source"))
                if value is not None and src is None:
                    raise ValueError(f"{where}: {section}.{metric} = {value} has no source")
                if src is not None and src not in sources:
                    raise ValueError(f"{where}: unknown source {src!r}; expected one of {sorted(sources)}")
        quote = row.get("quote")
        if quote is not None:
            for section in PUBLISHED_METRICS:
                for metric, value in (row.get(section) or {}).items():
                    if value is not None and not _quoted(value, quote):
                        raise ValueError(f"{where}: {section}.{metric} = {value} does not appear in its quote {quote!r}")
        for note in row.get("notes", []):
            if note not in footnotes:
                raise ValueError(f"{where}: unknown footnote {note!r}; expected one of {sorted(footnotes)}")
    return data


def _quoted(value: float, quote: str) -> bool:
    """``value`` as printed (``67.0``, ``7.7``, ``0.474``) appears in ``quote`` as a whole number."""
    forms = {f"{value:.1f}", f"{value:.2f}", f"{value:.3f}", f"{value:g}"}
    return any(re.search(rf"(?<![\d.]){re.escape(f)}(?![\d])", quote) for f in forms)


def load_published(
    path: str | Path | None = None, *, datasets: Iterable[str] | None = None
) -> pd.DataFrame:
    """Published rows in the leaderboard's layout (display units: accuracies in %, F-measure in [0, 1]).

    Args:
        path: The YAML file; defaults to the packaged ``oltr/reporting/published.yaml``.
        datasets: Keep only these datasets (e.g. ``["ImageNet_LT"]``); ``None`` keeps all.

    Returns:
        Columns ``dataset``, ``stage``, ``method``, ``backbone``, ``published`` (True), ``source`` (short
        source labels), ``citations`` (tuple of full references), ``notes`` (tuple of footnote texts) and
        one ``<section>_<metric>`` column per published metric (NaN where the paper gives none).
    """
    data = read_published(path)
    sources, footnotes = data["sources"], data["footnotes"]
    records = []
    for row in data["rows"]:
        if datasets is not None and row["dataset"] not in set(datasets):
            continue
        used = [row.get("source")] + [v for v in row.get("sources", {}).values()]
        used = list(dict.fromkeys(s for s in used if s))
        rec: dict[str, Any] = {
            "dataset": row["dataset"],
            "stage": int(row["stage"]),
            "method": row["method"],
            "backbone": row.get("backbone"),
            "published": True,
            "source": "; ".join(sources[s]["short"] for s in used),
            "citations": tuple(f"{sources[s]['short']}: {sources[s]['citation']}, {sources[s]['url']}" for s in used),
            "notes": tuple(" ".join(footnotes[n].split()) for n in row.get("notes", [])),
        }
        for section, metrics in PUBLISHED_METRICS.items():
            values = row.get(section) or {}
            for metric in metrics:
                value = values.get(metric)
                rec[f"{section}_{metric}"] = float("nan") if value is None else float(value)
        records.append(rec)
    return pd.DataFrame.from_records(records)
