"""Is the best row of a leaderboard column significantly ahead of the runner-up?

* Several seeds per row: Welch's t-test (unequal variances, ``scipy.stats.ttest_ind(equal_var=False)``)
  between the per-seed values of the best and the second-best row, two-sided, significant at
  ``p < 0.05``.
* One seed per row: a paired bootstrap over test samples from the saved logits (both rows resampled
  with the same sample indices), giving a 95 % percentile interval of the difference best - runner-up;
  significant when the interval excludes 0. It covers the closed-set accuracies (test samples) and
  the OLTR open-set columns and AUROC (test + open samples resampled together, all resamples at once
  as multiplicity weights, metrics from the max softmax); other columns (ECE, NLL, AUPR, FPR95, OSCR,
  shifted priors) and runs scored by another open-set score are tested only over seeds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from oltr.evaluation.scores import open_set_score
from oltr.evaluation.shots import GROUPS, get_rule
from oltr.methods import method_label
from oltr.reporting.runs import LOGITS_FILE

ALPHA = 0.05


@dataclass(frozen=True)
class Lead:
    """The best row of a column and the test of its lead over the runner-up."""

    best: int  #: index (into the rows given) of the best row
    runner_up: int | None  #: index of the second best, None with a single row
    test: str  #: "welch", "bootstrap" or "none" (a single row, or fewer than 2 values on a side)
    p_value: float  #: Welch's p (NaN for the bootstrap and "none")
    interval: tuple[float, float] | None  #: bootstrap 95 % interval of best - runner-up
    significant: bool


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test of equal means (NaN when a side has < 2 finite values)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return float("nan")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 0.0 if a[0] != b[0] else 1.0  # no spread: identical or certainly different
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's precision note on nearly equal samples
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def paired_bootstrap(metric: Callable[[np.ndarray], tuple[float, float]], n_samples: int, *,
                     n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``metric_a - metric_b`` over ``n_boot`` resamples of the test samples.

    ``metric(idx)`` returns ``(metric_a, metric_b)`` on the samples ``idx`` (the same for both rows:
    the pairing). Seeded: the same call gives the same interval.
    """
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for b in range(n_boot):  # loop over resamples; the metric itself is vectorised over samples
        a_val, b_val = metric(rng.integers(0, n_samples, n_samples))
        diffs[b] = a_val - b_val
    lo, hi = np.nanpercentile(diffs, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def best_lead(values: Sequence[Sequence[float]], *, higher_is_better: bool = True, alpha: float = ALPHA,
              bootstrap: Callable[[int, int], tuple[float, float]] | None = None) -> Lead | None:
    """The best row (by mean over its values) and whether it leads the runner-up significantly.

    A tie of the two best means gives ``runner_up=None`` (nothing is marked).

    Args:
        values: per row, its per-seed values (NaN-free rows only are ranked; None if fewer than 1).
        higher_is_better: False for ECE, NLL, FPR95, ...
        bootstrap: ``bootstrap(best, runner_up) -> interval`` of (best - runner-up) in the metric's
            orientation, used when both rows have a single value.
    """
    means = np.array([np.nanmean(v) if np.isfinite(np.asarray(v, float)).any() else np.nan for v in values])
    ok = np.flatnonzero(np.isfinite(means))
    if ok.size == 0:
        return None
    order = ok[np.argsort(-means[ok] if higher_is_better else means[ok], kind="stable")]
    best = int(order[0])
    if order.size < 2:
        return Lead(best, None, "none", float("nan"), None, False)
    runner = int(order[1])
    if means[best] == means[runner]:  # a tie: no row is best
        return Lead(best, None, "none", float("nan"), None, False)
    a, b = np.asarray(values[best], float), np.asarray(values[runner], float)
    if np.isfinite(a).sum() >= 2 and np.isfinite(b).sum() >= 2:
        p = welch_p(a, b)
        return Lead(best, runner, "welch", p, None, bool(p < alpha))
    if bootstrap is not None:
        lo, hi = bootstrap(best, runner)
        sig = lo > 0 if higher_is_better else hi < 0
        return Lead(best, runner, "bootstrap", float("nan"), (lo, hi), bool(sig))
    return Lead(best, runner, "none", float("nan"), None, False)


#: Columns whose single-seed bootstrap is computed from the saved test logits (closed-set accuracies).
BOOTSTRAP_KEYS = ("closed_overall", "closed_many", "closed_medium", "closed_few", "closed_group_mean")
#: Open-set columns bootstrapped from the saved test + open logits (runs thresholded and scored by MSP):
#: the threshold metrics of the OLTR protocol, the per-group rejection rates and AUROC.
OPEN_BOOTSTRAP_KEYS = tuple(f"open_{k}" for k in (
    "many", "medium", "few", "overall", "open_accuracy", "f_measure", "precision", "recall",
    "rejected_many", "rejected_medium", "rejected_few", "auroc"))


def _closed_bootstrap(run_a, run_b, key: str, scale: float, higher_is_better: bool, *, n_boot: int = 1000,
                      seed: int = 0) -> tuple[float, float] | None:
    """Paired bootstrap interval of ``key`` (best - runner-up, display units) from both runs' test logits."""
    arrays = []
    for run in (run_a, run_b):
        path = Path(run["run_dir"]) / LOGITS_FILE
        if not path.is_file():
            return None
        with np.load(path) as z:
            arrays.append((np.argmax(z["logits"], axis=1), z["labels"]))
    (pa, ya), (pb, yb) = arrays
    if ya.shape != yb.shape or not np.array_equal(ya, yb):
        return None  # not the same test samples: no pairing
    counts = np.asarray(run_a["train_counts"])
    masks = get_rule(run_a["rule"]).masks(counts)
    k = counts.shape[0]
    ca, cb = (pa == ya).astype(float), (pb == ya).astype(float)

    def value(correct: np.ndarray, idx: np.ndarray) -> float:
        y = ya[idx]
        if key == "closed_overall":
            return float(correct[idx].mean())
        total = np.bincount(y, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.bincount(y, weights=correct[idx], minlength=k) / total
        group = {g: np.nanmean(np.where(total > 0, acc, np.nan)[masks[g]]) if masks[g].any() else np.nan
                 for g in GROUPS}
        if key == "closed_group_mean":
            return float(np.mean([group[g] for g in GROUPS]))
        return float(group[key.removeprefix("closed_")])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample may leave a group's classes empty
        lo, hi = paired_bootstrap(lambda idx: (value(ca, idx), value(cb, idx)), ya.size, n_boot=n_boot, seed=seed)
    return lo * scale, hi * scale


def _msp_arrays(run) -> tuple[np.ndarray, ...] | None:
    """MSP and argmax of a run's known and open test logits, with the labels; None when the run's
    open-set columns were not computed from the MSP (another score) or its logits are missing."""
    if (run.get("threshold_score") or "msp") != "msp" or (run.get("ood_score") or "msp") != "msp":
        return None
    path = Path(run["run_dir"]) / LOGITS_FILE
    if not path.is_file():
        return None
    with np.load(path) as z:
        if "open_logits" not in z:
            return None
        known, labels, opened = z["logits"], z["labels"], z["open_logits"]
    return open_set_score(known, "msp"), np.argmax(known, axis=1), labels, open_set_score(opened, "msp")


def open_metrics_weighted(weights: np.ndarray, known_scores: np.ndarray, known_pred: np.ndarray,
                          known_labels: np.ndarray, open_scores: np.ndarray, train_counts: np.ndarray, *,
                          threshold: float, rule: str, fp_rule: str) -> dict[str, np.ndarray]:
    """The OLTR open-set metrics of :func:`oltr.evaluation.open_set_metrics` (and the per-group
    rejection rates of ``score_open_set``) for ``B`` resamples at once.

    ``weights`` (B, N_known + N_open): how often each known, then open, sample is drawn in each
    resample (a bootstrap resample is a multiset of the samples). Every metric is the weighted form of
    its definition, e.g. ``overall = sum_i w_i [pred_i = y_i and s_i >= t] / sum_i w_i`` over known
    samples; AUROC = weighted P(s_known > s_open) + P(=) / 2. Returns ``{metric: (B,) array}``.
    """
    n_known, k = known_labels.size, train_counts.shape[0]
    wk, wo = weights[:, :n_known], weights[:, n_known:]
    accepted = known_scores >= threshold
    correct = (accepted & (known_pred == known_labels)).astype(float)
    # per-class sums of weights as one reduceat over the samples sorted by label (no (N, K) one-hot)
    order = np.argsort(known_labels, kind="stable")
    present, starts = np.unique(known_labels[order], return_index=True)

    def by_class(w: np.ndarray) -> np.ndarray:
        out = np.zeros((w.shape[0], k))
        out[:, present] = np.add.reduceat(w[:, order], starts, axis=1)
        return out

    with np.errstate(invalid="ignore", divide="ignore"):
        total = by_class(wk)
        per_class = np.where(total > 0, by_class(wk * correct) / total, np.nan)
        masks = get_rule(rule).masks(train_counts)
        out = {g: np.nanmean(np.where(masks[g][None, :], per_class, np.nan), axis=1) for g in GROUPS}
        known_n, open_n = wk.sum(1), wo.sum(1)
        tp = wk @ correct
        fp = wk @ (1 - correct) if fp_rule == "oltr" else wk @ ((1 - correct) * accepted)
        fn = wo @ (open_scores >= threshold).astype(float)
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        out.update(overall=tp / known_n, open_accuracy=(wo @ (open_scores < threshold).astype(float)) / open_n,
                   precision=precision, recall=recall,
                   f_measure=np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0))
        for g in GROUPS:
            in_group = masks[g][known_labels].astype(float)
            out[f"rejected_{g}"] = (wk @ (in_group * ~accepted)) / (wk @ in_group)
        order = np.argsort(open_scores, kind="stable")
        sorted_open = open_scores[order]
        cum = np.concatenate([np.zeros((wo.shape[0], 1)), np.cumsum(wo[:, order], axis=1)], axis=1)
        below = cum[:, np.searchsorted(sorted_open, known_scores, "left")]
        tied = cum[:, np.searchsorted(sorted_open, known_scores, "right")] - below
        out["auroc"] = (wk * (below + 0.5 * tied)).sum(1) / (known_n * open_n)
    return out


def _open_bootstrap(run_a, run_b, key: str, scale: float, *, n_boot: int = 1000, seed: int = 0,
                    chunk: int = 100) -> tuple[float, float] | None:
    """Paired bootstrap interval of open-set column ``key`` (best - runner-up, display units): known and
    open test samples resampled together, with the same draws as :func:`paired_bootstrap` (the same
    indices for both runs), metrics from the MSP at each run's threshold."""
    arrays = [_msp_arrays(run) for run in (run_a, run_b)]
    if arrays[0] is None or arrays[1] is None:
        return None
    (sa, pa, ya, oa), (sb, pb, yb, ob) = arrays
    if not np.array_equal(ya, yb) or oa.shape != ob.shape:
        return None  # not the same test samples: no pairing
    n, name = ya.size + oa.size, key.removeprefix("open_")
    counts = np.asarray(run_a["train_counts"])
    rng = np.random.default_rng(seed)
    diffs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample may leave a group's classes empty
        for start in range(0, n_boot, chunk):  # chunks of resamples bound the (B, N) weight matrix
            weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n)
                                for _ in range(min(chunk, n_boot - start))]).astype(float)
            va, vb = (open_metrics_weighted(weights, s_, p_, ya, o_, counts, threshold=run["threshold"],
                                            rule=run["rule"], fp_rule=run["fp_rule"])[name]
                      for run, s_, p_, o_ in ((run_a, sa, pa, oa), (run_b, sb, pb, ob)))
            diffs.append(va - vb)
        lo, hi = np.nanpercentile(np.concatenate(diffs), [2.5, 97.5])
    return float(lo) * scale, float(hi) * scale


