"""Per-run curves: the open-set threshold sweep and the reliability diagram (matplotlib, ``plots`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oltr.evaluation.calibration import expected_calibration_error, reliability_curve
from oltr.evaluation.shots import GROUPS
from oltr.plotting import GROUP_COLORS, pyplot, save_figure


def plot_sweep(table: pd.DataFrame, path: str | Path, *, score: str = "msp", chosen: float | None = None) -> Path:
    """Left: F-measure (both FP rules), open-set accuracy and known accuracy against the threshold;
    right: the rejection rate of known samples per shot group. ``chosen`` draws the threshold used."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    t = table["threshold"]
    ax1.plot(t, table["f_measure_oltr"], label="F-measure (FP rule oltr)")
    ax1.plot(t, table["f_measure_oltr2019"], "--", label="F-measure (FP rule oltr2019)")
    ax1.plot(t, table["open_accuracy"], label="open-set accuracy (open rejected)")
    ax1.plot(t, table["overall"], label="known accuracy (accepted and correct)")
    for g in GROUPS:
        ax2.plot(t, table[f"rejected_{g}"], color=GROUP_COLORS[g], label=f"{g}-shot known rejected")
    ax2.plot(t, table["rejected_known"], "k:", label="all known rejected")
    for ax in (ax1, ax2):
        if chosen is not None:
            ax.axvline(chosen, color="grey", lw=0.8)
        ax.set_xlabel(f"threshold on {score} (reject below)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    ax1.set_title("Open-set metrics against the threshold")
    ax2.set_title("Known samples rejected, per shot group")
    return save_figure(fig, plt, path)


def plot_reliability(logits: Any, labels: Any, path: str | Path, *, n_bins: int = 15) -> Path:
    """Reliability diagram: accuracy against mean confidence per equal-width bin, with the ECE."""
    plt = pyplot()
    curve = reliability_curve(logits, labels, n_bins=n_bins)
    ece = expected_calibration_error(logits, labels, n_bins=n_bins, input="logits")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    centres = (curve["edges"][:-1] + curve["edges"][1:]) / 2
    ok = curve["count"] > 0
    ax.bar(centres[ok], np.nan_to_num(curve["accuracy"][ok]), width=1.0 / n_bins, edgecolor="k", alpha=0.7,
           label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    ax.set_xlabel("confidence (max softmax)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE {ece:.3f}, {n_bins} bins)")
    ax.legend(fontsize=8)
    return save_figure(fig, plt, path)
