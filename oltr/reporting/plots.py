"""Leaderboard plots (matplotlib, the optional ``plots`` extra), written as PNG files.

Every function takes the runs table of :func:`oltr.reporting.collect_runs` and an output path, and
returns the path written, or ``None`` when there is nothing to plot (e.g. no cyclical loss).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oltr.evaluation.shots import GROUPS, get_rule
from oltr.plotting import GROUP_COLORS, pyplot, save_figure
from oltr.reporting.runs import read_history


def _panels(runs: pd.DataFrame) -> list[tuple[tuple[str, int], pd.DataFrame]]:
    return [((d, int(s)), g) for (d, s), g in runs.groupby(["dataset", "stage"], sort=True)]


def _grid(plt: Any, n: int, ncols: int = 2, size: tuple[float, float] = (5.5, 4.0)) -> tuple[Any, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_per_class_accuracy(runs: pd.DataFrame, path: str | Path) -> Path | None:
    """Per-class closed-set accuracy against training count (log x), shot groups shaded.

    One panel per (dataset, stage); per loss, the per-class accuracy averaged over seeds (points) and
    its mean over log-spaced count bins (line).
    """
    runs = runs[runs["per_class"].map(len) > 0]
    if runs.empty:
        return None
    plt = pyplot()
    panels = _panels(runs)
    fig, axes = _grid(plt, len(panels))
    for ax, ((dataset, stage), grp) in zip(axes, panels):
        counts = np.maximum(grp["train_counts"].iloc[0].astype(float), 0.8)  # log axis: show 0 as 0.8
        lo, hi = counts.min() * 0.8, counts.max() * 1.25
        rule = get_rule(grp["rule"].iloc[0])
        few_edge, many_edge = rule.few_max + 0.5, rule.many_min - 0.5
        spans = {"few": (lo, few_edge), "medium": (few_edge, many_edge), "many": (many_edge, hi)}
        for group in GROUPS:
            a, b = spans[group]
            if b > a:
                ax.axvspan(max(a, lo), min(b, hi), color=GROUP_COLORS[group], alpha=0.08, lw=0)
                ax.text(np.sqrt(max(a, lo) * min(b, hi)), 0.98, group, ha="center", va="top", fontsize=8,
                        color="0.35", transform=ax.get_xaxis_transform())
        edges = np.geomspace(lo, hi, 12)
        for loss, lg in grp.groupby("loss", sort=False):
            acc = np.nanmean(np.stack(lg["per_class"].to_list()), axis=0) * 100
            pts = ax.scatter(counts, acc, s=6, alpha=0.35, label=None)
            which = np.digitize(counts, edges)
            centers, means = [], []
            for b in np.unique(which):
                sel = (which == b) & ~np.isnan(acc)
                if sel.any():
                    centers.append(np.exp(np.log(counts[sel]).mean()))
                    means.append(acc[sel].mean())
            ax.plot(centers, means, "-o", ms=3, color=pts.get_facecolor()[0][:3], label=f"{loss} (n={len(lg)})")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(-2, 108)
        ax.set_xlabel("training images per class")
        ax.set_ylabel("test accuracy per class (%)")
        ax.set_title(f"{dataset}, stage {stage} (groups: {rule.name})", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, plt, path)


def plot_shot_bars(runs: pd.DataFrame, path: str | Path) -> Path | None:
    """Grouped bars of closed-set many / medium / few accuracy per loss (mean over seeds, std as error bar)."""
    if runs.empty:
        return None
    plt = pyplot()
    panels = _panels(runs)
    fig, axes = _grid(plt, len(panels))
    for ax, ((dataset, stage), grp) in zip(axes, panels):
        stats = grp.groupby("loss", sort=False)[[f"closed_{g}" for g in GROUPS]].agg(["mean", "std"]) * 100
        losses = list(stats.index)
        width = 0.8 / max(len(losses), 1)
        x = np.arange(len(GROUPS))
        for i, loss in enumerate(losses):
            means = [stats.loc[loss, (f"closed_{g}", "mean")] for g in GROUPS]
            stds = np.nan_to_num([stats.loc[loss, (f"closed_{g}", "std")] for g in GROUPS])
            ax.bar(x + (i - (len(losses) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=loss)
        ax.set_xticks(x, [g for g in GROUPS])
        ax.set_ylabel("closed-set accuracy (%)")
        ax.set_title(f"{dataset}, stage {stage} (groups: {grp['rule'].iloc[0]})", fontsize=10)
        ax.legend(fontsize=8)
    return save_figure(fig, plt, path)


def plot_xi_schedules(runs: pd.DataFrame, path: str | Path) -> Path | None:
    """The cyclical weight xi per epoch of every run that logged one (``xi`` in ``metrics.jsonl``).

    Runs of the same (dataset, stage, loss) with an identical schedule are drawn once.
    """
    curves: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for _, r in runs.iterrows():
        hist = read_history(r["run_dir"])
        if hist.empty or "xi" not in hist or hist["xi"].isna().all():
            continue
        h = hist.dropna(subset=["xi"])
        x = h["epoch"].to_numpy(float) if "epoch" in h else np.arange(len(h), dtype=float)
        y = h["xi"].to_numpy(float)
        key = (r["dataset"], int(r["stage"]), r["loss"], tuple(np.round(y, 8)))
        curves.setdefault(key, (x, y))
    if not curves:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for (dataset, stage, loss, _), (x, y) in curves.items():
        ax.plot(x, y, "-o", ms=3, label=f"{loss} ({dataset}, stage {stage})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"$\xi$ (weight of the high-confidence term)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("Cyclical schedules", fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, plt, path)


#: Accepted spellings of the two curves in ``metrics.jsonl`` (first match wins).
CURVE_KEYS = {"train_loss": ("train_loss", "loss"), "val_top1": ("val_top1", "val_overall")}


def _canonical_curves(hist: pd.DataFrame) -> pd.DataFrame:
    out = hist.copy()
    for name, keys in CURVE_KEYS.items():
        key = next((k for k in keys if k in hist and pd.to_numeric(hist[k], errors="coerce").notna().any()), None)
        out[name] = pd.to_numeric(hist[key], errors="coerce") if key else np.nan
    return out


def plot_training_curves(runs: pd.DataFrame, path: str | Path) -> Path | None:
    """Training loss and validation top-1 per epoch from ``metrics.jsonl``.

    Reads ``train_loss`` (or ``loss``) and ``val_top1`` (or ``val_overall``), as a fraction or in %.

    One row of panels per (dataset, stage); per loss the mean over seeds (line) and min-max (band).
    """
    frames = []
    for _, r in runs.iterrows():
        hist = read_history(r["run_dir"])
        if hist.empty or "epoch" not in hist:
            continue
        hist = _canonical_curves(hist)
        frames.append(hist.assign(dataset=r["dataset"], stage=int(r["stage"]), loss=r["loss"], run=r["run_dir"]))
    if not frames:
        return None
    hist = pd.concat(frames, ignore_index=True)
    metrics = [m for m in ("train_loss", "val_top1") if m in hist and hist[m].notna().any()]
    if not metrics:
        return None
    plt = pyplot()
    panels = _panels(hist)
    fig, axes = plt.subplots(len(panels), len(metrics), figsize=(5.5 * len(metrics), 3.6 * len(panels)), squeeze=False)
    for row, ((dataset, stage), grp) in enumerate(panels):
        for col, metric in enumerate(metrics):
            ax = axes[row, col]
            # val_top1 is logged as a fraction; older logs in % are drawn as they are.
            scale = 100.0 if metric == "val_top1" and hist[metric].max() <= 1.0 else 1.0
            for loss, lg in grp.groupby("loss", sort=False):
                stats = lg.groupby("epoch")[metric].agg(["mean", "min", "max"])
                line = ax.plot(stats.index, stats["mean"] * scale, label=f"{loss} (n={lg['run'].nunique()})")[0]
                ax.fill_between(stats.index, stats["min"] * scale, stats["max"] * scale,
                                color=line.get_color(), alpha=0.15, lw=0)
            ax.set_xlabel("epoch")
            ax.set_ylabel("training loss" if metric == "train_loss" else "validation top-1 (%)")
            ax.set_title(f"{dataset}, stage {stage}", fontsize=10)
            ax.legend(fontsize=8)
    return save_figure(fig, plt, path)
