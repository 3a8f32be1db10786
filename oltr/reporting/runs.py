"""Reading evaluated run directories into one pandas DataFrame (one row per run).

A run directory (written by :func:`oltr.engine.train` and :func:`oltr.engine.evaluate_run`) holds
``config.yaml``, ``metrics.jsonl`` (one JSON object per epoch), ``eval_test.json`` and
``logits_test.npz``. Metrics are re-scored from the saved logits when the shot-group rule asked for
differs from the one stored, so that every row of a leaderboard uses the same rule.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import yaml

from oltr.engine.logits import LogitsFileError, load_logits
from oltr.evaluation import closed_set_metrics, open_set_metrics
from oltr.evaluation.shots import get_rule
from oltr.reporting.comparable import experiment_key

EVAL_FILE = "eval_test.json"
LOGITS_FILE = "logits_test.npz"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"

#: Identity columns of a run row, before the metric columns.
ID_COLUMNS = ("dataset", "stage", "method", "loss", "backbone", "seed", "name", "rule", "fp_rule", "threshold",
              "threshold_score", "ood_score", "loss_params", "run_dir", "complete", "experiment")
METHOD_FILE = "method.json"
#: Metric columns always present (NaN where a run lacks them, e.g. no open-set evaluation).
METRIC_COLUMNS = (
    *(f"closed_{k}" for k in ("overall", "many", "medium", "few", "group_mean", "macro_f1", "ece")),
    *(f"open_{k}" for k in ("many", "medium", "few", "overall", "open_accuracy", "f_measure", "precision", "recall",
                             "auroc")),
)


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories named by ``paths``: each path is a run (holds ``eval_test.json``) or a folder
    searched recursively for runs. Unevaluated runs (``config.yaml`` without ``eval_test.json``) are
    skipped with a warning; a path holding neither raises ``FileNotFoundError``."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"run directory not found: {p}")
        if (p / EVAL_FILE).is_file():
            runs = [p]
        else:
            runs = sorted(f.parent for f in p.rglob(EVAL_FILE))
        pending = sorted(c.parent for c in ([p / CONFIG_FILE] if (p / CONFIG_FILE).is_file() else p.rglob(CONFIG_FILE)))
        for run in pending:
            if not (run / EVAL_FILE).is_file():
                warnings.warn(f"{run} has no {EVAL_FILE} (not evaluated: run `oltr eval --run {run} --open`); skipped", stacklevel=2)
        if not runs and not pending:
            raise FileNotFoundError(f"no evaluated run ({EVAL_FILE}) in {p}")
        found.extend(r for r in runs if r not in found)
    return found


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved ``config.yaml`` of a run as a dict (empty if absent)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """``metrics.jsonl`` of a run as a DataFrame (one row per logged epoch; empty if absent)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def backbone_label(model: dict[str, Any]) -> str:
    """``resnet10`` -> ``ResNet-10``, ``resnext50_32x4d`` -> ``ResNeXt-50 32x4d``; a width other than 64
    (the papers' ResNets) is appended: ``ResNet-10 (width 16)``."""
    name = str(model.get("name") or "unknown")
    for prefix, pretty in (("resnext", "ResNeXt-"), ("resnet", "ResNet-")):
        if name.startswith(prefix):
            depth, _, variant = name[len(prefix):].partition("_")
            name = pretty + depth + (f" {variant}" if variant else "")
            break
    width = model.get("width")
    return name + (f" (width {width})" if width not in (None, 64) else "")


def _array(values: Any) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _scalars(metrics: dict[str, Any] | None, prefix: str) -> dict[str, float]:
    if not metrics:
        return {}
    return {
        f"{prefix}{k}": (np.nan if v is None else float(v))
        for k, v in metrics.items()
        if not isinstance(v, (list, dict, np.ndarray))
    }


def _rescore(run_dir: Path, ev: dict[str, Any], rule: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    path = run_dir / LOGITS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} was scored with rule {ev.get('rule')!r}; re-scoring under rule {rule!r} needs {path}, "
            f"which is missing (re-run `oltr eval`, or ask for --rule {ev.get('rule')})"
        )

    counts = np.asarray(ev["train_counts"])
    # the logits must be the ones eval_test.json was computed from (stamped files only)
    npz = load_logits(path)
    stamp = _stamp(path)
    if stamp is not None and ev.get("config_hash") and stamp != ev["config_hash"]:
        raise LogitsFileError(f"{path} belongs to another config than {run_dir / EVAL_FILE} "
                              f"({stamp[:12]} vs {ev['config_hash'][:12]}); re-run `oltr eval --run {run_dir} --open`")
    closed = closed_set_metrics(npz["logits"], npz["labels"], counts, rule=rule)
    opened = None
    if ev.get("open_set") is not None and "open_logits" in npz:
        opened = open_set_metrics(
            npz["logits"], npz["labels"], npz["open_logits"], counts,
            threshold=ev.get("threshold", 0.1), rule=rule, fp_rule=ev.get("fp_rule", "oltr"),
        )
    return closed, opened


def _stamp(path: Path) -> str | None:
    with np.load(path, allow_pickle=False) as z:
        return str(z["config_hash"]) if "config_hash" in z.files else None


