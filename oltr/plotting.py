"""Figure helpers shared by every plot (the per-run curves of ``oltr.evaluation.curves`` and the
leaderboard plots of ``oltr.reporting``): matplotlib comes from the optional ``plots`` extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GROUP_COLORS = {"many": "#4c72b0", "medium": "#dd8452", "few": "#55a868"}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend; an ``ImportError`` saying what to install."""
    try:
        import matplotlib  # lazy: optional extra (`plots`); the rest of oltr runs without it
    except ImportError as err:
        raise ImportError(
            "oltr plots need matplotlib: install the `plots` extra (pip install 'oltr[plots]')"
        ) from err
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # lazy: optional extra, and only after the backend is chosen

    return plt


def save_figure(fig: Any, plt: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (parents created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
