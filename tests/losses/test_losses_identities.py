"""Identities between losses, and the paper flavour against a direct (autograd) transcription of the equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from oltr.losses import build_loss

COUNTS = np.array([50, 20, 8, 3, 1])


def paper_formula(logits, targets, *, gamma_pos, gamma_neg=0.0, gamma_hc=0.0, xi=0.0, asymmetric=False):
    """Eq. 1, 2, 7, 9, 10 written out with softmax probabilities (integer targets), per sample."""
    p = logits.softmax(1)
    p_t = p.gather(1, targets[:, None]).squeeze(1)
    low = -(1 - p_t) ** gamma_pos * torch.log(p_t)
    high = -(1 + p_t) ** gamma_hc * torch.log(p_t)
    loss = xi * high + (1 - xi) * low
    if asymmetric:
        negatives = -(p**gamma_neg) * torch.log(1 - p)
        negatives = negatives.scatter(1, targets[:, None], 0.0).sum(1)
        loss = loss + (1 - xi) * negatives
    return loss


def reference_formula(logits, targets, *, gamma_pos, gamma_neg, gamma_hc=0.0, xi=0.0, eps=0.1):
    """The authors' per-entry mixing with label smoothing, written out."""
    k = logits.shape[1]
    p, logp = logits.softmax(1), logits.log_softmax(1)
    y = F.one_hot(targets, k).to(logits.dtype)
    smooth = (1 - eps) * y + eps / k
    w_pos = (1 - xi) * (1 - p) ** gamma_pos + xi * (1 + p) ** gamma_hc
    w_neg = (1 - xi) * p**gamma_neg + xi
    return -(smooth * torch.where(y.bool(), w_pos, w_neg) * logp).sum(1)


def test_focal_gamma0_equals_cross_entropy(batch):
    logits, targets, soft = batch
    for t in (targets, soft):
        torch.testing.assert_close(build_loss("focal", gamma=0)(logits, t), F.cross_entropy(logits, t))


def test_reference_asl_gamma_pos0_without_smoothing_equals_cross_entropy(batch):
    logits, targets, _ = batch
    loss = build_loss("asl", flavour="reference", gamma_pos=0, gamma_neg=4, label_smoothing=0)
    torch.testing.assert_close(loss(logits, targets), F.cross_entropy(logits, targets), rtol=1e-14, atol=1e-15)


def test_reference_asl_gammas0_equals_label_smoothed_cross_entropy(batch):
    logits, targets, _ = batch
    loss = build_loss("asl", flavour="reference", gamma_pos=0, gamma_neg=0)
    torch.testing.assert_close(loss(logits, targets), F.cross_entropy(logits, targets, label_smoothing=0.1))
    torch.testing.assert_close(build_loss("label_smoothing")(logits, targets), loss(logits, targets))


@pytest.mark.parametrize("flavour", ["paper", "reference"])
def test_cfl_at_xi0_equals_focal_with_gamma_lc(batch, flavour):
    logits, targets, soft = batch
    # xi = 0: paper schedule at e = e_n / f_c; reference schedule when f_c divides E - 1.
    epochs, epoch = (10, 5) if flavour == "paper" else (11, 5)
    cfl = build_loss("cfl", gamma=1.5, gamma_hc=3, epochs=epochs, factor=2, flavour=flavour)
    cfl.set_epoch(epoch)
    assert cfl.xi() == 0.0
    focal = build_loss("focal", gamma=1.5, flavour=flavour)
    for t in (targets, soft):
        torch.testing.assert_close(cfl(logits, t), focal(logits, t), rtol=1e-14, atol=0)
    casl = build_loss("casl", gamma_pos=0.5, gamma_neg=3, epochs=epochs, factor=2, flavour=flavour)
    casl.set_epoch(epoch)
    asl = build_loss("asl", gamma_pos=0.5, gamma_neg=3, flavour=flavour)
    torch.testing.assert_close(casl(logits, targets), asl(logits, targets), rtol=1e-14, atol=0)


@pytest.mark.parametrize("epoch", [0, 2, 6])
def test_paper_flavour_matches_the_equations(batch, epoch):
    logits, targets, _ = batch
    cfl = build_loss("cfl", gamma=2, gamma_hc=3, epochs=10, factor=4, reduction="none")
    casl = build_loss("casl", gamma_pos=1, gamma_neg=4, gamma_hc=2, epochs=10, factor=4, reduction="none")
    for loss in (cfl, casl):
        loss.set_epoch(epoch)
    xi = cfl.xi()
    torch.testing.assert_close(cfl(logits, targets), paper_formula(logits, targets, gamma_pos=2, gamma_hc=3, xi=xi))
    expected = paper_formula(logits, targets, gamma_pos=1, gamma_neg=4, gamma_hc=2, xi=xi, asymmetric=True)
    torch.testing.assert_close(casl(logits, targets), expected)
    asl = build_loss("asl", gamma_pos=1, gamma_neg=4, reduction="none")
    expected = paper_formula(logits, targets, gamma_pos=1, gamma_neg=4, asymmetric=True)
    torch.testing.assert_close(asl(logits, targets), expected)