def load_run(run_dir: str | Path, *, rule: str | None = "strict") -> dict[str, Any]:
    """One run as a flat dict: identity fields, ``closed_<metric>`` and ``open_<metric>`` scalars,
    and the arrays ``per_class`` and ``train_counts``.

    ``rule=None`` keeps the rule stored in ``eval_test.json``; another rule re-scores the saved logits.
    """
    run_dir = Path(run_dir)
    ev = json.loads((run_dir / EVAL_FILE).read_text())
    cfg = read_config(run_dir)
    stored_rule = ev.get("rule", "strict")
    if rule is not None:
        get_rule(rule)
    closed, opened = ev.get("closed_set") or {}, ev.get("open_set")
    if rule is not None and rule != stored_rule:
        stored_closed, stored_open = closed, opened
        closed, opened = _rescore(run_dir, ev, rule)
        # rule-independent metrics (OOD, calibration, priors) are kept as stored
        closed = {**{k: v for k, v in stored_closed.items() if k not in closed}, **closed}
        if opened is not None and stored_open:
            opened = {**{k: v for k, v in stored_open.items()
                         if k not in opened and not k.startswith("rejected_")}, **opened}
    data_cfg, loss_cfg = cfg.get("data") or {}, cfg.get("loss") or {}
    loss_params = {k: v for k, v in loss_cfg.items() if k != "name"} if isinstance(loss_cfg, dict) else {}
    # A method run (oltr.methods) records its method and stage in method.json; training runs are the
    # pipeline's own methods: the plain stage-1 model, or OLTR's meta-embedding stage 2.
    method_file = run_dir / METHOD_FILE
    method = json.loads(method_file.read_text()) if method_file.is_file() else {}
    stage = int(method.get("stage") or ev.get("stage") or cfg.get("stage") or 0)
    row: dict[str, Any] = {
        "dataset": ev.get("dataset") or data_cfg.get("name") or "unknown",
        "stage": stage,
        "method": method.get("method") or ("plain" if stage == 1 else "oltr"),
        "backbone": backbone_label(cfg.get("model") or {}),
        "loss": ev.get("loss") or (loss_cfg.get("name") if isinstance(loss_cfg, dict) else None) or "unknown",
        "seed": ev.get("seed", cfg.get("seed")),
        "name": cfg.get("name") or run_dir.name,
        "rule": rule or stored_rule,
        "fp_rule": ev.get("fp_rule", "oltr") if opened is not None else None,
        "threshold": ev.get("threshold") if opened is not None else None,
        # the score the threshold applies to, and the one behind AUROC / AUPR / FPR95 / OSCR (msp unless
        # `oltr eval --score` chose another; older eval files have neither)
        "threshold_score": (ev.get("threshold_selection") or {}).get("score", "msp") if opened is not None else None,
        "ood_score": (ev.get("score") or {}).get("name", "msp") if opened is not None else None,
        "loss_params": json.dumps(loss_params, sort_keys=True, default=str),
        "run_dir": str(run_dir),
        # finished when scored (eval_test.json says so); older files: the run directory now
        # a method run (oltr.methods) has no best.pt of its own: finished once complete.json is written
        "complete": (bool(ev["complete"]) if "complete" in ev else _finished(run_dir))
        or bool(method and (run_dir / "complete.json").is_file()),
        "experiment": experiment_key(cfg),
    }
    row.update(_scalars(closed, "closed_"))
    row.update(_scalars(opened, "open_"))
    row["per_class"] = _array(closed.get("per_class", []))
    row["train_counts"] = np.asarray(ev.get("train_counts", []), dtype=np.int64)
    return row


def _finished(run_dir: Path) -> bool:
    return (run_dir / "complete.json").is_file() and (run_dir / "best.pt").is_file()


def collect_runs(run_dirs: Iterable[str | Path] | str | Path, *, rule: str | None = "strict",
                 include_unfinished: bool = False) -> pd.DataFrame:
    """Evaluated runs as a DataFrame with one row per run.

    Args:
        run_dirs: Run directories, or folders searched recursively for them (see :func:`find_run_dirs`).
        rule: Shot-group rule for every row (runs scored under another rule are re-scored from
            ``logits_test.npz``); ``None`` keeps each run's stored rule.
        include_unfinished: keep runs that were scored before their training finished (left out,
            with a warning naming them, by default).

    Returns:
        Columns :data:`ID_COLUMNS`, then ``closed_<metric>`` / ``open_<metric>`` (fractions, as the
        metric functions return them; ``open_*`` is NaN for runs evaluated without open set), then
        ``per_class`` and ``train_counts`` (one array per row).
    """
    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    rows = [load_run(d, rule=rule) for d in find_run_dirs(run_dirs)]
    unfinished = [r["run_dir"] for r in rows if not r["complete"]]
    if unfinished and not include_unfinished:
        warnings.warn(f"{len(unfinished)} unfinished run(s) left out (scored before training ended; "
                      f"--include-unfinished keeps them): {', '.join(unfinished)}", stacklevel=2)
        rows = [r for r in rows if r["complete"]]
    if not rows:
        raise FileNotFoundError("no evaluated runs found" + (" (only unfinished ones)" if unfinished else ""))
    df = pd.DataFrame(rows)
    extra = sorted(c for c in df.columns if c.startswith(("closed_", "open_")) and c not in METRIC_COLUMNS)
    return df.reindex(columns=[*ID_COLUMNS, *METRIC_COLUMNS, *extra, "per_class", "train_counts"])
