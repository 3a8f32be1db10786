"""OOD metrics against hand-derived cases, scikit-learn, and a transcription of each definition."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from oltr.evaluation import EmptyScoresError, NonFiniteScoresError, acceptance_threshold, ood_metrics


def _oscr_transcribed(known, open_, correct):
    """Dhamija et al. 2018 as stated in the issue, one threshold at a time (slow, obviously right)."""
    pts = [(0.0, 0.0)]
    for t in sorted(set(known) | set(open_), reverse=True):
        ccr = sum(1 for s, c in zip(known, correct) if c and s >= t) / len(known)
        fpr = sum(1 for s in open_ if s >= t) / len(open_)
        pts.append((fpr, ccr))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pts, pts[1:]))


def _fpr95_transcribed(known, open_, tpr=0.95):
    """The largest t among the known scores with >= tpr of known accepted; open accepted there."""
    ts = [t for t in sorted(set(known), reverse=True) if sum(s >= t for s in known) >= tpr * len(known) - 1e-9]
    t = ts[0]
    return sum(s >= t for s in open_) / len(open_)


def test_hand_derived_small_case():
    m = ood_metrics([0.9, 0.8, 0.3], [0.5, 0.1], [True, False, True])
    # known-open pairs: (.9,.5)(.9,.1)(.8,.5)(.8,.1)(.3,.1) ordered right, (.3,.5) wrong: 5/6
    assert m["auroc"] == pytest.approx(5 / 6, abs=1e-15)
    # 3 known, ceil(0.95 * 3) = 3 must be accepted: t = 0.3; open accepted at 0.3: {0.5} -> 1/2
    assert m["fpr95"] == 0.5
    # CCR/FPR points (0,0),(0,1/3),(1/2,1/3),(1/2,2/3),(1,2/3): area 1/2*1/3 + 1/2*2/3 = 1/2
    assert m["oscr"] == pytest.approx(0.5, abs=1e-15)
    # AUPR-in: known ranks 1, 2, 4 -> precisions 1, 1, 3/4 at recalls 1/3, 2/3, 1 -> (1 + 1 + 3/4) / 3
    assert m["aupr_in"] == pytest.approx(11 / 12, abs=1e-15)
    # AUPR-out on -s: open ranked 1 (0.1) and 3 (0.5, after 0.3): (1 + 2/3) / 2
    assert m["aupr_out"] == pytest.approx(5 / 6, abs=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn_and_transcriptions_with_ties(seed):
    rng = np.random.default_rng(seed)
    known = np.round(rng.normal(1.0, 1.0, 60), 1)  # rounding: many ties, within and across the two sets
    open_ = np.round(rng.normal(0.0, 1.0, 45), 1)
    correct = rng.random(60) < 0.7
    m = ood_metrics(known, open_, correct)
    y = np.r_[np.ones(60), np.zeros(45)]
    s = np.r_[known, open_]
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-15)
    assert m["aupr_in"] == pytest.approx(average_precision_score(y, s), abs=1e-15)
    assert m["aupr_out"] == pytest.approx(average_precision_score(1 - y, -s), abs=1e-15)
    assert m["fpr95"] == pytest.approx(_fpr95_transcribed(known.tolist(), open_.tolist()), abs=1e-15)
    assert m["oscr"] == pytest.approx(_oscr_transcribed(known.tolist(), open_.tolist(), correct.tolist()), abs=1e-12)


def test_boundaries():
    # perfect separation, all correct: OSCR 1, AUROC 1, FPR95 0
    m = ood_metrics([2.0, 3.0], [0.0, 1.0], [True, True])
    assert (m["auroc"], m["fpr95"], m["oscr"]) == (1.0, 0.0, 1.0)
    # all scores tied: AUROC 1/2, every open accepted, OSCR = diagonal to (1, acc): acc / 2
    m = ood_metrics([1.0] * 4, [1.0] * 3, [True, False, True, True])
    assert (m["auroc"], m["fpr95"]) == (0.5, 1.0) and m["oscr"] == pytest.approx(0.75 / 2)
    # OSCR ends at (1, closed-set accuracy): with open scores all below the known, area = accuracy
    assert ood_metrics([5.0, 6.0, 7.0], [0.0], [True, False, True])["oscr"] == pytest.approx(2 / 3)
    assert "oscr" not in ood_metrics([1.0], [0.0])


def test_acceptance_threshold_is_largest_and_ties_accept_together():
    s = np.arange(1, 101, dtype=float)  # 100 known: the 95th largest is 6
    assert acceptance_threshold(s) == 6.0 and np.mean(s >= 6.0) == 0.95
    assert acceptance_threshold([1.0, 1.0, 1.0, 2.0], 0.5) == 1.0  # tie: 4 of 4 accepted


def test_named_errors():
    with pytest.raises(EmptyScoresError, match="open_scores"):
        ood_metrics([1.0], [])
    with pytest.raises(EmptyScoresError, match="known_scores"):
        ood_metrics([], [1.0])
    with pytest.raises(NonFiniteScoresError, match="1 NaN/inf"):
        ood_metrics([1.0, np.nan], [0.0])
    with pytest.raises(NonFiniteScoresError):
        ood_metrics([1.0], [np.inf])
    with pytest.raises(ValueError, match="known_correct"):
        ood_metrics([1.0, 2.0], [0.0], [1, 0])
