"""Reports of suites whose presets were expanded (``oltr.suite_grid``): the loss-parameter sweep
(the CFL paper's Figures 2 and 4: accuracy against gamma_hc, one line per f_c, seed spread as a band)
and the protocol table (the layout of its Table 2: one row per loss, one column per protocol,
mean ± sample std over seeds, the paper's own rows beside ours).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from oltr.plotting import pyplot, save_figure
from oltr.reporting.published import read_published
from oltr.reporting.runs import collect_runs

__all__ = ["PAPER_LOSS_NAMES", "plot_sweep", "protocol_table", "render_protocol_table", "render_sweep_table",
           "sweep_table", "write_suite_reports"]

#: How the CFL paper's tables name our loss presets.
PAPER_LOSS_NAMES = {"ce": "CE", "focal": "FL", "asl": "ASL", "cfl": "CFL", "casl": "CASL"}
METRIC_NAMES = {"closed_overall": "top-1 accuracy (%)", "closed_group_mean": "group-mean accuracy (%)"}


def _with_presets(runs: pd.DataFrame, presets: dict[str, str]) -> pd.DataFrame:
    """``runs`` with a ``preset`` column, from ``{run_dir: preset}``."""
    key = {str(Path(d).resolve()): p for d, p in presets.items()}
    out = runs.copy()
    out["preset"] = [key.get(str(Path(d).resolve())) for d in out["run_dir"]]
    return out


def sweep_table(runs: pd.DataFrame, params: Sequence[str], metric: str = "closed_overall") -> pd.DataFrame:
    """Per sweep point: the parameter values, seeds, and ``metric`` (in %) as mean, sample std, min, max."""
    values = runs["loss_params"].map(json.loads)
    frame = pd.DataFrame({p: values.map(lambda d, p=p: d.get(p)) for p in params})
    frame["value"] = runs[metric].astype(float).to_numpy() * 100.0
    frame["seed"] = runs["seed"].to_numpy()
    grouped = frame.groupby(list(params), sort=True)["value"]
    table = grouped.agg(n_seeds="count", mean="mean", std=lambda v: v.std(ddof=1) if len(v) > 1 else np.nan,
                        min="min", max="max").reset_index()
    return table


def render_sweep_table(table: pd.DataFrame, row: str, col: str, metric: str = "closed_overall") -> str:
    """Markdown: one row per ``row`` value, one column per ``col`` value, mean ± std."""
    cols = sorted(table[col].unique())
    lines = [f"| {row} \\ {col} | " + " | ".join(f"{col} = {c:g}" for c in cols) + " |",
             "|---:|" + "---:|" * len(cols)]
    for r, grp in table.groupby(row, sort=True):
        cells = []
        for c in cols:
            hit = grp[grp[col] == c]
            if hit.empty:
                cells.append("–")
                continue
            m, s = float(hit["mean"].iloc[0]), float(hit["std"].iloc[0])
            cells.append(f"{m:.1f} ± {s:.1f}" if np.isfinite(s) else f"{m:.1f}")
        lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    n = sorted(set(table["n_seeds"].astype(int)))
    lines += ["", f"Test {METRIC_NAMES.get(metric, metric)}, mean ± sample std over {'/'.join(map(str, n))} seeds."]
    return "\n".join(lines) + "\n"


def plot_sweep(table: pd.DataFrame, path: str | Path, x: str, line: str, *, title: str = "",
               metric: str = "closed_overall") -> Path:
    """Accuracy against ``x``, one line per ``line`` value (mean over seeds), the seeds' min-max as a band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for value, grp in table.groupby(line, sort=True):
        grp = grp.sort_values(x)
        (handle,) = ax.plot(grp[x], grp["mean"], marker="o", label=f"{line} = {value:g}")
        ax.fill_between(grp[x], grp["min"], grp["max"], color=handle.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel(x)
    ax.set_xticks(sorted(table[x].unique()))
    ax.set_ylabel(f"test {METRIC_NAMES.get(metric, metric)}")
    n = "/".join(map(str, sorted(set(table["n_seeds"].astype(int)))))
    note = f"mean over {n} seeds, band = min-max over seeds"
    ax.set_title(f"{title}\n({note})" if title else note, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, plt, path)


def protocol_table(runs: pd.DataFrame, protocols: dict[str, dict[str, str]], *, decimals: int = 2,
                   metric: str = "closed_overall") -> pd.DataFrame:
    """One row per loss, one column per protocol: ``metric`` in %, mean ± sample std over seeds."""
    runs = runs.dropna(subset=["preset"])
    order_loss = list(dict.fromkeys(v["loss"] for v in protocols.values()))
    order_proto = list(dict.fromkeys(v["protocol"] for v in protocols.values()))
    info = pd.DataFrame([{"preset": k, "base_loss": v["loss"], "protocol": v["protocol"]} for k, v in protocols.items()])
    merged = runs.merge(info, on="preset")
    cells: dict[str, dict[str, str]] = {}
    seeds: dict[str, set[int]] = {}
    for (loss, proto), grp in merged.groupby(["base_loss", "protocol"]):
        v = grp[metric].astype(float) * 100.0
        text = f"{v.mean():.{decimals}f}" + (f" ± {v.std(ddof=1):.{decimals}f}" if len(v) > 1 else "")
        cells.setdefault(loss, {})[proto] = text
        seeds.setdefault(loss, set()).add(len(v))
    rows = [{"method": PAPER_LOSS_NAMES.get(loss, loss), **{p: cells.get(loss, {}).get(p, "–") for p in order_proto},
             "seeds": "/".join(map(str, sorted(seeds.get(loss, {0}))))} for loss in order_loss]
    return pd.DataFrame(rows, columns=["method", *order_proto, "seeds"])


def _published_blocks(datasets: Iterable[str], protocols: Sequence[str]) -> list[tuple[str, str, pd.DataFrame]]:
    """Published Table-2 style blocks: rows of ``published.yaml`` whose dataset is ``<prefix>_<protocol>``."""
    data = read_published()
    sources = data["sources"]
    blocks = []
    for prefix in datasets:
        rows: dict[str, dict[str, str]] = {}
        cite = ""
        for row in data["rows"]:
            for proto in protocols:
                if row["dataset"] != f"{prefix}_{proto}":
                    continue
                mean = (row.get("closed") or {}).get("overall")
                std = (row.get("std") or {}).get("closed.overall")
                if mean is None:
                    continue
                rows.setdefault(row["method"], {})[proto] = f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")
                src = sources[row["source"]]
                cite = f"{src['citation']} ({row.get('backbone', '')}), {src['url']}"
        if rows:
            table = pd.DataFrame([{"method": m, **{p: v.get(p, "–") for p in protocols}} for m, v in rows.items()])
            blocks.append((prefix, cite, table))
    return blocks


def render_protocol_table(ours: pd.DataFrame, title: str, protocol_headers: dict[str, str],
                          published: Sequence[str] = (), note: str = "") -> str:
    """Markdown in the layout of the CFL paper's Table 2, our block first, then the published blocks."""
    protos = list(protocol_headers)
    head = lambda name: "| " + name + " | " + " | ".join(protocol_headers[p] for p in protos)  # noqa: E731
    lines = [head(title) + " | Seeds |", "|:---|" + "---:|" * len(protos) + "---:|"]
    lines += [f"| {r['method']} | " + " | ".join(r[p] for p in protos) + f" | {r['seeds']} |" for _, r in ours.iterrows()]
    for prefix, cite, table in _published_blocks(published, protos):
        lines += ["", head(f"{prefix} (published)") + " |", "|:---|" + "---:|" * len(protos)]
        lines += [f"| {r['method']} | " + " | ".join(r[p] for p in protos) + " |" for _, r in table.iterrows()]
        lines += ["", f"Source: {cite}"]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def write_suite_reports(suite: Any, grid: Sequence[Any], out_dir: str | Path, *, rule: str = "strict",
                        plots: bool = True) -> dict[str, Path]:
    """The sweep report (``sweep.md``, ``sweep_<name>.png``, ``runs.csv``) of a suite with ``sweeps`` and the
    protocol table (``protocols.md``) of a suite with ``protocols``; nothing for other suites."""
    if not suite.sweeps and not suite.protocols:
        return {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = _with_presets(collect_runs([c.run_dir for c in grid], rule=rule), {str(c.run_dir): c.loss for c in grid})
    written: dict[str, Path] = {}
    if suite.sweeps:
        swept = runs[runs["preset"].isin(suite.sweeps)]
        runs.drop(columns=["per_class", "train_counts"]).to_csv(out_dir / "runs.csv", index=False, float_format="%.6g")
        written["runs"] = out_dir / "runs.csv"
        parts = [f"# Sweep: suite {suite.name} ({suite.dataset}, stage {'1 only' if suite.stage_2 is None else '1 and 2'})", ""]
        for name in dict.fromkeys(v["sweep"] for v in suite.sweeps.values()):
            keys = [p for p in next(v["params"] for v in suite.sweeps.values() if v["sweep"] == name)]
            sub = swept[swept["preset"].map(lambda p: suite.sweeps.get(p, {}).get("sweep") == name)]
            table = sweep_table(sub, keys)
            table.to_csv(out_dir / f"sweep_{name}.csv", index=False, float_format="%.4f")
            written[f"sweep_{name}_csv"] = out_dir / f"sweep_{name}.csv"
            row, col = keys[0], keys[1] if len(keys) > 1 else keys[0]
            parts += [f"## {name}: {' x '.join(keys)}", "", render_sweep_table(table, row, col)]
            if plots and len(keys) == 2:
                try:
                    written[f"sweep_{name}"] = plot_sweep(
                        table, out_dir / f"sweep_{name}.png", row, col,
                        title=f"{name} on {suite.dataset}: test top-1 vs {row}, one line per {col}")
                except ImportError:
                    pass
        (out_dir / "sweep.md").write_text("\n".join(parts))
        written["sweep"] = out_dir / "sweep.md"
    if suite.protocols:
        protos = list(dict.fromkeys(v["protocol"] for v in suite.protocols.values()))
        headers = {p: {"balanced": "Balanced", "5_3": "5/3 Imbalance", "6_2": "6/2 Imbalance"}.get(p, p) for p in protos}
        ours = protocol_table(runs, suite.protocols)
        ours.to_csv(out_dir / "protocols.csv", index=False)
        published = [f"CIFAR{k}_4k" for k in (10, 100)] if all(p in headers for p in ("balanced", "5_3", "6_2")) else []
        text = render_protocol_table(ours, f"4K {suite.dataset.split('_')[0]} (ours)", headers, published,
                                     note="Test top-1 accuracy in %, mean ± sample std over seeds (Seeds = runs per cell).")
        (out_dir / "protocols.md").write_text(text)
        written["protocols"] = out_dir / "protocols.md"
    return written
