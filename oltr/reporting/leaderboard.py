"""Leaderboard: runs aggregated over seeds beside published rows, rendered as Markdown, LaTeX, CSV or HTML.

Layout follows Tables 3 and 4 of the CFL paper (closed set: many / medium / few / overall / group
mean; open set: many / medium / few / F-measure), plus calibration (ECE) and open-set AUROC.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from oltr.evaluation.open_set import FP_RULES
from oltr.evaluation.shots import RULES
from oltr.methods import method_label
from oltr.reporting import plots
from oltr.reporting.comparable import differing_keys, label
from oltr.reporting.published import load_published
from oltr.reporting.runs import collect_runs
from oltr.reporting.significance import mark_leads

FORMATS = ("md", "latex", "csv", "html")
SUFFIX = {"md": ".md", "latex": ".tex", "csv": ".csv", "html": ".html"}


@dataclass(frozen=True)
class Column:
    """A metric column: its key in the runs table, header, header group, display scale and decimals."""

    key: str
    header: str
    group: str
    scale: float
    decimals: int
    higher_is_better: bool = True


COLUMNS: tuple[Column, ...] = (
    Column("closed_many", "Many", "Closed set", 100.0, 1),
    Column("closed_medium", "Medium", "Closed set", 100.0, 1),
    Column("closed_few", "Few", "Closed set", 100.0, 1),
    Column("closed_overall", "Overall", "Closed set", 100.0, 1),
    Column("closed_group_mean", "Group mean", "Closed set", 100.0, 1),
    Column("closed_ece", "ECE", "Closed set", 1.0, 3, False),
    Column("open_many", "Many", "Open set", 100.0, 1),
    Column("open_medium", "Medium", "Open set", 100.0, 1),
    Column("open_few", "Few", "Open set", 100.0, 1),
    Column("open_f_measure", "F-measure", "Open set", 1.0, 3),
    Column("open_auroc", "AUROC", "Open set", 1.0, 3),
)
#: Further columns, chosen with ``columns=`` / ``oltr leaderboard --columns`` (keys or the sets below).
EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("closed_macro_f1", "Macro F1", "Closed set", 1.0, 3),
    Column("closed_top5", "Top-5", "Closed set", 100.0, 1),
    Column("closed_nll", "NLL", "Closed set", 1.0, 3, False),
    Column("closed_brier", "Brier", "Closed set", 1.0, 3, False),
    *(Column(f"closed_prior_{d}_{r}", f"{d.capitalize()} {r}", "Closed set", 100.0, 1)
      for d, r in (("forward", 50), ("forward", 10), ("backward", 10), ("backward", 50))),
    *(Column(f"closed_prior_corrected_{d}_{r}", f"{d.capitalize()} {r} corr.", "Closed set", 100.0, 1)
      for d, r in (("forward", 50), ("forward", 10), ("backward", 10), ("backward", 50))),
    Column("open_overall", "Overall", "Open set", 100.0, 1),
    Column("open_open_accuracy", "Open acc.", "Open set", 100.0, 1),
    Column("open_aupr_in", "AUPR-in", "Open set", 1.0, 3),
    Column("open_aupr_out", "AUPR-out", "Open set", 1.0, 3),
    Column("open_fpr95", "FPR95", "Open set", 1.0, 3, False),
    Column("open_oscr", "OSCR", "Open set", 1.0, 3),
    *(Column(f"open_rejected_{g}", f"{g.capitalize()} rejected", "Open set", 100.0, 1, False)
      for g in ("many", "medium", "few")),
)
ALL_COLUMNS: tuple[Column, ...] = (*COLUMNS, *EXTRA_COLUMNS)
#: Named column sets for ``--columns`` (``default`` = the table of the OLTR / CFL papers).
COLUMN_SETS: dict[str, tuple[str, ...]] = {
    "default": tuple(c.key for c in COLUMNS),
    "ood": ("closed_overall", "open_f_measure", "open_auroc", "open_aupr_in", "open_aupr_out", "open_fpr95",
            "open_oscr"),
    "rejection": ("open_many", "open_medium", "open_few", "open_rejected_many", "open_rejected_medium",
                  "open_rejected_few"),
    "calibration": ("closed_overall", "closed_top5", "closed_ece", "closed_nll", "closed_brier"),
    "priors": ("closed_prior_forward_50", "closed_prior_forward_10", "closed_overall", "closed_prior_backward_10",
               "closed_prior_backward_50", "closed_prior_corrected_forward_50", "closed_prior_corrected_forward_10",
               "closed_prior_corrected_backward_10", "closed_prior_corrected_backward_50"),
}


#: Tables written by :func:`write_leaderboard` beside ``leaderboard.*``: file stem -> columns.
EXTRA_TABLES: dict[str, str] = {"leaderboard_ood": "ood,rejection", "leaderboard_priors": "calibration,priors"}


def select_columns(spec: str | Sequence[str] | None = None) -> tuple[Column, ...]:
    """Columns named by ``spec``: comma-separated column keys (``open_fpr95``) and set names of
    :data:`COLUMN_SETS`, in the order given, without repeats; ``None`` is ``default``."""
    if spec is None:
        spec = "default"
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    by_key = {c.key: c for c in ALL_COLUMNS}
    keys: list[str] = []
    for name in names:
        if name in COLUMN_SETS:
            keys.extend(COLUMN_SETS[name])
        elif name in by_key:
            keys.append(name)
        else:
            raise ValueError(f"unknown leaderboard column {name!r}; use a set ({', '.join(COLUMN_SETS)}) "
                             f"or a key: {', '.join(by_key)}")
    if not keys:
        raise ValueError("no leaderboard column selected")
    return tuple(by_key[k] for k in dict.fromkeys(keys))


def _columns(table: pd.DataFrame) -> tuple[Column, ...]:
    """The metric columns of a leaderboard table, in the order it holds them."""
    by_key = {c.key: c for c in ALL_COLUMNS}
    return tuple(by_key[k] for k in table.attrs.get("columns", [c.key for c in COLUMNS]))


ID_COLUMNS = ("dataset", "stage", "method", "loss", "backbone", "published", "n_seeds", "seeds", "source", "citations",
              "notes")


SCORE_NAMES = {"msp": "max softmax", "temp_msp": "temperature-scaled max softmax", "max_logit": "max logit",
               "energy": "energy", "knn": "KNN score", "mahalanobis": "Mahalanobis score"}


def _protocol_note(rule: str, fp_rule: Any, threshold: Any, threshold_score: Any = None, ood_score: Any = None) -> str:
    text = f"Our runs: shot groups {RULES[rule].description} training images"
    if isinstance(fp_rule, str) and fp_rule in FP_RULES:
        by = threshold_score if isinstance(threshold_score, str) else "msp"
        text += (f"; open set: rejection below {SCORE_NAMES.get(by, by)} {threshold:g}, FP rule '{fp_rule}': "
                 f"{FP_RULES[fp_rule]}")
        if isinstance(ood_score, str) and ood_score != by:
            text += f"; AUROC, AUPR, FPR95 and OSCR from the {SCORE_NAMES.get(ood_score, ood_score)}"
    return text + "; mean ± sample std over seeds."


def _or_none(frame: pd.DataFrame, column: str) -> list:
    return list(frame[column]) if column in frame else [None] * len(frame)


def _aggregate_runs(runs: pd.DataFrame) -> pd.DataFrame:
    records = []
    runs = runs.assign(method=runs["method"].fillna("plain") if "method" in runs else "plain",
                       backbone=runs["backbone"].fillna("") if "backbone" in runs else "")
    # rows grouped by method (in the order methods first appear), then by loss in the order given
    first = {m: i for i, m in reversed(list(enumerate(runs["method"])))}
    runs = runs.iloc[np.argsort([first[m] for m in runs["method"]], kind="stable")]
    if "experiment" not in runs:
        runs = runs.assign(experiment=runs["loss_params"])
    # seeds are averaged only within one experiment (equal configs apart from the seed, see
    # oltr.reporting.comparable); several experiments of one loss get one row each, labelled by what differs
    labels: dict[tuple, str] = {}
    for (dataset, stage, method, loss), same_loss in runs.groupby(["dataset", "stage", "method", "loss"], sort=False):
        keys = list(dict.fromkeys(same_loss["experiment"]))
        if len(keys) > 1:
            differing = differing_keys(keys) if all(k.startswith("{") for k in keys) else []
            for key in keys:
                labels[(dataset, stage, method, loss, key)] = f"{loss} ({label(key, differing) if differing else key})"
    for (dataset, stage, method, loss, key), grp in runs.groupby(["dataset", "stage", "method", "loss", "experiment"],
                                                                 sort=False):
        seeds = grp["seed"].tolist()
        if len(set(map(str, seeds))) < len(seeds):
            warnings.warn(f"{dataset} stage {stage} loss {loss!r}: repeated seeds {seeds}", stacklevel=3)
        rec: dict[str, Any] = {
            "dataset": dataset,
            "stage": int(stage),
            "method": method_label(method),
            "loss": labels.get((dataset, stage, method, loss, key), loss),
            "backbone": " / ".join(dict.fromkeys(grp["backbone"])),
            "published": False,
            "n_seeds": len(grp),
            "seeds": " ".join(str(s) for s in sorted(seeds, key=str)),
            "source": "ours",
            "citations": (),
            "notes": tuple(
                dict.fromkeys(
                    _protocol_note(r, f, t, ts, os_) for r, f, t, ts, os_ in
                    zip(grp["rule"], grp["fp_rule"], grp["threshold"], _or_none(grp, "threshold_score"),
                        _or_none(grp, "ood_score"))
                )
            ),
        }
        for col in ALL_COLUMNS:
            values = grp[col.key].astype(float) * col.scale if col.key in grp else pd.Series([np.nan] * len(grp))
            rec[col.key] = values.mean() if values.notna().any() else np.nan
            rec[f"{col.key}_std"] = values.std(ddof=1) if values.notna().sum() > 1 else np.nan
        records.append(rec)
    return pd.DataFrame.from_records(records)


def leaderboard_table(
    runs: pd.DataFrame | None,
    *,
    published: bool | pd.DataFrame = True,
    columns: str | Sequence[str] | None = None,
    significance: bool = True,
) -> pd.DataFrame:
    """One row per (dataset, stage, loss) of ``runs`` (seeds aggregated), with published rows for context.

    Args:
        runs: The output of :func:`oltr.reporting.collect_runs` (or ``None`` for published rows only).
        published: ``True`` adds the packaged published rows of the datasets present in ``runs`` (all
            datasets if ``runs`` is empty); a DataFrame from :func:`oltr.reporting.load_published`
            is used as given; ``False`` adds none.
        columns: The metric columns (see :func:`select_columns`; default: :data:`COLUMNS`).
        significance: Mark per (dataset, stage) and column the best of our rows and whether its lead
            over the runner-up is significant (``<key>_mark`` = ``""``, ``"best"`` or ``"best*"``,
            ``<key>_p`` = Welch's p; see :mod:`oltr.reporting.significance`).

    Returns:
        Columns :data:`ID_COLUMNS`, then per selected metric column its mean and ``<key>_std``
        (and with ``significance`` ``<key>_mark``, ``<key>_p``, ``<key>_ci_low``, ``<key>_ci_high``)
        in display units (accuracies in %, ECE / F-measure / AUROC in [0, 1]). Rows sorted by dataset
        and stage, published rows first, then losses in the order their runs were given.
    """
    selected = select_columns(columns)
    ours = _aggregate_runs(runs) if runs is not None and len(runs) else pd.DataFrame(columns=list(ID_COLUMNS))
    if isinstance(published, pd.DataFrame):
        pub = published.copy()
    elif published:
        datasets = sorted(ours["dataset"].unique()) if len(ours) else None
        pub = load_published(datasets=datasets)
    else:
        pub = pd.DataFrame(columns=list(ID_COLUMNS))
    if len(pub):
        pub = pub.assign(n_seeds=np.nan, seeds="", published=True)
        for col in selected:
            if col.key not in pub:
                pub[col.key] = np.nan
            pub[f"{col.key}_std"] = np.nan
    frames = [f for f in (pub, ours) if len(f)]
    names = [*ID_COLUMNS, *(k for c in selected for k in (c.key, f"{c.key}_std"))]
    if not frames:
        empty = pd.DataFrame(columns=names)
        empty.attrs["columns"] = [c.key for c in selected]
        return empty
    table = pd.concat([f.reindex(columns=names) for f in frames], ignore_index=True)
    table["_order"] = np.arange(len(table))
    table["_ours"] = ~table["published"].astype(bool)
    table = table.sort_values(["dataset", "stage", "_ours", "_order"], kind="stable")
    table = table.drop(columns=["_order", "_ours"]).reset_index(drop=True)
    table["published"] = table["published"].astype(bool)
    if significance and runs is not None and len(runs):
        table = mark_leads(table, runs, selected)
    table.attrs["columns"] = [c.key for c in selected]
    return table


def leaderboard(
    runs: pd.DataFrame | None, *, rule: str | None = None, published: bool | pd.DataFrame = True
) -> pd.DataFrame:
    """:func:`leaderboard_table` under the name used in ARCHITECTURE.md.

    ``rule`` only checks that ``runs`` were collected under that rule (re-scoring happens in
    :func:`oltr.reporting.collect_runs`, which has the logits at hand).
    """
    if rule is not None and runs is not None and len(runs) and set(runs["rule"]) != {rule}:
        raise ValueError(
            f"runs were scored under rule(s) {sorted(set(runs['rule']))}, not {rule!r}: "
            f"use collect_runs(run_dirs, rule={rule!r})"
        )
    return leaderboard_table(runs, published=published)


# ----------------------------------------------------------------------------------------- rendering
def _fmt(mean: float, std: float, decimals: int, pm: str, dash: str) -> str:
    if mean is None or not np.isfinite(mean):
        return dash
    text = f"{mean:.{decimals}f}"
    if std is not None and np.isfinite(std):
        text += f"{pm}{std:.{decimals}f}"
    return text


def _footnotes(table: pd.DataFrame) -> tuple[list[str], list[list[int]]]:
    notes: list[str] = []
    markers = []
    for row_notes in table["notes"]:
        ids = []
        for note in row_notes or ():
            if note not in notes:
                notes.append(note)
            ids.append(notes.index(note) + 1)
        markers.append(sorted(ids))
    return notes, markers


def _citations(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(c for cits in table["citations"] for c in (cits or ())))


def _marked(text: str, mark: Any, style: tuple[str, str, str]) -> str:
    """``text`` wrapped as the best of its column (``style`` = open, close, significance suffix)."""
    if not isinstance(mark, str) or not mark.startswith("best"):
        return text
    return style[0] + text + style[1] + (style[2] if mark.endswith("*") else "")


def _significance_legend(table: pd.DataFrame, *, bold: tuple[str, str] = ("**", "**"), star: str = "\\*",
                         esc=lambda t: t) -> str:
    """The legend of the best-row marks, with how many leads are significant (empty without marks)."""
    marks = [m for c in _columns(table) if f"{c.key}_mark" in table for m in table[f"{c.key}_mark"]
             if isinstance(m, str) and m.startswith("best")]
    if not marks:
        return ""
    n_sig = sum(m.endswith("*") for m in marks)
    return (f"{bold[0]}{esc('Bold')}{bold[1]}{esc(': best of our rows per dataset and stage; ')}{star}"
            + esc(f": its lead over the runner-up is significant (Welch's t-test over seeds, p < 0.05; with one "
                  f"seed, a 95 % paired-bootstrap interval over test samples that excludes 0). Significant leads: "
                  f"{n_sig} of {len(marks)}."))


_MARK_STYLE = {"md": ("**", "**", "\\*"), "latex": (r"\textbf{", "}", r"$^{*}$"), "html": ("<b>", "</b>", "*")}


def _text_cells(table: pd.DataFrame, *, pm: str, dash: str, esc, marker, style: str = "md"
                ) -> tuple[list[list[str]], list[str]]:
    notes, markers = _footnotes(table)
    cols = _columns(table)
    rows = []
    for (_, r), ids in zip(table.iterrows(), markers):
        method = esc(str(r["method"])) + (marker(ids) if ids else "")
        seeds = str(int(r["n_seeds"])) if not r["published"] and pd.notna(r["n_seeds"]) else dash
        source = esc(f"{r['source']} (published)" if r["published"] else str(r["source"]))
        loss, backbone = (esc(str(v)) if isinstance(v, str) and v else dash for v in (r["loss"], r["backbone"]))
        cells = [esc(str(r["dataset"])), str(int(r["stage"])), method, loss, backbone, seeds]
        cells += [_marked(_fmt(r[c.key], r[f"{c.key}_std"], c.decimals, pm, dash), r.get(f"{c.key}_mark"),
                          _MARK_STYLE[style]) for c in cols]
        rows.append(cells + [source])
    return rows, notes


def _render_markdown(table: pd.DataFrame) -> str:
    cols = _columns(table)
    header = ["Dataset", "Stage", "Method", "Loss", "Backbone", "Seeds", *(f"{c.group.split()[0]} {c.header}" for c in cols), "Source"]

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    rows, notes = _text_cells(
        table, pm=" ± ", dash="–", esc=esc, marker=lambda ids: " [" + ",".join(map(str, ids)) + "]"
    )
    right = [False, True, False, False, False, True, *([True] * len(cols)), False]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if r else ":---" for r in right) + "|",
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]
    lines.append("")
    lines.append(
        "Accuracies in %, ECE / F-measure / AUROC in [0, 1]; Group mean = (Many + Medium + Few) / 3, "
        "Overall = micro accuracy. Seeds: runs aggregated as mean ± std; – = not reported."
    )
    if any(c not in COLUMNS for c in cols):
        lines.append("Further columns: top-5 and shifted-prior accuracies (Forward / Backward rho: expected accuracy "
                     "under a long-tailed test prior of imbalance rho; corr. = after post-hoc prior correction) and "
                     "rejected known samples per shot group in %; AUPR, FPR95, OSCR in [0, 1]; NLL in nats; Brier "
                     "in [0, 2]. Definitions: docs/evaluation.md.")
    legend = _significance_legend(table)
    if legend:
        lines.append(legend)
    if notes:
        lines.append("")
        lines.extend(f"[{i}] {n}  " for i, n in enumerate(notes, 1))
    cits = _citations(table)
    if cits:
        lines.append("")
        lines.append("Sources (published rows):")
        lines.append("")
        lines.extend(f"- {c}" for c in cits)
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text).replace("±", r"$\pm$").replace("–", "--")


def _render_latex(table: pd.DataFrame) -> str:
    rows, notes = _text_cells(
        table, pm=r" $\pm$ ", dash="--", esc=latex_escape,
        marker=lambda ids: r"\textsuperscript{" + ",".join(map(str, ids)) + "}", style="latex",
    )
    cols = _columns(table)
    groups: list[tuple[str, int]] = []
    for c in cols:
        if groups and groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    spec = "llllll" + "".join("r" * n for _, n in groups) + "l"
    top, rules, start = ["", "", "", "", "", ""], [], 7
    for name, n in groups:
        top.append(rf"\multicolumn{{{n}}}{{c}}{{{latex_escape(name)}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + n - 1}}}")
        start += n
    top.append("")
    second = ["Dataset", "Stage", "Method", "Loss", "Backbone", "Seeds", *(latex_escape(c.header) for c in cols), "Source"]
    out = [
        "% generated by `oltr leaderboard`; needs \\usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        r"\scriptsize",
        r"\setlength{\tabcolsep}{3pt}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(top) + r" \\",
        " ".join(rules),
        " & ".join(second) + r" \\",
        r"\midrule",
    ]
    previous = None
    for (_, r), cells in zip(table.iterrows(), rows):
        key = (r["dataset"], r["stage"])
        if previous is not None and key != previous:
            out.append(r"\midrule")
        previous = key
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"\begin{minipage}{\linewidth}\tiny"]
    out.append(
        "Accuracies in \\%, ECE / F-measure / AUROC in [0, 1]; Group mean = (Many + Medium + Few) / 3, "
        "Overall = micro accuracy; runs aggregated over seeds as mean $\\pm$ std; -- = not reported.\\\\"
    )
    legend = _significance_legend(table, bold=(r"\textbf{", "}"), star=r"$^{*}$", esc=latex_escape)
    if legend:
        out.append(legend + r"\\")
    out += [rf"\textsuperscript{{{i}}}{latex_escape(n)}\\" for i, n in enumerate(notes, 1)]
    out += [latex_escape(c) + r"\\" for c in _citations(table)]
    out += [r"\end{minipage}", r"\caption{Leaderboard (published rows marked).}", r"\end{table}"]
    return "\n".join(out) + "\n"


def _render_html(table: pd.DataFrame) -> str:
    rows, notes = _text_cells(
        table, pm=" ± ", dash="–", esc=html.escape, marker=lambda ids: "<sup>" + ",".join(map(str, ids)) + "</sup>",
        style="html",
    )
    columns = pd.MultiIndex.from_tuples(
        [("", "Dataset"), ("", "Stage"), ("", "Method"), ("", "Loss"), ("", "Backbone"), ("", "Seeds"),
         *((c.group, c.header) for c in _columns(table)), ("", "Source")]
    )
    frame = pd.DataFrame(rows, columns=columns)
    body = frame.to_html(index=False, escape=False, border=0, classes="oltr-leaderboard")
    foot = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    cits = "".join(f"<li>{html.escape(c)}</li>" for c in _citations(table))
    if foot:
        body += f"\n<ol class='notes'>{foot}</ol>"
    if cits:
        body += f"\n<ul class='sources'>{cits}</ul>"
    return body + "\n"


def _render_csv(table: pd.DataFrame) -> str:
    out = table.copy()
    out["citations"] = out["citations"].map(lambda c: " | ".join(c or ()))
    out["notes"] = out["notes"].map(lambda n: " | ".join(n or ()))
    return out.to_csv(index=False, float_format="%.6g")


_RENDERERS = {"md": _render_markdown, "latex": _render_latex, "csv": _render_csv, "html": _render_html}


def render(table: pd.DataFrame, fmt: str = "md") -> str:
    """The leaderboard as text.

    Args:
        table: The output of :func:`leaderboard_table`.
        fmt: ``"md"`` (pipe table + footnotes), ``"latex"`` (booktabs ``table``), ``"csv"`` (numeric
            means and stds, machine-readable) or ``"html"``.
    """
    if fmt not in _RENDERERS:
        raise ValueError(f"Expected `fmt` to be one of {list(FORMATS)}, but got {fmt!r}")
    return _RENDERERS[fmt](table)


# ---------------------------------------------------------------------------------------- writing
def write_plots(runs: pd.DataFrame, out_dir: str | Path, *, prefix: str = "") -> dict[str, Path]:
    """All leaderboard plots of ``runs`` as PNG files in ``out_dir`` (plots with nothing to show are skipped)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = {
        "per_class_accuracy": plots.plot_per_class_accuracy(runs, out_dir / f"{prefix}per_class_accuracy.png"),
        "shot_bars": plots.plot_shot_bars(runs, out_dir / f"{prefix}shot_bars.png"),
        "xi_schedules": plots.plot_xi_schedules(runs, out_dir / f"{prefix}xi_schedules.png"),
        "training_curves": plots.plot_training_curves(runs, out_dir / f"{prefix}training_curves.png"),
    }
    return {k: v for k, v in made.items() if v is not None}


def write_leaderboard(
    run_dirs: Iterable[str | Path] | str | Path,
    out_dir: str | Path,
    formats: Sequence[str] = ("md", "csv", "latex"),
    rule: str = "strict",
    plots: bool = True,
    *,
    published: bool = True,
    tables: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Collect runs, write the leaderboard in each format, the per-run table and the plots.

    Returns:
        ``{fmt: path}`` for each format (``leaderboard.md``, ``.csv``, ``.tex``, ``.html``), ``"runs"``
        (``runs.csv``, one row per run) and one entry per plot written. Plots are skipped with a warning
        when matplotlib (the ``plots`` extra) is not installed.

    ``tables`` maps further file stems to column selections (default :data:`EXTRA_TABLES`:
    ``leaderboard_ood.*`` with the OOD metrics and the per-group rejection of known samples,
    ``leaderboard_priors.*`` with calibration and the shifted-prior accuracies), written in the same formats.
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"Expected formats from {list(FORMATS)}, but got {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = collect_runs(run_dirs, rule=rule)
    table = leaderboard_table(runs, published=published)
    paths: dict[str, Path] = {}
    for fmt in formats:
        path = out_dir / f"leaderboard{SUFFIX[fmt]}"
        path.write_text(render(table, fmt))
        paths[fmt] = path
    for stem, spec in (EXTRA_TABLES if tables is None else tables).items():
        extra = leaderboard_table(runs, published=published, columns=spec)
        for fmt in formats:
            path = out_dir / f"{stem}{SUFFIX[fmt]}"
            path.write_text(render(extra, fmt))
            paths[f"{stem}_{fmt}"] = path
    per_run = runs.drop(columns=["per_class", "train_counts", "experiment"], errors="ignore")
    per_run.to_csv(out_dir / "runs.csv", index=False, float_format="%.6g")
    paths["runs"] = out_dir / "runs.csv"
    if plots:
        try:
            # the plots compare losses within the pipeline's own stages; method runs (oltr.methods) are in the tables
            paths.update(write_plots(runs[runs["method"].isin(["plain", "oltr"])], out_dir))
        except ImportError as err:
            warnings.warn(f"plots skipped: {err}", stacklevel=2)
    return paths

