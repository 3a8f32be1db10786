"""Leaderboards from evaluated runs: pandas tables, published rows with sources, plots.

Example:
    >>> from oltr.reporting import collect_runs, leaderboard_table, render
    >>> # render(leaderboard_table(collect_runs(["runs/"])), "md")
"""

from oltr.evaluation.serialize import to_jsonable
from oltr.reporting.leaderboard import (
    COLUMNS,
    FORMATS,
    leaderboard,
    leaderboard_table,
    render,
    write_leaderboard,
    write_plots,
)
from oltr.reporting.published import load_published, read_published
from oltr.reporting.runs import collect_runs, find_run_dirs, load_run, read_config, read_history

__all__ = [
    "COLUMNS",
    "FORMATS",
    "collect_runs",
    "find_run_dirs",
    "leaderboard",
    "leaderboard_table",
    "load_published",
    "load_run",
    "read_config",
    "read_history",
    "read_published",
    "render",
    "to_jsonable",
    "write_leaderboard",
    "write_plots",
]