def mark_leads(table, runs, columns, *, alpha: float = ALPHA):
    """``table`` with ``<key>_mark`` (``""``, ``"best"``, ``"best*"`` = significant), ``<key>_p`` and
    ``<key>_ci_low`` / ``<key>_ci_high`` for every column, over our rows of each (dataset, stage)."""
    table = table.copy()
    for c in columns:
        table[f"{c.key}_mark"] = ""
        for suffix in ("_p", "_ci_low", "_ci_high"):
            table[f"{c.key}{suffix}"] = np.nan

    ours = table[~table["published"].astype(bool)]
    # a row of ours is one (method, loss): its runs are those of that method label and loss
    labels = runs["method"].map(method_label) if "method" in runs else runs["stage"].map({1: "Plain", 2: "OLTR"})
    for (dataset, stage), rows in ours.groupby(["dataset", "stage"], sort=False):
        groups = [runs[(runs["dataset"] == dataset) & (runs["stage"] == stage) & (labels == m) & (runs["loss"] == lo)]
                  for m, lo in zip(rows["method"], rows["loss"])]
        for c in columns:
            if c.key not in runs:
                continue
            values = [(g[c.key].astype(float) * c.scale).to_numpy() for g in groups]

            def boot(i: int, j: int, c=c) -> tuple[float, float]:
                if c.key in BOOTSTRAP_KEYS:
                    ci = _closed_bootstrap(groups[i].iloc[0], groups[j].iloc[0], c.key, c.scale, c.higher_is_better)
                elif c.key in OPEN_BOOTSTRAP_KEYS:
                    ci = _open_bootstrap(groups[i].iloc[0], groups[j].iloc[0], c.key, c.scale)
                else:
                    return (float("nan"), float("nan"))
                return ci if ci is not None else (float("nan"), float("nan"))

            lead = best_lead(values, higher_is_better=c.higher_is_better, alpha=alpha, bootstrap=boot)
            if lead is None or lead.runner_up is None:
                continue
            at = rows.index[lead.best]
            table.loc[at, f"{c.key}_mark"] = "best*" if lead.significant else "best"
            table.loc[at, f"{c.key}_p"] = lead.p_value
            if lead.interval is not None:
                table.loc[at, f"{c.key}_ci_low"], table.loc[at, f"{c.key}_ci_high"] = lead.interval
    return table