def test_reference_flavour_matches_the_written_out_code(batch):
    logits, targets, _ = batch
    casl = build_loss("casl", gamma_pos=1, gamma_neg=3, gamma_hc=2, epochs=10, factor=2, flavour="reference",
                      reduction="none")
    casl.set_epoch(3)
    expected = reference_formula(logits, targets, gamma_pos=1, gamma_neg=3, gamma_hc=2, xi=casl.xi())
    torch.testing.assert_close(casl(logits, targets), expected)


def test_soft_targets_give_the_expected_loss_over_labels(batch):
    logits, _, soft = batch
    for name, params in [("casl", {"epochs": 10}), ("casl", {"epochs": 10, "flavour": "reference"}),
                         ("cfl", {"epochs": 10, "label_smoothing": 0.2}), ("ldam", {"class_counts": COUNTS})]:
        loss = build_loss(name, reduction="none", **params)
        loss.set_epoch(1)
        per_class = torch.stack([loss(logits, torch.full((len(logits),), c)) for c in range(logits.shape[1])], 1)
        torch.testing.assert_close(loss(logits, soft), (soft * per_class).sum(1), msg=name)


def test_paper_label_smoothing_smooths_the_target_distribution(batch):
    logits, targets, _ = batch
    smoothed = 0.9 * F.one_hot(targets, 5).double() + 0.1 / 5
    focal = build_loss("focal", gamma=2)
    smoothed_focal = build_loss("focal", gamma=2, label_smoothing=0.1)
    torch.testing.assert_close(smoothed_focal(logits, targets), focal(logits, smoothed))


def test_balanced_softmax_equals_logit_adjusted_tau1_and_ce_on_shifted_logits(batch):
    logits, targets, _ = batch
    bs = build_loss("balanced_softmax", class_counts=COUNTS)(logits, targets)
    torch.testing.assert_close(bs, build_loss("logit_adjusted", class_counts=COUNTS, tau=1.0)(logits, targets))
    log_counts = torch.log(torch.tensor(COUNTS, dtype=torch.float64))
    torch.testing.assert_close(bs, F.cross_entropy(logits + log_counts, targets))
    torch.testing.assert_close(build_loss("logit_adjusted", class_counts=COUNTS, tau=0)(logits, targets),
                               F.cross_entropy(logits, targets))


def test_class_balanced_weights(batch):
    logits, targets, _ = batch
    torch.testing.assert_close(build_loss("class_balanced", class_counts=COUNTS, beta=0)(logits, targets),
                               F.cross_entropy(logits, targets))
    beta = 0.99
    w = (1 - beta) / (1 - beta ** torch.tensor(COUNTS, dtype=torch.float64))
    w = w * 5 / w.sum()
    expected = (F.cross_entropy(logits, targets, reduction="none") * w[targets]).mean()
    torch.testing.assert_close(build_loss("class_balanced", class_counts=COUNTS, beta=beta)(logits, targets), expected)
    focal = build_loss("focal", gamma=1, reduction="none")(logits, targets)
    cb_focal = build_loss("class_balanced", class_counts=COUNTS, beta=beta, base="focal", gamma=1)(logits, targets)
    torch.testing.assert_close(cb_focal, (focal * w[targets]).mean())


def test_ldam_margins_and_deferred_reweighting(batch):
    logits, targets, _ = batch
    loss = build_loss("ldam", class_counts=COUNTS, drw_epoch=3, beta=0.99, reduction="none")
    margins = torch.tensor(COUNTS, dtype=torch.float64) ** -0.25
    margins = margins * 0.5 / margins.max()
    shifted = logits - F.one_hot(targets, 5) * margins[targets, None]
    plain = F.cross_entropy(30 * shifted, targets, reduction="none")
    torch.testing.assert_close(loss(logits, targets), plain)
    loss.set_epoch(3)
    assert loss.reweighting
    w = (1 - 0.99) / (1 - 0.99 ** torch.tensor(COUNTS, dtype=torch.float64))
    torch.testing.assert_close(loss(logits, targets), plain * (w * 5 / w.sum())[targets])


def test_label_smoothing_loss_is_ce_with_smoothing(batch):
    logits, targets, soft = batch
    for t in (targets, soft):
        torch.testing.assert_close(build_loss("label_smoothing", label_smoothing=0.2)(logits, t),
                                   F.cross_entropy(logits, t, label_smoothing=0.2))
